//! Ports to AWS: narrow, page-level traits for exactly the calls ebs-gens makes, with an SDK
//! implementation ([`sdk`]) and a strict in-memory fake ([`fake`]) that enforces the limits the
//! emulator ignores. Pagination, batching and pacing live once, in [`client`], on top of either.
//!
//! Types here are ours; SDK types never cross this boundary.

pub mod client;
#[cfg(feature = "test-util")]
pub mod fake;
pub mod pacer;
#[cfg(feature = "test-util")]
pub mod retry;
pub mod sdk;

use std::collections::BTreeMap;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::backend::rules::Target;
use crate::backend::scheduler::ListedSchedule;
use crate::error::Error;
use crate::snapshot::Snapshot;

/// DescribeVolumes: `MaxResults` 5..=500.
pub const MAX_VOLUMES_PAGE: i32 = 500;
/// DescribeSnapshots: `MaxResults` 5..=1000.
pub const MAX_SNAPSHOTS_PAGE: i32 = 1000;
/// DescribeInstances: `MaxResults` 5..=1000.
pub const MAX_INSTANCES_PAGE: i32 = 1000;
/// DescribeTags: `MaxResults` 5..=1000.
pub const MAX_TAGS_PAGE: i32 = 1000;
/// CreateTags: at most 1000 resource ids per call.
pub const MAX_CREATE_TAGS_IDS: usize = 1000;
/// Filter values in one describe request, all filters together (EC2 answers
/// `FilterLimitExceeded` above 200).
pub const MAX_FILTER_VALUES: usize = 200;
/// ListRules / ListTargetsByRule: `Limit` 1..=100.
pub const MAX_EVENTS_PAGE: i32 = 100;

/// Attempts per AWS call (the first try included) in production: the SDK's *standard* retry
/// mode (exponential backoff with full jitter from 1 s, capped at 20 s). Standard, not adaptive:
/// adaptive mode adds a client-side rate limiter after throttles whose delays cannot be bounded
/// ahead, and prune-volumes already paces its deletes. `make fault-budget` shows a batch under
/// 20 % injected faults fits the Lambda timeout with this setting. The strict fake's
/// `retry::Retrying::production` (feature `test-util`) models exactly this.
pub const SDK_MAX_ATTEMPTS: u32 = 5;
/// The SDK's standard-mode backoff: first delay up to 1 s, doubling, capped at 20 s.
pub const SDK_INITIAL_BACKOFF_SECS: f64 = 1.0;
pub const SDK_MAX_BACKOFF_SECS: f64 = 20.0;

/// How an AWS failure is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// `RequestLimitExceeded`, `ThrottlingException`, ...: retry later.
    Throttled,
    /// 5xx, timeouts, connection failures: retry later.
    Transient,
    /// `InvalidSnapshot.NotFound`, `InvalidVolume.NotFound`, `ResourceNotFoundException`.
    NotFound,
    /// `InvalidSnapshot.InUse`: a registered AMI uses the snapshot.
    InUse,
    /// The snapshot is managed by AWS Backup, which refuses the delete.
    BackupManaged,
    /// The snapshot is locked (EBS snapshot lock, governance or compliance mode).
    Locked,
    /// The resource already exists (Scheduler's `ConflictException` on a duplicate name).
    Conflict,
    /// IAM refused the call.
    AccessDenied,
    /// A quota or validation error (`LimitExceededException`, `InvalidParameterValue`, ...).
    Invalid,
    /// A concurrency limit that frees itself (`ResourceLimitExceeded`: 20 copies in flight per
    /// destination region): back-pressure, left for a later run, never a failure.
    Busy,
    /// Anything else.
    Other,
}

/// An AWS call that failed, classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{op}: {code}: {message}")]
pub struct AwsError {
    pub op: String,
    pub kind: ErrorKind,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(
        op: &str,
        kind: ErrorKind,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            op: op.to_string(),
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throttled | ErrorKind::Transient)
    }
}

/// Classifies an AWS error code (the `Code` of the error body) and HTTP status.
pub fn classify(code: &str, message: &str, status: Option<u16>) -> ErrorKind {
    match code {
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "SlowDown" => ErrorKind::Throttled,
        "InvalidSnapshot.NotFound"
        | "InvalidVolume.NotFound"
        | "ResourceNotFoundException"
        | "InvalidInstanceID.NotFound" => ErrorKind::NotFound,
        "InvalidSnapshot.InUse" => ErrorKind::InUse,
        "ConflictException" => ErrorKind::Conflict,
        "SnapshotLocked" => ErrorKind::Locked,
        "ResourceLimitExceeded" => ErrorKind::Busy,
        "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure" => {
            ErrorKind::AccessDenied
        }
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable"
        | "InternalException" => ErrorKind::Transient,
        _ if message.contains("AWS Backup") => ErrorKind::BackupManaged,
        // EC2 documents no error code for deleting a locked snapshot (EBS snapshot lock; the
        // DeleteSnapshot reference lists only the common errors), so a client error that says
        // "locked" is taken as one: skipped and reported, the safe direction.
        _ if status.is_none_or(|s| s < 500) && message.to_ascii_lowercase().contains("locked") => {
            ErrorKind::Locked
        }
        _ if status.is_some_and(|s| s >= 500) => ErrorKind::Transient,
        "" if status.is_none() => ErrorKind::Transient,
        _ if code.starts_with("Invalid")
            || code.ends_with("LimitExceeded")
            || code.ends_with("Exception") =>
        {
            ErrorKind::Invalid
        }
        _ => ErrorKind::Other,
    }
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        let message = format!("{}: {}", e.code, e.message);
        let op = e.op;
        match e.kind {
            ErrorKind::Throttled | ErrorKind::Transient => Error::Transient { op, message },
            ErrorKind::AccessDenied => Error::AccessDenied { op, message },
            ErrorKind::Invalid => Error::InvalidInput(format!("{op}: {message}")),
            _ => Error::Internal(format!("{op}: {message}")),
        }
    }
}

/// An EBS volume as we need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub state: String,
    pub tags: BTreeMap<String, String>,
    /// The instance it is attached to, if any.
    pub instance_id: Option<String>,
    /// When it was created (a volume younger than one period is not judged stale).
    #[serde(default)]
    pub create_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Its availability zone (a restore goes there).
    #[serde(default)]
    pub zone: Option<String>,
    /// Its type, size, IOPS and throughput (recorded on its snapshots; a restore copies them).
    #[serde(default)]
    pub spec: Option<crate::restore::VolumeSpec>,
}

/// A snapshot as a restore needs it: its size and encryption besides what the planner reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotFacts {
    pub snapshot: Snapshot,
    pub size_gib: i32,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
}

/// One CreateVolume from a snapshot (EC2 API reference, CreateVolume): the volume is born with
/// `tags`; an encrypted snapshot's volume is encrypted with `kms_key_id` (its own key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRequest {
    pub snapshot_id: String,
    pub zone: String,
    pub spec: crate::restore::VolumeSpec,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub tags: Vec<(String, String)>,
    /// CreateVolume's idempotency token: a retried call (the SDK's, after a timeout) returns the
    /// volume the first one created instead of a second volume.
    pub client_token: String,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// A describe filter: `name` matches any of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    pub fn new(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Filter {
            name: name.to_string(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

/// A page request to a describe call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub filters: Vec<Filter>,
    /// Explicit ids (then `max_results` must be `None`, as in EC2).
    pub ids: Vec<String>,
    pub max_results: Option<i32>,
    pub next_token: Option<String>,
    /// DescribeSnapshots' `OwnerIds` (`self` or account ids); empty: every snapshot we can
    /// see, including other accounts' shared with us.
    pub owners: Vec<String>,
}

/// A tag on some resource, from DescribeTags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTag {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

/// What a DeleteSnapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deleted {
    Deleted,
    /// `InvalidSnapshot.NotFound`: someone (or an earlier attempt) already deleted it.
    AlreadyGone,
}

type R<T> = Result<T, AwsError>;

/// The EC2 calls ebs-gens makes, one page or one call at a time.
pub trait Ec2Api: Send + Sync {
    /// DescribeVolumes.
    fn describe_volumes(&self, req: PageRequest) -> impl Future<Output = R<Page<Volume>>> + Send;
    /// DescribeSnapshots, restricted to the request's `owners` (the client always asks for
    /// [`client::OWNED_BY_US`]).
    fn describe_snapshots(
        &self,
        req: PageRequest,
    ) -> impl Future<Output = R<Page<Snapshot>>> + Send;
    /// DescribeTags.
    fn describe_tags(&self, req: PageRequest) -> impl Future<Output = R<Page<ResourceTag>>> + Send;
    /// CreateTags on up to 1000 resources.
    fn create_tags(
        &self,
        ids: &[String],
        tags: &[(String, String)],
    ) -> impl Future<Output = R<()>> + Send;
    /// DeleteSnapshot.
    fn delete_snapshot(&self, id: &str) -> impl Future<Output = R<Deleted>> + Send;
    /// CopySnapshot, called on the destination region's client; the copy's id.
    fn copy_snapshot(&self, req: &CopySpec) -> impl Future<Output = R<String>> + Send;
    /// DescribeLockedSnapshots for these snapshots (one page): each locked one's lock.
    fn describe_locked_snapshots(
        &self,
        ids: &[String],
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<(String, crate::locks::Lock)>>> + Send;
    /// LockSnapshot with an expiration date (and a cooling-off period for a new compliance lock).
    fn lock_snapshot(
        &self,
        id: &str,
        req: &crate::locks::LockRequest,
    ) -> impl Future<Output = R<()>> + Send;
    /// DescribeSnapshots for one snapshot, with its size and encryption (`None`: not found).
    fn describe_snapshot_facts(
        &self,
        id: &str,
    ) -> impl Future<Output = R<Option<SnapshotFacts>>> + Send;
    /// DescribeAvailabilityZones: the region's available zones.
    fn describe_zones(&self) -> impl Future<Output = R<Vec<String>>> + Send;
    /// DescribeInstances for one instance (`None`: not found).
    fn describe_instance(
        &self,
        id: &str,
    ) -> impl Future<Output = R<Option<crate::sets::Instance>>> + Send;
    /// DescribeInstances, one page (filters only): instances with their tags, root device and
    /// attached EBS volumes.
    fn describe_instances(
        &self,
        req: PageRequest,
    ) -> impl Future<Output = R<Page<crate::sets::Instance>>> + Send;
    /// CreateVolume from a snapshot; the new volume's id.
    fn create_volume(&self, req: &VolumeRequest) -> impl Future<Output = R<String>> + Send;
    /// AttachVolume.
    fn attach_volume(
        &self,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> impl Future<Output = R<()>> + Send;
    /// DeleteVolume.
    fn delete_volume(&self, id: &str) -> impl Future<Output = R<()>> + Send;
    /// Recycle Bin's ListRules for EBS snapshots (one page of rule ids). Another service (rbin),
    /// on this port because it decides what a DeleteSnapshot here really frees.
    fn list_retention_rules(
        &self,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<String>>> + Send;
    /// Recycle Bin's GetRule: one rule with its tags (ListRules leaves them out).
    fn get_retention_rule(
        &self,
        id: &str,
    ) -> impl Future<Output = R<crate::recycle_bin::RetentionRule>> + Send;
}

/// One CopySnapshot request (EC2 API reference, CopySnapshot): the copy is born with `tags`
/// (AWS copies none). Without `kms_key_id` an encrypted source is copied with the destination's
/// default EBS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    pub source_region: String,
    pub source_snapshot_id: String,
    pub description: String,
    pub tags: Vec<(String, String)>,
    pub kms_key_id: Option<String>,
    /// Time-based copy: complete within this many minutes (AWS: 15..=2880, a multiple of 15).
    pub completion_minutes: Option<u32>,
}

/// A rule as ListRules reports it (targets are listed separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSummary {
    pub name: String,
    pub schedule_expression: Option<String>,
    pub state: crate::backend::rules::RuleState,
}

/// The EventBridge calls ebs-gens makes.
pub trait EventsApi: Send + Sync {
    fn list_rules(
        &self,
        prefix: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<RuleSummary>>> + Send;
    fn list_targets(
        &self,
        rule: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<Target>>> + Send;
    fn put_rule(
        &self,
        rule: &str,
        schedule: &str,
        description: &str,
    ) -> impl Future<Output = R<()>> + Send;
    fn put_targets(&self, rule: &str, targets: &[Target]) -> impl Future<Output = R<()>> + Send;
    fn remove_targets(&self, rule: &str, ids: &[String]) -> impl Future<Output = R<()>> + Send;
    fn delete_rule(&self, rule: &str) -> impl Future<Output = R<()>> + Send;
}

/// The EventBridge Scheduler calls ebs-gens makes, always within one schedule group.
pub trait SchedulerApi: Send + Sync {
    /// ListSchedules in `group`: names and states (Scheduler's summaries carry no expression
    /// or input).
    fn list_schedules(
        &self,
        group: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<ListedSchedule>>> + Send;
    /// CreateSchedule, enabled (`ConflictException` when the name exists).
    fn create_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> impl Future<Output = R<()>> + Send;
    /// UpdateSchedule with the whole definition, enabled (UpdateSchedule resets every field it
    /// is not given; `ResourceNotFoundException` when the name does not exist).
    fn update_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> impl Future<Output = R<()>> + Send;
    /// DeleteSchedule (`ResourceNotFoundException` when it does not exist).
    fn delete_schedule(&self, group: &str, name: &str) -> impl Future<Output = R<()>> + Send;
}

impl<T: SchedulerApi> SchedulerApi for &T {
    fn list_schedules(
        &self,
        group: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<ListedSchedule>>> + Send {
        (**self).list_schedules(group, next_token)
    }
    fn create_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> impl Future<Output = R<()>> + Send {
        (**self).create_schedule(group, spec)
    }
    fn update_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> impl Future<Output = R<()>> + Send {
        (**self).update_schedule(group, spec)
    }
    fn delete_schedule(&self, group: &str, name: &str) -> impl Future<Output = R<()>> + Send {
        (**self).delete_schedule(group, name)
    }
}

/// No Scheduler client: what an [`crate::app::App`] has until it is given one. Every call
/// answers `NotFound` naming what is missing (never a silent success): the rules backend reads
/// that as "no schedules to remove", the scheduler backend fails with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoScheduler;

impl SchedulerApi for NoScheduler {
    async fn list_schedules(&self, _: &str, _: Option<String>) -> R<Page<ListedSchedule>> {
        Err(no_scheduler("ListSchedules"))
    }
    async fn create_schedule(&self, _: &str, _: &crate::backend::scheduler::ScheduleSpec) -> R<()> {
        Err(no_scheduler("CreateSchedule"))
    }
    async fn update_schedule(&self, _: &str, _: &crate::backend::scheduler::ScheduleSpec) -> R<()> {
        Err(no_scheduler("UpdateSchedule"))
    }
    async fn delete_schedule(&self, _: &str, _: &str) -> R<()> {
        Err(no_scheduler("DeleteSchedule"))
    }
}

fn no_scheduler(op: &str) -> AwsError {
    AwsError::new(
        op,
        ErrorKind::NotFound,
        "NoSchedulerClient",
        "this process has no EventBridge Scheduler client (EBS_GENS_BACKEND=scheduler needs one)",
    )
}

/// A Step Functions execution's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub arn: String,
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// The Step Functions calls ebs-gens makes (to start a sweep and follow it).
pub trait ExecutionsApi: Send + Sync {
    fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> impl Future<Output = R<String>> + Send;
    fn describe_execution(&self, execution_arn: &str) -> impl Future<Output = R<Execution>> + Send;
}

/// The three ports an [`crate::app::App`] runs on, as one type, so handlers are generic over
/// `P: Ports` rather than repeating `<P: Ports>`. Any
/// `(EC2, EventBridge, Scheduler)` tuple of ports is one.
pub trait Ports {
    type Ec2: Ec2Api;
    type Events: EventsApi;
    type Scheduler: SchedulerApi;
}

impl<E: Ec2Api, V: EventsApi, S: SchedulerApi> Ports for (E, V, S) {
    type Ec2 = E;
    type Events = V;
    type Scheduler = S;
}

// A shared reference to a port is a port (one fake can serve EC2 and EventBridge at once).
impl<T: Ec2Api> Ec2Api for &T {
    fn describe_volumes(&self, req: PageRequest) -> impl Future<Output = R<Page<Volume>>> + Send {
        (**self).describe_volumes(req)
    }
    fn describe_snapshots(
        &self,
        req: PageRequest,
    ) -> impl Future<Output = R<Page<Snapshot>>> + Send {
        (**self).describe_snapshots(req)
    }
    fn describe_tags(&self, req: PageRequest) -> impl Future<Output = R<Page<ResourceTag>>> + Send {
        (**self).describe_tags(req)
    }
    fn create_tags(
        &self,
        ids: &[String],
        tags: &[(String, String)],
    ) -> impl Future<Output = R<()>> + Send {
        (**self).create_tags(ids, tags)
    }
    fn copy_snapshot(&self, req: &CopySpec) -> impl Future<Output = R<String>> + Send {
        (**self).copy_snapshot(req)
    }
    fn delete_snapshot(&self, id: &str) -> impl Future<Output = R<Deleted>> + Send {
        (**self).delete_snapshot(id)
    }
    fn describe_locked_snapshots(
        &self,
        ids: &[String],
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<(String, crate::locks::Lock)>>> + Send {
        (**self).describe_locked_snapshots(ids, next_token)
    }
    fn lock_snapshot(
        &self,
        id: &str,
        req: &crate::locks::LockRequest,
    ) -> impl Future<Output = R<()>> + Send {
        (**self).lock_snapshot(id, req)
    }
    fn describe_snapshot_facts(
        &self,
        id: &str,
    ) -> impl Future<Output = R<Option<SnapshotFacts>>> + Send {
        (**self).describe_snapshot_facts(id)
    }
    fn describe_zones(&self) -> impl Future<Output = R<Vec<String>>> + Send {
        (**self).describe_zones()
    }
    fn describe_instance(
        &self,
        id: &str,
    ) -> impl Future<Output = R<Option<crate::sets::Instance>>> + Send {
        (**self).describe_instance(id)
    }
    fn describe_instances(
        &self,
        req: PageRequest,
    ) -> impl Future<Output = R<Page<crate::sets::Instance>>> + Send {
        (**self).describe_instances(req)
    }
    fn create_volume(&self, req: &VolumeRequest) -> impl Future<Output = R<String>> + Send {
        (**self).create_volume(req)
    }
    fn attach_volume(
        &self,
        volume_id: &str,
        instance_id: &str,
        device: &str,
    ) -> impl Future<Output = R<()>> + Send {
        (**self).attach_volume(volume_id, instance_id, device)
    }
    fn delete_volume(&self, id: &str) -> impl Future<Output = R<()>> + Send {
        (**self).delete_volume(id)
    }
    fn list_retention_rules(
        &self,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<String>>> + Send {
        (**self).list_retention_rules(next_token)
    }
    fn get_retention_rule(
        &self,
        id: &str,
    ) -> impl Future<Output = R<crate::recycle_bin::RetentionRule>> + Send {
        (**self).get_retention_rule(id)
    }
}

impl<T: EventsApi> EventsApi for &T {
    fn list_rules(
        &self,
        prefix: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<RuleSummary>>> + Send {
        (**self).list_rules(prefix, next_token)
    }
    fn list_targets(
        &self,
        rule: &str,
        next_token: Option<String>,
    ) -> impl Future<Output = R<Page<Target>>> + Send {
        (**self).list_targets(rule, next_token)
    }
    fn put_rule(
        &self,
        rule: &str,
        schedule: &str,
        description: &str,
    ) -> impl Future<Output = R<()>> + Send {
        (**self).put_rule(rule, schedule, description)
    }
    fn put_targets(&self, rule: &str, targets: &[Target]) -> impl Future<Output = R<()>> + Send {
        (**self).put_targets(rule, targets)
    }
    fn remove_targets(&self, rule: &str, ids: &[String]) -> impl Future<Output = R<()>> + Send {
        (**self).remove_targets(rule, ids)
    }
    fn delete_rule(&self, rule: &str) -> impl Future<Output = R<()>> + Send {
        (**self).delete_rule(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_of_known_codes() {
        assert_eq!(
            classify("RequestLimitExceeded", "", Some(503)),
            ErrorKind::Throttled
        );
        assert_eq!(
            classify("InvalidSnapshot.NotFound", "", Some(400)),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify("InvalidSnapshot.InUse", "in use by ami-1", Some(400)),
            ErrorKind::InUse
        );
        assert_eq!(
            classify(
                "InvalidParameterValue",
                "This snapshot is managed by the AWS Backup service and cannot be deleted",
                Some(400)
            ),
            ErrorKind::BackupManaged
        );
        assert_eq!(
            classify("SnapshotLocked", "The snapshot is locked", Some(400)),
            ErrorKind::Locked
        );
        assert_eq!(
            classify(
                "OperationNotPermitted",
                "The snapshot snap-1 is locked in governance mode",
                Some(400)
            ),
            ErrorKind::Locked
        );
        assert_eq!(
            classify("UnauthorizedOperation", "", Some(403)),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            classify("InternalError", "", Some(500)),
            ErrorKind::Transient
        );
        assert_eq!(classify("Weird", "", Some(502)), ErrorKind::Transient);
        assert_eq!(classify("", "", None), ErrorKind::Transient);
        assert_eq!(
            classify("LimitExceededException", "", Some(400)),
            ErrorKind::Invalid
        );
    }

    #[test]
    fn aws_errors_map_to_stable_names() {
        let e: Error = AwsError::new(
            "DeleteSnapshot",
            ErrorKind::Throttled,
            "RequestLimitExceeded",
            "slow down",
        )
        .into();
        assert_eq!(e.name(), crate::ErrorName::Transient);
        let e: Error = AwsError::new(
            "CreateTags",
            ErrorKind::AccessDenied,
            "UnauthorizedOperation",
            "no",
        )
        .into();
        assert_eq!(e.name(), crate::ErrorName::AccessDenied);
    }
}
