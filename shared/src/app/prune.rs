//! prune-volumes: for a batch of volumes (sweep) or one (event), list their snapshots with as
//! few calls as possible, adopt untagged snapshots that missed their event, plan, and delete the
//! surplus. Fails with `DeleteFailed` listing what could not be deleted — after deleting
//! everything it could. `dry_run` plans and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::{Duration, Instant};

use crate::aws::{Ec2Api, ErrorKind, EventsApi};
use crate::error::{Error, FailedDelete};
use crate::events::id_after;
use crate::metrics::Counts;
use crate::ownership::{decide_adoption, ownership_tags, Adoption};
use crate::plan::{group_by_volume, plan};

use super::{display_names, App, VolumeJob};

/// Time left before the Lambda deadline at which no further delete is started.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PruneInput {
    pub volumes: Vec<VolumeJob>,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub snapshot_id: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReport {
    pub volume_id: String,
    pub policy: String,
    pub adopted: Vec<String>,
    pub kept: Vec<Item>,
    /// Deleted (or, in a dry run, that would be).
    pub deleted: Vec<Item>,
    /// Planned for deletion but refused for a reason retrying cannot fix (an AMI uses it, AWS
    /// Backup manages it): reported, counted in `SnapshotsBlocked`, not retried.
    pub skipped: Vec<Item>,
    /// Planned for deletion but left for the next run because the Lambda deadline was near.
    pub deferred: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub volumes: usize,
    pub adopted: usize,
    pub kept: usize,
    pub deleted: usize,
    pub skipped: usize,
    pub deferred: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PruneOutput {
    pub volumes: Vec<VolumeReport>,
    pub totals: Totals,
    pub dry_run: bool,
}

pub async fn handle<E: Ec2Api, V: EventsApi>(
    app: &App<E, V>,
    input: PruneInput,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<PruneOutput, Error> {
    let mut jobs: BTreeMap<String, VolumeJob> = BTreeMap::new();
    for j in input.volumes {
        id_after(&j.volume_id, "volume").map_err(|e| Error::InvalidInput(e.to_string()))?;
        jobs.insert(j.volume_id.clone(), j);
    }
    let dry_run = input.dry_run || app.settings.force_dry_run;
    let ids: Vec<String> = jobs.keys().cloned().collect();
    let mut groups = if ids.is_empty() {
        BTreeMap::new()
    } else {
        group_by_volume(app.ec2.snapshots_of(&ids).await?)
    };

    // Adoption of untagged snapshots that missed their completion event.
    let rule = app.settings.adoption_rule(&app.account_id);
    let mut adopt: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (vol, snaps) in &groups {
        let Some(job) = jobs.get(vol) else { continue };
        let schedule = app.settings.schedule(job.finest());
        for s in snaps.iter().filter(|s| s.tags.is_empty()) {
            if decide_adoption(&rule, s, Some(schedule)) == Adoption::Adopt {
                adopt.entry(vol.clone()).or_default().push(s.id.clone());
            }
        }
    }
    if !adopt.is_empty() {
        let need: Vec<&VolumeJob> = adopt.keys().filter_map(|v| jobs.get(v)).collect();
        let names = display_names(&app.ec2, &need).await?;
        for (vol, snap_ids) in &adopt {
            let job = &jobs[vol];
            let tags = ownership_tags(&app.settings.deployment, vol, job.finest(), &names[vol]);
            for id in snap_ids {
                tracing::info!(volume_id = %vol, snapshot_id = %id, reason = "untagged, matches schedule", mode = %app.settings.adoption, dry_run, "adopt");
            }
            if !dry_run {
                app.ec2.tag(snap_ids, &tags).await?;
            }
            // Plan as if tagged (a dry run shows what a real run would do).
            if let Some(snaps) = groups.get_mut(vol) {
                for s in snaps.iter_mut().filter(|s| snap_ids.contains(&s.id)) {
                    s.tags.extend(tags.iter().cloned());
                }
            }
        }
    }

    let mut reports = Vec::with_capacity(jobs.len());
    let mut failed: Vec<FailedDelete> = Vec::new();
    let mut totals = Totals {
        volumes: jobs.len(),
        ..Totals::default()
    };
    let empty = Vec::new();
    for (vol, job) in &jobs {
        let snaps = groups.get(vol).unwrap_or(&empty);
        let p = plan(vol, &job.policy, &app.settings.plan_context(), snaps, now);
        let item = |e: &crate::plan::Entry<'_>| Item {
            snapshot_id: e.snapshot_id.to_string(),
            reasons: e.reasons.iter().map(|r| r.to_string()).collect(),
        };
        let mut report = VolumeReport {
            volume_id: vol.clone(),
            policy: job.policy.to_string(),
            adopted: adopt.get(vol).cloned().unwrap_or_default(),
            kept: p.keep.iter().map(item).collect(),
            ..VolumeReport::default()
        };
        for e in &p.delete {
            let reasons = e
                .reasons
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            if dry_run {
                tracing::info!(volume_id = %vol, snapshot_id = %e.snapshot_id, reason = %reasons, dry_run, "delete");
                report.deleted.push(item(e));
                continue;
            }
            if deadline
                .is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN)
            {
                tracing::warn!(volume_id = %vol, snapshot_id = %e.snapshot_id, "deadline near; deletion deferred to the next run");
                report.deferred.push(e.snapshot_id.to_string());
                continue;
            }
            match app.ec2.delete(e.snapshot_id).await {
                Ok(how) => {
                    tracing::info!(volume_id = %vol, snapshot_id = %e.snapshot_id, reason = %reasons, result = ?how, "delete");
                    report.deleted.push(item(e));
                }
                Err(err) if matches!(err.kind, ErrorKind::InUse | ErrorKind::BackupManaged) => {
                    tracing::warn!(volume_id = %vol, snapshot_id = %e.snapshot_id, code = %err.code, error = %err.message, "delete refused; skipped");
                    report.skipped.push(Item {
                        snapshot_id: e.snapshot_id.to_string(),
                        reasons: vec![format!("{}: {}", err.code, err.message)],
                    });
                }
                Err(err) => {
                    tracing::error!(volume_id = %vol, snapshot_id = %e.snapshot_id, code = %err.code, error = %err.message, "delete failed");
                    failed.push(FailedDelete {
                        snapshot_id: e.snapshot_id.to_string(),
                        code: err.code,
                        message: err.message,
                    });
                }
            }
        }
        totals.adopted += report.adopted.len();
        totals.kept += report.kept.len();
        totals.deleted += report.deleted.len();
        totals.skipped += report.skipped.len();
        totals.deferred += report.deferred.len();
        tracing::info!(volume_id = %vol, policy = %report.policy, kept = report.kept.len(), deleted = report.deleted.len(), adopted = report.adopted.len(), dry_run, "volume pruned");
        reports.push(report);
    }
    totals.failed = failed.len();

    let mut counts = Counts::default();
    counts.add(
        "SnapshotsAdopted",
        if dry_run { 0 } else { totals.adopted as u64 },
    );
    counts.add(
        "SnapshotsDeleted",
        if dry_run { 0 } else { totals.deleted as u64 },
    );
    counts.add("SnapshotsBlocked", totals.skipped as u64);
    counts.add("SnapshotsDeferred", totals.deferred as u64);
    counts.add("DeleteFailed", failed.len() as u64);
    app.publish(&counts, now);

    if !failed.is_empty() {
        let unique: BTreeSet<&str> = failed.iter().map(|f| f.snapshot_id.as_str()).collect();
        tracing::error!(
            failed = unique.len(),
            deleted = totals.deleted,
            "some snapshots could not be deleted"
        );
        return Err(Error::DeleteFailed(failed));
    }
    Ok(PruneOutput {
        volumes: reports,
        totals,
        dry_run,
    })
}
