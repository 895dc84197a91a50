//! The sweep run in-process: the same steps as the `sweep` state machine (ensure rules, then
//! discover page by page and prune each batch), with the state machine's retry of retryable
//! errors. Used by the local `sweep` command, the efficiency benchmark and the tests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::{Ec2Api, EventsApi};
use crate::error::Error;

use super::discover::{self, DiscoverInput};
use super::ensure_rules::{self, EnsureInput};
use super::prune::{self, PruneInput, Totals};
use super::App;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub volumes: usize,
    pub misconfigured: usize,
    pub rule_changes: usize,
    /// Why ensure-rules failed, if it did (pruning still runs: it does not depend on rules).
    pub rules_error: Option<String>,
    pub totals: Totals,
    /// Batches that still failed after every retry, with their error.
    pub failed_batches: Vec<String>,
    pub dry_run: bool,
}

/// Retries `f` on retryable errors (`Transient`, `DeleteFailed`) up to `attempts` times.
pub async fn with_retries<T, F, Fut>(attempts: u32, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut n = 0;
    loop {
        n += 1;
        match f().await {
            Err(e) if e.name().retryable() && n < attempts => {
                tracing::warn!(attempt = n, error = %e, "retrying");
            }
            other => return other,
        }
    }
}

/// Runs one sweep. `attempts` is the per-step retry budget (the ASL uses the same idea).
pub async fn sweep<E: Ec2Api, V: EventsApi>(
    app: &App<E, V>,
    dry_run: bool,
    now: DateTime<Utc>,
    attempts: u32,
) -> Result<SweepSummary, Error> {
    let mut summary = SweepSummary {
        dry_run,
        ..Default::default()
    };
    if app.snapshot_role_arn.is_some() {
        match with_retries(attempts, || {
            ensure_rules::handle(app, EnsureInput { dry_run })
        })
        .await
        {
            Ok(ensured) => summary.rule_changes = ensured.ops.len(),
            Err(e) => {
                tracing::error!(error = %e, "ensure-rules failed; pruning goes on");
                summary.rules_error = Some(e.to_string());
            }
        }
    }
    let mut cursor = None;
    loop {
        let page = with_retries(attempts, || {
            discover::handle(
                app,
                DiscoverInput {
                    cursor: cursor.clone(),
                    dry_run,
                    ..Default::default()
                },
            )
        })
        .await?;
        summary.volumes += page.managed;
        summary.misconfigured += page.misconfigured.len();
        for batch in page.batches {
            let input = PruneInput {
                volumes: batch.volumes,
                dry_run,
            };
            match with_retries(attempts, || prune::handle(app, input.clone(), now, None)).await {
                Ok(out) => {
                    let t = &mut summary.totals;
                    t.volumes += out.totals.volumes;
                    t.adopted += out.totals.adopted;
                    t.kept += out.totals.kept;
                    t.deleted += out.totals.deleted;
                    t.skipped += out.totals.skipped;
                    t.deferred += out.totals.deferred;
                }
                Err(e) => {
                    summary.totals.failed += 1;
                    summary.failed_batches.push(e.to_string());
                }
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(summary)
}
