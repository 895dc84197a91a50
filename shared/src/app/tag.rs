//! tag-snapshot: reacts to an EBS completion event. On `succeeded` it decides adoption with the
//! core and applies our tags (idempotent: a duplicate event changes nothing); on `failed` it
//! logs, counts, and tags nothing. Its output names the volumes to prune next.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aws::Ports;
use crate::config::BackendKind;
use crate::error::Error;
use crate::events::{parse_completion, Outcome, DETAIL_MULTI};
use crate::metrics::{Counts, Metric};
use crate::ownership::{decide_adoption, failure_is_ours, Adoption, SkipReason};

use super::{adopt, classify_volumes, Adoptions, App, MisconfiguredVolume, VolumeJob};

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
    /// The instance whose set completed (a multi-volume event of ours): prune-volumes prunes
    /// its sets instead.
    #[serde(default)]
    pub instances: Vec<String>,
    /// Snapshots EBS reported as failed (their cause in `reason`).
    pub failed: Vec<SnapshotResult>,
    pub dry_run: bool,
}

pub async fn handle<P: Ports>(app: &App<P>, event: serde_json::Value) -> Result<TagOutput, Error> {
    let multi = event.get("detail-type").and_then(|v| v.as_str()) == Some(DETAIL_MULTI);
    let completions = parse_completion(event)?;
    let dry_run = app.dry_run(false);
    if multi {
        if let Some(out) = set_completed(app, &completions, dry_run).await? {
            return Ok(out);
        }
    }
    let mut counts = Counts::of(&[Metric::SnapshotsAdopted, Metric::SnapshotsFailed]);
    let (ok, bad): (Vec<_>, Vec<_>) = completions
        .into_iter()
        .partition(|c| c.outcome == Outcome::Succeeded);

    // Fetch: the volumes concerned (failed ones too: ownership of a failure).
    let (jobs, misconfigured) = volumes_of(app, ok.iter().chain(&bad)).await?;
    counts.add(Metric::VolumesMisconfigured, misconfigured.len() as u64);
    // Failures: ours are counted, alarmed and fail the execution; the rest are logged only.
    let (failed, mut results) = failures(app, bad, &jobs, &misconfigured).await?;
    counts.add(Metric::SnapshotsFailed, failed.len() as u64);
    // Decide (each snapshot is read: the event names the volume, EC2 knows the truth).
    let (wanted, mut decided) = triage(app, &ok, &jobs, &misconfigured).await?;
    results.append(&mut decided);
    // Apply.
    let why = "completed snapshot of a managed volume";
    let adopted = adopt(app, &jobs, &wanted, why, dry_run).await?;
    // Report.
    for (vol, (ids, _)) in &adopted.tagged {
        for id in ids {
            let why = format!("adoption mode {}", app.settings.adoption);
            results.push(result(id, vol, TagAction::Adopted, why));
        }
    }
    for (vol, id, why) in &adopted.refused {
        results.push(result(id, vol, TagAction::Skipped, why.clone()));
    }
    if !dry_run {
        counts.add(Metric::SnapshotsAdopted, adopted.count() as u64);
    }
    app.publish(&counts, chrono::Utc::now());
    // The managed volumes a snapshot completed for, once each: the next state prunes them.
    let touched: BTreeMap<&str, &VolumeJob> = ok
        .iter()
        .filter_map(|c| jobs.get(&c.volume_id).map(|j| (j.volume_id.as_str(), j)))
        .collect();
    Ok(TagOutput {
        results,
        volumes: touched.into_values().cloned().collect(),
        instances: vec![],
        failed,
        dry_run,
    })
}

/// A multi-volume completion whose members are a set of ours: each member gets its volume,
/// `Name` and the set's size (CreateSnapshots gave them all the same tags), failed members are
/// counted, and the instance's sets are pruned next. `None`: not a set (the per-volume path
/// handles it). A set of another deployment is skipped, said.
async fn set_completed<P: Ports>(
    app: &App<P>,
    completions: &[crate::events::Completion],
    dry_run: bool,
) -> Result<Option<TagOutput>, Error> {
    let mut described = Vec::new();
    for c in completions {
        described.extend(app.ec2.snapshot(&c.snapshot_id).await?);
    }
    let Some(first) = described.iter().find(|s| crate::sets::is_member(s)) else {
        return Ok(None);
    };
    let instance = crate::sets::set_instance(first)
        .unwrap_or_default()
        .to_string();
    let class = first
        .tag(crate::snapshot::TAG_CLASS)
        .and_then(|c| crate::GenClass::ALL.into_iter().find(|k| k.label() == c))
        .unwrap_or(crate::GenClass::Daily);
    let names = app
        .ec2
        .instance_names(std::slice::from_ref(&instance))
        .await?;
    let name = names
        .get(&instance)
        .cloned()
        .unwrap_or_else(|| instance.clone());
    let ctx = app.settings.plan_context(&app.account_id);
    let done = crate::sets::completion_tags(completions, &described, &ctx, class, &name)
        .map_err(Error::InvalidInput)?;
    let Some(done) = done else {
        tracing::info!(instance_id = %instance, "a set that is not ours completed; ignored");
        let results = completions
            .iter()
            .map(|c| {
                result(
                    &c.snapshot_id,
                    &c.volume_id,
                    TagAction::Skipped,
                    "member of a set that is not ours".into(),
                )
            })
            .collect();
        return Ok(Some(TagOutput {
            results,
            volumes: vec![],
            instances: vec![],
            failed: vec![],
            dry_run,
        }));
    };
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (c, (id, tags)) in completions.iter().zip(&done.tags) {
        if !dry_run {
            for (gone, e) in app.ec2.tag_each(std::slice::from_ref(id), tags).await? {
                tracing::warn!(snapshot_id = %gone, error = %e, "set member not tagged");
            }
        }
        match c.outcome {
            Outcome::Succeeded => results.push(result(
                id,
                &c.volume_id,
                TagAction::AlreadyOurs,
                format!("member of set {}", done.set),
            )),
            Outcome::Failed => {
                tracing::error!(snapshot_id = %id, volume_id = %c.volume_id, set = %done.set, cause = %c.cause, "EBS reports a set member failed; the set is failed whole");
                failed.push(result(id, &c.volume_id, TagAction::Failed, c.cause.clone()));
            }
        }
    }
    let mut counts = Counts::of(&[Metric::SnapshotsFailed]);
    counts.add(Metric::SnapshotsFailed, done.failed as u64);
    app.publish(&counts, chrono::Utc::now());
    tracing::info!(instance_id = %instance, set = %done.set, members = completions.len(), failed = done.failed, dry_run, "set completed");
    Ok(Some(TagOutput {
        results,
        volumes: vec![],
        instances: vec![instance],
        failed,
        dry_run,
    }))
}

fn result(snapshot_id: &str, volume_id: &str, action: TagAction, reason: String) -> SnapshotResult {
    SnapshotResult {
        snapshot_id: snapshot_id.to_string(),
        volume_id: volume_id.to_string(),
        action,
        reason,
    }
}

/// The completions' volumes, read once each: managed ones by id, and the misconfigured.
async fn volumes_of<'a, P: Ports>(
    app: &App<P>,
    completions: impl Iterator<Item = &'a crate::events::Completion>,
) -> Result<(BTreeMap<String, VolumeJob>, Vec<MisconfiguredVolume>), Error> {
    let ids: BTreeSet<String> = completions.map(|c| c.volume_id.clone()).collect();
    let ids: Vec<String> = ids.into_iter().collect();
    let volumes = match ids.is_empty() {
        true => vec![],
        false => app.ec2.volumes_by_id(&ids).await?,
    };
    let (jobs, misconfigured) = classify_volumes(&app.settings, volumes);
    let jobs = jobs.into_iter().map(|j| (j.volume_id.clone(), j)).collect();
    Ok((jobs, misconfigured))
}

/// Failed snapshots: ours (counted, alarmed, failing the execution) and the others' (skipped).
async fn failures<P: Ports>(
    app: &App<P>,
    bad: Vec<crate::events::Completion>,
    jobs: &BTreeMap<String, VolumeJob>,
    misconfigured: &[MisconfiguredVolume],
) -> Result<(Vec<SnapshotResult>, Vec<SnapshotResult>), Error> {
    let (mut ours, mut others) = (vec![], vec![]);
    let backend = app.settings.backend.kind();
    for c in bad {
        let managed = jobs.contains_key(&c.volume_id)
            || misconfigured.iter().any(|m| m.volume_id == c.volume_id);
        let snap = match backend {
            BackendKind::Scheduler => app.ec2.snapshot(&c.snapshot_id).await?,
            BackendKind::Rules => None,
        };
        if failure_is_ours(backend, &app.settings.deployment, snap.as_ref(), managed) {
            tracing::error!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, cause = %c.cause, "EBS reports the snapshot failed; not tagged");
            ours.push(result(
                &c.snapshot_id,
                &c.volume_id,
                TagAction::Failed,
                c.cause,
            ));
        } else {
            tracing::debug!(snapshot_id = %c.snapshot_id, volume_id = %c.volume_id, cause = %c.cause, "a snapshot that is not ours failed");
            let why = format!("failed, not ours: {}", c.cause);
            others.push(result(
                &c.snapshot_id,
                &c.volume_id,
                TagAction::Skipped,
                why,
            ));
        }
    }
    Ok((ours, others))
}

/// For each succeeded completion: adopt its snapshot, or say why not.
async fn triage<P: Ports>(
    app: &App<P>,
    ok: &[crate::events::Completion],
    jobs: &BTreeMap<String, VolumeJob>,
    misconfigured: &[MisconfiguredVolume],
) -> Result<(Adoptions, Vec<SnapshotResult>), Error> {
    let mut results = Vec::new();
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
        match decide_adoption(&rule, &snap, Some(app.settings.cron(job.finest()))) {
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
