//! The orphan scan (the sweep's last step): every snapshot of ours in one listing, grouped by
//! volume; the volumes that are gone or carry no generation tag any more are orphans.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::aws::{Ports, Volume};
use crate::decision::{batch_fuse, fuse, Decision, VolumeFacts};
use crate::error::Error;
use crate::fuse::ACK_GONE;
use crate::orphans::{plan_orphans, Orphaned};
use crate::plan::group_by_volume;
use crate::snapshot::{Snapshot, TAG_ALLOW_BULK_DELETE, TAG_POLICY};

use super::super::{classify_volumes, Adopted, App};
use super::apply::apply_all;
use super::report::{flag, volume_report, PruneInput, PruneOutput, Totals, VolumeReport};
use super::{finish, NO_VOLUME};

/// The orphan scan: every snapshot of ours in one listing, grouped by volume; the volumes
/// that are gone or carry no generation tag any more are orphans, planned under
/// `EBS_GENS_ORPHANS` (pins, pending, another deployment's: kept; the newest K: kept) and
/// weighed by the batch fuse. Misconfigured volumes are not orphans (their tag is a typo).
pub(super) async fn orphans<P: Ports>(
    app: &App<P>,
    input: PruneInput,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<PruneOutput, Error> {
    if !input.volumes.is_empty() {
        return Err(Error::InvalidInput(
            "orphans: an orphan scan takes no volumes (volumes must be empty)".into(),
        ));
    }
    let dry_run = app.dry_run(input.dry_run);
    let (found, members) = find(app).await?;
    let decisions = decide(app, &found, input.allow_bulk_delete, &BTreeMap::new(), now);
    // A locked orphan is never deleted (nor attempted): read the locks of what would go.
    let ids: Vec<String> = decisions
        .iter()
        .flat_map(|d| d.plan.delete.iter().map(|e| e.snapshot_id.to_string()))
        .collect();
    let decisions = match ids.is_empty() {
        true => decisions,
        false => {
            let locks = app.ec2.locks_of(&ids).await?;
            decide(app, &found, input.allow_bulk_delete, &locks, now)
        }
    };
    let mut totals = Totals::default();
    let mut reports: Vec<_> = found
        .iter()
        .zip(&decisions)
        .map(|(o, d)| report(&mut totals, o, d, &app.settings.deployment))
        .collect();
    let mut failed = apply_all(app, &decisions, &mut reports, deadline, dry_run).await;
    // The sets of instances terminated or no longer tagged, set by set.
    let sets = find_sets(app, members).await?;
    let (set_decisions, plans) = decide_sets(app, &sets, input.allow_bulk_delete, now).await?;
    let mut set_reports: Vec<VolumeReport> = sets
        .iter()
        .zip(set_decisions.iter().zip(&plans))
        .map(|(o, (d, p))| {
            let mut r = report(&mut totals, o, d, &app.settings.deployment);
            r.sets = super::sets::lines(p);
            r
        })
        .collect();
    if !dry_run {
        super::sets::mark_deleting(app, &set_decisions, now).await?;
    }
    failed.extend(apply_all(app, &set_decisions, &mut set_reports, deadline, dry_run).await);
    reports.append(&mut set_reports);
    for report in &reports {
        totals.count(report);
        tracing::info!(volume_id = %report.volume_id, reason = ?report.orphaned, deleted = report.deleted.len(), orphans = %app.settings.orphans, dry_run, "orphaned snapshots");
    }
    totals.volumes = found.len();
    // Then the copies in other regions no rule plans any more, under the same policy.
    let terms = super::super::copies::Terms {
        now,
        deadline,
        dry_run,
        allow_bulk_delete: input.allow_bulk_delete,
        acknowledged: BTreeSet::new(),
    };
    for report in super::super::copies::orphans::scan(app, &terms).await {
        totals.count(&report);
        totals.orphaned_copies += report
            .copies
            .iter()
            .map(|d| d.kept.len() + d.deleted.len() + d.held_back)
            .sum::<usize>();
        reports.push(report);
    }
    let full = input.full_report;
    finish(app, reports, vec![], totals, failed, dry_run, full, now)
}

/// A former volume's (or instance's) snapshots of ours, why they are orphans, and its
/// `ebs-gens:allow-bulk-delete` tag when it still exists.
struct Orphan {
    volume_id: String,
    snapshots: Vec<Snapshot>,
    why: Orphaned,
    ack: Option<String>,
}

/// Every snapshot of ours, grouped by volume; the groups whose volume is gone or untagged —
/// and, apart, the members of sets (planned set by set, never per volume).
async fn find<P: Ports>(app: &App<P>) -> Result<(Vec<Orphan>, Vec<Snapshot>), Error> {
    let settings = &app.settings;
    // Copies and imports carry the placeholder volume `vol-ffffffff`: no volume's orphans.
    // A copy made here by a deployment of the same name in another region is planned only by
    // that deployment's destination plan, never as an orphan.
    let listed = app.ec2.snapshots_managed_by(&settings.deployment).await?;
    let (members, own): (Vec<Snapshot>, Vec<Snapshot>) = listed
        .into_iter()
        .filter(|s| s.tag(crate::copies::TAG_COPY_OF).is_none())
        .partition(crate::sets::is_member);
    let mut ours = group_by_volume(own);
    ours.remove(NO_VOLUME);
    let ids: Vec<String> = ours.keys().cloned().collect();
    let read = match ids.is_empty() {
        true => vec![],
        false => app.ec2.volumes_by_id(&ids).await?,
    };
    let mut present: BTreeMap<String, Volume> =
        read.iter().map(|v| (v.id.clone(), v.clone())).collect();
    let (jobs, bad) = classify_volumes(settings, read);
    let tagged: BTreeSet<&str> = jobs
        .iter()
        .map(|j| j.volume_id.as_str())
        .chain(bad.iter().map(|m| m.volume_id.as_str()))
        .collect();
    let orphans = ours
        .into_iter()
        .filter(|(vol, _)| !tagged.contains(vol.as_str()))
        .map(|(volume_id, snapshots)| {
            let volume = present.remove(&volume_id);
            let why = match volume {
                Some(_) => Orphaned::Untagged,
                None => Orphaned::VolumeGone,
            };
            Orphan {
                volume_id,
                snapshots,
                why,
                ack: volume
                    .as_ref()
                    .and_then(|v| v.tags.get(TAG_ALLOW_BULK_DELETE).cloned()),
            }
        })
        .collect();
    Ok((orphans, members))
}

/// The instances whose sets are orphans: terminated or gone, no longer tagged, or every
/// instance when sets are off. An instance whose tag is a typo is not (its sets are kept).
async fn find_sets<P: Ports>(app: &App<P>, members: Vec<Snapshot>) -> Result<Vec<Orphan>, Error> {
    let by_instance = super::sets::by_instance(members);
    let ids: Vec<String> = by_instance.keys().cloned().collect();
    let read = match ids.is_empty() {
        true => vec![],
        false => app.ec2.instances_by_id(&ids).await?,
    };
    let mut out = Vec::new();
    for (instance, snapshots) in by_instance {
        let found = read.iter().find(|i| i.id == instance);
        let live = found.filter(|i| !matches!(i.state.as_str(), "terminated" | "shutting-down"));
        let why = match live {
            None => Orphaned::InstanceGone,
            Some(_) if !app.settings.sets => Orphaned::InstanceUntagged,
            Some(i) => {
                let tags = i.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                match crate::policy::policy_from_tags(&app.settings.tag_keys, tags) {
                    Ok(None) => Orphaned::InstanceUntagged,
                    // Managed, or a typo in its tag: not an orphan.
                    _ => continue,
                }
            }
        };
        out.push(Orphan {
            volume_id: instance,
            snapshots,
            why,
            ack: live.and_then(|i| i.tags.get(TAG_ALLOW_BULK_DELETE).cloned()),
        });
    }
    Ok(out)
}

/// Each orphaned instance's sets under the orphan policy, set by set (a member's lock keeps
/// its set whole), weighed by the fuses as an orphaned volume is.
async fn decide_sets<'a, P: Ports>(
    app: &App<P>,
    found: &'a [Orphan],
    allow_bulk_delete: bool,
    now: DateTime<Utc>,
) -> Result<(Vec<Decision<'a>>, Vec<crate::sets::SetPlan<'a>>), Error> {
    let settings = &app.settings;
    let ctx = settings.plan_context(&app.account_id);
    let mut plans: Vec<crate::sets::SetPlan<'a>> = found
        .iter()
        .map(|o| {
            crate::sets::plan_orphaned_sets(&o.volume_id, settings.orphans, &ctx, &o.snapshots, now)
        })
        .collect();
    let ids: Vec<String> = plans
        .iter()
        .flat_map(|p| p.deleted_snapshots().map(str::to_string))
        .collect();
    if !ids.is_empty() {
        let locks = app.ec2.locks_of(&ids).await?;
        for p in &mut plans {
            p.hold_locked(&locks, now);
        }
    }
    let members = plans.iter().map(crate::sets::SetPlan::members).collect();
    let decisions = fused(settings, found, members, allow_bulk_delete, now);
    Ok((decisions, plans))
}

/// Each orphan's plan under the orphan policy (a locked snapshot kept), then [`fused`]. Pure.
fn decide<'a, P: Ports>(
    app: &App<P>,
    found: &'a [Orphan],
    allow_bulk_delete: bool,
    locks: &BTreeMap<String, crate::locks::Lock>,
    now: DateTime<Utc>,
) -> Vec<Decision<'a>> {
    let settings = &app.settings;
    let ctx = settings.plan_context(&app.account_id);
    let plans = found
        .iter()
        .map(|o| {
            let mut plan = plan_orphans(&o.volume_id, settings.orphans, &ctx, &o.snapshots, now);
            crate::locks::hold_locked(&mut plan, locks, now);
            plan
        })
        .collect();
    fused(settings, found, plans, allow_bulk_delete, now)
}

/// Orphans' decisions from their plans: each weighed by the volume fuse (a tag removed by
/// mistake must not become a bulk deletion at the next sweep; an untagged volume or a live
/// instance can still carry the acknowledgement), then the batch fuse. A gone volume's or
/// instance's hold is released by the run's acknowledgement, having no tag to carry one. Pure.
fn fused<'a>(
    settings: &crate::config::Settings,
    found: &[Orphan],
    plans: Vec<crate::plan::Plan<'a>>,
    allow_bulk_delete: bool,
    now: DateTime<Utc>,
) -> Vec<Decision<'a>> {
    let mut decisions: Vec<Decision<'a>> = found
        .iter()
        .zip(plans)
        .map(|(o, plan)| {
            let mut d = Decision::orphan(plan, newest_of_ours(&o.snapshots, &settings.deployment));
            let facts = VolumeFacts {
                created: None,
                ack_tag: o.ack.as_deref(),
                allow_bulk_delete,
            };
            fuse(settings, &mut d, &facts, now);
            d
        })
        .collect();
    batch_fuse(settings, &mut decisions, now);
    for (o, d) in found.iter().zip(decisions.iter_mut()) {
        let gone = matches!(o.why, Orphaned::VolumeGone | Orphaned::InstanceGone);
        if let (true, Some(h)) = (gone, &mut d.held) {
            h.acknowledge = ACK_GONE.to_string();
        }
    }
    decisions
}

/// An orphan's report: its former policy (from its newest snapshot's tag) and why it is one.
fn report(totals: &mut Totals, o: &Orphan, d: &Decision<'_>, deployment: &str) -> VolumeReport {
    let policy = o
        .snapshots
        .iter()
        .filter(|s| s.is_owned_by(deployment) && s.tag(TAG_POLICY).is_some())
        .max_by_key(|s| s.start_time)
        .and_then(|s| s.tag(TAG_POLICY))
        .map_or_else(|| "unknown".to_string(), |p| format!("was {p}"));
    let mut report = volume_report(&o.volume_id, policy, d, &Adopted::default());
    report.orphaned = Some(o.why);
    flag(totals, &report, deployment);
    totals.orphaned += o.snapshots.len();
    totals.orphan_volumes += 1;
    report
}

fn newest_of_ours(snaps: &[Snapshot], deployment: &str) -> Option<DateTime<Utc>> {
    snaps
        .iter()
        .filter(|s| {
            s.is_owned_by(deployment) && s.state == crate::snapshot::SnapshotState::Completed
        })
        .map(|s| s.start_time)
        .max()
}
