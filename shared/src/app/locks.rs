//! The lock step of prune-volumes: the LockSnapshot calls each volume's decision planned
//! ([`crate::decision::plan_locks`]: a new lock as long as its generation is kept, or an
//! extension when it became the keeper of a coarser period; never shorter). In a dry run they
//! are reported, not made. A refused call is reported (`LocksFailed`) and fails the batch; a
//! volume whose locks could not be planned (longer than `lockMaxDays`) is reported too, and
//! nothing of it is deleted (its decision keeps every snapshot).

use crate::aws::client::Ec2;
use crate::aws::{Ec2Api, Ports};
use crate::decision::Decision;
use crate::locks::LockRequest;

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
        apply(
            &app.ec2,
            d.plan.volume_id,
            &d.lock_requests,
            dry_run,
            &mut report.locked,
            &mut report.lock_failed,
        )
        .await;
    }
}

/// Makes (or, in a dry run, reports) one volume's LockSnapshot calls, in its region or a copy
/// destination: each lock in `locked` ("MODE until …", "(extended)" when it extends one), each
/// refusal in `failed`.
pub async fn apply<E: Ec2Api>(
    ec2: &Ec2<E>,
    volume_id: &str,
    requests: &[(&str, LockRequest)],
    dry_run: bool,
    locked: &mut Vec<Item>,
    failed: &mut Vec<String>,
) {
    for (id, req) in requests {
        let what = format!(
            "{} until {}{}",
            req.mode,
            req.until.format("%Y-%m-%d %H:%M UTC"),
            if req.extends { EXTENDED } else { "" }
        );
        let item = Item {
            snapshot_id: id.to_string(),
            reasons: vec![what],
        };
        if dry_run {
            locked.push(item);
            continue;
        }
        match ec2.lock(id, req).await {
            Ok(()) => {
                tracing::info!(volume_id, snapshot_id = %id, mode = %req.mode, until = %req.until, extends = req.extends, "snapshot locked");
                locked.push(item);
            }
            Err(e) => {
                tracing::error!(volume_id, snapshot_id = %id, error = %e, "lock refused");
                failed.push(format!("lock {id}: {e}"));
            }
        }
    }
}

/// The suffix of a lock report that extends a lock already there (counted as `LocksExtended`).
pub const EXTENDED: &str = " (extended)";
