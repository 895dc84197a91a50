//! prune-volumes: for a batch of volumes (sweep) or one (event), re-read their tags, list their
//! snapshots with as few calls as possible, adopt untagged snapshots that missed their event,
//! plan, and delete the surplus. A delete that fails is tried again after
//! the others; what still fails is reported in the totals. `dry_run` plans and changes nothing.
//!
//! The handler is four steps: [`fetch`] (every read), [`decide`] (pure), apply (the only
//! writes: adoption tags and deletes, skipped whole in a dry run), and report.
//!
//! Files: `report` (the wire types and the per-volume report), `apply` (the deletes and their
//! outcomes), `orphans` (the orphan scan, the sweep's last step); the pure decision for a volume
//! is [`crate::decision`].

mod apply;
mod orphans;
mod report;
mod sets;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tokio::time::{Duration, Instant};

use crate::aws::{Ports, Volume};
use crate::config::Settings;
use crate::decision::{batch_fuse, decide, Decision, VolumeFacts};
use crate::error::{Error, FailedDelete};
use crate::events::id_after;
use crate::ownership::{decide_adoption, Adoption};
use crate::plan::group_by_volume;
use crate::snapshot::{Snapshot, TAG_ALLOW_BULK_DELETE};

use super::{adopt, classify_volumes, Adopted, Adoptions, App, MisconfiguredVolume, VolumeJob};

use apply::apply_all;
pub use apply::DELETE_RETRY_WAITS;
use report::{attention, counts, flag, volume_report};
pub use report::{
    fit, Attention, Item, PruneInput, PruneOutput, SetLine, Totals, VolumeReport, MAX_OUTPUT_BYTES,
};

/// Time left before the Lambda deadline at which no further delete is started.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The volume id EC2 gives snapshots made by copying or importing.
const NO_VOLUME: &str = "vol-ffffffff";

/// At most this many volumes in one prune input (a sweep batch is at most 200).
pub const MAX_VOLUMES: usize = 200;

/// Volumes needing attention listed in one batch's totals (the rest are only counted).
pub const MAX_ATTENTION: usize = 20;

/// Everything prune reads, in one place.
struct Fetched {
    /// Volumes managed by their *current* tags.
    jobs: BTreeMap<String, VolumeJob>,
    /// Input volumes no longer managed (misconfigured, untagged or gone), with why.
    not_pruned: Vec<MisconfiguredVolume>,
    snapshots: BTreeMap<String, Vec<Snapshot>>,
    /// The managed volumes as read (creation time, the fuse's acknowledgement tag).
    volumes: BTreeMap<String, Volume>,
}

/// Reads the batch's volumes again (one DescribeVolumes per 200) — so a tag changed since
/// discovery, or a Step Functions retry replaying old input, plans under today's tags — then
/// their snapshots.
async fn fetch<P: Ports>(app: &App<P>, ids: &[String]) -> Result<Fetched, Error> {
    if ids.is_empty() {
        return Ok(Fetched {
            jobs: BTreeMap::new(),
            not_pruned: vec![],
            snapshots: BTreeMap::new(),
            volumes: BTreeMap::new(),
        });
    }
    let read = app.ec2.volumes_by_id(ids).await?;
    let mut volumes: BTreeMap<String, Volume> =
        read.iter().map(|v| (v.id.clone(), v.clone())).collect();
    let (jobs, mut not_pruned) = classify_volumes(&app.settings, read);
    volumes.retain(|id, _| jobs.iter().any(|j| &j.volume_id == id));
    let jobs: BTreeMap<String, VolumeJob> =
        jobs.into_iter().map(|j| (j.volume_id.clone(), j)).collect();
    for id in ids {
        if !jobs.contains_key(id) && !not_pruned.iter().any(|m| &m.volume_id == id) {
            not_pruned.push(MisconfiguredVolume {
                volume_id: id.clone(),
                error: "no generation tag any more, or the volume no longer exists".into(),
            });
        }
    }
    let managed: Vec<String> = jobs.keys().cloned().collect();
    let snapshots = if managed.is_empty() {
        BTreeMap::new()
    } else {
        group_by_volume(app.ec2.snapshots_of(&managed).await?)
    };
    Ok(Fetched {
        jobs,
        not_pruned,
        snapshots,
        volumes,
    })
}

/// Untagged snapshots that missed their completion event and match the adoption rule. Pure.
pub fn adoptions(
    settings: &Settings,
    account_id: &str,
    jobs: &BTreeMap<String, VolumeJob>,
    snapshots: &BTreeMap<String, Vec<Snapshot>>,
) -> Adoptions {
    let rule = settings.adoption_rule(account_id);
    let mut out = Adoptions::new();
    for (vol, snaps) in snapshots {
        let Some(job) = jobs.get(vol) else { continue };
        let schedule = settings.cron(job.finest());
        for s in snaps.iter().filter(|s| s.tags.is_empty()) {
            if decide_adoption(&rule, s, Some(schedule)) == Adoption::Adopt {
                out.entry(vol.clone()).or_default().push(s.id.clone());
            }
        }
    }
    out
}

pub async fn handle<P: Ports>(
    app: &App<P>,
    input: PruneInput,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<PruneOutput, Error> {
    let deadline = input.deadline(Instant::now(), deadline)?;
    if input.orphans {
        return orphans::orphans(app, input, now, deadline).await;
    }
    if !input.instances.is_empty() {
        return sets::prune_sets(app, &input, now, deadline).await;
    }
    let ids = volume_ids(&input)?;
    let dry_run = app.dry_run(input.dry_run);

    // Fetch.
    let Fetched {
        jobs,
        not_pruned,
        mut snapshots,
        volumes,
    } = fetch(app, &ids).await?;

    // Adopt (a write, skipped in a dry run), then plan as if tagged.
    let adopted = adopt_untagged(app, &jobs, &mut snapshots, dry_run).await?;

    let mut totals = Totals {
        volumes: ids.len(),
        not_pruned: not_pruned.len(),
        ..Totals::default()
    };
    for m in &not_pruned {
        tracing::warn!(volume_id = %m.volume_id, reason = %m.error, "not pruned: the volume's tags changed since discovery");
        attention(&mut totals, &m.volume_id, "not-pruned", m.error.clone());
    }

    // Decide, every volume first: the batch fuse weighs them together.
    let ctx = DecideContext {
        snapshots: &snapshots,
        volumes: &volumes,
        adopted: &adopted,
        allow_bulk_delete: input.allow_bulk_delete,
        now,
    };
    let decisions = decide_all(app, &jobs, &ctx, &BTreeMap::new());
    // Snapshot locks: read those of the snapshots this plan would delete (a lock holds them
    // back: never attempted) and, with lock rules, of the generations it keeps (to lock or
    // extend them); then decide again knowing them.
    let lock_ids = lock_candidates(&app.settings, &decisions);
    let locks = match lock_ids.is_empty() {
        true => BTreeMap::new(),
        false => app.ec2.locks_of(&lock_ids).await?,
    };
    let decisions = match locks.is_empty() {
        true => decisions,
        false => decide_all(app, &jobs, &ctx, &locks),
    };

    let mut reports: Vec<VolumeReport> = jobs
        .values()
        .zip(&decisions)
        .map(|(job, d)| {
            let mut report = volume_report(&job.volume_id, job.policy.to_string(), d, &adopted);
            report.bulk_allowed = d.bulk_allowed(&app.settings.fuse_volume);
            report.proven = snapshots
                .get(&job.volume_id)
                .and_then(|s| crate::drill::proven_at(s));
            flag(&mut totals, &report, &app.settings.deployment);
            report
        })
        .collect();
    // Locks first (what is kept is protected before anything goes), then the deletes.
    super::locks::apply_all(app, &decisions, &mut reports, dry_run).await;
    let failed = apply_all(app, &decisions, &mut reports, deadline, dry_run).await;
    // Which of those deletes a Recycle Bin rule keeps, billed: said, never counted as freed.
    super::recycle_bin::annotate(&app.ec2, &snapshots, &mut reports, now).await;
    // Copies in other regions, after this region's own deletes, from what those left.
    let deleted: BTreeSet<&str> = reports
        .iter()
        .flat_map(|r| r.deleted.iter().map(|i| i.snapshot_id.as_str()))
        .collect();
    let remaining: BTreeMap<String, Vec<Snapshot>> = snapshots
        .iter()
        .map(|(v, s)| {
            (
                v.clone(),
                s.iter()
                    .filter(|x| !deleted.contains(x.id.as_str()))
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let terms = super::copies::Terms {
        now,
        deadline,
        dry_run,
        allow_bulk_delete: input.allow_bulk_delete,
        acknowledged: volumes
            .values()
            .filter(|v| {
                let tag = v.tags.get(TAG_ALLOW_BULK_DELETE).map(String::as_str);
                crate::fuse::acknowledged(tag, now, app.settings.tz)
            })
            .map(|v| v.id.clone())
            .collect(),
    };
    let mut copies = super::copies::run(app, &jobs, &volumes, &remaining, &terms).await;
    for report in &mut reports {
        report.copies = copies.remove(&report.volume_id).unwrap_or_default();
    }
    for report in &reports {
        totals.count(report);
        tracing::info!(volume_id = %report.volume_id, policy = %report.policy, kept = report.kept.len(), deleted = report.deleted.len(), adopted = report.adopted.len(), stale = report.stale.is_some(), held = report.held.is_some(), dry_run, "volume pruned");
    }
    finish(
        app,
        reports,
        not_pruned,
        totals,
        failed,
        dry_run,
        input.full_report,
        now,
    )
}

/// Adopts the untagged snapshots the adoption mode makes ours and tags them in `snapshots` too,
/// so the plan sees them as tagged (a write: skipped in a dry run).
async fn adopt_untagged<P: Ports>(
    app: &App<P>,
    jobs: &BTreeMap<String, VolumeJob>,
    snapshots: &mut BTreeMap<String, Vec<Snapshot>>,
    dry_run: bool,
) -> Result<Adopted, Error> {
    let wanted = adoptions(&app.settings, &app.account_id, jobs, snapshots);
    let adopted = adopt(app, jobs, &wanted, "untagged, matches schedule", dry_run).await?;
    for (vol, (tagged, tags)) in &adopted.tagged {
        for s in snapshots.get_mut(vol).into_iter().flatten() {
            if tagged.contains(&s.id) {
                s.tags.extend(tags.iter().cloned());
            }
        }
    }
    Ok(adopted)
}

/// What every volume's decision reads besides its job.
struct DecideContext<'a> {
    snapshots: &'a BTreeMap<String, Vec<Snapshot>>,
    volumes: &'a BTreeMap<String, Volume>,
    adopted: &'a Adopted,
    allow_bulk_delete: bool,
    now: DateTime<Utc>,
}

/// The snapshots whose locks the decision needs: every deletion this run would carry out (not
/// those the fuse holds or that wait a run: nothing is attempted on them; the fuse weighs a
/// locked one as a deletion until acknowledged, which errs on holding) and, with lock rules,
/// every kept generation of ours. Pure.
fn lock_candidates(settings: &Settings, decisions: &[Decision<'_>]) -> Vec<String> {
    let generation = |e: &&crate::plan::Entry<'_>| {
        e.reasons.iter().any(|r| {
            matches!(
                r,
                crate::plan::Reason::Last { .. } | crate::plan::Reason::NewestOf(_)
            )
        })
    };
    decisions
        .iter()
        .flat_map(|d| {
            let kept = d
                .plan
                .keep
                .iter()
                .filter(generation)
                .filter(|_| !settings.locks.is_off());
            d.deletes().chain(kept).map(|e| e.snapshot_id.to_string())
        })
        .collect()
}

/// Each volume's decision (plan, guards, volume fuse, locks), then the batch fuse over them
/// all. Pure.
fn decide_all<'a, P: Ports>(
    app: &'a App<P>,
    jobs: &'a BTreeMap<String, VolumeJob>,
    ctx: &DecideContext<'a>,
    locks: &BTreeMap<String, crate::locks::Lock>,
) -> Vec<Decision<'a>> {
    let mut decisions: Vec<Decision<'a>> = jobs
        .iter()
        .map(|(vol, job)| {
            let v = ctx.volumes.get(vol);
            let facts = VolumeFacts {
                created: v.and_then(|v| v.create_time),
                ack_tag: v.and_then(|v| v.tags.get(TAG_ALLOW_BULK_DELETE).map(String::as_str)),
                allow_bulk_delete: ctx.allow_bulk_delete,
            };
            let snaps = ctx.snapshots.get(vol).map_or(&[][..], Vec::as_slice);
            let adopted = ctx.adopted.ids(vol);
            decide(
                &app.settings,
                &app.account_id,
                job,
                snaps,
                adopted,
                &facts,
                locks,
                ctx.now,
            )
        })
        .collect();
    batch_fuse(&app.settings, &mut decisions, ctx.now);
    decisions
}

/// Counts, publishes, and reports what still failed (`totals.failed`, `totals.failures`).
#[allow(clippy::too_many_arguments)]
fn finish<P: Ports>(
    app: &App<P>,
    reports: Vec<VolumeReport>,
    not_pruned: Vec<MisconfiguredVolume>,
    mut totals: Totals,
    failed: Vec<FailedDelete>,
    dry_run: bool,
    full_report: bool,
    now: DateTime<Utc>,
) -> Result<PruneOutput, Error> {
    totals.failed = failed.len();
    app.publish(&counts(&totals, dry_run), now);
    if !failed.is_empty() {
        // Reported, not thrown: the totals then count every delete this invocation made (a
        // retried invocation could not), and the state machines fail on `failed` > 0.
        tracing::error!(
            failed = failed.len(),
            deleted = totals.deleted,
            "some snapshots could not be deleted; the execution fails and the next run tries again"
        );
        totals.failures = failed.into_iter().take(MAX_ATTENTION).collect();
    }
    let (volumes, reports_left_out) = if full_report {
        (reports, 0)
    } else {
        fit(reports, MAX_OUTPUT_BYTES)
    };
    if reports_left_out > 0 {
        tracing::warn!(
            reports_left_out,
            "volume reports left out of the result to stay under Step Functions' 256 KB; totals are complete"
        );
    }
    Ok(PruneOutput {
        volumes,
        not_pruned,
        totals,
        dry_run,
        reports_left_out,
    })
}

/// The input's volume ids, validated and de-duplicated (at most [`MAX_VOLUMES`]).
fn volume_ids(input: &PruneInput) -> Result<Vec<String>, Error> {
    if input.volumes.len() > MAX_VOLUMES {
        return Err(Error::InvalidInput(format!(
            "volumes: {} volumes in one prune, at most {MAX_VOLUMES}",
            input.volumes.len()
        )));
    }
    let mut ids = BTreeSet::new();
    for j in &input.volumes {
        ids.insert(
            id_after(&j.volume_id, "volume")
                .map_err(|e| Error::InvalidInput(format!("volumes[].volume_id: {e}")))?,
        );
    }
    Ok(ids.into_iter().collect())
}
