//! The sweep run in-process: exactly the steps of `statemachine/sweep.asl.json` (ensure schedules,
//! then discover page by page, prune each page's batches, fold their results into the running
//! summary, scan for orphans, and fold the last page and the scan at the end), with the state machine's retry of retryable
//! errors. Used by the tests and the benchmarks (the local `sweep` command runs the ASL itself).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::Ports;
use crate::error::Error;

use super::discover::{self, BatchResult, DiscoverInput};
use super::ensure_schedules::{self, EnsureInput};
use super::prune::{self, PruneInput};
use super::totals::Totals;
use super::App;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    #[serde(flatten)]
    pub totals: Totals,
    /// Changes ensure-schedules applied: schedules created, enabled and deleted, rule operations.
    pub schedule_changes: usize,
    /// Why ensure-schedules failed, if it did (pruning still runs: it does not depend on it).
    pub schedules_error: Option<String>,
    pub dry_run: bool,
}

impl SweepSummary {
    /// Whether anything failed (the state machine ends in a Fail state then).
    pub fn failed(&self) -> bool {
        self.totals.failed_batches > 0 || self.schedules_error.is_some()
    }
}

/// Retries `f` on retryable errors (`Transient`) up to `attempts` times, as the
/// state machine's Retry does (its waits are not modelled).
pub async fn with_retries<T, F, Fut>(attempts: u32, f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    crate::retry::retry(
        attempts,
        |e: &Error| {
            let again = e.name().retryable();
            if again {
                tracing::warn!(error = %e, "retrying");
            }
            again
        },
        |_| std::time::Duration::ZERO,
        f,
    )
    .await
}

/// A prune's outcome as the state machine records it: its totals, or `{"Error", "Cause"}`.
fn batch_result(r: Result<prune::PruneOutput, Error>) -> BatchResult {
    match r {
        Ok(out) => BatchResult {
            totals: Some(out.totals),
            error: None,
        },
        Err(e) => BatchResult {
            totals: None,
            error: Some(serde_json::json!({"Error": e.name().as_str(), "Cause": e.to_string()})),
        },
    }
}

/// The discovery page size `sweep.asl.json` uses.
pub const PAGE_SIZE: i32 = 250;

/// Runs one sweep. `attempts` is the per-step retry budget (the ASL's Retry does the same).
pub async fn sweep<P: Ports>(
    app: &App<P>,
    dry_run: bool,
    now: DateTime<Utc>,
    attempts: u32,
) -> Result<SweepSummary, Error> {
    sweep_with(app, dry_run, false, now, attempts, |_| {}).await
}

/// A sweep's progress, for a caller that shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Schedules reconciled.
    Reconciled,
    /// A page of volumes discovered (volumes in it).
    Page(usize),
    /// A batch pruned (volumes in it).
    Batch(usize),
    /// The orphan scan finished.
    Orphans,
}

/// [`sweep`], optionally acknowledging bulk deletions for this run, reporting progress.
pub async fn sweep_with<P: Ports>(
    app: &App<P>,
    dry_run: bool,
    allow_bulk_delete: bool,
    now: DateTime<Utc>,
    attempts: u32,
    progress: impl Fn(Progress),
) -> Result<SweepSummary, Error> {
    let (mut schedule_changes, mut schedules_error) = (0, None);
    if app.can_reconcile() {
        (schedule_changes, schedules_error) = reconcile(app, dry_run, attempts).await;
        progress(Progress::Reconciled);
    }
    // Pages of 250 volumes, as `sweep.asl.json` asks for.
    let mut input = DiscoverInput {
        dry_run,
        allow_bulk_delete,
        page_size: Some(PAGE_SIZE),
        ..Default::default()
    };
    loop {
        let page = with_retries(attempts, || discover::handle(app, input.clone())).await?;
        progress(Progress::Page(page.managed));
        let mut results = Vec::with_capacity(page.batches.len());
        for batch in page.batches {
            let n = batch.volumes.len() + batch.instances.len();
            let prune_input = PruneInput {
                volumes: batch.volumes,
                instances: batch.instances,
                dry_run,
                allow_bulk_delete: batch.allow_bulk_delete,
                ..Default::default()
            };
            let pruned = with_retries(attempts, || {
                prune::handle(app, prune_input.clone(), now, None)
            });
            results.push(batch_result(pruned.await));
            progress(Progress::Batch(n));
        }
        input = DiscoverInput {
            cursor: page.next_cursor.clone(),
            page_size: (page.next_cursor.is_some()).then_some(PAGE_SIZE),
            dry_run,
            summary: page.summary,
            results,
            fold_only: page.next_cursor.is_none(),
            allow_bulk_delete,
            ..Default::default()
        };
        if input.fold_only {
            // As the state machine's Orphans step: after the last page, before the last fold.
            input.orphans =
                Some(scan_orphans(app, dry_run, allow_bulk_delete, now, attempts).await);
            progress(Progress::Orphans);
            let last = discover::handle(app, input).await?;
            return Ok(SweepSummary {
                totals: last.summary,
                schedule_changes,
                schedules_error,
                // What was done, not what was asked (`EBS_GENS_DRY_RUN=true` forces a dry run).
                dry_run: app.dry_run(dry_run),
            });
        }
    }
}

/// As the state machine's EnsureSchedules and MoreSchedules loop: again while the deadline left
/// changes; a failure is reported and pruning goes on.
async fn reconcile<P: Ports>(
    app: &App<P>,
    dry_run: bool,
    attempts: u32,
) -> (usize, Option<String>) {
    let mut changes = 0;
    loop {
        let ensured = with_retries(attempts, || {
            ensure_schedules::handle(app, EnsureInput { dry_run }, None)
        });
        match ensured.await {
            Ok(e) if e.more => changes += e.changes,
            Ok(e) => return (changes + e.changes, None),
            Err(e) => {
                tracing::error!(error = %e, "ensure-schedules failed; pruning goes on");
                return (changes, Some(e.to_string()));
            }
        }
    }
}

/// The orphan scan, as the state machine's ScanOrphans step (its result folded like a batch's).
async fn scan_orphans<P: Ports>(
    app: &App<P>,
    dry_run: bool,
    allow_bulk_delete: bool,
    now: DateTime<Utc>,
    attempts: u32,
) -> BatchResult {
    let scan = PruneInput {
        dry_run,
        allow_bulk_delete,
        orphans: true,
        ..Default::default()
    };
    batch_result(with_retries(attempts, || prune::handle(app, scan.clone(), now, None)).await)
}
