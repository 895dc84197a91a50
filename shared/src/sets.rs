//! Instance sets: the snapshots one `CreateSnapshots` call takes of an instance's volumes
//! together (crash-consistent), kept and deleted together. This module is the set planner: its
//! generations count sets, not snapshots — the newest N sets per class, GFS as per volume — and a
//! set is deleted only whole. Pure.
//!
//! Identity (docs/sets.md): every member of one call is born with the same tags, among them
//! `ebs-gens:set` = `<instance>@<scheduled time>` (Scheduler's `<aws.scheduler.scheduled-time>`,
//! the same on a retried firing), and shares one start time. A retry can still make a second set
//! with the same tag, so a set is (instance, set tag, start time).
//!
//! A set's state, from its members: `error` only when every member is (AWS fails them all
//! together) — a failed set, deleted whole, never counted; pending while any member is; a member
//! another deployment's, or pinned, keeps the whole set; members in mixed final states, or fewer
//! members than the completion event listed (`ebs-gens:set-size`), keep the whole set and say so.
//! Only completed, whole, unpinned sets of ours are candidates for the generation rule.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::{generations, plan_with, Entry, Plan, PlanContext, Reason, Reasons};
use crate::policy::VolumePolicy;
use crate::snapshot::{Snapshot, SnapshotState, TAG_KEEP, TAG_MANAGED_BY};

pub use crate::snapshot::{TAG_SET, TAG_SET_DELETING, TAG_SET_SIZE};

/// A set: (instance, set tag, start time).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SetId {
    pub instance: String,
    pub tag: String,
    pub start: DateTime<Utc>,
}

impl std::fmt::Display for SetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} started {}",
            self.tag,
            self.start.format("%Y-%m-%dT%H:%M:%SZ")
        )
    }
}

/// One set in a plan, with its members and why it is kept or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetEntry<'a> {
    pub set: SetId,
    pub members: Vec<&'a str>,
    pub reasons: Reasons,
}

/// An instance's set plan: sets kept and deleted (each whole), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetPlan<'a> {
    pub instance: &'a str,
    pub keep: Vec<SetEntry<'a>>,
    pub delete: Vec<SetEntry<'a>>,
    /// Why the instance's input looked wrong, when it did (then nothing is deleted).
    pub doubtful: Option<String>,
}

impl SetPlan<'_> {
    /// The snapshot ids the plan deletes (every member of every deleted set).
    pub fn deleted_snapshots(&self) -> impl Iterator<Item = &str> {
        self.delete.iter().flat_map(|e| e.members.iter().copied())
    }
}

/// The instance whose set a snapshot is a member of (its `ebs-gens:set` is `<instance>@…`).
pub fn set_instance(s: &Snapshot) -> Option<&str> {
    s.tag(TAG_SET)?.split_once('@').map(|(i, _)| i)
}

/// The sets among `snapshots` (members of `instance`'s sets: their `ebs-gens:set` names it),
/// by identity. Snapshots without the tag, or of another instance, are not sets of it.
pub fn group<'a>(instance: &str, snapshots: &'a [Snapshot]) -> BTreeMap<SetId, Vec<&'a Snapshot>> {
    let mut out: BTreeMap<SetId, Vec<&Snapshot>> = BTreeMap::new();
    for s in snapshots {
        let Some(tag) = s.tag(TAG_SET) else { continue };
        if set_instance(s) != Some(instance) {
            continue;
        }
        let id = SetId {
            instance: instance.to_string(),
            tag: tag.to_string(),
            start: s.start_time,
        };
        out.entry(id).or_default().push(s);
    }
    out
}

/// A set seen as one snapshot, for the shared planning frame: ours only when every member is,
/// pinned when any member is, its state from its members' (see the module doc).
fn view(id: &SetId, members: &[&Snapshot], ctx: &PlanContext<'_>) -> Snapshot {
    let ours = members
        .iter()
        .all(|m| m.is_owned_by(ctx.deployment) && m.owner_id == ctx.account_id);
    let pinned = members.iter().any(|m| m.is_pinned());
    let states: Vec<&SnapshotState> = members.iter().map(|m| &m.state).collect();
    let size: Option<usize> = members
        .iter()
        .find_map(|m| m.tag(TAG_SET_SIZE))
        .and_then(|n| n.parse().ok());
    let state = if states.iter().any(|s| **s == SnapshotState::Pending) {
        SnapshotState::Pending
    } else if states.iter().all(|s| **s == SnapshotState::Error) {
        SnapshotState::Error
    } else if states.iter().all(|s| **s == SnapshotState::Completed) {
        match size {
            Some(n) if members.len() < n => SnapshotState::Other(format!(
                "incomplete set: {} of {n} members here (kept whole)",
                members.len()
            )),
            _ => SnapshotState::Completed,
        }
    } else {
        SnapshotState::Other("members in mixed states (kept whole)".into())
    };
    let mut tags = BTreeMap::new();
    if ours {
        tags.insert(TAG_MANAGED_BY.to_string(), ctx.deployment.to_string());
    }
    if pinned {
        tags.insert(TAG_KEEP.to_string(), "true".to_string());
    }
    Snapshot {
        id: id.to_string(),
        volume_id: id.instance.clone(),
        start_time: id.start,
        state,
        owner_id: if ours {
            ctx.account_id.to_string()
        } else {
            String::new()
        },
        tags,
    }
}

/// Plans one instance's sets under `policy`: the newest N completed sets per class are kept
/// (GFS), a set is kept or deleted whole, failed sets are deleted and never counted.
pub fn plan_sets<'a>(
    instance: &'a str,
    policy: &VolumePolicy,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    now: DateTime<Utc>,
) -> SetPlan<'a> {
    plan_sets_with(instance, ctx, snapshots, now, |candidates| {
        generations(policy, ctx.tz, candidates)
    })
}

/// The sets of an instance that is gone (terminated) or no longer tagged, under the orphan
/// policy, set by set: `keep` keeps every set; `keep-last=K,older-than=DAYS` keeps the newest K
/// completed sets and those younger than DAYS, and deletes the rest whole.
pub fn plan_orphaned_sets<'a>(
    instance: &'a str,
    policy: crate::orphans::OrphanPolicy,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    now: DateTime<Utc>,
) -> SetPlan<'a> {
    let mut p = plan_sets_with(instance, ctx, snapshots, now, |candidates| {
        crate::orphans::orphan_reasons(policy, candidates, now)
    });
    if policy == crate::orphans::OrphanPolicy::Keep {
        for mut e in p.delete.drain(..) {
            e.reasons = smallvec::smallvec![Reason::OrphansKept];
            p.keep.push(e);
        }
        p.keep.sort_by(|a, b| b.set.cmp(&a.set));
    }
    p
}

/// Plans an instance's sets with `rule` over the completed, whole candidate sets (newest first).
fn plan_sets_with<'a>(
    instance: &'a str,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    now: DateTime<Utc>,
    rule: impl FnOnce(&[&Snapshot]) -> Vec<Option<Reasons>>,
) -> SetPlan<'a> {
    let sets = group(instance, snapshots);
    let views: Vec<Snapshot> = sets.iter().map(|(id, m)| view(id, m, ctx)).collect();
    let by_view: BTreeMap<&str, (&SetId, &Vec<&Snapshot>)> = views
        .iter()
        .zip(sets.iter())
        .map(|(v, (id, m))| (v.id.as_str(), (id, m)))
        .collect();
    let plan = plan_with(instance, ctx, &views, now, rule);
    let back = |e: Entry<'_>| {
        let (id, members) = by_view[e.snapshot_id];
        SetEntry {
            set: id.clone(),
            members: members.iter().map(|m| m.id.as_str()).collect(),
            reasons: e.reasons,
        }
    };
    let mut out = SetPlan {
        instance,
        keep: plan.keep.into_iter().map(back).collect(),
        delete: plan.delete.into_iter().map(back).collect(),
        doubtful: plan.doubtful,
    };
    // A doubtful listing deletes nothing (as per volume).
    if out.doubtful.is_some() {
        out.keep.append(&mut out.delete);
        return out;
    }
    // A set our own deletion left partial is finished, not kept for ever.
    let (unfinished, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut out.keep)
        .into_iter()
        .partition(|e| unfinished_since(&sets[&e.set], ctx).is_some());
    out.keep = keep;
    for mut e in unfinished {
        let since = unfinished_since(&sets[&e.set], ctx).unwrap_or_default();
        e.reasons = smallvec::smallvec![Reason::SetDeletionUnfinished(since)];
        out.delete.push(e);
    }
    out.delete.sort_by(|a, b| b.set.cmp(&a.set));
    out
}

/// When the deletion of this set began, if it began (a member tagged `ebs-gens:set-deleting`)
/// and was cut short: fewer members than the set had, every one ours and none pinned.
fn unfinished_since(members: &[&Snapshot], ctx: &PlanContext<'_>) -> Option<String> {
    let since = members.iter().find_map(|m| m.tag(TAG_SET_DELETING))?;
    let size: usize = members
        .iter()
        .find_map(|m| m.tag(TAG_SET_SIZE))
        .and_then(|n| n.parse().ok())?;
    let ours = members
        .iter()
        .all(|m| m.is_owned_by(ctx.deployment) && m.owner_id == ctx.account_id && !m.is_pinned());
    (ours && members.len() < size).then(|| since.to_string())
}

impl<'a> SetPlan<'a> {
    /// A planned set with a member whose snapshot lock still holds is kept whole ("locked
    /// until …", the latest of its members' locks): never a partial set.
    pub fn hold_locked(
        &mut self,
        locks: &BTreeMap<String, crate::locks::Lock>,
        now: DateTime<Utc>,
    ) {
        let holds = |m: &&str| locks.get(*m).filter(|l| l.holds(now));
        let (held, delete): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delete)
            .into_iter()
            .partition(|e| e.members.iter().any(|m| holds(m).is_some()));
        self.delete = delete;
        for mut e in held {
            let until = e
                .members
                .iter()
                .filter_map(&holds)
                .filter_map(|l| l.expires)
                .max();
            e.reasons = smallvec::smallvec![Reason::Locked { until }];
            self.keep.push(e);
        }
        self.keep.sort_by(|a, b| b.set.cmp(&a.set));
    }

    /// The plan member by member (the writes and the per-snapshot report): every member with
    /// its set's reasons and the set named.
    pub fn members(&self) -> Plan<'a> {
        let expand = |entries: &[SetEntry<'a>]| -> Vec<Entry<'a>> {
            entries
                .iter()
                .flat_map(|e| {
                    e.members.iter().map(move |m| {
                        let mut reasons = e.reasons.clone();
                        reasons.push(Reason::SetMember(e.set.to_string()));
                        Entry {
                            snapshot_id: m,
                            start_time: e.set.start,
                            reasons,
                        }
                    })
                })
                .collect()
        };
        Plan {
            volume_id: self.instance,
            keep: expand(&self.keep),
            delete: expand(&self.delete),
            doubtful: self.doubtful.clone(),
        }
    }

    /// Sets kept per class of `policy` (the coverage `status` shows): counts sets, not members.
    pub fn coverage(&self, policy: &VolumePolicy) -> Vec<crate::health::Coverage> {
        let one_per_set = Plan {
            volume_id: self.instance,
            keep: self
                .keep
                .iter()
                .map(|e| Entry {
                    snapshot_id: e.set.tag.as_str(),
                    start_time: e.set.start,
                    reasons: e.reasons.clone(),
                })
                .collect(),
            delete: vec![],
            doubtful: None,
        };
        crate::health::coverage(policy, &one_per_set)
    }
}

/// On an instance: `true` leaves its boot volume out of its sets.
pub const TAG_EXCLUDE_BOOT: &str = "ebs-gens:exclude-boot";
/// On a volume: `true` leaves it out of its instance's sets (it keeps its own tags and schedule).
pub const TAG_EXCLUDE_FROM_SET: &str = "ebs-gens:exclude-from-set";
/// CreateSnapshots' `ExcludeDataVolumeIds`: at most this many (API_InstanceSpecification).
pub const MAX_EXCLUDED_DATA_VOLUMES: usize = 40;

/// An instance as DescribeInstances shows it (an attachment, a set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down`, `terminated`.
    pub state: String,
    pub zone: String,
    /// Device names in use (block device mappings).
    pub devices: Vec<String>,
    /// The instance's tags (an instance tagged `*_Gens` has sets, docs/sets.md).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Its root device name (the boot volume's device).
    #[serde(default)]
    pub root_device: Option<String>,
    /// Its attached EBS volumes: device name → volume id.
    #[serde(default)]
    pub volumes: BTreeMap<String, String>,
}

/// An instance's attached volume, as DescribeInstances' block device mappings list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attached {
    pub device: String,
    pub volume_id: String,
    /// The volume's own tags (exclusion, its own `*_Gens`).
    pub tags: BTreeMap<String, String>,
}

/// What one set of an instance takes: `CreateSnapshots`' InstanceSpecification, and the
/// volumes it covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub instance: String,
    pub exclude_boot: bool,
    /// Data volumes left out (`ExcludeDataVolumeIds`, at most 40).
    pub excluded: Vec<String>,
    /// The volumes the set takes.
    pub members: Vec<String>,
}

fn yes(tags: &BTreeMap<String, String>, key: &str) -> bool {
    tags.get(key)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Which of an instance's attached volumes its sets take: all but the boot volume when the
/// instance says so, and those a volume tag excludes. More than 40 excluded data volumes, or no
/// volume left, is the instance's error (a reported skip: no schedule, nothing deleted).
pub fn membership(
    instance: &str,
    instance_tags: &BTreeMap<String, String>,
    root_device: Option<&str>,
    attached: &[Attached],
) -> Result<Membership, String> {
    let exclude_boot = yes(instance_tags, TAG_EXCLUDE_BOOT);
    let is_root = |a: &Attached| root_device == Some(a.device.as_str());
    let excluded: Vec<String> = attached
        .iter()
        .filter(|a| !is_root(a) && yes(&a.tags, TAG_EXCLUDE_FROM_SET))
        .map(|a| a.volume_id.clone())
        .collect();
    if excluded.len() > MAX_EXCLUDED_DATA_VOLUMES {
        return Err(format!(
            "{instance}: {} data volumes tagged {TAG_EXCLUDE_FROM_SET}=true, more than the {MAX_EXCLUDED_DATA_VOLUMES} one CreateSnapshots can leave out",
            excluded.len()
        ));
    }
    let members: Vec<String> = attached
        .iter()
        .filter(|a| {
            let left_out = exclude_boot && is_root(a);
            !left_out && !excluded.contains(&a.volume_id)
        })
        .map(|a| a.volume_id.clone())
        .collect();
    if members.is_empty() {
        return Err(format!(
            "{instance}: no EBS volume left to snapshot after the exclusions"
        ));
    }
    Ok(Membership {
        instance: instance.to_string(),
        exclude_boot,
        excluded,
        members,
    })
}

/// What happens to a volume that carries its own `*_Gens` tag and is attached to an instance
/// with sets: the set wins (the volume's own schedule goes, and a different own policy is said),
/// unless the volume is excluded from the set (it keeps its own schedule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// Snapshotted only in the instance's sets; `differs` says the volume's own policy when it
    /// is not the instance's (a warning in `status`).
    InSet {
        instance: String,
        differs: Option<String>,
    },
    /// Excluded from the set: its own schedule and generations, as before.
    OwnSchedule,
}

/// The overlap decision for a volume with its own policy `own`, in or out of `m`.
pub fn overlap(
    m: &Membership,
    volume_id: &str,
    own: &VolumePolicy,
    instance_policy: &VolumePolicy,
) -> Overlap {
    if !m.members.iter().any(|v| v == volume_id) {
        return Overlap::OwnSchedule;
    }
    Overlap::InSet {
        instance: m.instance.clone(),
        differs: (own != instance_policy).then(|| {
            format!("its own tags ask for {own}; the instance's sets ({instance_policy}) apply",)
        }),
    }
}

/// An instance whose sets are scheduled: its policy (from its own tags, read as a volume's) and
/// what its sets take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceJob {
    pub instance_id: String,
    pub policy: VolumePolicy,
    pub membership: Membership,
    /// Its `Name` tag (members are named `<Name>_<Class>_<vol-id>` on completion).
    #[serde(default)]
    pub name: Option<String>,
}

/// An instance tagged for sets that is skipped: a tag value that is not a count, more than 40
/// excluded volumes, no volume left. Nothing is deleted for it; a schedule it had stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedInstance {
    pub instance_id: String,
    pub error: String,
}

/// The instances with sets, and what that means for self-tagged volumes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetLayout {
    pub jobs: Vec<InstanceJob>,
    pub skipped: Vec<SkippedInstance>,
    /// Each volume a scheduled set takes → the instance (its own schedule, if it has one, goes).
    pub covered: BTreeMap<String, String>,
}

impl SetLayout {
    /// What happens to a self-tagged volume with policy `own` (`None`: not in a set).
    pub fn overlap_of(&self, volume_id: &str, own: &VolumePolicy) -> Option<Overlap> {
        let instance = self.covered.get(volume_id)?;
        let job = self.jobs.iter().find(|j| &j.instance_id == instance)?;
        Some(overlap(&job.membership, volume_id, own, &job.policy))
    }
}

/// The instances (tagged `*_Gens`, as DescribeInstances shows them) that get sets, with
/// `volume_tags` the tags of their attached volumes as far as they matter (the exclusion tag).
/// A bad tag value, too many exclusions or no volume left is a skipped instance, said. Pure.
pub fn layout(
    keys: &crate::policy::TagKeys,
    instances: &[Instance],
    volume_tags: &BTreeMap<String, BTreeMap<String, String>>,
) -> SetLayout {
    let mut out = SetLayout::default();
    for i in instances {
        let tags = i.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let policy = match crate::policy::policy_from_tags(keys, tags) {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                out.skipped.push(SkippedInstance {
                    instance_id: i.id.clone(),
                    error: e.to_string(),
                });
                continue;
            }
        };
        let attached: Vec<Attached> = i
            .volumes
            .iter()
            .map(|(device, v)| Attached {
                device: device.clone(),
                volume_id: v.clone(),
                tags: volume_tags.get(v).cloned().unwrap_or_default(),
            })
            .collect();
        match membership(&i.id, &i.tags, i.root_device.as_deref(), &attached) {
            Ok(m) => {
                for v in &m.members {
                    out.covered.insert(v.clone(), i.id.clone());
                }
                out.jobs.push(InstanceJob {
                    instance_id: i.id.clone(),
                    policy,
                    membership: m,
                    name: i.tags.get(crate::snapshot::TAG_NAME).cloned(),
                });
            }
            Err(error) => out.skipped.push(SkippedInstance {
                instance_id: i.id.clone(),
                error,
            }),
        }
    }
    out
}

/// The tags every member of an instance's set is born with (the schedule adds `ebs-gens:set`):
/// ours, its class and policy. Per member tags come with the completion event.
pub fn birth_tags(deployment: &str, job: &InstanceJob) -> Vec<(String, String)> {
    use crate::snapshot::{TAG_CLASS, TAG_POLICY};
    vec![
        (TAG_MANAGED_BY.to_string(), deployment.to_string()),
        (
            TAG_CLASS.to_string(),
            job.policy.finest().label().to_string(),
        ),
        (TAG_POLICY.to_string(), job.policy.to_string()),
    ]
}

/// What the completion of one set means for us (`EBS Multi-Volume Snapshots Completion Status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetCompletion {
    pub set: String,
    /// The tags each member gets now (CreateSnapshots gave every member the same ones): its
    /// volume, its `Name`, and how many members the event listed.
    pub tags: Vec<(String, Vec<(String, String)>)>,
    /// Members EBS reports failed (AWS fails them all together): `SnapshotsFailed`.
    pub failed: usize,
}

/// The tags a completed set's members get, from the event's member list and the members as
/// described now. `Ok(None)`: not a set of ours (a member without our managed-by or without a set
/// tag, or another account's) — ignored. Members of different sets in one event is an error.
pub fn completion_tags(
    completions: &[crate::events::Completion],
    described: &[Snapshot],
    ctx: &PlanContext<'_>,
    class: crate::GenClass,
    instance_name: &str,
) -> Result<Option<SetCompletion>, String> {
    let by_id: BTreeMap<&str, &Snapshot> = described.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut set: Option<&str> = None;
    for c in completions {
        let Some(s) = by_id.get(c.snapshot_id.as_str()) else {
            return Ok(None);
        };
        let ours = s.is_owned_by(ctx.deployment) && s.owner_id == ctx.account_id;
        let Some(tag) = s.tag(TAG_SET).filter(|_| ours) else {
            return Ok(None);
        };
        match set {
            None => set = Some(tag),
            Some(t) if t == tag => {}
            Some(t) => {
                return Err(format!(
                    "one completion event lists members of two sets ({t}, {tag})"
                ))
            }
        }
    }
    let Some(set) = set else { return Ok(None) };
    let n = completions.len().to_string();
    let tags = completions
        .iter()
        .map(|c| {
            (
                c.snapshot_id.clone(),
                vec![
                    (crate::snapshot::TAG_VOLUME.to_string(), c.volume_id.clone()),
                    (
                        crate::snapshot::TAG_NAME.to_string(),
                        crate::ownership::snapshot_name(instance_name, class, &c.volume_id),
                    ),
                    (TAG_SET_SIZE.to_string(), n.clone()),
                ],
            )
        })
        .collect();
    let failed = completions
        .iter()
        .filter(|c| c.outcome == crate::events::Outcome::Failed)
        .count();
    Ok(Some(SetCompletion {
        set: set.to_string(),
        tags,
        failed,
    }))
}

/// Whether a snapshot is a member of some set (the per-volume planner and the orphan scan leave
/// it to the set planner).
pub fn is_member(s: &Snapshot) -> bool {
    s.tag(TAG_SET).is_some()
}

/// The reason a kept set says it is kept because of a member's state.
pub fn state_reason(e: &SetEntry<'_>) -> Option<String> {
    e.reasons.iter().find_map(|r| match r {
        Reason::UnknownState(why) => Some(why.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenClass;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    const DEP: &str = "prod";
    const ACCOUNT: &str = "123456789012";
    const I: &str = "i-1";

    fn ctx() -> PlanContext<'static> {
        PlanContext {
            deployment: DEP,
            account_id: ACCOUNT,
            tz: chrono_tz::UTC,
        }
    }

    fn day(d: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap() + Duration::days(d)
    }

    fn member(
        id: &str,
        vol: &str,
        d: i64,
        state: SnapshotState,
        extra: &[(&str, &str)],
    ) -> Snapshot {
        let mut tags: BTreeMap<String, String> = [
            (TAG_MANAGED_BY.to_string(), DEP.to_string()),
            (TAG_SET.to_string(), format!("{I}@{}", day(d).to_rfc3339())),
        ]
        .into();
        for (k, v) in extra {
            tags.insert(k.to_string(), v.to_string());
        }
        Snapshot {
            id: id.into(),
            volume_id: vol.into(),
            start_time: day(d),
            state,
            owner_id: ACCOUNT.into(),
            tags,
        }
    }

    /// A completed set of three members (data, log, index) taken on day `d`.
    fn set(d: i64) -> Vec<Snapshot> {
        ["vol-a", "vol-b", "vol-c"]
            .iter()
            .map(|v| {
                member(
                    &format!("snap-{d}-{v}"),
                    v,
                    d,
                    SnapshotState::Completed,
                    &[(TAG_SET_SIZE, "3")],
                )
            })
            .collect()
    }

    fn daily(n: u32) -> VolumePolicy {
        VolumePolicy::new(vec![(GenClass::Daily, n)]).unwrap()
    }

    #[test]
    fn the_newest_n_sets_are_kept_and_the_rest_deleted_whole() {
        let snaps: Vec<Snapshot> = (0..5).flat_map(set).collect();
        let p = plan_sets(I, &daily(3), &ctx(), &snaps, day(6));
        assert_eq!((p.keep.len(), p.delete.len()), (3, 2));
        assert!(
            p.delete.iter().all(|e| e.members.len() == 3),
            "whole sets only"
        );
        assert_eq!(p.delete[0].set.start, day(1));
        assert_eq!(p.keep[0].set.start, day(4), "the newest is kept");
        assert_eq!(p.deleted_snapshots().count(), 6);
    }

    #[test]
    fn a_deletion_cut_short_is_finished_and_a_whole_marked_set_is_planned_again() {
        let mark = [
            (TAG_SET_DELETING, "2026-12-05T04:00:00Z"),
            (TAG_SET_SIZE, "3"),
        ];
        let mut snaps: Vec<Snapshot> = (1..5).flat_map(set).collect();
        // Day 0: marked, one member deleted before the run was cut short.
        snaps.extend(["vol-a", "vol-b"].iter().map(|v| {
            member(
                &format!("snap-0-{v}"),
                v,
                0,
                SnapshotState::Completed,
                &mark,
            )
        }));
        let p = plan_sets(I, &daily(4), &ctx(), &snaps, day(6));
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.delete[0].set.start, day(0));
        assert!(matches!(
            p.delete[0].reasons[0],
            Reason::SetDeletionUnfinished(_)
        ));
        assert_eq!(p.keep.len(), 4, "the 4 completed sets");
        // A marked set still whole (every delete failed) is planned like any other: with
        // room for it under N, it is kept.
        let mut whole: Vec<Snapshot> = (1..3).flat_map(set).collect();
        for mut m in set(0) {
            m.tags
                .insert(TAG_SET_DELETING.into(), "2026-12-05T04:00:00Z".into());
            whole.push(m);
        }
        let p = plan_sets(I, &daily(4), &ctx(), &whole, day(6));
        assert!(p.delete.is_empty(), "{:?}", p.delete);
        // Pinned or not ours: never finished, kept whole.
        let mut pinned = snaps.clone();
        pinned
            .last_mut()
            .unwrap()
            .tags
            .insert(TAG_KEEP.into(), "true".into());
        let p = plan_sets(I, &daily(4), &ctx(), &pinned, day(6));
        assert!(p.delete.is_empty());
    }

    #[test]
    fn a_plan_member_by_member_names_each_members_set_and_coverage_counts_sets() {
        let snaps: Vec<Snapshot> = (0..4).flat_map(set).collect();
        let p = plan_sets(I, &daily(3), &ctx(), &snaps, day(6));
        let m = p.members();
        assert_eq!((m.keep.len(), m.delete.len()), (9, 3));
        assert!(m
            .delete
            .iter()
            .all(|e| e.reasons.iter().any(|r| matches!(r, Reason::SetMember(_)))));
        assert!(m.delete.iter().all(|e| e.start_time == day(0)));
        let c = p.coverage(&daily(3));
        assert_eq!(
            (c[0].have, c[0].want),
            (3, 3),
            "three sets, not nine snapshots"
        );
    }

    #[test]
    fn the_layout_schedules_tagged_instances_and_skips_bad_ones_saying_why() {
        let keys = crate::policy::TagKeys::default();
        let inst = |id: &str, tags: &[(&str, &str)], vols: &[(&str, &str)]| Instance {
            id: id.into(),
            state: "running".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            root_device: Some("/dev/xvda".into()),
            volumes: vols
                .iter()
                .map(|(d, v)| (d.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let instances = [
            inst(
                "i-db",
                &[("Daily_Gens", "7"), (TAG_EXCLUDE_BOOT, "true")],
                &[
                    ("/dev/xvda", "vol-root"),
                    ("/dev/sdf", "vol-data"),
                    ("/dev/sdg", "vol-tmp"),
                ],
            ),
            inst("i-bad", &[("Daily_Gens", "abc")], &[("/dev/sdf", "vol-x")]),
            inst(
                "i-empty",
                &[("Daily_Gens", "2"), (TAG_EXCLUDE_BOOT, "true")],
                &[("/dev/xvda", "vol-r")],
            ),
            inst("i-untagged", &[("Name", "web")], &[("/dev/sdf", "vol-w")]),
        ];
        let tags: BTreeMap<String, BTreeMap<String, String>> = [(
            "vol-tmp".to_string(),
            [(TAG_EXCLUDE_FROM_SET.to_string(), "TRUE".to_string())].into(),
        )]
        .into();
        let l = layout(&keys, &instances, &tags);
        assert_eq!(l.jobs.len(), 1);
        assert_eq!(l.jobs[0].membership.members, ["vol-data"]);
        assert_eq!(l.jobs[0].membership.excluded, ["vol-tmp"]);
        assert_eq!(l.covered.keys().collect::<Vec<_>>(), ["vol-data"]);
        let skipped: BTreeMap<&str, &str> = l
            .skipped
            .iter()
            .map(|s| (s.instance_id.as_str(), s.error.as_str()))
            .collect();
        assert!(skipped["i-bad"].contains("abc"), "{skipped:?}");
        assert!(
            skipped["i-empty"].contains("no EBS volume left"),
            "{skipped:?}"
        );
        assert!(!skipped.contains_key("i-untagged"));
        // A self-tagged member with another policy is said.
        let own = daily(24);
        let o = l.overlap_of("vol-data", &own).unwrap();
        assert!(matches!(
            o,
            Overlap::InSet {
                differs: Some(_),
                ..
            }
        ));
        assert_eq!(l.overlap_of("vol-tmp", &own), None);
    }

    #[test]
    fn failed_pending_pinned_incomplete_and_foreign_sets() {
        let mut snaps: Vec<Snapshot> = (0..4).flat_map(set).collect();
        // Day 4: every member failed — deleted whole, never counted.
        snaps.extend(
            ["vol-a", "vol-b"]
                .iter()
                .map(|v| member(&format!("snap-4-{v}"), v, 4, SnapshotState::Error, &[])),
        );
        // Day 5: one member still pending — kept.
        snaps.push(member(
            "snap-5-a",
            "vol-a",
            5,
            SnapshotState::Completed,
            &[],
        ));
        snaps.push(member("snap-5-b", "vol-b", 5, SnapshotState::Pending, &[]));
        // Day 0's data member pinned: the whole set stays.
        snaps[0].tags.insert(TAG_KEEP.into(), "incident-42".into());
        // Day 1: a member missing (2 of 3).
        snaps.retain(|s| s.id != "snap-1-vol-c");
        let p = plan_sets(I, &daily(1), &ctx(), &snaps, day(6));
        let verdict = |d: i64| {
            if p.delete.iter().any(|e| e.set.start == day(d)) {
                "delete"
            } else {
                "keep"
            }
        };
        assert_eq!(verdict(4), "delete", "a failed set goes");
        assert_eq!(verdict(5), "keep", "pending");
        assert_eq!(verdict(0), "keep", "pinned member");
        assert_eq!(verdict(1), "keep", "incomplete");
        assert_eq!(verdict(3), "keep", "the newest completed set");
        assert_eq!(verdict(2), "delete", "surplus");
        let incomplete = p.keep.iter().find(|e| e.set.start == day(1)).unwrap();
        assert!(state_reason(incomplete).unwrap().contains("2 of 3"));
    }

    #[test]
    fn a_retry_with_the_same_tag_is_a_second_set_and_other_instances_are_not_sets_here() {
        let mut snaps = set(0);
        // The same scheduled time (tag), a minute later: a retried firing made a second set.
        let mut retry = set(0);
        for s in &mut retry {
            s.id.push_str("-retry");
            s.start_time += Duration::minutes(1);
        }
        snaps.extend(retry);
        let mut other = set(1);
        for s in &mut other {
            s.tags
                .insert(TAG_SET.into(), format!("i-2@{}", day(1).to_rfc3339()));
        }
        snaps.extend(other);
        let sets = group(I, &snaps);
        assert_eq!(sets.len(), 2);
        let p = plan_sets(I, &daily(1), &ctx(), &snaps, day(2));
        assert_eq!((p.keep.len(), p.delete.len()), (1, 1));
        assert_eq!(p.keep[0].set.start, day(0) + Duration::minutes(1));
    }

    #[test]
    fn the_per_volume_planner_leaves_set_members_to_the_set_planner() {
        let snaps = set(0);
        let p = crate::plan::plan("vol-a", &daily(1), &ctx(), &snaps[..1], day(9));
        assert!(p.delete.is_empty());
        assert!(matches!(p.keep[0].reasons[0], Reason::SetMember(_)));
    }

    fn attached(device: &str, vol: &str, tags: &[(&str, &str)]) -> Attached {
        Attached {
            device: device.into(),
            volume_id: vol.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_set_takes_every_attached_volume_but_the_excluded_ones() {
        let vols = vec![
            attached("/dev/xvda", "vol-root", &[]),
            attached("/dev/sdf", "vol-data", &[("Daily_Gens", "7")]),
            attached("/dev/sdg", "vol-log", &[]),
            attached("/dev/sdh", "vol-scratch", &[(TAG_EXCLUDE_FROM_SET, "true")]),
        ];
        let none = BTreeMap::new();
        let m = membership(I, &none, Some("/dev/xvda"), &vols).unwrap();
        assert_eq!(m.members, vec!["vol-root", "vol-data", "vol-log"]);
        assert_eq!(
            (m.exclude_boot, m.excluded.clone()),
            (false, vec!["vol-scratch".to_string()])
        );
        let no_boot: BTreeMap<String, String> =
            [(TAG_EXCLUDE_BOOT.to_string(), "true".to_string())].into();
        let m = membership(I, &no_boot, Some("/dev/xvda"), &vols).unwrap();
        assert_eq!(m.members, vec!["vol-data", "vol-log"]);
        // The root volume cannot be excluded as a data volume (CreateSnapshots fails if it is).
        let root_tagged = vec![attached(
            "/dev/xvda",
            "vol-root",
            &[(TAG_EXCLUDE_FROM_SET, "true")],
        )];
        assert_eq!(
            membership(I, &none, Some("/dev/xvda"), &root_tagged)
                .unwrap()
                .members,
            vec!["vol-root"]
        );
        // Nothing left, or more than 40 excluded: the instance's error.
        let e = membership(I, &no_boot, Some("/dev/xvda"), &vols[..1]).unwrap_err();
        assert!(e.contains("no EBS volume left"), "{e}");
        let many: Vec<Attached> = (0..42)
            .map(|i| {
                attached(
                    &format!("/dev/sd{i}"),
                    &format!("vol-{i}"),
                    &[(TAG_EXCLUDE_FROM_SET, "true")],
                )
            })
            .collect();
        assert!(membership(I, &none, None, &many)
            .unwrap_err()
            .contains("more than the 40"));
    }

    #[test]
    fn the_instance_set_wins_and_says_when_the_volumes_own_policy_differs() {
        let m = Membership {
            instance: I.into(),
            exclude_boot: false,
            excluded: vec!["vol-out".into()],
            members: vec!["vol-in".into()],
        };
        let (d7, h24) = (
            daily(7),
            VolumePolicy::new(vec![(GenClass::Hourly, 24)]).unwrap(),
        );
        assert_eq!(
            overlap(&m, "vol-in", &d7, &d7),
            Overlap::InSet {
                instance: I.into(),
                differs: None
            }
        );
        match overlap(&m, "vol-in", &h24, &d7) {
            Overlap::InSet {
                differs: Some(why), ..
            } => assert!(
                why.contains("hourly=24") && why.contains("daily=7"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(overlap(&m, "vol-out", &h24, &d7), Overlap::OwnSchedule);
    }

    #[test]
    fn a_completed_set_tags_each_member_with_its_volume_name_and_size_and_foreign_sets_are_ignored()
    {
        use crate::events::{Completion, Outcome};
        let members = set(0);
        let done = |s: &Snapshot, outcome| Completion {
            snapshot_id: s.id.clone(),
            volume_id: s.volume_id.clone(),
            outcome,
            cause: String::new(),
            end_time: None,
        };
        let all: Vec<Completion> = members
            .iter()
            .map(|m| done(m, Outcome::Succeeded))
            .collect();
        let c = completion_tags(&all, &members, &ctx(), GenClass::Daily, "db01")
            .unwrap()
            .unwrap();
        assert_eq!((c.tags.len(), c.failed), (3, 0));
        let (id, tags) = &c.tags[1];
        assert_eq!(id, "snap-0-vol-b");
        assert!(tags.contains(&("ebs-gens:volume".into(), "vol-b".into())));
        assert!(tags.contains(&("Name".into(), "db01_Daily_vol-b".into())));
        assert!(tags.contains(&(TAG_SET_SIZE.into(), "3".into())));
        // A failed set: counted.
        let failed: Vec<Completion> = members.iter().map(|m| done(m, Outcome::Failed)).collect();
        assert_eq!(
            completion_tags(&failed, &members, &ctx(), GenClass::Daily, "db01")
                .unwrap()
                .unwrap()
                .failed,
            3
        );
        // Not ours (another deployment's, or no set tag): ignored.
        let mut theirs = members.clone();
        theirs[0].tags.insert(TAG_MANAGED_BY.into(), "test".into());
        assert_eq!(
            completion_tags(&all, &theirs, &ctx(), GenClass::Daily, "db01"),
            Ok(None)
        );
        // Members of two sets in one event: an error, nothing tagged.
        let mut mixed = members.clone();
        mixed[2].tags.insert(TAG_SET.into(), "i-1@other".into());
        assert!(
            completion_tags(&all, &mixed, &ctx(), GenClass::Daily, "db01")
                .unwrap_err()
                .contains("two sets")
        );
    }

    proptest! {
        /// Never below N completed sets, never a partial set deleted, the newest completed set
        /// always kept, whatever mix of sets and states.
        #[test]
        fn set_planning_invariants(
            n in 1u32..6,
            kinds in proptest::collection::vec(0u8..5, 1..20),
        ) {
            let mut snaps = Vec::new();
            for (d, k) in kinds.iter().enumerate() {
                let d = d as i64;
                let mut s = set(d);
                match k {
                    0 | 1 => {}
                    2 => s.iter_mut().for_each(|m| m.state = SnapshotState::Error),
                    3 => s[1].state = SnapshotState::Pending,
                    _ => { s.pop(); }
                }
                snaps.extend(s);
            }
            let p = plan_sets(I, &daily(n), &ctx(), &snaps, day(30));
            let sets = group(I, &snaps);
            for e in &p.delete {
                prop_assert_eq!(e.members.len(), sets[&e.set].len(), "a set is deleted whole");
            }
            let completed = |e: &SetEntry<'_>| sets[&e.set].iter().all(|m| m.state == SnapshotState::Completed)
                && sets[&e.set].len() == 3;
            let whole_completed = sets.iter().filter(|(_, m)| m.len() == 3 && m.iter().all(|x| x.state == SnapshotState::Completed)).count();
            let kept_completed = p.keep.iter().filter(|e| completed(e)).count();
            prop_assert!(kept_completed >= whole_completed.min(n as usize), "never below N");
            if let Some(newest) = sets.iter().filter(|(_, m)| m.len() == 3 && m.iter().all(|x| x.state == SnapshotState::Completed)).map(|(id, _)| id).max_by_key(|id| id.start) {
                prop_assert!(p.keep.iter().any(|e| &e.set == newest), "the newest completed set is kept");
            }
            for e in &p.delete {
                let all_error = sets[&e.set].iter().all(|m| m.state == SnapshotState::Error);
                prop_assert!(all_error || completed(e), "only failed or completed whole sets are deleted");
            }
        }
    }
}
