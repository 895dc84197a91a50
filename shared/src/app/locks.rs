//! The lock step of prune-volumes: the LockSnapshot calls each volume's decision planned
//! ([`crate::decision::plan_locks`]: a new lock as long as its generation is kept, or an
//! extension when it became the keeper of a coarser period; never shorter). In a dry run they
//! are reported, not made. A refused call is reported (`LocksFailed`) and fails the batch; a
//! volume whose locks could not be planned (longer than `lockMaxDays`) is reported too, and
//! nothing of it is deleted (its decision keeps every snapshot).

use crate::aws::Ports;
use crate::decision::Decision;

use super::prune::{Item, VolumeReport};
use super::App;

/// Every volume's lock requests (`reports[i]` is `decisions[i]`'s report).
pub async fn apply_all<P: Ports>(
    app: &App<P>,
    decisions: &[Decision<'_>],
    reports: &mut [VolumeReport],
    dry_run: bool,
) {
    for (d, report) in decisions.iter().zip(reports.iter_mut()) {
        if let Some(why) = &d.lock_error {
            tracing::error!(volume_id = %d.plan.volume_id, reason = %why, "locks not planned: nothing locked or deleted");
            report.lock_failed.push(why.clone());
        }
        for (id, req) in &d.lock_requests {
            let what = format!(
                "{} until {}{}",
                req.mode,
                req.until.format("%Y-%m-%d %H:%M UTC"),
                if req.extends { " (extended)" } else { "" }
            );
            let item = Item {
                snapshot_id: id.to_string(),
                reasons: vec![what],
            };
            if dry_run {
                report.locked.push(item);
                continue;
            }
            match app.ec2.lock(id, req).await {
                Ok(()) => {
                    tracing::info!(volume_id = %d.plan.volume_id, snapshot_id = %id, mode = %req.mode, until = %req.until, extends = req.extends, "snapshot locked");
                    report.locked.push(item);
                }
                Err(e) => {
                    tracing::error!(volume_id = %d.plan.volume_id, snapshot_id = %id, error = %e, "lock refused");
                    report.lock_failed.push(format!("lock {id}: {e}"));
                }
            }
        }
    }
}
