//! tag-snapshot: reacts to an EBS completion event. On `succeeded` it decides adoption with the
//! core and applies our tags (idempotent: a duplicate event changes nothing); on `failed` it
//! logs, counts, and tags nothing. Its output names the volumes to prune next.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::Ports;
use crate::error::Error;
use crate::events::{parse_completion, Outcome};
use crate::metrics::{Counts, Metric};
use crate::ownership::{decide_adoption, failure_is_ours, Adoption, SkipReason};

use super::{adopt, classify_volumes, Adoptions, App, VolumeJob};

/// What tag-snapshot did with one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TagAction {
    Adopted,
    AlreadyOurs,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResult {
    pub snapshot_id: String,
    pub volume_id: String,
    pub action: TagAction,
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

pub async fn handle<P: Ports>(app: &App<P>, event: serde_json::Value) -> Result<TagOutput, Error> {
    let completions = parse_completion(event)?;
    let dry_run = app.dry_run(false);
    let mut results = Vec::new();
    let mut failed = Vec::new();
    let mut counts = Counts::of(&[Metric::SnapshotsAdopted, Metric::SnapshotsFailed]);
    let result = |snapshot_id: &str, volume_id: &str, action, reason: String| SnapshotResult {
        snapshot_id: snapshot_id.to_string(),
        volume_id: volume_id.to_string(),
        action,
        reason,
    };

    let (ok, bad): (Vec<_>, Vec<_>) = completions
        .into_iter()
        .partition(|c| c.outcome == Outcome::Succeeded);

    // Fetch: the volumes concerned (failed ones too: ownership of a failure), then each snapshot.
    let mut volume_ids: Vec<String> = ok.iter().chain(&bad).map(|c| c.volume_id.clone()).collect();
    volume_ids.sort();
    volume_ids.dedup();
    let volumes = if volume_ids.is_empty() {
        vec![]
    } else {
        app.ec2.volumes_by_id(&volume_ids).await?
    };
    let (jobs, misconfigured) = classify_volumes(&app.settings, volumes);
    counts.add(Metric::VolumesMisconfigured, misconfigured.len() as u64);
    let jobs: BTreeMap<String, VolumeJob> =
        jobs.into_iter().map(|j| (j.volume_id.clone(), j)).collect();

    // Failures: ours are counted, alarmed and fail the execution; the rest are logged only.
    for c in bad {
        let managed = jobs.contains_key(&c.volume_id)
            || misconfigured.iter().any(|m| m.volume_id == c.volume_id);
        let snap = match app.settings.backend {
            crate::config::Backend::Scheduler => app.ec2.snapshot(&c.snapshot_id).await?,
            crate::config::Backend::Rules => None,
        };
        if failure_is_ours(
            app.settings.backend,
            &app.settings.deployment,
            snap.as_ref(),
            managed,
        ) {
            tracing::error!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, cause = %c.cause, "EBS reports the snapshot failed; not tagged");
            counts.add(Metric::SnapshotsFailed, 1);
            failed.push(result(
                &c.snapshot_id,
                &c.volume_id,
                TagAction::Failed,
                c.cause,
            ));
        } else {
            tracing::debug!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, cause = %c.cause, "a snapshot that is not ours failed");
            results.push(result(
                &c.snapshot_id,
                &c.volume_id,
                TagAction::Skipped,
                format!("failed, not ours: {}", c.cause),
            ));
        }
    }

    // Decide (each snapshot is read: the event names the volume, EC2 knows the truth).
    let (wanted, mut decided) = triage(app, &ok, &jobs, &misconfigured).await?;
    results.append(&mut decided);

    // Apply.
    let adopted = adopt(
        app,
        &jobs,
        &wanted,
        "completed snapshot of a managed volume",
        dry_run,
    )
    .await?;

    // Report.
    for (vol, (ids, _)) in &adopted.tagged {
        for id in ids {
            results.push(result(
                id,
                vol,
                TagAction::Adopted,
                format!("adoption mode {}", app.settings.adoption),
            ));
        }
    }
    for (vol, id, why) in &adopted.refused {
        results.push(result(id, vol, TagAction::Skipped, why.clone()));
    }
    if !dry_run {
        counts.add(Metric::SnapshotsAdopted, adopted.count() as u64);
    }
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

/// For each succeeded completion: adopt its snapshot, or say why not.
async fn triage<P: Ports>(
    app: &App<P>,
    ok: &[crate::events::Completion],
    jobs: &BTreeMap<String, VolumeJob>,
    misconfigured: &[super::MisconfiguredVolume],
) -> Result<(Adoptions, Vec<SnapshotResult>), Error> {
    let mut results = Vec::new();
    let result = |snapshot_id: &str, volume_id: &str, action, reason: String| SnapshotResult {
        snapshot_id: snapshot_id.to_string(),
        volume_id: volume_id.to_string(),
        action,
        reason,
    };
    let rule = app.settings.adoption_rule(&app.account_id);
    let mut wanted = Adoptions::new();
    for c in ok {
        let skip =
            |reason: String| result(&c.snapshot_id, &c.volume_id, TagAction::Skipped, reason);
        let Some(job) = jobs.get(&c.volume_id) else {
            let why = match misconfigured.iter().find(|m| m.volume_id == c.volume_id) {
                Some(m) => m.error.clone(),
                None => "volume is not managed or no longer exists".into(),
            };
            tracing::info!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, reason = %why, "not adopted");
            results.push(skip(why));
            continue;
        };
        let Some(snap) = app.ec2.snapshot(&c.snapshot_id).await? else {
            results.push(skip("snapshot no longer exists".into()));
            continue;
        };
        // The event names the volume; EC2 knows the truth. Never write `ebs-gens:volume` from
        // an event that disagrees with the snapshot itself.
        if snap.volume_id != c.volume_id {
            let why = format!(
                "the event names volume {} but the snapshot is of {}",
                c.volume_id, snap.volume_id
            );
            tracing::warn!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, reason = %why, "not adopted");
            results.push(skip(why));
            continue;
        }
        match decide_adoption(&rule, &snap, Some(app.settings.schedule(job.finest()))) {
            Adoption::Adopt => wanted
                .entry(c.volume_id.clone())
                .or_default()
                .push(c.snapshot_id.clone()),
            Adoption::Skip {
                reason: SkipReason::AlreadyOurs,
            } => results.push(result(
                &c.snapshot_id,
                &c.volume_id,
                TagAction::AlreadyOurs,
                "already tagged by this deployment".into(),
            )),
            Adoption::Skip { reason } => {
                tracing::info!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, reason = %reason, "not adopted");
                results.push(skip(reason.to_string()));
            }
        }
    }

    Ok((wanted, results))
}
