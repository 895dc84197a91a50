//! discover-volumes: one page of managed (and misconfigured) volumes, cut into batches for the
//! sweep's Map state. Pages are DescribeVolumes pages (tag-key filter, up to 500), so a page's
//! output (~150 bytes a volume) stays far below Step Functions' 256 KB state limit.

use serde::{Deserialize, Serialize};

use crate::aws::{Ec2Api, PageRequest, Ports, MAX_VOLUMES_PAGE};
use crate::error::Error;
use crate::metrics::{Counts, Metric};

use super::prune::{Attention, Totals};
use super::{classify_volumes, App, MisconfiguredVolume, VolumeJob};

/// Volumes per prune-volumes invocation (one Map item). 100 volumes with ~10 snapshots each
/// list in one 1,000-snapshot DescribeSnapshots page.
pub const DEFAULT_BATCH: usize = 100;

/// Volumes needing attention kept in the sweep summary (the rest are only counted).
pub const MAX_SUMMARY_ATTENTION: usize = 50;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverInput {
    /// The `next_cursor` of the previous page; absent for the first.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Volumes per DescribeVolumes page (5..=500).
    #[serde(default)]
    pub page_size: Option<i32>,
    /// Volumes per prune batch (1..=200).
    #[serde(default)]
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub dry_run: bool,
    /// The sweep's running totals so far (the state machine threads them through).
    #[serde(default)]
    pub summary: SweepTotals,
    /// The previous page's Map results, folded into `summary`: `{"totals": …}` per pruned
    /// batch, `{"error": {"Error", "Cause"}}` per batch that failed after its retries.
    #[serde(default)]
    pub results: Vec<BatchResult>,
    /// Only fold `results` into `summary` (the sweep's last step); list nothing.
    #[serde(default)]
    pub fold_only: bool,
    /// The orphan scan's result (`{"totals": …}` or `{"error": …}`), folded with the last page.
    #[serde(default)]
    pub orphans: Option<BatchResult>,
    /// Passed on to every batch (`ebs-gens sweep --remote --apply --allow-bulk-delete`, or an
    /// in-process sweep on the emulator).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_bulk_delete: bool,
}

/// What one Map iteration reports back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchResult {
    #[serde(default)]
    pub totals: Option<Totals>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// The sweep's summary, accumulated page by page (`{}` is the empty summary).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepTotals {
    pub volumes: usize,
    pub misconfigured: usize,
    pub adopted: usize,
    pub kept: usize,
    pub deleted: usize,
    pub skipped: usize,
    /// Of `skipped`: deletes IAM refused.
    pub denied: usize,
    pub deferred: usize,
    pub already_gone: usize,
    pub doubtful: usize,
    pub contested: usize,
    pub not_pruned: usize,
    pub stale: usize,
    /// Volumes whose deletions the fuse held, and the deletions held.
    pub held: usize,
    pub deletions_held: usize,
    /// Snapshots of ours whose volume is gone or untagged, and those former volumes.
    pub orphaned: usize,
    pub orphan_volumes: usize,
    /// Up to [`MAX_SUMMARY_ATTENTION`] volumes behind `stale`, `held`, `doubtful`,
    /// `contested`, `not_pruned`.
    pub attention: Vec<Attention>,
    /// Batches that still failed after every retry.
    pub failed_batches: usize,
    /// The errors of failed batches (at most 10 kept, to bound the state size).
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// Folds one page's Map results into the running totals. Pure.
pub fn fold(mut summary: SweepTotals, results: &[BatchResult]) -> SweepTotals {
    for r in results {
        match (&r.totals, &r.error) {
            (Some(t), None) => {
                summary.adopted += t.adopted;
                summary.kept += t.kept;
                summary.deleted += t.deleted;
                summary.skipped += t.skipped;
                summary.denied += t.denied;
                summary.deferred += t.deferred;
                summary.already_gone += t.already_gone;
                summary.doubtful += t.doubtful;
                summary.contested += t.contested;
                summary.not_pruned += t.not_pruned;
                summary.stale += t.stale;
                summary.held += t.held;
                summary.deletions_held += t.deletions_held;
                summary.orphaned += t.orphaned;
                summary.orphan_volumes += t.orphan_volumes;
                let room = MAX_SUMMARY_ATTENTION.saturating_sub(summary.attention.len());
                summary
                    .attention
                    .extend(t.attention.iter().take(room).cloned());
                // Deletes that still failed at the end of the batch: the batch failed (the
                // execution fails), its deletions counted above all the same.
                if t.failed > 0 {
                    summary.failed_batches += 1;
                    if summary.errors.len() < 10 {
                        summary.errors.push(serde_json::json!({
                            "Error": crate::ErrorName::DeleteFailed.as_str(),
                            "Cause": format!(
                                "{} snapshot(s) could not be deleted: {}",
                                t.failed,
                                crate::error::describe_failed(&t.failures)
                            ),
                        }));
                    }
                }
            }
            (_, error) => {
                summary.failed_batches += 1;
                if summary.errors.len() < 10 {
                    summary
                        .errors
                        .push(error.clone().unwrap_or(serde_json::Value::Null));
                }
            }
        }
    }
    summary
}

/// One Map item: exactly a prune-volumes input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub volumes: Vec<VolumeJob>,
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_bulk_delete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscoverOutput {
    pub batches: Vec<Batch>,
    pub misconfigured: Vec<MisconfiguredVolume>,
    pub managed: usize,
    /// Present while more pages remain.
    pub next_cursor: Option<String>,
    pub dry_run: bool,
    /// Running totals including this page's volumes (pruning results arrive with the next call).
    pub summary: SweepTotals,
}

pub async fn handle<P: Ports>(
    app: &App<P>,
    mut input: DiscoverInput,
) -> Result<DiscoverOutput, Error> {
    input.dry_run = app.dry_run(input.dry_run);
    let page_size = input.page_size.unwrap_or(MAX_VOLUMES_PAGE);
    if !(5..=MAX_VOLUMES_PAGE).contains(&page_size) {
        return Err(Error::InvalidInput(format!(
            "page_size {page_size} is not 5..={MAX_VOLUMES_PAGE}"
        )));
    }
    let batch_size = input.batch_size.unwrap_or(DEFAULT_BATCH);
    if !(1..=200).contains(&batch_size) {
        return Err(Error::InvalidInput(format!(
            "batch_size {batch_size} is not 1..=200"
        )));
    }
    let mut summary = fold(input.summary.clone(), &input.results);
    if let Some(o) = &input.orphans {
        summary = fold(summary, std::slice::from_ref(o));
    }
    if input.fold_only {
        if summary.failed_batches > 0 {
            tracing::error!(
                failed_batches = summary.failed_batches,
                "sweep finished with failed batches"
            );
        }
        tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), dry_run = input.dry_run, "sweep summary");
        return Ok(DiscoverOutput {
            batches: vec![],
            misconfigured: vec![],
            managed: 0,
            next_cursor: None,
            dry_run: input.dry_run,
            summary,
        });
    }
    let page = app
        .ec2
        .api()
        .describe_volumes(PageRequest {
            filters: vec![app.volume_filter()],
            ids: vec![],
            max_results: Some(page_size),
            next_token: input.cursor.clone(),
            owners: vec![],
        })
        .await?;
    let (jobs, misconfigured) = classify_volumes(&app.settings, page.items);
    let mut counts = Counts::default();
    counts.add(Metric::VolumesManaged, jobs.len() as u64);
    counts.add(Metric::VolumesMisconfigured, misconfigured.len() as u64);
    app.publish(&counts, chrono::Utc::now());
    tracing::info!(
        managed = jobs.len(),
        misconfigured = misconfigured.len(),
        more = page.next_token.is_some(),
        "discovered volumes"
    );
    summary.volumes += jobs.len();
    summary.misconfigured += misconfigured.len();
    Ok(DiscoverOutput {
        summary,
        managed: jobs.len(),
        batches: jobs
            .chunks(batch_size)
            .map(|c| Batch {
                volumes: c.to_vec(),
                dry_run: input.dry_run,
                allow_bulk_delete: input.allow_bulk_delete,
            })
            .collect(),
        misconfigured,
        next_cursor: page.next_token.filter(|t| !t.is_empty()),
        dry_run: input.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_adds_totals_and_counts_failed_batches() {
        let ok = |d| BatchResult {
            totals: Some(Totals {
                deleted: d,
                kept: 1,
                ..Totals::default()
            }),
            error: None,
        };
        let bad = BatchResult {
            totals: None,
            error: Some(serde_json::json!({"Error": "DeleteFailed", "Cause": "x"})),
        };
        let s = fold(SweepTotals::default(), &[ok(2), ok(3), bad]);
        assert_eq!((s.deleted, s.kept, s.failed_batches), (5, 2, 1));
        assert_eq!(s.errors[0]["Error"], "DeleteFailed");
        let s = fold(s, &[ok(1)]);
        assert_eq!(s.deleted, 6);
    }
}
