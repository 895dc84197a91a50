//! Copies in other regions, the step prune-volumes runs after a batch's own deletes: for each
//! destination, list our copies of the batch's volumes, start the copies the rules ask for
//! ([`crate::copies::plan_copies`]) within AWS's 20 in flight, then delete the copies the
//! destination no longer keeps ([`crate::copies::plan_destination`]).
//!
//! `ResourceLimitExceeded` (another 20 in flight) is back-pressure: the rest is left to the next
//! run and counted as deferred, never as a failure. Any other refused copy or delete is
//! reported and fails the batch. A volume's `ebs-gens:copies` tag chooses among the
//! deployment's destination regions only (the stack grants copies there and nowhere else).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::aws::{CopySpec, Ec2Api, ErrorKind, Ports, Volume};
use crate::copies::{
    copy_stale, newest_due, plan_copies, plan_destination, rules_for_volume, CopyRules, TAG_COPIES,
    TAG_COPY_OF, TAG_SOURCE_REGION, TAG_SOURCE_START,
};
use crate::snapshot::{Snapshot, SnapshotState, TAG_CLASS, TAG_MANAGED_BY, TAG_NAME, TAG_VOLUME};

use super::{App, VolumeJob};

/// Copies kept in flight per destination (AWS's limit; CopySnapshot refuses the 21st).
pub const MAX_IN_FLIGHT: usize = 20;

/// What happened in one destination for one volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationReport {
    pub region: String,
    /// Copies started (or, in a dry run, that would be): `source → copy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copied: Vec<String>,
    /// Sources left for a later run (20 copies in flight, or the deadline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// Copies kept there, with the newest source's start time.
    pub kept: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_source: Option<DateTime<Utc>>,
    /// Copies deleted (or to be): beyond the destination's generations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// Why this destination's recovery point lags, when it does (`CopiesStale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Copies or deletes AWS refused, with its error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Why this volume's copies were not planned (a bad `ebs-gens:copies` tag, doubtful input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The rules of each volume: its tag's, else the deployment's; a tag that cannot be read, or
/// that names a region the deployment does not copy to, is the volume's error.
pub fn volume_rules(
    deployment: &CopyRules,
    jobs: &BTreeMap<String, VolumeJob>,
    volumes: &BTreeMap<String, Volume>,
) -> BTreeMap<String, Result<CopyRules, String>> {
    let allowed = deployment.regions();
    jobs.keys()
        .map(|vol| {
            let tag = volumes
                .get(vol)
                .and_then(|v| v.tags.get(TAG_COPIES))
                .map(String::as_str);
            let rules = rules_for_volume(deployment, tag).and_then(|r| {
                let foreign = r.regions().into_iter().find(|x| !allowed.contains(x)).map(str::to_string);
                match foreign {
                    Some(x) => Err(format!(
                        "tag {TAG_COPIES}: {x} is not one of this deployment's destinations ({deployment})"
                    )),
                    None => Ok(r),
                }
            });
            (vol.clone(), rules)
        })
        .collect()
}

/// Runs the copy step for a batch: per volume, one report per destination it copies to.
pub async fn run<P: Ports>(
    app: &App<P>,
    jobs: &BTreeMap<String, VolumeJob>,
    volumes: &BTreeMap<String, Volume>,
    snapshots: &BTreeMap<String, Vec<Snapshot>>,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
    dry_run: bool,
) -> BTreeMap<String, Vec<DestinationReport>> {
    let rules = volume_rules(&app.settings.copies, jobs, volumes);
    let mut out: BTreeMap<String, Vec<DestinationReport>> = BTreeMap::new();
    for (vol, r) in &rules {
        if let Err(why) = r {
            tracing::warn!(volume_id = %vol, reason = %why, "copies not planned");
            out.entry(vol.clone()).or_default().push(DestinationReport {
                error: Some(why.clone()),
                ..Default::default()
            });
        }
    }
    for (region, dest) in &app.destinations {
        let here: Vec<String> = rules
            .iter()
            .filter(|(_, r)| {
                r.as_ref()
                    .is_ok_and(|r| r.regions().contains(region.as_str()))
            })
            .map(|(v, _)| v.clone())
            .collect();
        if here.is_empty() {
            continue;
        }
        let reports = destination(
            app, region, dest, &here, &rules, jobs, snapshots, now, deadline, dry_run,
        )
        .await;
        for (vol, report) in reports {
            out.entry(vol).or_default().push(report);
        }
    }
    out
}

/// One destination: list, copy within the limit, prune.
#[allow(clippy::too_many_arguments)]
async fn destination<P: Ports>(
    app: &App<P>,
    region: &str,
    dest: &crate::aws::client::Ec2<P::Ec2>,
    volume_ids: &[String],
    rules: &BTreeMap<String, Result<CopyRules, String>>,
    jobs: &BTreeMap<String, VolumeJob>,
    snapshots: &BTreeMap<String, Vec<Snapshot>>,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
    dry_run: bool,
) -> Vec<(String, DestinationReport)> {
    let listed = match dest.copies_of(&app.settings.deployment, volume_ids).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(region, error = %e, "listing copies failed");
            let failed = vec![format!("listing copies in {region}: {e}")];
            return volume_ids
                .iter()
                .map(|v| {
                    (
                        v.clone(),
                        DestinationReport {
                            region: region.into(),
                            failed: failed.clone(),
                            ..Default::default()
                        },
                    )
                })
                .collect();
        }
    };
    let mut by_volume: BTreeMap<&str, Vec<Snapshot>> = BTreeMap::new();
    for c in &listed {
        if let Some(v) = c.tag(TAG_VOLUME) {
            by_volume.entry(v).or_default().push(c.clone());
        }
    }
    let mut budget = MAX_IN_FLIGHT.saturating_sub(
        listed
            .iter()
            .filter(|c| c.state == SnapshotState::Pending)
            .count(),
    );
    let ctx = app.settings.plan_context(&app.account_id);
    let mut out = Vec::new();
    for vol in volume_ids {
        let (Some(job), Some(Ok(r))) = (jobs.get(vol), rules.get(vol)) else {
            continue;
        };
        let copies = by_volume.remove(vol.as_str()).unwrap_or_default();
        let mut report = DestinationReport {
            region: region.into(),
            ..Default::default()
        };
        // Sources with a live copy here (a copy in `error` is deleted, and its source copied again).
        let live: BTreeSet<String> = copies
            .iter()
            .filter(|c| matches!(c.state, SnapshotState::Pending | SnapshotState::Completed))
            .filter_map(|c| c.tag(TAG_COPY_OF).map(str::to_string))
            .collect();
        let copied = BTreeMap::from([(region.to_string(), live)]);
        let only_here = r.only(region);
        let sources = snapshots.get(vol).map_or(&[][..], Vec::as_slice);
        let wanted = plan_copies(vol, &only_here, job.finest(), &ctx, sources, &copied, now);
        for w in wanted {
            let near =
                deadline.is_some_and(|d| Instant::now() + super::prune::DEADLINE_MARGIN >= d);
            if budget == 0 || near {
                report.deferred.push(w.source.id.clone());
                continue;
            }
            if dry_run {
                report.copied.push(format!("{} → (dry run)", w.source.id));
                budget -= 1;
                continue;
            }
            match dest
                .api()
                .copy_snapshot(&spec(app, region, job, w.source, w.class))
                .await
            {
                Ok(id) => {
                    tracing::info!(volume_id = %vol, region, source = %w.source.id, copy = %id, class = %w.class, "copy started");
                    report.copied.push(format!("{} → {id}", w.source.id));
                    budget -= 1;
                }
                Err(e) if e.kind == ErrorKind::Busy => {
                    tracing::info!(
                        region,
                        "20 copies in flight: the rest is left for the next run"
                    );
                    budget = 0;
                    report.deferred.push(w.source.id.clone());
                }
                Err(e) => {
                    tracing::error!(volume_id = %vol, region, source = %w.source.id, error = %e, "copy refused");
                    report.failed.push(format!("copy of {}: {e}", w.source.id));
                }
            }
        }
        prune_destination(
            app,
            region,
            dest,
            job,
            r,
            &copies,
            sources,
            now,
            dry_run,
            &mut report,
        )
        .await;
        out.push((vol.clone(), report));
    }
    out
}

/// Deletes the copies the destination no longer keeps (none when its input is doubtful).
#[allow(clippy::too_many_arguments)]
async fn prune_destination<P: Ports>(
    app: &App<P>,
    region: &str,
    dest: &crate::aws::client::Ec2<P::Ec2>,
    job: &VolumeJob,
    rules: &CopyRules,
    copies: &[Snapshot],
    sources: &[Snapshot],
    now: DateTime<Utc>,
    dry_run: bool,
    report: &mut DestinationReport,
) {
    let ctx = app.settings.plan_context(&app.account_id);
    let vol = job.volume_id.as_str();
    let plan = plan_destination(
        vol,
        &rules.for_region(region),
        job.finest(),
        &ctx,
        copies,
        now,
    );
    report.kept = plan.keep.len();
    let completed: BTreeSet<&str> = copies
        .iter()
        .filter(|c| c.state == SnapshotState::Completed)
        .map(|c| c.id.as_str())
        .collect();
    report.newest_source = plan
        .keep
        .iter()
        .filter(|e| completed.contains(e.snapshot_id))
        .map(|e| e.start_time)
        .max();
    if let Some(class) = rules.for_region(region).iter().map(|(c, _)| *c).min() {
        let rule = app.settings.stale_rule();
        let due = newest_due(sources, class, job.finest(), &ctx, now);
        report.stale = copy_stale(report.newest_source, due, class, job.finest(), &rule, now);
    }
    if let Some(why) = &plan.doubtful {
        report.error = Some(format!("doubtful copies, nothing deleted: {why}"));
        return;
    }
    for e in &plan.delete {
        if dry_run {
            report.deleted.push(e.snapshot_id.to_string());
            continue;
        }
        match dest.delete(e.snapshot_id).await {
            Ok(_) => {
                tracing::info!(volume_id = %vol, region, copy = %e.snapshot_id, reasons = ?e.reasons, "copy deleted");
                report.deleted.push(e.snapshot_id.to_string());
            }
            Err(err) => {
                tracing::error!(volume_id = %vol, region, copy = %e.snapshot_id, error = %err, "copy delete refused");
                report
                    .failed
                    .push(format!("delete {}: {err}", e.snapshot_id));
            }
        }
    }
}

/// A copy's request: born with our tags (AWS copies none), its source's identity recorded.
fn spec<P: Ports>(
    app: &App<P>,
    region: &str,
    job: &VolumeJob,
    source: &Snapshot,
    class: crate::GenClass,
) -> CopySpec {
    let mut tags = vec![
        (TAG_MANAGED_BY.to_string(), app.settings.deployment.clone()),
        (TAG_VOLUME.to_string(), job.volume_id.clone()),
        (TAG_CLASS.to_string(), class.to_string()),
        (TAG_COPY_OF.to_string(), source.id.clone()),
        (TAG_SOURCE_REGION.to_string(), app.region.clone()),
        (TAG_SOURCE_START.to_string(), source.start_time.to_rfc3339()),
    ];
    if let Some(name) = source.tag(TAG_NAME) {
        tags.push((TAG_NAME.to_string(), name.to_string()));
    }
    CopySpec {
        source_region: app.region.clone(),
        source_snapshot_id: source.id.clone(),
        description: format!(
            "ebs-gens copy of {} ({}, {class})",
            source.id, job.volume_id
        ),
        tags,
        kms_key_id: app.settings.copy_keys.key(region).map(str::to_string),
    }
}
