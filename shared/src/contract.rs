//! The names Rust, the state machines, the CDK app and the local runner must agree on — tag
//! keys, metric namespace/names/dimensions, error names, the functions (with their timeouts)
//! the state machines' `${…}` placeholders and every setting (`config::table`) — as one machine-readable document,
//! `contract.json` at the top of the repository. CDK and the runner import that file; the
//! test `contract_json_is_current` fails when it is stale (regenerate it with
//! `make contract`), and `tests/asl.rs` checks the state machines against it.

use serde_json::{json, Value};

use crate::error::ErrorName;
use crate::metrics::{Metric, NAMESPACE};
use crate::policy::GenClass;
use crate::snapshot::{
    TAG_ALLOW_BULK_DELETE, TAG_CLASS, TAG_KEEP, TAG_MANAGED_BY, TAG_NAME, TAG_POLICY, TAG_VOLUME,
};

/// One Lambda function of the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Binary name, `Function` metric dimension, and `cargo lambda watch` function name.
    pub name: &'static str,
    /// The state machines' `${…}` placeholder for its ARN.
    pub placeholder: &'static str,
    /// The Lambda timeout.
    pub timeout_seconds: u32,
    pub memory_mb: u32,
}

impl Function {
    /// A Task state's `TimeoutSeconds`: the function's own timeout plus
    /// [`TASK_TIMEOUT_MARGIN_SECONDS`] for the invocation around it, so Step Functions never
    /// abandons a function that is still inside its own deadline.
    pub fn task_timeout_seconds(&self) -> u32 {
        self.timeout_seconds + TASK_TIMEOUT_MARGIN_SECONDS
    }
}

/// What a Task state waits beyond its function's timeout.
pub const TASK_TIMEOUT_MARGIN_SECONDS: u32 = 30;

/// The SSM String parameter in which a stack publishes its deployment's configuration for the
/// operator's command (`{deployment}` replaced), and the version of its JSON layout
/// ([`crate::deployment::DeploymentConfig`]).
pub const CONFIG_PARAMETER: &str = "/ebs-gens/{deployment}/config";
pub const CONFIG_SCHEMA: u32 = 1;

/// Every function, as deployed.
pub const FUNCTIONS: [Function; 5] = [
    Function {
        name: "ensure-schedules",
        placeholder: "EnsureSchedulesFunctionArn",
        timeout_seconds: 120,
        memory_mb: 256,
    },
    Function {
        name: "discover-volumes",
        placeholder: "DiscoverVolumesFunctionArn",
        timeout_seconds: 120,
        memory_mb: 256,
    },
    Function {
        name: "prune-volumes",
        placeholder: "PruneVolumesFunctionArn",
        timeout_seconds: 900,
        memory_mb: 256,
    },
    Function {
        name: "restore-drill",
        placeholder: "RestoreDrillFunctionArn",
        // A few describes, creates or deletes per call; the state machine waits between calls.
        timeout_seconds: 120,
        memory_mb: 256,
    },
    Function {
        name: "tag-snapshot",
        placeholder: "TagSnapshotFunctionArn",
        // One event's few calls; it runs only on the event path, whose budget it shares.
        timeout_seconds: 20,
        memory_mb: 256,
    },
];

/// The event path: `snapshot-completed` is an Express workflow (at most 5 minutes), so both its
/// Tasks — timeouts, retries and back-off included — end within this, leaving a minute of room.
pub const EVENT_PATH_BUDGET_SECONDS: u32 = 240;
/// prune-volumes' deadline on the event path (`deadline_seconds` in its input): it starts no
/// delete after this, and what does not fit is left to the sweep.
pub const EVENT_PRUNE_DEADLINE_SECONDS: u32 = 40;
/// The Task timeout beyond a function's own Lambda timeout on the event path (the invoke's own
/// overhead: Lambda stops the function at its timeout).
pub const EVENT_TASK_MARGIN_SECONDS: u32 = 5;

/// The function a state machine placeholder stands for.
pub fn function_by_placeholder(placeholder: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.placeholder == placeholder)
}

/// Lambda's own transient errors, retried by every Lambda task (AWS's documented set).
pub const LAMBDA_TRANSIENT: [&str; 5] = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

/// The state machine definitions and the placeholders each uses.
pub const STATE_MACHINES: [(&str, &[&str]); 3] = [
    ("restore-drill.asl.json", &["RestoreDrillFunctionArn"]),
    (
        "snapshot-completed.asl.json",
        &["TagSnapshotFunctionArn", "PruneVolumesFunctionArn"],
    ),
    (
        "sweep.asl.json",
        &[
            "EnsureSchedulesFunctionArn",
            "DiscoverVolumesFunctionArn",
            "PruneVolumesFunctionArn",
        ],
    ),
];

/// The contract document (what `contract.json` holds).
pub fn document() -> Value {
    json!({
        "_comment": "Generated from shared/src/contract.rs by `make contract`; do not edit by hand.",
        "tags": {
            "managed_by": TAG_MANAGED_BY,
            "volume": TAG_VOLUME,
            "class": TAG_CLASS,
            "keep": TAG_KEEP,
            "name": TAG_NAME,
            "policy": TAG_POLICY,
            "allow_bulk_delete": TAG_ALLOW_BULK_DELETE,
            "copy_of": crate::copies::TAG_COPY_OF,
            "source_region": crate::copies::TAG_SOURCE_REGION,
            "source_start": crate::copies::TAG_SOURCE_START,
            "copies": crate::copies::TAG_COPIES,
            "volume_spec": crate::restore::TAG_VOLUME_SPEC,
            "restored_by": crate::restore::TAG_RESTORED_BY,
            "restored_from": crate::restore::TAG_RESTORED_FROM,
            "restore_of": crate::restore::TAG_RESTORE_OF,
            "restored_as_of": crate::restore::TAG_RESTORED_AS_OF,
            "drill": crate::drill::TAG_DRILL,
            "restore_proven": crate::drill::TAG_RESTORE_PROVEN,
            "set": crate::sets::TAG_SET,
            "set_size": crate::sets::TAG_SET_SIZE,
            "set_deleting": crate::sets::TAG_SET_DELETING,
            "exclude_boot": crate::sets::TAG_EXCLUDE_BOOT,
            "exclude_from_set": crate::sets::TAG_EXCLUDE_FROM_SET,
            "generation_keys": GenClass::ALL.iter().map(|c| (c.label(), c.default_tag_key())).collect::<std::collections::BTreeMap<_, _>>(),
        },
        "rule_prefix": "ebs-gens-{deployment}-",
        "classes": GenClass::ALL.iter().map(|c| c.label()).collect::<Vec<_>>(),
        "metrics": {
            "namespace": NAMESPACE,
            "dimensions": ["Deployment", "Function"],
            "names": Metric::ALL.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "always_emitted": Metric::ALWAYS_EMITTED.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        },
        "config_parameter": {
            "name": CONFIG_PARAMETER,
            "schema": CONFIG_SCHEMA,
        },
        "errors": {
            "names": ErrorName::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "retryable": ErrorName::ALL.iter().filter(|e| e.retryable()).map(|e| e.as_str()).collect::<Vec<_>>(),
            "lambda_transient": LAMBDA_TRANSIENT,
        },
        "functions": FUNCTIONS.iter().map(|f| json!({
            "name": f.name,
            "placeholder": f.placeholder,
            "timeout_seconds": f.timeout_seconds,
            "task_timeout_seconds": f.task_timeout_seconds(),
            "memory_mb": f.memory_mb,
        })).collect::<Vec<_>>(),
        "event_path": json!({
            "budget_seconds": EVENT_PATH_BUDGET_SECONDS,
            "prune_deadline_seconds": EVENT_PRUNE_DEADLINE_SECONDS,
            "task_margin_seconds": EVENT_TASK_MARGIN_SECONDS,
        }),
        "state_machines": STATE_MACHINES.iter().map(|(file, ph)| json!({"file": file, "placeholders": ph})).collect::<Vec<_>>(),
        "settings": crate::config::table::document(),
        "time_zones": crate::config::table::time_zones(),
    })
}

/// The document as written to `contract.json` (pretty, with a final newline).
pub fn render() -> String {
    let mut s = serde_json::to_string_pretty(&document()).expect("contract serializes");
    s.push('\n');
    s
}
