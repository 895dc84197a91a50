//! Why the next run keeps, deletes, holds or adopts each snapshot of a volume (`ebs-gens plan`
//! and `explain`), read from that volume's dry-run report. Pure.

use serde::{Deserialize, Serialize};

use super::prune::{self, VolumeReport};

/// What the next run does with one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Keep,
    Delete,
    /// Planned for deletion, held by the fuse.
    Held,
    /// Planned for deletion, left for the next run.
    Deferred,
    /// Untagged: the next run makes it ours.
    Adopt,
    /// Planned for deletion, refused for good (AMI, AWS Backup, lock, IAM).
    Skipped,
    /// Not in the plan (not a snapshot of this volume, or gone).
    Unplanned,
}

/// One snapshot of a volume's dry-run report: what the next run does with it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub snapshot_id: String,
    pub action: Verdict,
    pub reasons: Vec<String>,
}

/// Every snapshot the next prune of this volume touches — kept, adopted, held, deferred,
/// deleted, refused — with its reasons: kept first (newest first), then what goes. Pure.
pub fn rows(report: &VolumeReport) -> Vec<PlanRow> {
    let adopted = |id: &str| report.adopted.iter().any(|a| a == id);
    let row = |action: Verdict, i: &prune::Item| PlanRow {
        snapshot_id: i.snapshot_id.clone(),
        action,
        reasons: i.reasons.clone(),
    };
    let mut out: Vec<PlanRow> = Vec::new();
    for i in &report.kept {
        let mut r = row(Verdict::Keep, i);
        if adopted(&i.snapshot_id) {
            r.action = Verdict::Adopt;
            r.reasons
                .insert(0, "untagged: adopted in the next run".into());
        }
        out.push(r);
    }
    for i in &report.held_back {
        let mut r = row(Verdict::Held, i);
        if let Some(h) = &report.held {
            r.reasons
                .push(format!("held: {}; to allow it: {}", h.why, h.acknowledge));
        }
        out.push(r);
    }
    for i in &report.deferred {
        let mut r = row(Verdict::Deferred, i);
        if adopted(&i.snapshot_id) {
            r.reasons
                .insert(0, "untagged: adopted in the next run".into());
        }
        out.push(r);
    }
    out.extend(report.deleted.iter().map(|i| row(Verdict::Delete, i)));
    out.extend(report.skipped.iter().map(|i| row(Verdict::Skipped, i)));
    out
}

/// Where a snapshot sits in its volume's dry-run report, with the reasons. Pure.
pub fn verdict(report: &VolumeReport, snapshot_id: &str) -> (Verdict, Vec<String>) {
    rows(report)
        .into_iter()
        .find(|r| r.snapshot_id == snapshot_id)
        .map_or((Verdict::Unplanned, vec![]), |r| (r.action, r.reasons))
}
