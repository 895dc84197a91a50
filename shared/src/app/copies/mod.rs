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
    copy_stale, destination_policy, late_copies, newest_due, plan_copies, plan_destination,
    rules_for_volume, CopyRules, TAG_COPIES, TAG_COPY_OF, TAG_SOURCE_REGION, TAG_SOURCE_START,
};
use crate::decision::{keep_all, lock_requests};
use crate::snapshot::{Snapshot, SnapshotState, TAG_CLASS, TAG_MANAGED_BY, TAG_NAME, TAG_VOLUME};

use super::{App, VolumeJob};

pub mod orphans;

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
    /// Copies kept there (found by this run's listing), with the destination plan's reasons,
    /// and the newest completed one's source start time (the recovery point there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<super::prune::Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_source: Option<DateTime<Utc>>,
    /// Copies deleted (or to be), with the destination plan's reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<super::prune::Item>,
    /// Why this destination's recovery point lags, when it does (`CopiesStale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Time-based copies still pending after their completion duration (`CopiesLate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub late: Vec<String>,
    /// Set when the volume fuse holds this destination's deletions (nothing deleted there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_back: usize,
    /// Copies locked or whose lock was extended (or, in a dry run, to be), with the lock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locked: Vec<super::prune::Item>,
    /// LockSnapshot refusals there, or why the copies' locks could not be planned (then
    /// nothing is deleted there).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_failed: Vec<String>,
    /// Copies or deletes AWS refused, with its error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
    /// Why this volume's copies were not planned (a bad `ebs-gens:copies` tag, doubtful input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// This run's terms: when, until when, whether it writes, and who acknowledged bulk deletion
/// (the run's flag, or the volumes tagged `ebs-gens:allow-bulk-delete` with today's date).
pub struct Terms {
    pub now: DateTime<Utc>,
    pub deadline: Option<Instant>,
    pub dry_run: bool,
    pub allow_bulk_delete: bool,
    pub acknowledged: BTreeSet<String>,
}

impl Terms {
    fn allows_bulk_delete(&self, job: &VolumeJob) -> bool {
        self.allow_bulk_delete || self.acknowledged.contains(&job.volume_id)
    }
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
    terms: &Terms,
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
        let reports = destination(app, region, dest, &here, &rules, jobs, snapshots, terms).await;
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
    terms: &Terms,
) -> Vec<(String, DestinationReport)> {
    let (now, deadline, dry_run) = (terms.now, terms.deadline, terms.dry_run);
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
        // Sources with a live copy here, and when they started. A copy in `error` (AWS failed it
        // after accepting it: a KMS key it may not use, …) is reported, deleted by the plan, and
        // its source copied again; any state but `error` counts as live (never copied twice).
        let mut live: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
        for c in &copies {
            let (Some(of), Some(start)) = (c.tag(TAG_COPY_OF), source_start(c)) else {
                continue;
            };
            if c.state == SnapshotState::Error {
                tracing::error!(volume_id = %vol, region, copy = %c.id, source = %of, "a copy ended in error");
                report
                    .failed
                    .push(format!("copy {} of {of} ended in error", c.id));
            } else {
                live.insert(of.to_string(), start);
            }
        }
        let minutes = app.settings.copy_completion_minutes;
        for c in late_copies(&copies, minutes, now) {
            let of = c.tag(TAG_COPY_OF).unwrap_or("?");
            tracing::warn!(volume_id = %vol, region, copy = %c.id, source = %of, minutes, "a time-based copy is late");
            report.late.push(format!(
                "copy {} of {of} pending since {}, due within {minutes} min",
                c.id,
                c.start_time.format("%Y-%m-%d %H:%M UTC")
            ));
        }
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
                // Back-pressure, not failure: 20 copies in flight, or EC2's request bucket (a
                // throttled CopySnapshot started nothing; it is not retried, see `sdk.rs`).
                Err(e) if matches!(e.kind, ErrorKind::Busy | ErrorKind::Throttled) => {
                    tracing::info!(region, error = %e, "copies left for the next run");
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
            terms,
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
    terms: &Terms,
    report: &mut DestinationReport,
) {
    let now = terms.now;
    let ctx = app.settings.plan_context(&app.account_id);
    let vol = job.volume_id.as_str();
    let for_region = rules.for_region(region);
    let mut plan = plan_destination(vol, &for_region, job.finest(), &ctx, copies, now);
    // Copies are locked as their source generations are (the `locks` setting, per class), for
    // as long as this destination keeps them: read the locks of what the plan deletes (a lock
    // holds it back) and, with lock rules, of what it keeps (to lock or extend).
    let locking = !app.settings.locks.is_off();
    let Some(locks) = read_locks(dest, region, &plan, locking, report).await else {
        return;
    };
    crate::locks::hold_locked(&mut plan, &locks, now);
    let policy = destination_policy(&for_region, job.finest());
    let lock_terms = app.settings.lock_terms();
    let (requests, lock_error) =
        lock_requests(&lock_terms, app.settings.tz, &policy, &plan, &locks, now);
    if let Some(why) = &lock_error {
        tracing::error!(volume_id = %vol, region, reason = %why, "copy locks not planned: nothing locked or deleted there");
        report.lock_failed.push(why.clone());
        keep_all(&mut plan, why);
    }
    super::locks::apply(
        dest,
        vol,
        &requests,
        terms.dry_run,
        &mut report.locked,
        &mut report.lock_failed,
    )
    .await;
    record_kept(&plan, copies, report);
    if let Some(class) = rules.for_region(region).iter().map(|(c, _)| *c).min() {
        let rule = app.settings.stale_rule();
        let due = newest_due(sources, class, job.finest(), &ctx, now);
        report.stale = copy_stale(report.newest_source, due, class, job.finest(), &rule, now);
    }
    let allow = terms.allows_bulk_delete(job);
    apply_plan(app, region, dest, &plan, copies, allow, terms, report).await;
}

/// Keeps the copies the plan would delete whose snapshot lock holds ("locked until …"): a
/// locked copy is never deleted, nor attempted. `false` (reported) when the locks could not be
/// read: then nothing is deleted there.
pub(super) async fn hold_locked_copies<E: crate::aws::Ec2Api>(
    dest: &crate::aws::client::Ec2<E>,
    region: &str,
    plan: &mut crate::plan::Plan<'_>,
    now: DateTime<Utc>,
    report: &mut DestinationReport,
) -> bool {
    match read_locks(dest, region, plan, false, report).await {
        Some(locks) => {
            crate::locks::hold_locked(plan, &locks, now);
            true
        }
        None => false,
    }
}

/// The locks of the copies a destination plan deletes (and, when `kept_too`, of those it
/// keeps). `None` (reported) when they could not be read: then nothing is deleted there.
async fn read_locks<E: crate::aws::Ec2Api>(
    dest: &crate::aws::client::Ec2<E>,
    region: &str,
    plan: &crate::plan::Plan<'_>,
    kept_too: bool,
    report: &mut DestinationReport,
) -> Option<BTreeMap<String, crate::locks::Lock>> {
    let kept = plan.keep.iter().filter(|_| kept_too);
    let ids: Vec<String> = plan
        .delete
        .iter()
        .chain(kept)
        .map(|e| e.snapshot_id.to_string())
        .collect();
    if ids.is_empty() {
        return Some(BTreeMap::new());
    }
    match dest.locks_of(&ids).await {
        Ok(locks) => Some(locks),
        Err(e) => {
            tracing::error!(region, error = %e, "reading copies' locks failed: nothing deleted there");
            report
                .failed
                .push(format!("reading locks in {region}: {e}"));
            None
        }
    }
}

/// A destination plan's kept copies (with reasons) and its recovery point, in the report.
fn record_kept(plan: &crate::plan::Plan<'_>, copies: &[Snapshot], report: &mut DestinationReport) {
    report.kept = plan
        .keep
        .iter()
        .map(|e| super::prune::Item {
            snapshot_id: e.snapshot_id.to_string(),
            reasons: e.reasons.iter().map(ToString::to_string).collect(),
        })
        .collect();
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
}

/// Deletes what a destination plan deletes: nothing when its input is doubtful, nothing when
/// the volume fuse holds it (unless acknowledged), none started within the deadline's margin.
/// Every delete or refusal is in the report.
#[allow(clippy::too_many_arguments)]
async fn apply_plan<P: Ports>(
    app: &App<P>,
    region: &str,
    dest: &crate::aws::client::Ec2<P::Ec2>,
    plan: &crate::plan::Plan<'_>,
    copies: &[Snapshot],
    allow_bulk_delete: bool,
    terms: &Terms,
    report: &mut DestinationReport,
) {
    let (now, deadline, dry_run) = (terms.now, terms.deadline, terms.dry_run);
    let vol = plan.volume_id;
    if let Some(why) = &plan.doubtful {
        report.error = Some(format!("doubtful copies, nothing deleted: {why}"));
        return;
    }
    // The volume fuse guards copies too: a rule lowered by mistake must not delete a destination's
    // generations in bulk. The same acknowledgement releases it (this run's flag, or today's tag).
    let completed: BTreeSet<&str> = copies
        .iter()
        .filter(|c| c.state == SnapshotState::Completed)
        .map(|c| c.id.as_str())
        .collect();
    let surplus = plan
        .delete
        .iter()
        .filter(|e| completed.contains(e.snapshot_id))
        .count();
    if app.settings.fuse_volume.trips(surplus, completed.len()) && !allow_bulk_delete {
        report.held = Some(format!(
            "{surplus} of {} copies to delete ({}); to allow it: tag the volume {}={} or run with --allow-bulk-delete",
            completed.len(),
            app.settings.fuse_volume,
            crate::snapshot::TAG_ALLOW_BULK_DELETE,
            crate::fuse::ack_value(now, app.settings.tz)
        ));
        report.held_back = plan.delete.len();
        return;
    }
    for e in &plan.delete {
        if deadline.is_some_and(|d| Instant::now() + super::prune::DEADLINE_MARGIN >= d) {
            report.deferred.push(format!("delete {}", e.snapshot_id));
            continue;
        }
        let item = super::prune::Item {
            snapshot_id: e.snapshot_id.to_string(),
            reasons: e.reasons.iter().map(ToString::to_string).collect(),
        };
        if dry_run {
            report.deleted.push(item);
            continue;
        }
        match dest.delete(e.snapshot_id).await {
            Ok(_) => {
                tracing::info!(volume_id = %vol, region, copy = %e.snapshot_id, reasons = ?e.reasons, "copy deleted");
                report.deleted.push(item);
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

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A copy's source start time, from its tag.
fn source_start(c: &Snapshot) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(c.tag(TAG_SOURCE_START)?).ok()?;
    Some(t.with_timezone(&Utc))
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
    // The source volume's shape, so the copy restores as it was even with the source gone.
    if let Some(spec) = source.tag(crate::restore::TAG_VOLUME_SPEC) {
        tags.push((
            crate::restore::TAG_VOLUME_SPEC.to_string(),
            spec.to_string(),
        ));
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
        completion_minutes: (app.settings.copy_completion_minutes > 0)
            .then_some(app.settings.copy_completion_minutes),
    }
}
