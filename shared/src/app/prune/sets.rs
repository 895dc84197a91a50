//! prune-volumes for instances (`EBS_GENS_SETS=on`): each instance's sets planned by the set
//! planner — kept or deleted only whole — with the same guards as per volume (fuses, locks,
//! the deadline, the retries). Before a set's members are deleted they are tagged
//! `ebs-gens:set-deleting`, so a deletion cut short is finished by the next run rather than
//! leaving a partial set kept for ever.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::aws::Ports;
use crate::decision::{batch_fuse, decide_sets, Decision, VolumeFacts};
use crate::error::Error;
use crate::sets::Instance;
use crate::sets::{set_instance, SetPlan, TAG_SET_DELETING};
use crate::snapshot::{Snapshot, TAG_ALLOW_BULK_DELETE};
use crate::VolumePolicy;

use super::super::{Adopted, App, MisconfiguredVolume};
use super::apply::apply_all;
use super::report::{attention, flag, volume_report, SetLine};
use super::{finish, PruneInput, PruneOutput, Totals, VolumeReport, MAX_VOLUMES};

/// An instance to prune: as read now, with its policy.
struct Job {
    instance: Instance,
    policy: VolumePolicy,
}

pub(super) async fn prune_sets<P: Ports>(
    app: &App<P>,
    input: &PruneInput,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<PruneOutput, Error> {
    if !app.settings.sets {
        return Err(Error::InvalidInput(
            "instances: sets are off here (EBS_GENS_SETS=off); no set is pruned".into(),
        ));
    }
    let ids = instance_ids(input)?;
    let dry_run = app.dry_run(input.dry_run);

    // Fetch: the instances as they are now (a tag changed since discovery plans under today's
    // tags), then every member of their sets.
    let (jobs, not_pruned) = fetch(app, &ids).await?;
    let listed: Vec<String> = jobs.iter().map(|j| j.instance.id.clone()).collect();
    let snapshots: BTreeMap<String, Vec<Snapshot>> = match listed.is_empty() {
        true => BTreeMap::new(),
        false => by_instance(app.ec2.sets_of(&listed).await?),
    };
    let mut totals = Totals {
        not_pruned: not_pruned.len(),
        ..Totals::default()
    };
    for m in &not_pruned {
        tracing::warn!(instance_id = %m.volume_id, reason = %m.error, "sets not pruned");
        attention(&mut totals, &m.volume_id, "not-pruned", m.error.clone());
    }

    // Decide (twice when a planned delete's member is locked: a locked member keeps its set).
    let decide = |locks: &BTreeMap<String, crate::locks::Lock>| {
        let (mut decisions, plans): (Vec<Decision<'_>>, Vec<SetPlan<'_>>) = jobs
            .iter()
            .map(|j| {
                let facts = VolumeFacts {
                    created: None,
                    ack_tag: j
                        .instance
                        .tags
                        .get(TAG_ALLOW_BULK_DELETE)
                        .map(String::as_str),
                    allow_bulk_delete: input.allow_bulk_delete,
                };
                let id = j.instance.id.as_str();
                let snaps = snapshots.get(id).map_or(&[][..], Vec::as_slice);
                let s = &app.settings;
                decide_sets(s, &app.account_id, id, &j.policy, snaps, &facts, locks, now)
            })
            .unzip();
        batch_fuse(&app.settings, &mut decisions, now);
        (decisions, plans)
    };
    let (mut decisions, mut plans) = decide(&BTreeMap::new());
    let planned: Vec<String> = decisions
        .iter()
        .flat_map(|d| d.deletes().map(|e| e.snapshot_id.to_string()))
        .collect();
    if !planned.is_empty() {
        let locks = app.ec2.locks_of(&planned).await?;
        if !locks.is_empty() {
            (decisions, plans) = decide(&locks);
        }
    }

    let mut reports: Vec<VolumeReport> = jobs
        .iter()
        .zip(decisions.iter().zip(&plans))
        .map(|(j, (d, p))| {
            let mut r = volume_report(&j.instance.id, j.policy.to_string(), d, &Adopted::default());
            r.bulk_allowed = d.bulk_allowed(&app.settings.fuse_volume);
            r.sets = lines(p);
            flag(&mut totals, &r, &app.settings.deployment);
            r
        })
        .collect();

    // Apply: mark each set to delete, then its members' deletes (retried, within the deadline).
    if !dry_run {
        mark_deleting(app, &decisions, now).await?;
    }
    let failed = apply_all(app, &decisions, &mut reports, deadline, dry_run).await;
    // Which of those deletes a Recycle Bin rule keeps (billed), as per volume.
    super::super::recycle_bin::annotate(&app.ec2, &snapshots, &mut reports, now).await;
    for r in &reports {
        totals.count(r);
        tracing::info!(instance_id = %r.volume_id, policy = %r.policy, sets = r.sets.len(), kept = r.kept.len(), deleted = r.deleted.len(), stale = r.stale.is_some(), held = r.held.is_some(), dry_run, "instance sets pruned");
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

/// The input's instance ids, validated and de-duplicated (at most [`MAX_VOLUMES`]).
fn instance_ids(input: &PruneInput) -> Result<Vec<String>, Error> {
    if !input.volumes.is_empty() || input.orphans {
        return Err(Error::InvalidInput(
            "instances: a prune takes instances, volumes or the orphan scan, one at a time".into(),
        ));
    }
    if input.instances.len() > MAX_VOLUMES {
        return Err(Error::InvalidInput(format!(
            "instances: {} instances in one prune, at most {MAX_VOLUMES}",
            input.instances.len()
        )));
    }
    let mut ids: Vec<String> = Vec::new();
    for i in &input.instances {
        let ok = i.strip_prefix("i-").is_some_and(|hex| {
            !hex.is_empty() && hex.len() <= 32 && hex.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            return Err(Error::InvalidInput(format!(
                "instances[]: {i:?} is not an instance id"
            )));
        }
        ids.push(i.clone());
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// The instances still tagged for sets, and those not pruned (gone, untagged, misconfigured).
async fn fetch<P: Ports>(
    app: &App<P>,
    ids: &[String],
) -> Result<(Vec<Job>, Vec<MisconfiguredVolume>), Error> {
    let read = app.ec2.instances_by_id(ids).await?;
    let mut jobs = Vec::new();
    let mut not_pruned = Vec::new();
    for id in ids {
        let skip = |why: String| MisconfiguredVolume {
            volume_id: id.clone(),
            error: why,
        };
        let Some(i) = read.iter().find(|i| &i.id == id) else {
            not_pruned.push(skip(
                "the instance no longer exists (its sets are orphans)".into(),
            ));
            continue;
        };
        if matches!(i.state.as_str(), "terminated" | "shutting-down") {
            not_pruned.push(skip(format!(
                "the instance is {} (its sets are orphans)",
                i.state
            )));
            continue;
        }
        let tags = i.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        match crate::policy::policy_from_tags(&app.settings.tag_keys, tags) {
            Ok(Some(policy)) => jobs.push(Job {
                instance: i.clone(),
                policy,
            }),
            Ok(None) => not_pruned.push(skip("no generation tag any more".into())),
            Err(e) => not_pruned.push(skip(format!("misconfigured: {e}"))),
        }
    }
    Ok((jobs, not_pruned))
}

/// Set members by the instance their set names.
pub(super) fn by_instance(snapshots: Vec<Snapshot>) -> BTreeMap<String, Vec<Snapshot>> {
    let mut out: BTreeMap<String, Vec<Snapshot>> = BTreeMap::new();
    for s in snapshots {
        if let Some(i) = set_instance(&s).map(str::to_string) {
            out.entry(i).or_default().push(s);
        }
    }
    out
}

/// An instance's sets as its report lists them, newest first.
pub(super) fn lines(p: &SetPlan<'_>) -> Vec<SetLine> {
    let line = |e: &crate::sets::SetEntry<'_>, action: &str| SetLine {
        set: e.set.tag.clone(),
        start: e.set.start,
        members: e.members.iter().map(|m| m.to_string()).collect(),
        action: action.into(),
        reasons: e.reasons.iter().map(|r| r.to_string()).collect(),
    };
    let mut out: Vec<SetLine> = p
        .keep
        .iter()
        .map(|e| line(e, "keep"))
        .chain(p.delete.iter().map(|e| line(e, "delete")))
        .collect();
    out.sort_by(|a, b| b.start.cmp(&a.start).then_with(|| b.set.cmp(&a.set)));
    out
}

/// Tags every member about to be deleted `ebs-gens:set-deleting=<now>` (one CreateTags per
/// 1000), before any delete: a run cut short leaves sets the next run recognises and finishes.
pub(super) async fn mark_deleting<P: Ports>(
    app: &App<P>,
    decisions: &[Decision<'_>],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let ids: Vec<String> = decisions
        .iter()
        .flat_map(|d| d.deletes().map(|e| e.snapshot_id.to_string()))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let refused = app
        .ec2
        .tag_each(&ids, &[(TAG_SET_DELETING.to_string(), stamp)])
        .await?;
    for (id, e) in refused {
        tracing::warn!(snapshot_id = %id, error = %e, "set member could not be marked for deletion");
    }
    Ok(())
}
