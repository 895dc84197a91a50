//! Every setting of a deployment, described once: its environment variable (what the
//! functions read), its CDK context key and `EbsGens` prop, its type with range or values, its
//! default and what it does. `Settings::from_lookup` takes ranges and defaults from here,
//! `contract.json` carries the table to the CDK app (which validates every prop from it before
//! synthesizing) and to the scripts, and `docs/settings.md` is generated from it; the tests
//! `settings_table_*` keep the parser and this table in step. Pure.

use serde_json::{json, Value};

use crate::policy::GenClass;

/// What a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number in `min..=max` (digits only).
    Integer { min: i64, max: i64 },
    /// A whole number in `min..=max` that is a multiple of `step` (digits only).
    Steps { min: i64, max: i64, step: i64 },
    /// A decimal number in `min..=max` (`1.5`, `2`).
    Number { min: f64, max: f64 },
    /// Exactly `true` or `false`.
    Boolean,
    /// One of these words, exactly.
    OneOf(&'static [&'static str]),
    /// An IANA time zone name the functions know (contract.json `time_zones`).
    TimeZone,
    /// An EventBridge `cron(...)` (six fields) or `rate(...)` expression.
    Cron,
    /// `keep`, or `keep-last=K,older-than=DAYS` within these ranges.
    Orphans {
        keep_last: (u32, u32),
        older_than_days: (u32, u32),
    },
    /// Text matching `pattern` (an anchored regular expression, the same in Rust and JS).
    Text { pattern: &'static str },
    /// An ARN the stack writes (never set by hand).
    Arn { service: &'static str },
    /// Copy rules, `CLASS:REGION=N` separated by spaces or commas, or `off`
    /// (`crate::copies::CopyRules`).
    Copies {
        regions: &'static [&'static str],
        max_keep: u32,
        max_destinations: usize,
    },
    /// Lock rules, `CLASS=MODE` separated by spaces or commas, or `off`
    /// (`crate::locks::LockRules`).
    Locks { modes: &'static [&'static str] },
}

/// Who sets a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    /// The operator: a CDK context key / `EbsGens` prop.
    Operator,
    /// The stack, from what it creates (roles, queues, names derived from the deployment).
    Stack,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    /// The functions' environment variable (`None`: the stack alone reads it).
    pub env: Option<&'static str>,
    /// The CDK context key and `EbsGens` prop (`tagKeys.daily` for a nested one).
    pub context: Option<&'static str>,
    pub kind: Kind,
    /// The value used when none is given, as text (`None`: see `default_doc`).
    pub default: Option<&'static str>,
    /// The default in words, when it depends on something else.
    pub default_doc: &'static str,
    pub set_by: SetBy,
    pub doc: &'static str,
}

impl Setting {
    const fn new(env: &'static str, context: &'static str, kind: Kind) -> Setting {
        Setting {
            env: Some(env),
            context: Some(context),
            kind,
            default: None,
            default_doc: "",
            set_by: SetBy::Operator,
            doc: "",
        }
    }
    const fn default(mut self, default: &'static str) -> Setting {
        self.default = Some(default);
        self
    }
    const fn doc(mut self, doc: &'static str) -> Setting {
        self.doc = doc;
        self
    }
    const fn stack(mut self) -> Setting {
        self.set_by = SetBy::Stack;
        self.context = None;
        self
    }
    const fn cdk_only(mut self) -> Setting {
        self.env = None;
        self
    }

    /// The variable's name (every row the functions read has one).
    pub fn var(&self) -> &'static str {
        self.env.unwrap_or("")
    }

    /// The whole-number range (panics for another kind: a bug in this table's use).
    pub fn int_range(&self) -> std::ops::RangeInclusive<i64> {
        match self.kind {
            Kind::Integer { min, max } | Kind::Steps { min, max, .. } => min..=max,
            _ => panic!("{} is not a whole-number setting", self.var()),
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "env": self.env,
            "context": self.context,
            "default": self.default,
            "set_by": match self.set_by { SetBy::Operator => "operator", SetBy::Stack => "stack" },
            "doc": self.doc,
        });
        if !self.default_doc.is_empty() {
            v["default_doc"] = json!(self.default_doc);
        }
        let o = v.as_object_mut().expect("object");
        match self.kind {
            Kind::Integer { min, max } => {
                o.insert("type".into(), json!("integer"));
                o.insert("min".into(), json!(min));
                o.insert("max".into(), json!(max));
            }
            Kind::Steps { min, max, step } => {
                o.insert("type".into(), json!("integer"));
                o.insert("min".into(), json!(min));
                o.insert("max".into(), json!(max));
                o.insert("step".into(), json!(step));
            }
            Kind::Number { min, max } => {
                o.insert("type".into(), json!("number"));
                o.insert("min".into(), json!(min));
                o.insert("max".into(), json!(max));
            }
            Kind::Boolean => {
                o.insert("type".into(), json!("boolean"));
            }
            Kind::OneOf(values) => {
                o.insert("type".into(), json!("enum"));
                o.insert("values".into(), json!(values));
            }
            Kind::TimeZone => {
                o.insert("type".into(), json!("time_zone"));
            }
            Kind::Cron => {
                o.insert("type".into(), json!("cron"));
                o.insert("pattern".into(), json!(CRON_SHAPE));
            }
            Kind::Orphans {
                keep_last,
                older_than_days,
            } => {
                o.insert("type".into(), json!("orphans"));
                o.insert("keep_last".into(), json!([keep_last.0, keep_last.1]));
                o.insert(
                    "older_than_days".into(),
                    json!([older_than_days.0, older_than_days.1]),
                );
            }
            Kind::Text { pattern } => {
                o.insert("type".into(), json!("text"));
                o.insert("pattern".into(), json!(pattern));
            }
            Kind::Arn { service } => {
                o.insert("type".into(), json!("arn"));
                o.insert("service".into(), json!(service));
            }
            Kind::Copies {
                regions,
                max_keep,
                max_destinations,
            } => {
                o.insert("type".into(), json!("copies"));
                o.insert("regions".into(), json!(regions));
                o.insert("max_keep".into(), json!(max_keep));
                o.insert("max_destinations".into(), json!(max_destinations));
            }
            Kind::Locks { modes } => {
                o.insert("type".into(), json!("locks"));
                o.insert("modes".into(), json!(modes));
            }
        }
        v
    }
}

/// The shape of a schedule expression the CDK checks before synthesizing (the functions parse
/// the whole grammar, `crate::cron`): `cron(` six fields `)` or `rate(N unit)`.
pub const CRON_SHAPE: &str =
    r"^(cron\(\S+( \S+){5}\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\))$";

pub const DEPLOYMENT: Setting = Setting::new(
    "EBS_GENS_DEPLOYMENT",
    "deployment",
    Kind::Text {
        pattern: r"^[A-Za-z0-9._-]{1,32}$",
    },
)
.default("default")
.doc("Names the deployment: the `ebs-gens:managed-by` value on every snapshot it takes, and the scope of every permission that deletes.");
pub const BACKEND: Setting = Setting::new(
    "EBS_GENS_BACKEND",
    "backend",
    Kind::OneOf(&["scheduler", "rules"]),
)
.default("scheduler")
.doc("How snapshots are born: one EventBridge Scheduler schedule per volume (snapshots born tagged), or EventBridge rules with the built-in target (the 2017 recipe; snapshots adopted).");
pub const TIME_ZONE: Setting = Setting::new("EBS_GENS_TIME_ZONE", "timeZone", Kind::TimeZone)
    .default("UTC")
    .doc("IANA zone in which schedules fire (scheduler backend) and days, weeks and months are counted.");
pub const ADOPTION: Setting = Setting {
    default_doc: "`never` on the scheduler backend, `schedule-window` on rules",
    ..Setting::new(
        "EBS_GENS_ADOPTION",
        "adoption",
        Kind::OneOf(&["schedule-window", "any-untagged", "never"]),
    )
    .doc("Which untagged snapshots of a managed volume become ours (and so may later be deleted).")
};
pub const ADOPTION_WINDOW_MINUTES: Setting = Setting::new(
    "EBS_GENS_ADOPTION_WINDOW_MINUTES",
    "adoptionWindowMinutes",
    Kind::Integer { min: 1, max: 1440 },
)
.default("15")
.doc("With `schedule-window` adoption: how long after a fire time a snapshot still counts as the schedule's.");
pub const DRY_RUN: Setting = Setting::new("EBS_GENS_DRY_RUN", "dryRun", Kind::Boolean)
    .default("false")
    .doc("`true`: every function plans and reports but changes nothing, whatever its input says.");
pub const FLEXIBLE_WINDOW_MINUTES: Setting = Setting::new(
    "EBS_GENS_FLEXIBLE_WINDOW_MINUTES",
    "flexibleWindowMinutes",
    Kind::Integer { min: 0, max: 1440 },
)
.default("60")
.doc("Scheduler's flexible time window (0: off): spreads a fleet's snapshots over this many minutes.");
pub const DELETE_BURST: Setting = Setting::new(
    "EBS_GENS_DELETE_BURST",
    "deleteBurst",
    Kind::Integer { min: 1, max: 100 },
)
.default("20")
.doc("DeleteSnapshot calls a prune may make at once before pacing (EC2's bucket: 100, shared by the account).");
pub const DELETES_PER_SECOND: Setting = Setting::new(
    "EBS_GENS_DELETES_PER_SECOND",
    "deletesPerSecond",
    Kind::Number {
        min: 0.001,
        max: 1000.0,
    },
)
.default("2")
.doc("DeleteSnapshot calls per second per prune after the burst (EC2 refills 5/s per account and region).");
pub const STALE_FACTOR: Setting = Setting::new(
    "EBS_GENS_STALE_FACTOR",
    "staleFactor",
    Kind::Number {
        min: 1.0,
        max: 100.0,
    },
)
.default("1.5")
.doc("A volume is stale when its newest completed snapshot is older than this × its finest class's period (+ grace, + the flexible window).");
pub const STALE_GRACE_MINUTES: Setting = Setting::new(
    "EBS_GENS_STALE_GRACE_MINUTES",
    "staleGraceMinutes",
    Kind::Integer { min: 0, max: 10080 },
)
.default("15")
.doc("Minutes added to the stale limit.");
pub const FUSE_VOLUME_PERCENT: Setting = Setting::new(
    "EBS_GENS_FUSE_VOLUME_PERCENT",
    "fuseVolumePercent",
    Kind::Integer { min: 1, max: 100 },
)
.default("50")
.doc("The volume fuse holds a volume's deletions above this percent of its completed snapshots (100: off).");
pub const FUSE_VOLUME_MIN: Setting = Setting::new(
    "EBS_GENS_FUSE_VOLUME_MIN",
    "fuseVolumeMin",
    Kind::Integer {
        min: 0,
        max: 100_000,
    },
)
.default("5")
.doc("Deletions per volume the fuse never holds.");
pub const FUSE_BATCH_PERCENT: Setting = Setting::new(
    "EBS_GENS_FUSE_BATCH_PERCENT",
    "fuseBatchPercent",
    Kind::Integer { min: 1, max: 100 },
)
.default("25")
.doc("The batch fuse holds a prune batch's deletions above this percent of its completed snapshots (100: off).");
pub const FUSE_BATCH_MIN: Setting = Setting::new(
    "EBS_GENS_FUSE_BATCH_MIN",
    "fuseBatchMin",
    Kind::Integer {
        min: 0,
        max: 1_000_000,
    },
)
.default("100")
.doc("Deletions per prune batch the fuse never holds.");
pub const ORPHANS: Setting = Setting::new(
    "EBS_GENS_ORPHANS",
    "orphans",
    Kind::Orphans {
        keep_last: (1, 1000),
        older_than_days: (1, 36500),
    },
)
.default("keep")
.doc("Snapshots of ours whose volume is gone or untagged: `keep`, or `keep-last=K,older-than=DAYS` (then deleted beyond the newest K once DAYS old).");
pub const COPIES: Setting = Setting::new(
    "EBS_GENS_COPIES",
    "copies",
    Kind::Copies {
        regions: crate::copies::KNOWN_REGIONS,
        max_keep: crate::copies::MAX_COPY_KEEP,
        max_destinations: crate::copies::MAX_DESTINATIONS,
    },
)
.default("off")
.doc("Copies in other regions: `CLASS:REGION=N` rules (e.g. `weekly:us-west-2=8`), each keeping the newest N generations of that class there; a volume's `ebs-gens:copies` tag replaces them for it, among these regions.");
pub const COPY_KMS_KEYS: Setting = Setting::new(
    "EBS_GENS_COPY_KMS_KEYS",
    "copyKmsKeys",
    Kind::Text {
        pattern: r"^(|(?:[a-z0-9-]+=arn:aws(?:-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+)(?:[ ,]+[a-z0-9-]+=arn:aws(?:-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+)*)$",
    },
)
.default("")
.doc("The customer managed KMS key each destination's copies are encrypted with: `REGION=KEY_ARN`, the key in that region (a destination not listed uses its default EBS key). The deployment grants prune-volumes the use of these keys.");
pub const COPY_COMPLETION_MINUTES: Setting = Setting::new(
    "EBS_GENS_COPY_COMPLETION_MINUTES",
    "copyCompletionMinutes",
    Kind::Steps {
        min: 0,
        max: 2880,
        step: 15,
    },
)
.default("0")
.doc("Time-based copies: each copy is to complete within this many minutes (15 to 2880, in steps of 15; AWS's CompletionDurationMinutes, billed extra by AWS); a copy still pending after it is reported late (`CopiesLate`, alarmed). 0: copies complete on a best-effort basis.");
pub const LOCKS: Setting = Setting::new(
    "EBS_GENS_LOCKS",
    "locks",
    Kind::Locks {
        modes: &["governance", "compliance"],
    },
)
.default("off")
.doc("Snapshot locks: `CLASS=MODE` rules (e.g. `daily=governance weekly=compliance`); a snapshot kept for a locked class is locked exactly as long as that class keeps it (plus the flexible window and an hour), extended when it becomes the keeper of a coarser locked period, never shortened.");
pub const LOCK_COOL_OFF_HOURS: Setting = Setting::new(
    "EBS_GENS_LOCK_COOL_OFF_HOURS",
    "lockCoolOffHours",
    Kind::Integer { min: 1, max: 72 },
)
.default("24")
.doc("A new compliance lock's cooling-off period, in hours: until it ends the lock can still be changed or removed (by someone with `ec2:UnlockSnapshot`); after it, never.");
pub const LOCK_MAX_DAYS: Setting = Setting::new(
    "EBS_GENS_LOCK_MAX_DAYS",
    "lockMaxDays",
    Kind::Integer { min: 1, max: 36500 },
)
.default("400")
.doc("The longest lock ebs-gens sets, in days: a volume whose generations would need longer is reported (`LocksFailed`) and nothing of it is locked or deleted.");
pub const DRILL_VOLUMES: Setting = Setting::new(
    "EBS_GENS_DRILL_VOLUMES",
    "drillVolumes",
    Kind::Text {
        pattern: r"^(off|0|[1-9][0-9]{0,2}|1000|[1-9][0-9]?%|100%)$",
    },
)
.default("off")
.doc("Restore drills: how many managed volumes each drill restores — a count (`3`, at most 1000) or a share (`10%`) — the ones proven longest ago first, so every volume comes round; their copies in each destination too. `off`: no drills (no drill state machine, no schedule).");
pub const DRILL_MAX_GIB: Setting = Setting::new(
    "EBS_GENS_DRILL_MAX_GIB",
    "drillMaxGib",
    Kind::Integer {
        min: 1,
        max: 1_000_000,
    },
)
.default("2000")
.doc("The most GiB of volumes one drill creates at once (a volume that would pass it waits for a later drill, and the drill says so).");
pub const SETS: Setting = Setting::new(
    "EBS_GENS_SETS",
    "sets",
    Kind::OneOf(&["off", "on"]),
)
.default("off")
.doc("Instance sets (docs/sets.md): `on` lets an instance tagged like a volume (`Daily_Gens=7`) have its attached volumes snapshotted together, by one `CreateSnapshots` per scheduled time, and kept and deleted as whole sets. Needs `backend=scheduler` (the rules backend's built-in target takes one volume).");
pub const RULE_PREFIX: Setting = Setting::new(
    "EBS_GENS_RULE_PREFIX",
    "",
    Kind::Text {
        pattern: r"^[A-Za-z0-9._-]{1,46}$",
    },
)
.stack()
.doc("The rules backend's rule names begin with this (`ebs-gens-<deployment>-`).");
pub const SCHEDULE_GROUP: Setting = Setting::new(
    "EBS_GENS_SCHEDULE_GROUP",
    "",
    Kind::Text {
        pattern: r"^[0-9a-zA-Z._-]{1,64}$",
    },
)
.stack()
.doc("The scheduler backend's schedule group (`ebs-gens-<deployment>`).");
pub const SCHEDULER_ROLE_ARN: Setting = Setting::new(
    "EBS_GENS_SCHEDULER_ROLE_ARN",
    "",
    Kind::Arn { service: "iam" },
)
.stack()
.doc("The role a schedule's target runs as; ensure-schedules refuses to start without it on the scheduler backend.");
pub const SCHEDULE_DLQ_ARN: Setting = Setting::new(
    "EBS_GENS_SCHEDULE_DLQ_ARN",
    "",
    Kind::Arn { service: "sqs" },
)
.stack()
.doc("Where Scheduler sends a firing it could not deliver.");
pub const SNAPSHOT_ROLE_ARN: Setting = Setting::new(
    "EBS_GENS_SNAPSHOT_ROLE_ARN",
    "",
    Kind::Arn { service: "iam" },
)
.stack()
.doc("The role the rules backend's built-in target assumes; ensure-schedules refuses to start without it on the rules backend.");

/// The per-class rows: tag key and cron for each class.
const fn tag_key(class: GenClass, env: &'static str, context: &'static str) -> Setting {
    Setting::new(
        env,
        context,
        Kind::Text {
            pattern: r"^.{1,128}$",
        },
    )
    .default(class.default_tag_key())
    .doc("The volume tag that asks for this class's generations (`<key>=N`).")
}
const fn cron(class: GenClass, env: &'static str, context: &'static str) -> Setting {
    Setting::new(env, context, Kind::Cron)
        .default(class.default_cron())
        .doc("When this class's snapshots are taken.")
}

const fn cdk(
    context: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    doc: &'static str,
) -> Setting {
    let mut s = Setting::new("", context, kind).cdk_only().doc(doc);
    s.default = default;
    s
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: [&str; 22] = [
    "1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731",
    "1096", "1827", "2192", "2557", "2922", "3288", "3653",
];

/// Every setting, in the order the docs list them.
pub const SETTINGS: &[Setting] = &[
    DEPLOYMENT,
    BACKEND,
    TIME_ZONE,
    DRY_RUN,
    tag_key(
        GenClass::Hourly,
        "EBS_GENS_TAG_KEY_HOURLY",
        "tagKeys.hourly",
    ),
    tag_key(GenClass::Daily, "EBS_GENS_TAG_KEY_DAILY", "tagKeys.daily"),
    tag_key(
        GenClass::Weekly,
        "EBS_GENS_TAG_KEY_WEEKLY",
        "tagKeys.weekly",
    ),
    tag_key(
        GenClass::Monthly,
        "EBS_GENS_TAG_KEY_MONTHLY",
        "tagKeys.monthly",
    ),
    cron(GenClass::Hourly, "EBS_GENS_CRON_HOURLY", "crons.hourly"),
    cron(GenClass::Daily, "EBS_GENS_CRON_DAILY", "crons.daily"),
    cron(GenClass::Weekly, "EBS_GENS_CRON_WEEKLY", "crons.weekly"),
    cron(GenClass::Monthly, "EBS_GENS_CRON_MONTHLY", "crons.monthly"),
    FLEXIBLE_WINDOW_MINUTES,
    ADOPTION,
    ADOPTION_WINDOW_MINUTES,
    STALE_FACTOR,
    STALE_GRACE_MINUTES,
    FUSE_VOLUME_PERCENT,
    FUSE_VOLUME_MIN,
    FUSE_BATCH_PERCENT,
    FUSE_BATCH_MIN,
    ORPHANS,
    COPIES,
    COPY_KMS_KEYS,
    COPY_COMPLETION_MINUTES,
    LOCKS,
    LOCK_COOL_OFF_HOURS,
    LOCK_MAX_DAYS,
    DRILL_VOLUMES,
    DRILL_MAX_GIB,
    SETS,
    DELETE_BURST,
    DELETES_PER_SECOND,
    cdk(
        "sweepSchedule",
        Kind::Cron,
        Some("rate(1 hour)"),
        "When the sweep runs (reconcile, prune every volume, scan for orphans).",
    ),
    cdk(
        "drillSchedule",
        Kind::Cron,
        Some("cron(0 4 ? * SUN *)"),
        "When restore drills run (UTC, as the sweep's schedule), with `drillVolumes` set.",
    ),
    cdk(
        "drillKmsKeys",
        Kind::Text {
            pattern: r"^(|arn:aws(?:-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+(?:[ ,]+arn:aws(?:-cn|-us-gov)?:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+)*)$",
        },
        Some(""),
        "The customer managed KMS keys of the snapshots drills restore (space-separated ARNs): the drill function may use them to create (and EBS to decrypt) its volumes, and nothing else.",
    ),
    cdk(
        "alarmEmail",
        Kind::Text {
            pattern: r"^[^@\s]+@[^@\s]+$",
        },
        None,
        "An e-mail address subscribed to the alarm topic.",
    ),
    cdk(
        "logRetentionDays",
        Kind::OneOf(&LOG_RETENTION_DAYS),
        Some("30"),
        "How long the functions' and state machines' logs are kept, in days.",
    ),
    cdk(
        "stateMachineLogLevel",
        Kind::OneOf(&["ALL", "ERROR", "FATAL"]),
        Some("ERROR"),
        "Both state machines' execution log level (always with execution data).",
    ),
    cdk(
        "tracing",
        Kind::Boolean,
        Some("false"),
        "X-Ray tracing of both state machines.",
    ),
    cdk(
        "reservedConcurrency",
        Kind::Integer { min: 1, max: 1000 },
        None,
        "Reserved concurrency for each function (default none).",
    ),
    RULE_PREFIX,
    SCHEDULE_GROUP,
    SCHEDULER_ROLE_ARN,
    SCHEDULE_DLQ_ARN,
    SNAPSHOT_ROLE_ARN,
];

/// The row of `var`.
pub fn by_env(var: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == Some(var))
}

/// The table as contract.json carries it.
pub fn document() -> Value {
    Value::Array(SETTINGS.iter().map(Setting::to_json).collect())
}

/// Every IANA zone the functions accept (chrono-tz's database), for the CDK's check.
pub fn time_zones() -> Vec<&'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect()
}

/// The settings table as Markdown (docs/settings.md, between its markers).
pub fn markdown() -> String {
    let mut out = String::from(
        "| Context key / prop | Environment variable | Accepts | Default | What it does |\n|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let code = |t: Option<&str>| {
            t.filter(|t| !t.is_empty())
                .map_or("—".to_string(), |t| format!("`{t}`"))
        };
        let accepts = match s.kind {
            Kind::Integer { min, max } => format!("whole number {min}..={max}"),
            Kind::Steps { min, max, step } => {
                format!("whole number {min}..={max}, a multiple of {step}")
            }
            Kind::Number { min, max } => format!("number {min}..={max}"),
            Kind::Boolean => "`true` or `false`".into(),
            Kind::OneOf(v) => v
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::TimeZone => "IANA time zone".into(),
            Kind::Cron => "`cron(…)` or `rate(…)`".into(),
            Kind::Orphans {
                keep_last,
                older_than_days,
            } => format!(
                "`keep` or `keep-last=K,older-than=DAYS` (K {}..={}, DAYS {}..={})",
                keep_last.0, keep_last.1, older_than_days.0, older_than_days.1
            ),
            Kind::Text { pattern } => format!("text matching `{pattern}`"),
            Kind::Arn { service } => format!("{service} ARN (set by the stack)"),
            Kind::Copies {
                max_keep,
                max_destinations,
                ..
            } => format!(
                "`off` or `CLASS:REGION=N …` (N 1..={max_keep}, at most {max_destinations} regions)"
            ),
            Kind::Locks { modes } => {
                format!("`off` or `CLASS=MODE …` (MODE {})", modes.join(" or "))
            }
        };
        let default = match (s.default, s.default_doc) {
            (Some(""), _) => "none".into(),
            (Some(d), _) => format!("`{d}`"),
            (None, d) if !d.is_empty() => d.to_string(),
            (None, _) if s.set_by == SetBy::Stack => "set by the stack".into(),
            (None, _) => "none".into(),
        };
        let context = match s.set_by {
            SetBy::Stack => "(set by the stack)".to_string(),
            SetBy::Operator => code(s.context),
        };
        out.push_str(&format!(
            "| {context} | {} | {accepts} | {default} | {} |\n",
            code(s.env),
            s.doc.replace('|', "\\|")
        ));
    }
    out
}
