//! discover-volumes: one page of managed (and misconfigured) volumes, cut into batches for the
//! sweep's Map state. Pages are DescribeVolumes pages (tag-key filter, up to 500), so a page's
//! output (~150 bytes a volume) stays far below Step Functions' 256 KB state limit.

use serde::{Deserialize, Serialize};

use crate::aws::{Ec2Api, EventsApi, Filter, PageRequest, MAX_VOLUMES_PAGE};
use crate::error::Error;
use crate::metrics::Counts;

use super::{classify_volumes, App, MisconfiguredVolume, VolumeJob};

/// Volumes per prune-volumes invocation (one Map item). 100 volumes with ~10 snapshots each
/// list in one 1,000-snapshot DescribeSnapshots page.
pub const DEFAULT_BATCH: usize = 100;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    pub volumes: Vec<VolumeJob>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscoverOutput {
    pub batches: Vec<Batch>,
    pub misconfigured: Vec<MisconfiguredVolume>,
    pub managed: usize,
    /// Present while more pages remain.
    pub next_cursor: Option<String>,
    pub dry_run: bool,
}

pub async fn handle<E: Ec2Api, V: EventsApi>(
    app: &App<E, V>,
    input: DiscoverInput,
) -> Result<DiscoverOutput, Error> {
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
    let keys: Vec<String> = app
        .settings
        .tag_keys
        .iter()
        .map(|(_, k)| k.to_string())
        .collect();
    let page = app
        .ec2
        .api()
        .describe_volumes(PageRequest {
            filters: vec![Filter::new("tag-key", keys)],
            ids: vec![],
            max_results: Some(page_size),
            next_token: input.cursor.clone(),
        })
        .await?;
    let (jobs, misconfigured) = classify_volumes(&app.settings, page.items);
    let mut counts = Counts::default();
    counts.add("VolumesManaged", jobs.len() as u64);
    counts.add("VolumesMisconfigured", misconfigured.len() as u64);
    app.publish(&counts, chrono::Utc::now());
    tracing::info!(
        managed = jobs.len(),
        misconfigured = misconfigured.len(),
        more = page.next_token.is_some(),
        "discovered volumes"
    );
    Ok(DiscoverOutput {
        managed: jobs.len(),
        batches: jobs
            .chunks(batch_size)
            .map(|c| Batch {
                volumes: c.to_vec(),
                dry_run: input.dry_run,
            })
            .collect(),
        misconfigured,
        next_cursor: page.next_token.filter(|t| !t.is_empty()),
        dry_run: input.dry_run,
    })
}
