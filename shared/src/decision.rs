//! One volume's decision, pure: its plan, its health (freshness, coverage, the recent strip,
//! contest), and the bulk-deletion fuse — the volume's own and the batch's. prune-volumes
//! fetches, calls this, and applies what it says.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::fuse::{acknowledged, bulk, held, Held};
use crate::health::{coverage, freshness, strip, strip_len, Coverage, Freshness};
use crate::locks::{action, hold_locked, wanted, Lock, LockRequest};
use crate::ownership::contested_by;
use crate::plan::{plan, Entry, Plan, Reason};
use crate::policy::VolumeJob;
use crate::snapshot::{Snapshot, TAG_ALLOW_BULK_DELETE};

/// One volume's decision. Pure.
#[derive(Debug)]
pub struct Decision<'a> {
    pub plan: Plan<'a>,
    /// Planned deletes left for the next run because this run adopted them: a tag just
    /// written may not yet be visible to IAM's `aws:ResourceTag` check (EC2 is eventually
    /// consistent), so the next run deletes them, not this one.
    pub deferred: BTreeSet<&'a str>,
    pub contested_by: Vec<String>,
    pub freshness: Freshness,
    pub coverage: Vec<Coverage>,
    pub strip: String,
    /// Set when the bulk-deletion fuse holds this volume's deletions: none is carried out.
    pub held: Option<Held>,
    /// How bulk deletion was acknowledged for this volume today, if it was (exempt from the
    /// fuse, volume and batch).
    pub ack: Option<String>,
    /// The LockSnapshot calls that bring the kept generations' locks to their keep times.
    pub lock_requests: Vec<(&'a str, LockRequest)>,
    /// Why the locks could not be planned (a lock longer than `lockMaxDays`): then nothing of
    /// the volume is locked or deleted.
    pub lock_error: Option<String>,
}

impl<'a> Decision<'a> {
    /// An orphan's decision: its plan under the orphan policy, nothing deferred, contested or
    /// covered (it has no volume and no schedule); `newest` is shown as its last snapshot and
    /// it is never stale. The fuses are weighed afterwards, as for a managed volume.
    pub fn orphan(plan: Plan<'a>, newest: Option<chrono::DateTime<chrono::Utc>>) -> Self {
        Decision {
            plan,
            deferred: BTreeSet::new(),
            contested_by: vec![],
            freshness: Freshness {
                newest,
                allowed_seconds: 0,
                stale: None,
            },
            coverage: vec![],
            strip: String::new(),
            held: None,
            ack: None,
            lock_requests: vec![],
            lock_error: None,
        }
    }
}

impl Decision<'_> {
    /// The planned deletes to carry out in this run (none while the fuse holds them).
    pub fn deletes(&self) -> impl Iterator<Item = &Entry<'_>> {
        self.plan
            .delete
            .iter()
            .filter(|e| self.held.is_none() && !self.deferred.contains(e.snapshot_id))
    }

    /// Whether the fuse would have held this run had it not been acknowledged.
    pub fn bulk_allowed(&self, fuse: &crate::fuse::Fuse) -> Option<String> {
        let (deletes, completed) = bulk(&self.plan);
        self.ack
            .clone()
            .filter(|_| self.held.is_none() && fuse.trips(deletes, completed))
    }
}

/// The fleet-wide guard, per prune batch (≤ 200 volumes): when the volumes nobody acknowledged
/// would together delete more than `settings.fuse_batch` allows — a bug or a bad deploy
/// rather than one fat-fingered tag — every one of them with deletions is held. Pure.
pub fn batch_fuse(settings: &Settings, decisions: &mut [Decision<'_>], now: DateTime<Utc>) {
    let open = |d: &Decision<'_>| d.held.is_none() && d.ack.is_none();
    let (deletes, completed) = decisions
        .iter()
        .filter(|d| open(d))
        .map(|d| bulk(&d.plan))
        .fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    if !settings.fuse_batch.trips(deletes, completed) {
        return;
    }
    for d in decisions.iter_mut() {
        if open(d) && bulk(&d.plan).0 > 0 {
            d.held = Some(held(
                deletes,
                completed,
                &settings.fuse_batch,
                "batch",
                now,
                settings.tz,
            ));
        }
    }
}

/// What decide knows about the volume beyond its policy and snapshots.
#[derive(Debug, Clone, Default)]
pub struct VolumeFacts<'a> {
    /// When the volume was created (`None`: unknown).
    pub created: Option<DateTime<Utc>>,
    /// Its `ebs-gens:allow-bulk-delete` tag.
    pub ack_tag: Option<&'a str>,
    /// The run was started with `allow_bulk_delete`.
    pub allow_bulk_delete: bool,
}

/// Plans one volume from its current policy and listing (with this run's adoptions already
/// tagged in `snapshots`), judges its health, and applies the volume's deletion fuse.
#[allow(clippy::too_many_arguments)]
pub fn decide<'a>(
    settings: &Settings,
    account_id: &str,
    job: &'a VolumeJob,
    snapshots: &'a [Snapshot],
    adopted_now: &[String],
    facts: &VolumeFacts<'_>,
    locks: &BTreeMap<String, Lock>,
    now: DateTime<Utc>,
) -> Decision<'a> {
    let mut plan = plan(
        &job.volume_id,
        &job.policy,
        &settings.plan_context(account_id),
        snapshots,
        now,
    );
    // A snapshot whose lock holds is never deleted (nor attempted) before the lock expires.
    hold_locked(&mut plan, locks, now);
    let (lock_requests, lock_error) = plan_locks(settings, job, &plan, locks, now);
    if let Some(why) = &lock_error {
        keep_all(&mut plan, why);
    }
    let deferred = plan
        .delete
        .iter()
        .map(|e| e.snapshot_id)
        .filter(|id| adopted_now.iter().any(|a| a == id))
        .collect();
    let class = job.finest();
    let dep = &settings.deployment;
    let mut d = Decision {
        contested_by: contested_by(dep, class, snapshots, now),
        freshness: freshness(
            class,
            dep,
            snapshots,
            facts.created,
            now,
            &settings.stale_rule(),
        ),
        coverage: coverage(&job.policy, &plan),
        strip: strip(
            class,
            dep,
            snapshots,
            settings.tz,
            now,
            strip_len(&job.policy),
        ),
        plan,
        deferred,
        held: None,
        ack: None,
        lock_requests,
        lock_error,
    };
    fuse(settings, &mut d, facts, now);
    d
}

/// An instance's decision over its sets: the set plan (a set whose member's lock holds is kept
/// whole), the same plan member by member for the writes, freshness by its newest completed
/// set, the sets kept per class, and the volume fuse (weighing members; acknowledged by the
/// instance's `ebs-gens:allow-bulk-delete` tag). Sets are not locked by ebs-gens (yet). Pure.
#[allow(clippy::too_many_arguments)]
pub fn decide_sets<'a>(
    settings: &Settings,
    account_id: &str,
    instance: &'a str,
    policy: &crate::VolumePolicy,
    snapshots: &'a [Snapshot],
    facts: &VolumeFacts<'_>,
    locks: &BTreeMap<String, Lock>,
    now: DateTime<Utc>,
) -> (Decision<'a>, crate::sets::SetPlan<'a>) {
    let ctx = settings.plan_context(account_id);
    let mut sets = crate::sets::plan_sets(instance, policy, &ctx, snapshots, now);
    sets.hold_locked(locks, now);
    let class = policy.finest();
    let dep = &settings.deployment;
    let members: Vec<Snapshot> = snapshots
        .iter()
        .filter(|s| crate::sets::set_instance(s) == Some(instance))
        .cloned()
        .collect();
    let mut d = Decision {
        contested_by: vec![],
        freshness: freshness(
            class,
            dep,
            &members,
            facts.created,
            now,
            &settings.stale_rule(),
        ),
        coverage: sets.coverage(policy),
        strip: strip(class, dep, &members, settings.tz, now, strip_len(policy)),
        plan: sets.members(),
        deferred: BTreeSet::new(),
        held: None,
        ack: None,
        lock_requests: vec![],
        lock_error: None,
    };
    fuse(settings, &mut d, facts, now);
    (d, sets)
}

/// Keeps every planned deletion, "locks not planned: …": a volume (or destination) whose
/// locks cannot be planned deletes nothing. Pure.
pub fn keep_all(plan: &mut Plan<'_>, why: &str) {
    for mut e in plan.delete.drain(..) {
        e.reasons = smallvec::smallvec![Reason::LocksUnplanned(why.to_string())];
        plan.keep.push(e);
    }
}

/// The locks the kept generations should carry under the lock rules, as LockSnapshot calls
/// (only what changes: a new lock, an extension). A lock longer than `lockMaxDays` is an error
/// for the whole volume (nothing locked; the caller deletes nothing). Pure.
#[allow(clippy::type_complexity)]
pub fn plan_locks<'a>(
    settings: &Settings,
    job: &VolumeJob,
    plan: &Plan<'a>,
    locks: &BTreeMap<String, Lock>,
    now: DateTime<Utc>,
) -> (Vec<(&'a str, LockRequest)>, Option<String>) {
    lock_requests(
        &settings.lock_terms(),
        settings.tz,
        &job.policy,
        plan,
        locks,
        now,
    )
}

/// [`plan_locks`] under any policy: the volume's own, or a destination's copy rules
/// ([`crate::copies::destination_policy`]). Pure.
#[allow(clippy::type_complexity)]
pub fn lock_requests<'a>(
    terms: &crate::locks::LockTerms,
    tz: chrono_tz::Tz,
    policy: &crate::VolumePolicy,
    plan: &Plan<'a>,
    locks: &BTreeMap<String, Lock>,
    now: DateTime<Utc>,
) -> (Vec<(&'a str, LockRequest)>, Option<String>) {
    if terms.rules.is_off() {
        return (vec![], None);
    }
    let mut out = Vec::new();
    for e in &plan.keep {
        let Some(w) = wanted(&e.reasons, e.start_time, policy, terms, tz, now) else {
            continue;
        };
        match action(locks.get(e.snapshot_id), &w, terms, now) {
            Ok(Some(req)) => out.push((e.snapshot_id, req)),
            Ok(None) => {}
            Err(why) => {
                return (
                    vec![],
                    Some(format!("{} ({}): {why}", e.snapshot_id, w.class)),
                )
            }
        }
    }
    (out, None)
}

/// The volume's fuse: holds a bulk deletion nobody acknowledged today. Pure.
pub fn fuse(
    settings: &Settings,
    d: &mut Decision<'_>,
    facts: &VolumeFacts<'_>,
    now: DateTime<Utc>,
) {
    d.ack = if facts.allow_bulk_delete {
        Some("the run was started with allow_bulk_delete".into())
    } else if acknowledged(facts.ack_tag, now, settings.tz) {
        Some(format!(
            "tag {TAG_ALLOW_BULK_DELETE}={}",
            facts.ack_tag.unwrap_or_default().trim()
        ))
    } else {
        None
    };
    let (deletes, completed) = bulk(&d.plan);
    if d.ack.is_none() && settings.fuse_volume.trips(deletes, completed) {
        d.held = Some(held(
            deletes,
            completed,
            &settings.fuse_volume,
            "volume",
            now,
            settings.tz,
        ));
    }
}
