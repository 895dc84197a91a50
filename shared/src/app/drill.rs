//! restore-drill: the drill state machine's function. Its first call (no `state` in the input)
//! deletes what an earlier drill left behind, samples the managed volumes ([`crate::drill`]) and
//! restores the newest completed generation of each — here and in every copy destination — to a
//! gp3 volume born tagged `ebs-gens:drill`; each later call (the state machine waits between
//! them; no Lambda sits waiting) reads those volumes: an `available` one is proven — its time to
//! available recorded, the snapshot tagged `ebs-gens:restore-proven`, the volume deleted; one in
//! `error`, gone, or still creating after 30 minutes is a failure (deleted when it can be, else
//! the next drill's leftover). When none is left pending, the metrics go out (`RestoreSeconds` per
//! class, `RestoreDrillsFailed`) and the state machine fails the execution if any drill failed.
//! A drill never attaches anything, and deletes only volumes it created (IAM: born with its tag).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::aws::client::Ec2;
use crate::aws::{Ec2Api, ErrorKind, Filter, Ports, VolumeRequest};
use crate::drill::{outcome, proven_at, sample, Candidate, Outcome, TAG_DRILL, TAG_RESTORE_PROVEN};
use crate::error::Error;
use crate::metrics::{Counts, Metric};
use crate::restore::{VolumeSpec, TAG_RESTORED_FROM, TAG_RESTORE_OF};
use crate::snapshot::{Snapshot, SnapshotState, TAG_CLASS, TAG_NAME, TAG_VOLUME};

use super::{classify_volumes, App};

/// The state machine's input: `{}` (or `{"dry_run": true}`) to start a drill, then the state the
/// previous call returned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillInput {
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub state: Option<DrillState>,
}

/// A drill in progress, carried between calls by the state machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillState {
    pub started: DateTime<Utc>,
    #[serde(default)]
    pub dry_run: bool,
    /// Drill volumes not yet `available` (or failed).
    #[serde(default)]
    pub drills: Vec<DrillVolume>,
    /// How many are still pending (the state machine loops while > 0).
    #[serde(default)]
    pub pending: usize,
    #[serde(default)]
    pub proven: Vec<Proof>,
    #[serde(default)]
    pub failed: Vec<String>,
    /// `failed.len()` (the state machine fails the execution when > 0).
    #[serde(default)]
    pub failures: usize,
    /// Candidates passed over (over the GiB cap), or, in a dry run, what would be restored.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Drill volumes an earlier drill left behind, deleted by this one.
    #[serde(default)]
    pub leftovers: Vec<String>,
}

/// One drill volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillVolume {
    pub region: String,
    pub volume_id: String,
    pub snapshot_id: String,
    pub class: Option<String>,
    pub drill_volume: String,
    pub created: DateTime<Utc>,
}

/// A generation proven restorable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub region: String,
    pub volume_id: String,
    pub snapshot_id: String,
    pub class: Option<String>,
    pub seconds: f64,
}

fn client<'a, P: Ports>(app: &'a App<P>, region: &str) -> Option<&'a Ec2<P::Ec2>> {
    if region == app.region {
        Some(&app.ec2)
    } else {
        app.destinations.get(region)
    }
}

pub async fn handle<P: Ports>(
    app: &App<P>,
    input: DrillInput,
    now: DateTime<Utc>,
) -> Result<DrillState, Error> {
    match input.state {
        None => start(app, app.dry_run(input.dry_run), now).await,
        Some(state) => check(app, state, now).await,
    }
}

/// Every region the drill works in: this one, then each copy destination.
fn regions<P: Ports>(app: &App<P>) -> Vec<String> {
    std::iter::once(app.region.clone())
        .chain(app.destinations.keys().cloned())
        .collect()
}

/// The first call: leftovers, the sample, the drill volumes created.
async fn start<P: Ports>(
    app: &App<P>,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<DrillState, Error> {
    let dep = &app.settings.deployment;
    let mut state = DrillState {
        started: now,
        dry_run,
        ..Default::default()
    };
    // What an earlier drill left (a failed run): found by the tag only a drill writes, deleted.
    for region in regions(app) {
        let ec2 = client(app, &region).expect("a region of ours");
        for v in ec2
            .volumes_matching(Filter::new(&format!("tag:{TAG_DRILL}"), [dep.as_str()]))
            .await?
        {
            if dry_run {
                state.notes.push(format!(
                    "would delete leftover drill volume {} ({region})",
                    v.id
                ));
                continue;
            }
            match delete_drill_volume(ec2, &v.id, &v.tags, dep).await {
                Ok(()) => state
                    .leftovers
                    .push(format!("{} ({region}, {})", v.id, v.state)),
                Err(why) => state
                    .failed
                    .push(format!("leftover {} ({region}): {why}", v.id)),
            }
        }
    }
    // The candidates: each managed volume's newest completed generation here and in each
    // destination, with when that region last proved one restorable.
    let volumes = app.ec2.volumes_matching(app.volume_filter()).await?;
    let zones: BTreeMap<String, Option<String>> = volumes
        .iter()
        .map(|v| (v.id.clone(), v.zone.clone()))
        .collect();
    let (jobs, _) = classify_volumes(&app.settings, volumes);
    let ids: Vec<String> = jobs.iter().map(|j| j.volume_id.clone()).collect();
    let sizes: BTreeMap<&str, i32> = jobs
        .iter()
        .map(|j| {
            (
                j.volume_id.as_str(),
                j.spec.as_ref().and_then(|s| s.size_gib).unwrap_or(1),
            )
        })
        .collect();
    let mut candidates = Vec::new();
    for region in regions(app) {
        let ec2 = client(app, &region).expect("a region of ours");
        let listed = match region == app.region {
            true => ec2.snapshots_of(&ids).await?,
            false => ec2.copies_of(dep, &ids).await?,
        };
        let mut by_volume: BTreeMap<String, Vec<Snapshot>> = BTreeMap::new();
        // A set's members are drilled with their set (below), never one by one.
        let own = listed
            .into_iter()
            .filter(|s| s.is_owned_by(dep) && !crate::sets::is_member(s));
        for s in own {
            let vol = s.tag(TAG_VOLUME).unwrap_or(&s.volume_id).to_string();
            by_volume.entry(vol).or_default().push(s);
        }
        for (vol, snaps) in &by_volume {
            let newest = snaps
                .iter()
                .filter(|s| s.state == SnapshotState::Completed)
                .max_by_key(|s| (crate::restore::generation_time(s), s.id.clone()));
            let (Some(n), Some(size)) = (newest, sizes.get(vol.as_str())) else {
                continue;
            };
            candidates.push(Candidate {
                volume_id: vol.clone(),
                region: region.clone(),
                snapshot_id: n.id.clone(),
                class: n.tag(TAG_CLASS).map(str::to_string),
                size_gib: *size,
                proven: proven_at(snaps),
                members: vec![],
            });
        }
    }
    let mut zones = zones;
    if app.settings.sets {
        candidates.extend(set_candidates(app, &mut zones, now).await?);
    }
    let (chosen, passed) = sample(
        &candidates,
        app.settings.drill_sample,
        app.settings.drill_max_gib,
    );
    state.notes.extend(passed);
    for c in chosen {
        for (snapshot_id, volume_id) in c.units() {
            let unit = Candidate {
                volume_id,
                snapshot_id,
                members: vec![],
                ..c.clone()
            };
            let zone = zones.get(&c.volume_id).cloned().flatten();
            create(app, &unit, zone, dry_run, now, &mut state).await?;
        }
    }
    state.pending = state.drills.len();
    state.failures = state.failed.len();
    if state.pending == 0 {
        finish(app, &state, now);
    }
    Ok(state)
}

/// Each managed instance's newest whole set here (sets are not copied), as one candidate
/// restored together; the instance's zone recorded for it.
async fn set_candidates<P: Ports>(
    app: &App<P>,
    zones: &mut BTreeMap<String, Option<String>>,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, Error> {
    let dep = &app.settings.deployment;
    let instances = app
        .ec2
        .instances_matching(vec![app.volume_filter()])
        .await?;
    let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let listed = app.ec2.sets_of(&ids).await?;
    let chosen: Vec<(String, crate::restore::ChosenSet)> = ids
        .iter()
        .filter_map(|i| {
            let c = crate::restore::choose_set(&listed, i, dep, &app.account_id, now).ok()?;
            Some((i.clone(), c))
        })
        .collect();
    let vols: Vec<String> = chosen
        .iter()
        .flat_map(|(_, c)| c.members.iter().map(|(_, v)| v.clone()))
        .collect();
    let read = match vols.is_empty() {
        true => vec![],
        false => app.ec2.volumes_by_id(&vols).await?,
    };
    let size = |v: &str| {
        read.iter()
            .find(|x| x.id == v)
            .and_then(|x| x.spec.as_ref())
            .and_then(|s| s.size_gib)
            .unwrap_or(1)
    };
    Ok(chosen
        .into_iter()
        .map(|(instance, c)| {
            let members: Vec<&Snapshot> = listed
                .iter()
                .filter(|s| c.members.iter().any(|(id, _)| *id == s.id))
                .collect();
            let zone = instances
                .iter()
                .find(|i| i.id == instance)
                .map(|i| i.zone.clone());
            zones.insert(instance.clone(), zone);
            let all: Vec<Snapshot> = listed
                .iter()
                .filter(|s| crate::sets::set_instance(s) == Some(instance.as_str()))
                .cloned()
                .collect();
            Candidate {
                volume_id: instance,
                region: app.region.clone(),
                snapshot_id: c.set.clone(),
                class: members
                    .first()
                    .and_then(|s| s.tag(TAG_CLASS))
                    .map(str::to_string),
                size_gib: c.members.iter().map(|(_, v)| size(v)).sum(),
                proven: proven_at(&all),
                members: c.members,
            }
        })
        .collect())
}

/// One drill volume created (or, in a dry run, said), recorded in `state`.
async fn create<P: Ports>(
    app: &App<P>,
    c: &Candidate,
    known_zone: Option<String>,
    dry_run: bool,
    now: DateTime<Utc>,
    state: &mut DrillState,
) -> Result<(), Error> {
    let dep = &app.settings.deployment;
    let ec2 = client(app, &c.region).expect("a region of ours");
    let zone = match (c.region == app.region, known_zone) {
        (true, Some(z)) => z,
        _ => match ec2.api().describe_zones().await?.into_iter().next() {
            Some(z) => z,
            None => {
                state.failed.push(format!(
                    "{} ({}): no availability zone to restore in",
                    c.volume_id, c.region
                ));
                return Ok(());
            }
        },
    };
    if dry_run {
        state.notes.push(format!(
            "would restore {} of {} in {zone} ({} GiB)",
            c.snapshot_id, c.volume_id, c.size_gib
        ));
        return Ok(());
    }
    let req = VolumeRequest {
        snapshot_id: c.snapshot_id.clone(),
        zone,
        spec: VolumeSpec::gp3_defaults(),
        encrypted: false,
        kms_key_id: None,
        tags: vec![
            (TAG_DRILL.to_string(), dep.clone()),
            (TAG_RESTORED_FROM.to_string(), c.snapshot_id.clone()),
            (TAG_RESTORE_OF.to_string(), c.volume_id.clone()),
            (
                TAG_NAME.to_string(),
                format!("ebs-gens drill of {}", c.volume_id),
            ),
        ],
        client_token: format!("ebs-gens-drill-{}-{}", c.snapshot_id, now.timestamp()),
    };
    match ec2.api().create_volume(&req).await {
        Ok(id) => {
            tracing::info!(volume_id = %c.volume_id, region = %c.region, snapshot_id = %c.snapshot_id, drill_volume = %id, "drill volume created");
            state.drills.push(DrillVolume {
                region: c.region.clone(),
                volume_id: c.volume_id.clone(),
                snapshot_id: c.snapshot_id.clone(),
                class: c.class.clone(),
                drill_volume: id,
                created: now,
            });
        }
        Err(e) => {
            tracing::error!(volume_id = %c.volume_id, region = %c.region, snapshot_id = %c.snapshot_id, error = %e, "drill volume not created");
            state.failed.push(format!(
                "{} of {} ({}): {e}",
                c.snapshot_id, c.volume_id, c.region
            ));
        }
    }
    Ok(())
}

/// A later call: each pending drill volume read and settled.
async fn check<P: Ports>(
    app: &App<P>,
    mut state: DrillState,
    now: DateTime<Utc>,
) -> Result<DrillState, Error> {
    let dep = app.settings.deployment.clone();
    let mut still = Vec::new();
    for d in std::mem::take(&mut state.drills) {
        let Some(ec2) = client(app, &d.region) else {
            state.failed.push(format!(
                "{} ({}): not a region of this deployment",
                d.drill_volume, d.region
            ));
            continue;
        };
        let read = match ec2
            .volumes_by_id(std::slice::from_ref(&d.drill_volume))
            .await
        {
            Ok(v) => v.into_iter().next(),
            Err(e) if e.kind == ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        match outcome(read.as_ref().map(|v| v.state.as_str()), d.created, now) {
            Outcome::Pending => still.push(d),
            Outcome::Proven { seconds } => {
                let tags = read.map(|v| v.tags).unwrap_or_default();
                if let Err(why) = delete_drill_volume(ec2, &d.drill_volume, &tags, &dep).await {
                    state.failed.push(format!(
                        "{} ({}): proven, but not deleted: {why}",
                        d.drill_volume, d.region
                    ));
                }
                let proof = [(TAG_RESTORE_PROVEN.to_string(), now.to_rfc3339())];
                if let Some((_, e)) = ec2
                    .tag_each(std::slice::from_ref(&d.snapshot_id), &proof)
                    .await?
                    .first()
                {
                    tracing::warn!(snapshot_id = %d.snapshot_id, error = %e, "proof not recorded on the snapshot");
                }
                tracing::info!(volume_id = %d.volume_id, region = %d.region, snapshot_id = %d.snapshot_id, seconds, "restore proven");
                state.proven.push(Proof {
                    region: d.region,
                    volume_id: d.volume_id,
                    snapshot_id: d.snapshot_id,
                    class: d.class,
                    seconds,
                });
            }
            Outcome::Failed { why } => {
                tracing::error!(volume_id = %d.volume_id, region = %d.region, snapshot_id = %d.snapshot_id, drill_volume = %d.drill_volume, reason = %why, "restore drill failed");
                let mut line =
                    format!("{} of {} ({}): {why}", d.snapshot_id, d.volume_id, d.region);
                if let Some(v) = read {
                    if let Err(e) = delete_drill_volume(ec2, &d.drill_volume, &v.tags, &dep).await {
                        line.push_str(&format!(
                            "; {} left for the next drill ({e})",
                            d.drill_volume
                        ));
                    }
                }
                state.failed.push(line);
            }
        }
    }
    state.drills = still;
    state.pending = state.drills.len();
    state.failures = state.failed.len();
    if state.pending == 0 {
        finish(app, &state, now);
    }
    Ok(state)
}

/// Deletes a drill volume — only one born with this deployment's drill tag, never attached.
async fn delete_drill_volume<E: Ec2Api>(
    ec2: &Ec2<E>,
    id: &str,
    tags: &BTreeMap<String, String>,
    deployment: &str,
) -> Result<(), String> {
    if tags.get(TAG_DRILL).map(String::as_str) != Some(deployment) {
        return Err(format!("not a drill volume of {deployment}: left alone"));
    }
    match ec2.api().delete_volume(id).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// The drill's metrics, once nothing is pending: `RestoreSeconds` per class (every value), and
/// `RestoreDrillsFailed` when non-zero.
fn finish<P: Ports>(app: &App<P>, state: &DrillState, now: DateTime<Utc>) {
    if state.dry_run {
        return;
    }
    let mut counts = Counts::default();
    counts.add(Metric::RestoreDrillsFailed, state.failed.len() as u64);
    app.publish(&counts, now);
    if !app.emit_metrics {
        return;
    }
    let mut by_class: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for p in &state.proven {
        by_class
            .entry(p.class.as_deref().unwrap_or("none"))
            .or_default()
            .push(p.seconds);
    }
    for (class, values) in by_class {
        let doc = json!({
            "_aws": {
                "Timestamp": now.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": crate::metrics::NAMESPACE,
                    "Dimensions": [["Deployment", "Function", "Class"]],
                    "Metrics": [{"Name": Metric::RestoreSeconds.as_str(), "Unit": "Seconds"}],
                }],
            },
            "Deployment": app.settings.deployment,
            "Function": app.function,
            "Class": class,
            Metric::RestoreSeconds.as_str(): values,
        });
        println!("{doc}");
    }
}
