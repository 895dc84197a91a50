//! The writes of a prune: each planned delete (none in a dry run), its outcome recorded in the
//! volume's report, failures tried again in the same invocation.

use tokio::time::{Duration, Instant};

use crate::aws::{Deleted, ErrorKind, Ports};
use crate::decision::Decision;
use crate::error::FailedDelete;

use super::super::App;
use super::report::{item, Item, VolumeReport, DEADLINE_NEAR};
use super::DEADLINE_MARGIN;

/// How one planned delete ended.
enum Outcome {
    Deleted,
    AlreadyGone,
    /// Refused for good (AMI, AWS Backup, lock, IAM): `denied` when IAM refused.
    Skipped {
        why: String,
        denied: bool,
    },
    Deferred,
    Failed(FailedDelete),
}

/// Deletes one planned snapshot unless the deadline is near; classifies the answer.
async fn delete_one<P: Ports>(app: &App<P>, id: &str, deadline: Option<Instant>) -> Outcome {
    if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN) {
        return Outcome::Deferred;
    }
    match app.ec2.delete(id).await {
        Ok(Deleted::Deleted) => Outcome::Deleted,
        Ok(Deleted::AlreadyGone) => Outcome::AlreadyGone,
        Err(e) => match e.kind {
            ErrorKind::InUse | ErrorKind::BackupManaged | ErrorKind::Locked => Outcome::Skipped {
                why: format!("{}: {}", e.code, e.message),
                denied: false,
            },
            ErrorKind::AccessDenied => Outcome::Skipped {
                why: format!("{}: {}", e.code, e.message),
                denied: true,
            },
            _ => Outcome::Failed(FailedDelete {
                snapshot_id: id.to_string(),
                code: e.code,
                message: e.message,
            }),
        },
    }
}

/// Every volume's writes in turn (`reports[i]` is `decisions[i]`'s report), then the retry of
/// what failed. Returns the deletes that still failed.
pub(super) async fn apply_all<P: Ports>(
    app: &App<P>,
    decisions: &[Decision<'_>],
    reports: &mut [VolumeReport],
    deadline: Option<Instant>,
    dry_run: bool,
) -> Vec<FailedDelete> {
    let mut failed = Vec::new();
    for (i, (d, report)) in decisions.iter().zip(reports.iter_mut()).enumerate() {
        apply(app, d, report, i, &mut failed, deadline, dry_run).await;
    }
    retry_failed(app, reports, failed, deadline).await
}

/// The writes: each planned delete of this run (none in a dry run, which reports them as
/// deleted), its outcome recorded in `report`; retryable failures collected in `failed`.
async fn apply<P: Ports>(
    app: &App<P>,
    d: &Decision<'_>,
    report: &mut VolumeReport,
    index: usize,
    failed: &mut Vec<Failure>,
    deadline: Option<Instant>,
    dry_run: bool,
) {
    let vol = d.plan.volume_id;
    for e in d.deletes() {
        let reason = item(e).reasons.join(", ");
        if dry_run {
            tracing::info!(volume_id = %vol, snapshot_id = %e.snapshot_id, reason = %reason, dry_run, "delete");
            report.deleted.push(item(e));
            continue;
        }
        match delete_one(app, e.snapshot_id, deadline).await {
            Outcome::Failed(f) => {
                tracing::error!(volume_id = %vol, snapshot_id = %e.snapshot_id, code = %f.code, error = %f.message, "delete failed; tried again before this run ends");
                failed.push(Failure {
                    volume: index,
                    item: item(e),
                    failed: f,
                });
            }
            outcome => record(report, item(e), outcome),
        }
    }
}

/// Records how one delete ended in its volume's report (a failure is kept by the caller).
fn record(report: &mut VolumeReport, item: Item, outcome: Outcome) {
    let vol = &report.volume_id;
    let id = &item.snapshot_id;
    match outcome {
        Outcome::Deleted => {
            tracing::info!(volume_id = %vol, snapshot_id = %id, reason = %item.reasons.join(", "), "delete");
            report.deleted.push(item);
        }
        Outcome::AlreadyGone => {
            tracing::info!(volume_id = %vol, snapshot_id = %id, "already deleted by someone else");
            report.already_gone.push(item.snapshot_id);
        }
        Outcome::Deferred => {
            tracing::warn!(volume_id = %vol, snapshot_id = %id, "deadline near; deletion deferred to the next run");
            let mut i = item;
            i.reasons.push(DEADLINE_NEAR.to_string());
            report.deferred.push(i);
        }
        Outcome::Skipped { why, denied } => {
            tracing::warn!(volume_id = %vol, snapshot_id = %id, error = %why, denied, "delete refused; skipped");
            if denied {
                report.denied.push(item.snapshot_id.clone());
            }
            report.skipped.push(Item {
                snapshot_id: item.snapshot_id,
                reasons: vec![why],
            });
        }
        Outcome::Failed(_) => unreachable!("failures are kept by the caller"),
    }
}

/// The waits before each new pass over the deletes that failed (each already tried by the
/// SDK's own retries): one invocation settles them and reports exactly what it deleted.
pub const DELETE_RETRY_WAITS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];

/// A planned delete that failed: its volume's report (index), the plan's item, the error.
struct Failure {
    volume: usize,
    item: Item,
    failed: FailedDelete,
}

/// Tries the failed deletes again, a pass after each wait while the deadline allows, recording
/// every outcome in its volume's report; returns what still failed.
async fn retry_failed<P: Ports>(
    app: &App<P>,
    reports: &mut [VolumeReport],
    mut failed: Vec<Failure>,
    deadline: Option<Instant>,
) -> Vec<FailedDelete> {
    for wait in DELETE_RETRY_WAITS {
        let room = deadline
            .is_none_or(|d| d.saturating_duration_since(Instant::now()) >= wait + DEADLINE_MARGIN);
        if failed.is_empty() || !room {
            break;
        }
        tokio::time::sleep(wait).await;
        let mut still = Vec::new();
        for f in failed {
            match delete_one(app, &f.item.snapshot_id, deadline).await {
                Outcome::Failed(again) => {
                    tracing::error!(volume_id = %reports[f.volume].volume_id, snapshot_id = %f.item.snapshot_id, code = %again.code, error = %again.message, "delete failed again");
                    still.push(Failure { failed: again, ..f });
                }
                // The deadline came before the retry: still a failure, never a quiet deferral.
                Outcome::Deferred => still.push(f),
                // Gone since our failed attempt: that attempt most likely deleted it (an error
                // answered after the delete took effect), so it counts as deleted.
                Outcome::AlreadyGone => {
                    tracing::info!(volume_id = %reports[f.volume].volume_id, snapshot_id = %f.item.snapshot_id, "gone since the failed attempt; counted as deleted");
                    record(&mut reports[f.volume], f.item, Outcome::Deleted);
                }
                outcome => record(&mut reports[f.volume], f.item, outcome),
            }
        }
        failed = still;
    }
    failed.into_iter().map(|f| f.failed).collect()
}
