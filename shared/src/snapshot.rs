//! Our own view of an EBS snapshot (never an SDK type), and the tags that mark ownership.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The source volume of one of our snapshots.
pub const TAG_VOLUME: &str = "ebs-gens:volume";
/// The deployment that owns a snapshot; only snapshots carrying ours are ever deleted.
pub const TAG_MANAGED_BY: &str = "ebs-gens:managed-by";
/// Pins a snapshot (any value but `false`): never deleted, not counted.
pub const TAG_KEEP: &str = "ebs-gens:keep";
/// The generation class a snapshot was taken for.
pub const TAG_CLASS: &str = "ebs-gens:class";
/// The human-readable name, `<instance-name>_<Class>_<vol-id>`.
pub const TAG_NAME: &str = "Name";

/// The policy a snapshot was made or adopted under (`daily=7,weekly=4`), for the record.
pub const TAG_POLICY: &str = "ebs-gens:policy";
/// On a volume: today's date (`2026-11-25`, in the deployment's time zone) lets today's runs
/// delete more than the bulk-deletion fuse allows.
pub const TAG_ALLOW_BULK_DELETE: &str = "ebs-gens:allow-bulk-delete";

/// The tag keys we ever write; the IAM policy limits CreateTags to these.
/// On each snapshot ebs-gens makes: the source volume's type, size, IOPS and throughput at the
/// snapshot's birth (`gp3 size=100 iops=3000 throughput=125`; [`crate::restore`] reads it back).
pub const TAG_VOLUME_SPEC: &str = "ebs-gens:volume-spec";
/// On every member of an instance set: `<instance>@<scheduled time>`, stamped at creation; such a
/// snapshot is planned only with its set ([`crate::sets`]).
pub const TAG_SET: &str = "ebs-gens:set";
/// On every member of a set, once its completion event is seen: how many members it has.
pub const TAG_SET_SIZE: &str = "ebs-gens:set-size";
/// On every member of a set about to be deleted: when its deletion began (so a deletion cut
/// short is finished by the next run instead of leaving a partial set kept for ever).
pub const TAG_SET_DELETING: &str = "ebs-gens:set-deleting";

pub const OUR_TAG_KEYS: [&str; 9] = [
    TAG_VOLUME,
    TAG_MANAGED_BY,
    TAG_CLASS,
    TAG_POLICY,
    TAG_NAME,
    TAG_VOLUME_SPEC,
    TAG_SET,
    TAG_SET_SIZE,
    TAG_SET_DELETING,
];

/// EBS snapshot state (`pending | completed | error | recoverable | recovering`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotState {
    Pending,
    Completed,
    Error,
    /// Anything else (the Recycle Bin's `recoverable`/`recovering`, or a state AWS adds later):
    /// never deleted, never counted.
    #[serde(untagged)]
    Other(String),
}

impl SnapshotState {
    pub fn parse(s: &str) -> SnapshotState {
        match s {
            "pending" => SnapshotState::Pending,
            "completed" => SnapshotState::Completed,
            "error" => SnapshotState::Error,
            other => SnapshotState::Other(other.to_string()),
        }
    }
}

impl fmt::Display for SnapshotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotState::Pending => f.write_str("pending"),
            SnapshotState::Completed => f.write_str("completed"),
            SnapshotState::Error => f.write_str("error"),
            SnapshotState::Other(s) => f.write_str(s),
        }
    }
}

/// One EBS snapshot as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    pub start_time: DateTime<Utc>,
    pub state: SnapshotState,
    pub owner_id: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }

    /// Ours when our `managed-by` tag names this deployment.
    pub fn is_owned_by(&self, deployment: &str) -> bool {
        self.tag(TAG_MANAGED_BY) == Some(deployment)
    }

    /// Pinned by `ebs-gens:keep` with any value but `false`.
    pub fn is_pinned(&self) -> bool {
        self.tag(TAG_KEEP).is_some_and(pin_value)
    }

    /// Ownership (our tag on a snapshot our account owns), pin and volume tag, read in one
    /// pass over the tags (the planner's hot path).
    pub fn marks(&self, deployment: &str, account_id: &str) -> Marks<'_> {
        let mut m = Marks {
            owned: false,
            pinned: false,
            volume_tag: None,
            set: None,
        };
        for (k, v) in &self.tags {
            match k.as_str() {
                TAG_MANAGED_BY => m.owned = v == deployment,
                TAG_KEEP => m.pinned = pin_value(v),
                TAG_VOLUME => m.volume_tag = Some(v),
                TAG_SET => m.set = Some(v),
                _ => {}
            }
        }
        m.owned &= self.owner_id == account_id;
        m
    }
}

fn pin_value(v: &str) -> bool {
    !v.trim().eq_ignore_ascii_case("false")
}

/// What a snapshot's tags say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marks<'a> {
    pub owned: bool,
    pub pinned: bool,
    pub volume_tag: Option<&'a str>,
    /// `ebs-gens:set`: a member of an instance set, planned only by the set planner.
    pub set: Option<&'a str>,
}
