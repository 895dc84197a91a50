//! tag-snapshot: reacts to an EBS completion event. On `succeeded` it decides adoption with the
//! core and applies our tags (idempotent: a duplicate event changes nothing); on `failed` it
//! logs, counts, and tags nothing. Its output names the volumes to prune next.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::{Ec2Api, EventsApi};
use crate::error::Error;
use crate::events::{parse_completion, Outcome};
use crate::metrics::Counts;
use crate::ownership::{decide_adoption, ownership_tags, Adoption, SkipReason};

use super::{classify_volumes, display_names, App, VolumeJob};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResult {
    pub snapshot_id: String,
    pub volume_id: String,
    /// `adopted`, `already-ours`, `skipped` or `failed`.
    pub action: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TagOutput {
    pub results: Vec<SnapshotResult>,
    /// Managed volumes whose snapshots changed: the input of prune-volumes.
    pub volumes: Vec<VolumeJob>,
    /// Snapshots EBS reported as failed (their cause in `reason`).
    pub failed: Vec<SnapshotResult>,
    pub dry_run: bool,
}

pub async fn handle<E: Ec2Api, V: EventsApi>(
    app: &App<E, V>,
    event: serde_json::Value,
) -> Result<TagOutput, Error> {
    let completions = parse_completion(event)?;
    let dry_run = app.settings.force_dry_run;
    let mut results = Vec::new();
    let mut failed = Vec::new();
    let mut counts = Counts::default();

    let ok: Vec<_> = completions
        .into_iter()
        .filter_map(|c| match c.outcome {
            Outcome::Succeeded => Some(c),
            Outcome::Failed => {
                tracing::error!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, cause = %c.cause, "EBS reports the snapshot failed; not tagged");
                counts.add("SnapshotsFailed", 1);
                failed.push(SnapshotResult {
                    snapshot_id: c.snapshot_id,
                    volume_id: c.volume_id,
                    action: "failed".into(),
                    reason: c.cause,
                });
                None
            }
        })
        .collect();

    let mut volume_ids: Vec<String> = ok.iter().map(|c| c.volume_id.clone()).collect();
    volume_ids.sort();
    volume_ids.dedup();
    let volumes = if volume_ids.is_empty() {
        vec![]
    } else {
        app.ec2.volumes_by_id(&volume_ids).await?
    };
    let (jobs, misconfigured) = classify_volumes(&app.settings, volumes);
    counts.add("VolumesMisconfigured", misconfigured.len() as u64);
    let jobs: BTreeMap<String, VolumeJob> =
        jobs.into_iter().map(|j| (j.volume_id.clone(), j)).collect();

    let rule = app.settings.adoption_rule(&app.account_id);
    let mut adopt: Vec<(String, String)> = Vec::new();
    for c in &ok {
        let skip = |reason: String| SnapshotResult {
            snapshot_id: c.snapshot_id.clone(),
            volume_id: c.volume_id.clone(),
            action: "skipped".into(),
            reason,
        };
        let Some(job) = jobs.get(&c.volume_id) else {
            let why = match misconfigured.iter().find(|m| m.volume_id == c.volume_id) {
                Some(m) => m.error.clone(),
                None if volume_ids.contains(&c.volume_id) => {
                    "volume is not managed or no longer exists".into()
                }
                None => "volume is not managed".into(),
            };
            tracing::info!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, reason = %why, "not adopted");
            results.push(skip(why));
            continue;
        };
        let Some(snap) = app.ec2.snapshot(&c.snapshot_id).await? else {
            results.push(skip("snapshot no longer exists".into()));
            continue;
        };
        match decide_adoption(&rule, &snap, Some(app.settings.schedule(job.finest()))) {
            Adoption::Adopt => adopt.push((c.volume_id.clone(), c.snapshot_id.clone())),
            Adoption::Skip {
                reason: SkipReason::AlreadyOurs,
            } => results.push(SnapshotResult {
                snapshot_id: c.snapshot_id.clone(),
                volume_id: c.volume_id.clone(),
                action: "already-ours".into(),
                reason: "already tagged by this deployment".into(),
            }),
            Adoption::Skip { reason } => {
                tracing::info!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, reason = %reason, "not adopted");
                results.push(skip(reason.to_string()));
            }
        }
    }

    if !adopt.is_empty() {
        let need: Vec<&VolumeJob> = adopt.iter().filter_map(|(v, _)| jobs.get(v)).collect();
        let names = display_names(&app.ec2, &need).await?;
        for (vol, snap) in &adopt {
            let job = &jobs[vol];
            let tags = ownership_tags(&app.settings.deployment, vol, job.finest(), &names[vol]);
            if !dry_run {
                app.ec2.tag(std::slice::from_ref(snap), &tags).await?;
            }
            tracing::info!(volume_id = %vol, snapshot_id = %snap, reason = "completed snapshot of a managed volume", mode = %app.settings.adoption, "adopt");
            counts.add("SnapshotsAdopted", u64::from(!dry_run));
            results.push(SnapshotResult {
                snapshot_id: snap.clone(),
                volume_id: vol.clone(),
                action: "adopted".into(),
                reason: format!("adoption mode {}", app.settings.adoption),
            });
        }
    }
    counts.add("SnapshotsAdopted", 0);
    counts.add("SnapshotsFailed", 0);
    app.publish(&counts, chrono::Utc::now());

    let touched: Vec<VolumeJob> = ok
        .iter()
        .filter_map(|c| {
            jobs.get(&c.volume_id)
                .map(|j| (j.volume_id.clone(), j.clone()))
        })
        .collect::<BTreeMap<_, _>>()
        .into_values()
        .collect();
    Ok(TagOutput {
        results,
        volumes: touched,
        failed,
        dry_run,
    })
}
