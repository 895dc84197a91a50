//! CloudWatch Embedded Metric Format: one JSON line on stdout per flush, no API calls.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "ebs-gens";

macro_rules! metrics {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// Every metric ebs-gens publishes (namespace [`NAMESPACE`], dimensions `Deployment`
        /// and `Function`). The names are a contract with the CDK alarms.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric {
            $($(#[doc = $doc])* $name,)*
        }

        impl Metric {
            pub const ALL: &'static [Metric] = &[$(Metric::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Metric::$name => stringify!($name),)*
                }
            }
        }
    };
}

metrics! {
    /// Untagged snapshots made ours (not in a dry run).
    SnapshotsAdopted,
    /// Snapshots deleted (not in a dry run; one already gone is not counted).
    SnapshotsDeleted,
    /// Deletes refused for good: an AMI uses the snapshot, AWS Backup manages it, or it is locked.
    SnapshotsBlocked,
    /// Deletes IAM refused (a deployment problem, or a snapshot pinned by policy); not retried.
    DeleteDenied,
    /// Deletes left for the next run (deadline near, or adopted in this run).
    SnapshotsDeferred,
    /// Deletes that still failed after the prune's own retries (reported in its totals; the
    /// execution fails `DeleteFailed`).
    DeleteFailed,
    /// Snapshots EBS reports as failed.
    SnapshotsFailed,
    /// Managed volumes seen by discovery.
    VolumesManaged,
    /// Volumes whose generation tags are wrong (nothing is deleted for them).
    VolumesMisconfigured,
    /// Volumes whose snapshot listing looked wrong (nothing is deleted for them).
    VolumesDoubtful,
    /// Volumes another deployment snapshots too.
    VolumesContested,
    /// Managed volumes whose newest completed snapshot is older than their schedule allows.
    VolumesStale,
    /// Planned deletions held by the bulk-deletion fuse (waiting for an acknowledgement).
    DeletionsHeld,
    /// Snapshots of ours whose volume is gone or no longer carries a generation tag.
    SnapshotsOrphaned,
    /// Changes applied by ensure-schedules: EventBridge rule operations and schedules created,
    /// enabled and deleted.
    ScheduleChanges,
    /// Our EventBridge rules after reconciling.
    Rules,
    /// Copies started in other regions (not in a dry run).
    SnapshotsCopied,
    /// Copies deleted in other regions, beyond their destination's generations (not in a dry run).
    CopiesDeleted,
    /// Copies or copy deletes AWS refused, and volumes whose copies could not be planned.
    CopiesFailed,
    /// Destinations (per volume) whose newest copy is older than its class allows.
    CopiesStale,
    /// Time-based copies still pending after their completion duration.
    CopiesLate,
    /// Snapshots this run locked (not in a dry run).
    SnapshotsLocked,
    /// Locks this run extended (a generation became the keeper of a coarser period).
    LocksExtended,
    /// LockSnapshot refusals, and volumes whose locks could not be planned.
    LocksFailed,
    /// Seconds from CreateVolume to `available` for each drill volume (dimension `Class` too).
    RestoreSeconds,
    /// Restore drills that failed: a volume in `error`, gone, or still creating after 30 min.
    RestoreDrillsFailed,
}

impl Metric {
    /// Published on every flush, zero included: the one gauge the dashboard shows every hour.
    /// Every other metric is published only when non-zero — CloudWatch bills a custom metric
    /// for each hour it receives data, and the alarms treat missing data as not breaching.
    pub const ALWAYS_EMITTED: &'static [Metric] = &[Metric::VolumesManaged];

    /// Whether a value of `n` is published.
    pub fn emitted(self, n: u64) -> bool {
        n != 0 || Metric::ALWAYS_EMITTED.contains(&self)
    }
}

/// Counts to publish: each non-zero count, and [`Metric::ALWAYS_EMITTED`] always.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<(Metric, u64)>);

impl Counts {
    /// Counts starting at zero for each of `metrics` (what a function always publishes).
    pub fn of(metrics: &[Metric]) -> Self {
        Counts(metrics.iter().map(|m| (*m, 0)).collect())
    }

    pub fn add(&mut self, metric: Metric, n: u64) {
        match self.0.iter_mut().find(|(k, _)| *k == metric) {
            Some((_, v)) => *v += n,
            None => self.0.push((metric, n)),
        }
    }

    pub fn get(&self, metric: Metric) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| *k == metric)
            .map_or(0, |(_, v)| *v)
    }
}

/// The EMF document for `counts`, with `Deployment` and `Function` dimensions; `None` when
/// no count is published ([`Metric::emitted`]).
pub fn emf(deployment: &str, function: &str, counts: &Counts, now: DateTime<Utc>) -> Option<Value> {
    let published: Vec<(Metric, u64)> = counts
        .0
        .iter()
        .copied()
        .filter(|(m, n)| m.emitted(*n))
        .collect();
    if published.is_empty() {
        return None;
    }
    let metrics: Vec<Value> = published
        .iter()
        .map(|(n, _)| json!({"Name": n.as_str(), "Unit": "Count"}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Deployment", "Function"]],
                "Metrics": metrics,
            }],
        }),
    );
    doc.insert("Deployment".into(), json!(deployment));
    doc.insert("Function".into(), json!(function));
    for (n, v) in &published {
        doc.insert(n.as_str().to_string(), json!(v));
    }
    Some(Value::Object(doc))
}

/// Writes the EMF line to stdout, where Lambda's log capture turns it into metrics (nothing
/// when no count is published).
pub fn publish(deployment: &str, function: &str, counts: &Counts, now: DateTime<Utc>) {
    if let Some(doc) = emf(deployment, function, counts, now) {
        println!("{doc}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let mut c = Counts::of(&[Metric::SnapshotsDeleted, Metric::SnapshotsAdopted]);
        c.add(Metric::SnapshotsDeleted, 3);
        c.add(Metric::SnapshotsDeleted, 1);
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let v = emf("prod", "prune-volumes", &c, at).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ebs-gens");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "SnapshotsDeleted"
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(v["SnapshotsDeleted"], 4);
        assert_eq!(v["Deployment"], "prod");
        // A zero count is not published: CloudWatch bills each hour a metric gets data.
        assert!(v.get("SnapshotsAdopted").is_none());
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            emf(
                "prod",
                "prune-volumes",
                &Counts::of(&[Metric::SnapshotsDeleted]),
                at
            ),
            None
        );
        // The one gauge the dashboard needs every hour is published at zero.
        let managed = emf(
            "prod",
            "discover-volumes",
            &Counts::of(&[Metric::VolumesManaged]),
            at,
        )
        .unwrap();
        assert_eq!(managed["VolumesManaged"], 0);
    }
}
