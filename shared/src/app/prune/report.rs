//! prune-volumes' wire types (input, output, totals) and the per-volume report built from a
//! decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::{Duration, Instant};

use crate::decision::Decision;
use crate::error::Error;
use crate::fuse::Held;
use crate::health::Coverage;
use crate::metrics::{Counts, Metric};
use crate::orphans::Orphaned;
use crate::plan::Entry;

use super::super::{Adopted, MisconfiguredVolume, VolumeJob};
use super::MAX_ATTENTION;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneInput {
    #[serde(default)]
    pub volumes: Vec<VolumeJob>,
    /// Instances whose sets to prune (`EBS_GENS_SETS=on`), instead of `volumes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// Let this run delete more than the bulk-deletion fuse allows (`ebs-gens sweep --remote
    /// --apply --allow-bulk-delete`, which the sweep passes to every batch and the orphan scan).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_bulk_delete: bool,
    /// Find the snapshots of ours whose volume is gone or untagged and apply
    /// `EBS_GENS_ORPHANS` to them, instead of pruning `volumes` (which must then be empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphans: bool,
    /// Return every volume's report however large (the CLI). Otherwise the reports are cut to
    /// fit [`MAX_OUTPUT_BYTES`]: Step Functions refuses a Lambda result over 256 KB with an
    /// error no Catch can handle. The totals are always complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_report: bool,
    /// Seconds from the start of this invocation after which no delete is started (less
    /// [`super::DEADLINE_MARGIN`]), when sooner than the Lambda deadline: the event path gives
    /// [`crate::contract::EVENT_PRUNE_DEADLINE_SECONDS`] and leaves what does not fit to the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u64>,
}

impl PruneInput {
    /// The sooner of the Lambda deadline and the input's `deadline_seconds` from `started`.
    pub fn deadline(
        &self,
        started: Instant,
        lambda: Option<Instant>,
    ) -> Result<Option<Instant>, Error> {
        let Some(secs) = self.deadline_seconds else {
            return Ok(lambda);
        };
        let most = crate::contract::FUNCTIONS
            .iter()
            .find(|f| f.name == "prune-volumes")
            .map_or(900, |f| u64::from(f.timeout_seconds));
        if secs == 0 || secs > most {
            return Err(Error::InvalidInput(format!(
                "deadline_seconds: {secs} is not between 1 and {most} (prune-volumes' timeout)"
            )));
        }
        let own = started + Duration::from_secs(secs);
        Ok(Some(lambda.map_or(own, |l| l.min(own))))
    }
}

/// The most a prune's JSON result may take when a state machine reads it (256 KB, less room).
pub const MAX_OUTPUT_BYTES: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub snapshot_id: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReport {
    pub volume_id: String,
    /// The policy the volume's tags say now (what this prune planned with).
    pub policy: String,
    pub adopted: Vec<String>,
    pub kept: Vec<Item>,
    /// Deleted (or, in a dry run, that would be).
    pub deleted: Vec<Item>,
    /// Planned for deletion but refused for a reason retrying cannot fix (an AMI uses it, AWS
    /// Backup manages it, it is locked, or IAM denies it): reported, counted in
    /// `SnapshotsBlocked` / `DeleteDenied`, not retried.
    pub skipped: Vec<Item>,
    /// Planned for deletion but left for the next run: the Lambda deadline was near, or the
    /// snapshot was adopted in this run (its new tag may not yet be visible to IAM).
    pub deferred: Vec<Item>,
    /// Of `skipped`: the snapshots IAM refused to let us delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    /// Planned for deletion but already gone (someone else deleted it): not counted as deleted.
    #[serde(default)]
    pub already_gone: Vec<String>,
    /// Untagged snapshots that could not be adopted (gone, or another deployment's).
    #[serde(default)]
    pub not_adopted: Vec<Item>,
    /// Why the listing looked wrong, when it did: nothing is deleted for the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubtful: Option<String>,
    /// Other deployments that snapshot this volume too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contested_by: Vec<String>,
    /// Start time of the newest completed snapshot of ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
    /// Why the volume is stale, when it is (its newest snapshot is older than its schedule allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Generations kept per class, of how many the policy asks for.
    #[serde(default)]
    pub coverage: Vec<Coverage>,
    /// The last periods of the finest class, oldest first: `█` snapshot taken, `·` none.
    #[serde(default)]
    pub strip: String,
    /// Set when the bulk-deletion fuse held this volume's deletions (listed in `held_back`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<Item>,
    /// How a bulk deletion the fuse would have held was acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_allowed: Option<String>,
    /// Orphan scan only: why this former volume's snapshots are orphans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned: Option<Orphaned>,
    /// Copies in other regions, one report per destination (`EBS_GENS_COPIES`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<crate::app::copies::DestinationReport>,
    /// Snapshots locked or whose lock was extended (or, in a dry run, to be), with the lock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<Item>,
    /// LockSnapshot refusals, or why the volume's locks could not be planned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_failed: Vec<String>,
    /// When a restore drill last proved one of its generations restorable here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven: Option<DateTime<Utc>>,
    /// An instance's report (`volume_id` is the instance): its sets, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<SetLine>,
}

/// One set in an instance's report: which, its members, and what the plan does with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetLine {
    pub set: String,
    pub start: DateTime<Utc>,
    pub members: Vec<String>,
    /// `keep` or `delete`.
    pub action: String,
    pub reasons: Vec<String>,
}

pub use crate::app::totals::{Attention, Totals};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PruneOutput {
    pub volumes: Vec<VolumeReport>,
    /// Input volumes not pruned because their tags changed or they are gone, with why.
    #[serde(default)]
    pub not_pruned: Vec<MisconfiguredVolume>,
    pub totals: Totals,
    pub dry_run: bool,
    /// Volume reports left out to keep the result under [`MAX_OUTPUT_BYTES`] (their totals are
    /// counted; the logs have every line).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reports_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

pub(super) fn item(e: &Entry<'_>) -> Item {
    Item {
        snapshot_id: e.snapshot_id.to_string(),
        reasons: e.reasons.iter().map(|r| r.to_string()).collect(),
    }
}

/// Why a planned delete is left for the next run.
pub(super) const ADOPTED_THIS_RUN: &str =
    "adopted in this run; deleted in the next one (its new tag may not yet be visible to IAM)";
pub(super) const DEADLINE_NEAR: &str = "the deadline was near; deleted in the next run";

/// A planned delete left for the next run: the planner's reasons, then why it waits.
pub(super) fn deferred(e: &Entry<'_>, why: &str) -> Item {
    let mut i = item(e);
    i.reasons.push(why.to_string());
    i
}

pub(super) fn attention(totals: &mut Totals, volume_id: &str, state: &str, reason: String) {
    if totals.attention.len() < MAX_ATTENTION {
        totals.attention.push(Attention {
            volume_id: volume_id.to_string(),
            state: state.to_string(),
            reason,
        });
    }
}

/// Keeps the reports that fit in `budget` bytes of JSON (in order), and says how many did not.
pub fn fit(reports: Vec<VolumeReport>, budget: usize) -> (Vec<VolumeReport>, usize) {
    let mut used = 0;
    let mut kept = Vec::with_capacity(reports.len());
    let total = reports.len();
    for r in reports {
        used += serde_json::to_vec(&r).map_or(usize::MAX / 2, |v| v.len() + 1);
        if used > budget {
            break;
        }
        kept.push(r);
    }
    let left_out = total - kept.len();
    (kept, left_out)
}

/// The report of one volume before any delete: what is kept, adopted, doubtful, contested,
/// stale, held, and what this run leaves for the next because it adopted it.
pub(super) fn volume_report(
    vol: &str,
    policy: String,
    d: &Decision<'_>,
    adopted: &Adopted,
) -> VolumeReport {
    for id in &d.deferred {
        tracing::info!(volume_id = %vol, snapshot_id = %id, reason = "adopted in this run; deleted next run", "delete deferred");
    }
    VolumeReport {
        volume_id: vol.to_string(),
        policy,
        adopted: adopted.ids(vol).to_vec(),
        kept: d.plan.keep.iter().map(item).collect(),
        doubtful: d.plan.doubtful.clone(),
        contested_by: d.contested_by.clone(),
        deferred: d
            .plan
            .delete
            .iter()
            .filter(|e| d.deferred.contains(e.snapshot_id))
            .map(|e| deferred(e, ADOPTED_THIS_RUN))
            .collect(),
        not_adopted: adopted
            .refused
            .iter()
            .filter(|(v, _, _)| v == vol)
            .map(|(_, s, why)| Item {
                snapshot_id: s.clone(),
                reasons: vec![why.clone()],
            })
            .collect(),
        newest: d.freshness.newest,
        stale: d.freshness.stale.clone(),
        coverage: d.coverage.clone(),
        strip: d.strip.clone(),
        held: d.held.clone(),
        // Held: what would go now (this run's adoptions are listed in `deferred` instead).
        held_back: if d.held.is_some() {
            d.plan
                .delete
                .iter()
                .filter(|e| !d.deferred.contains(e.snapshot_id))
                .map(item)
                .collect()
        } else {
            vec![]
        },
        ..VolumeReport::default()
    }
}

/// Logs and lists a stale, held, doubtful or contested volume (every run, until fixed).
pub(super) fn flag(totals: &mut Totals, report: &VolumeReport, deployment: &str) {
    let vol = &report.volume_id;
    if let Some(why) = &report.stale {
        tracing::warn!(volume_id = %vol, reason = %why, "stale volume: no recent snapshot");
        attention(totals, vol, "stale", why.clone());
    }
    if let Some(h) = &report.held {
        tracing::warn!(volume_id = %vol, reason = %h.why, acknowledge = %h.acknowledge, "bulk deletion held; nothing deleted for this volume");
        attention(
            totals,
            vol,
            "held",
            format!("{}; to allow it: {}", h.why, h.acknowledge),
        );
    }
    if let Some(why) = &report.bulk_allowed {
        tracing::warn!(volume_id = %vol, reason = %why, "bulk deletion acknowledged");
    }
    if let Some(why) = &report.doubtful {
        tracing::warn!(volume_id = %vol, reason = %why, "doubtful listing; nothing deleted for this volume");
        attention(totals, vol, "doubtful", why.clone());
    }
    if !report.contested_by.is_empty() {
        let why = format!(
            "deployment {} also snapshots this volume (deployment {deployment} here)",
            report.contested_by.join(", "),
        );
        tracing::warn!(volume_id = %vol, reason = %why, "contested volume");
        attention(totals, vol, "contested", why);
    }
}

impl Totals {
    /// Adds one volume's report.
    pub(super) fn count(&mut self, r: &VolumeReport) {
        self.adopted += r.adopted.len();
        self.kept += r.kept.len();
        self.deleted += r.deleted.len();
        self.skipped += r.skipped.len();
        self.denied += r.denied.len();
        self.deferred += r.deferred.len();
        self.already_gone += r.already_gone.len();
        self.doubtful += usize::from(r.doubtful.is_some());
        self.contested += usize::from(!r.contested_by.is_empty());
        self.stale += usize::from(r.stale.is_some());
        self.held += usize::from(r.held.is_some());
        self.deletions_held += r.held_back.len();
        self.count_locks(&r.locked);
        self.locks_failed += r.lock_failed.len();
        self.held_by_lock += held_by_lock(&r.kept);
        self.recycle_bin += r
            .deleted
            .iter()
            .filter(|i| {
                i.reasons
                    .iter()
                    .any(|x| x.starts_with(crate::recycle_bin::BILLED))
            })
            .count();
        for d in &r.copies {
            self.count_locks(&d.locked);
            self.locks_failed += d.lock_failed.len();
            self.held_by_lock += held_by_lock(&d.kept);
            self.copied += d.copied.len();
            self.copies_deferred += d.deferred.len();
            self.copies_deleted += d.deleted.len();
            self.copies_failed += d.failed.len() + usize::from(d.error.is_some());
            self.copies_stale += usize::from(d.stale.is_some());
            self.copies_late += d.late.len();
            self.deletions_held += d.held_back;
        }
    }
}

impl Totals {
    /// New locks and extensions (the report says "(extended)").
    fn count_locks(&mut self, locked: &[Item]) {
        for i in locked {
            match i
                .reasons
                .iter()
                .any(|x| x.ends_with(crate::app::locks::EXTENDED))
            {
                true => self.locks_extended += 1,
                false => self.snapshots_locked += 1,
            }
        }
    }
}

/// How many kept items only their snapshot lock holds.
fn held_by_lock(kept: &[Item]) -> usize {
    kept.iter()
        .filter(|i| {
            i.reasons
                .iter()
                .any(|x| x.starts_with(crate::plan::HELD_BY_LOCK))
        })
        .count()
}

/// The metrics prune-volumes publishes (adoptions and deletions only when they happened).
pub(super) fn counts(t: &Totals, dry_run: bool) -> Counts {
    let done = |n: usize| if dry_run { 0 } else { n as u64 };
    let mut c = Counts::default();
    c.add(Metric::SnapshotsAdopted, done(t.adopted));
    c.add(Metric::SnapshotsDeleted, done(t.deleted));
    c.add(Metric::SnapshotsBlocked, (t.skipped - t.denied) as u64);
    c.add(Metric::DeleteDenied, t.denied as u64);
    c.add(Metric::SnapshotsDeferred, t.deferred as u64);
    c.add(Metric::DeleteFailed, t.failed as u64);
    c.add(Metric::VolumesDoubtful, t.doubtful as u64);
    c.add(Metric::VolumesContested, t.contested as u64);
    c.add(Metric::VolumesStale, t.stale as u64);
    c.add(Metric::DeletionsHeld, t.deletions_held as u64);
    c.add(Metric::SnapshotsOrphaned, t.orphaned as u64);
    c.add(Metric::SnapshotsCopied, done(t.copied));
    c.add(Metric::CopiesDeleted, done(t.copies_deleted));
    c.add(Metric::CopiesFailed, t.copies_failed as u64);
    c.add(Metric::CopiesStale, t.copies_stale as u64);
    c.add(Metric::CopiesLate, t.copies_late as u64);
    c.add(Metric::SnapshotsLocked, done(t.snapshots_locked));
    c.add(Metric::LocksExtended, done(t.locks_extended));
    c.add(Metric::LocksFailed, t.locks_failed as u64);
    c
}
