//! discover-volumes: one page of managed (and misconfigured) volumes, cut into batches for the
//! sweep's Map state. Pages are DescribeVolumes pages (tag-key filter, up to 500), so a page's
//! output (~150 bytes a volume) stays far below Step Functions' 256 KB state limit.

use serde::{Deserialize, Serialize};

use crate::aws::{Ec2Api, PageRequest, Ports, MAX_VOLUMES_PAGE};
use crate::error::Error;
use crate::metrics::{Counts, Metric};

pub use super::totals::{fold, BatchResult, Totals, MAX_SUMMARY_ATTENTION};
use super::{classify_volumes, App, MisconfiguredVolume, VolumeJob};

/// Volumes per prune-volumes invocation (one Map item). 100 volumes with ~10 snapshots each
/// list in one 1,000-snapshot DescribeSnapshots page.
pub const DEFAULT_BATCH: usize = 100;

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
    pub summary: Totals,
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

/// One Map item: exactly a prune-volumes input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub volumes: Vec<VolumeJob>,
    /// Instances whose sets this batch prunes (`EBS_GENS_SETS=on`; the first page's batches).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
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
    pub summary: Totals,
}

pub async fn handle<P: Ports>(
    app: &App<P>,
    mut input: DiscoverInput,
) -> Result<DiscoverOutput, Error> {
    input.dry_run = app.dry_run(input.dry_run);
    let (page_size, batch_size) = sizes(&input)?;
    let mut summary = fold(input.summary.clone(), &input.results);
    if let Some(o) = &input.orphans {
        summary = fold(summary, std::slice::from_ref(o));
    }
    if input.fold_only {
        return Ok(last_fold(summary, input.dry_run));
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
    // Instances with sets are listed once, with the first page (their batches are pruned by
    // the set planner; prune reads each instance again and skips what is not managed now).
    let instances: Vec<String> = match app.settings.sets && input.cursor.is_none() {
        true => app
            .ec2
            .instances_matching(vec![app.volume_filter()])
            .await?
            .into_iter()
            .map(|i| i.id)
            .collect(),
        false => vec![],
    };
    if !instances.is_empty() {
        tracing::info!(
            instances = instances.len(),
            "discovered instances with sets"
        );
    }
    summary.instances += instances.len();
    let batch = |volumes: Vec<VolumeJob>, instances: Vec<String>| Batch {
        volumes,
        instances,
        dry_run: input.dry_run,
        allow_bulk_delete: input.allow_bulk_delete,
    };
    Ok(DiscoverOutput {
        summary,
        managed: jobs.len(),
        batches: jobs
            .chunks(batch_size)
            .map(|c| batch(c.to_vec(), vec![]))
            .chain(
                instances
                    .chunks(batch_size)
                    .map(|c| batch(vec![], c.to_vec())),
            )
            .collect(),
        misconfigured,
        next_cursor: page.next_token.filter(|t| !t.is_empty()),
        dry_run: input.dry_run,
    })
}

/// The page and batch sizes asked for, checked (a hand-made input gets a clear error).
fn sizes(input: &DiscoverInput) -> Result<(i32, usize), Error> {
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
    Ok((page_size, batch_size))
}

/// The sweep's last step: the summary, logged, and no page.
fn last_fold(summary: Totals, dry_run: bool) -> DiscoverOutput {
    if summary.failed_batches > 0 {
        tracing::error!(
            failed_batches = summary.failed_batches,
            "sweep finished with failed batches"
        );
    }
    tracing::info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), dry_run, "sweep summary");
    DiscoverOutput {
        batches: vec![],
        misconfigured: vec![],
        managed: 0,
        next_cursor: None,
        dry_run,
        summary,
    }
}
