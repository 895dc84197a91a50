//! prune-volumes: for a batch of volumes (sweep) or one (event), re-read their tags, list their
//! snapshots with as few calls as possible, adopt untagged snapshots that missed their event,
//! plan, and delete the surplus. Fails with `DeleteFailed` listing what could not be deleted —
//! after deleting everything it could. `dry_run` plans and changes nothing.
//!
//! The handler is four steps: [`fetch`] (every read), [`decide`] (pure), apply (the only
//! writes: adoption tags and deletes, skipped whole in a dry run), and report.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::{Duration, Instant};

use crate::aws::{Deleted, Ec2Api, ErrorKind, EventsApi, SchedulerApi, Volume};
use crate::config::Settings;
use crate::error::{Error, FailedDelete};
use crate::events::id_after;
use crate::health::{
    acknowledged, bulk, coverage, freshness, held, plan_orphans, strip, strip_len, Coverage,
    Freshness, Held, Orphaned, ACK_GONE,
};
use crate::metrics::{Counts, Metric};
use crate::ownership::{contested_by, decide_adoption, Adoption};
use crate::plan::{group_by_volume, plan, Entry, Plan};
use crate::snapshot::Snapshot;
use crate::snapshot::{TAG_ALLOW_BULK_DELETE, TAG_POLICY};

use super::{adopt, classify_volumes, Adoptions, App, MisconfiguredVolume, VolumeJob};

/// Time left before the Lambda deadline at which no further delete is started.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The volume id EC2 gives snapshots made by copying or importing.
const NO_VOLUME: &str = "vol-ffffffff";

/// At most this many volumes in one prune input (a sweep batch is at most 200).
pub const MAX_VOLUMES: usize = 200;

/// Volumes needing attention listed in one batch's totals (the rest are only counted).
pub const MAX_ATTENTION: usize = 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneInput {
    #[serde(default)]
    pub volumes: Vec<VolumeJob>,
    #[serde(default)]
    pub dry_run: bool,
    /// Let this run delete more than the bulk-deletion fuse allows (`ebs-gens sweep --apply
    /// --allow-bulk-delete`); the state machines never set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_bulk_delete: bool,
    /// Find the snapshots of ours whose volume is gone or untagged and apply
    /// `EBS_GENS_ORPHANS` to them, instead of pruning `volumes` (which must then be empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orphans: bool,
    /// Return every volume's report however large (the CLI). Otherwise the reports are cut to
    /// fit [`MAX_OUTPUT_BYTES`]: Step Functions refuses a Lambda result over 256 KB with an
    /// error no Catch can handle. The totals are always complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full_report: bool,
    /// Seconds from the start of this invocation after which no delete is started (less
    /// [`DEADLINE_MARGIN`]), when sooner than the Lambda deadline: the event path gives
    /// [`crate::contract::EVENT_PRUNE_DEADLINE_SECONDS`] and leaves what does not fit to the sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u64>,
}

impl PruneInput {
    /// The sooner of the Lambda deadline and the input's `deadline_seconds` from `started`.
    pub fn deadline(
        &self,
        started: Instant,
        lambda: Option<Instant>,
    ) -> Result<Option<Instant>, Error> {
        let Some(secs) = self.deadline_seconds else {
            return Ok(lambda);
        };
        let most = crate::contract::FUNCTIONS
            .iter()
            .find(|f| f.name == "prune-volumes")
            .map_or(900, |f| u64::from(f.timeout_seconds));
        if secs == 0 || secs > most {
            return Err(Error::InvalidInput(format!(
                "deadline_seconds: {secs} is not between 1 and {most} (prune-volumes' timeout)"
            )));
        }
        let own = started + Duration::from_secs(secs);
        Ok(Some(lambda.map_or(own, |l| l.min(own))))
    }
}

/// The most a prune's JSON result may take when a state machine reads it (256 KB, less room).
pub const MAX_OUTPUT_BYTES: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub snapshot_id: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReport {
    pub volume_id: String,
    /// The policy the volume's tags say now (what this prune planned with).
    pub policy: String,
    pub adopted: Vec<String>,
    pub kept: Vec<Item>,
    /// Deleted (or, in a dry run, that would be).
    pub deleted: Vec<Item>,
    /// Planned for deletion but refused for a reason retrying cannot fix (an AMI uses it, AWS
    /// Backup manages it, it is locked, or IAM denies it): reported, counted in
    /// `SnapshotsBlocked` / `DeleteDenied`, not retried.
    pub skipped: Vec<Item>,
    /// Planned for deletion but left for the next run: the Lambda deadline was near, or the
    /// snapshot was adopted in this run (its new tag may not yet be visible to IAM).
    pub deferred: Vec<Item>,
    /// Of `skipped`: the snapshots IAM refused to let us delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub denied: Vec<String>,
    /// Planned for deletion but already gone (someone else deleted it): not counted as deleted.
    #[serde(default)]
    pub already_gone: Vec<String>,
    /// Untagged snapshots that could not be adopted (gone, or another deployment's).
    #[serde(default)]
    pub not_adopted: Vec<Item>,
    /// Why the listing looked wrong, when it did: nothing is deleted for the volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubtful: Option<String>,
    /// Other deployments that snapshot this volume too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contested_by: Vec<String>,
    /// Start time of the newest completed snapshot of ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest: Option<DateTime<Utc>>,
    /// Why the volume is stale, when it is (its newest snapshot is older than its schedule allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Generations kept per class, of how many the policy asks for.
    #[serde(default)]
    pub coverage: Vec<Coverage>,
    /// The last periods of the finest class, oldest first: `█` snapshot taken, `·` none.
    #[serde(default)]
    pub strip: String,
    /// Set when the bulk-deletion fuse held this volume's deletions (listed in `held_back`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<Item>,
    /// How a bulk deletion the fuse would have held was acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_allowed: Option<String>,
    /// Orphan scan only: why this former volume's snapshots are orphans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned: Option<Orphaned>,
}

/// A volume that needs an operator's eye, as listed in totals and the sweep summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attention {
    pub volume_id: String,
    /// `stale`, `held`, `doubtful`, `contested` or `not-pruned`.
    pub state: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Totals {
    pub volumes: usize,
    pub adopted: usize,
    pub kept: usize,
    pub deleted: usize,
    pub skipped: usize,
    /// Of `skipped`: refused by IAM.
    pub denied: usize,
    pub deferred: usize,
    pub already_gone: usize,
    pub failed: usize,
    pub doubtful: usize,
    pub contested: usize,
    /// Volumes in the input whose tags no longer make them managed (removed, broken) or that
    /// no longer exist: nothing was deleted for them.
    pub not_pruned: usize,
    /// Volumes whose newest completed snapshot is older than their schedule allows.
    pub stale: usize,
    /// Volumes whose deletions the fuse held, and how many deletions that is.
    pub held: usize,
    pub deletions_held: usize,
    /// Orphan scan: snapshots of ours whose volume is gone or untagged, and those volumes.
    pub orphaned: usize,
    pub orphan_volumes: usize,
    /// Up to [`MAX_ATTENTION`] of the volumes behind `stale`, `held`, `doubtful`, `contested`,
    /// `not_pruned`.
    pub attention: Vec<Attention>,
    /// Up to [`MAX_ATTENTION`] of the `failed` deletes, with EC2's error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailedDelete>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PruneOutput {
    pub volumes: Vec<VolumeReport>,
    /// Input volumes not pruned because their tags changed or they are gone, with why.
    #[serde(default)]
    pub not_pruned: Vec<MisconfiguredVolume>,
    pub totals: Totals,
    pub dry_run: bool,
    /// Volume reports left out to keep the result under [`MAX_OUTPUT_BYTES`] (their totals are
    /// counted; the logs have every line).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reports_left_out: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

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
async fn fetch<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
    ids: &[String],
) -> Result<Fetched, Error> {
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
        let schedule = settings.schedule(job.finest());
        for s in snaps.iter().filter(|s| s.tags.is_empty()) {
            if decide_adoption(&rule, s, Some(schedule)) == Adoption::Adopt {
                out.entry(vol.clone()).or_default().push(s.id.clone());
            }
        }
    }
    out
}

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
    fn bulk_allowed(&self, fuse: &crate::health::Fuse) -> Option<String> {
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
pub fn decide<'a>(
    settings: &Settings,
    account_id: &str,
    job: &'a VolumeJob,
    snapshots: &'a [Snapshot],
    adopted_now: &[String],
    facts: &VolumeFacts<'_>,
    now: DateTime<Utc>,
) -> Decision<'a> {
    let plan = plan(
        &job.volume_id,
        &job.policy,
        &settings.plan_context(account_id),
        snapshots,
        now,
    );
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
    };
    fuse(settings, &mut d, facts, now);
    d
}

/// The volume's fuse: holds a bulk deletion nobody acknowledged today. Pure.
fn fuse(settings: &Settings, d: &mut Decision<'_>, facts: &VolumeFacts<'_>, now: DateTime<Utc>) {
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

fn item(e: &Entry<'_>) -> Item {
    Item {
        snapshot_id: e.snapshot_id.to_string(),
        reasons: e.reasons.iter().map(|r| r.to_string()).collect(),
    }
}

/// Why a planned delete is left for the next run.
const ADOPTED_THIS_RUN: &str =
    "adopted in this run; deleted in the next one (its new tag may not yet be visible to IAM)";
const DEADLINE_NEAR: &str = "the deadline was near; deleted in the next run";

/// A planned delete left for the next run: the planner's reasons, then why it waits.
fn deferred(e: &Entry<'_>, why: &str) -> Item {
    let mut i = item(e);
    i.reasons.push(why.to_string());
    i
}

/// How one planned delete ended.
enum Outcome {
    Deleted,
    AlreadyGone,
    /// Refused for good (AMI, AWS Backup, lock, IAM): `denied` when IAM refused.
    Skipped {
        why: String,
        denied: bool,
    },
    Deferred,
    Failed(FailedDelete),
}

/// Deletes one planned snapshot unless the deadline is near; classifies the answer.
async fn delete_one<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
    id: &str,
    deadline: Option<Instant>,
) -> Outcome {
    if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN) {
        return Outcome::Deferred;
    }
    match app.ec2.delete(id).await {
        Ok(Deleted::Deleted) => Outcome::Deleted,
        Ok(Deleted::AlreadyGone) => Outcome::AlreadyGone,
        Err(e) => match e.kind {
            ErrorKind::InUse | ErrorKind::BackupManaged | ErrorKind::Locked => Outcome::Skipped {
                why: format!("{}: {}", e.code, e.message),
                denied: false,
            },
            ErrorKind::AccessDenied => Outcome::Skipped {
                why: format!("{}: {}", e.code, e.message),
                denied: true,
            },
            _ => Outcome::Failed(FailedDelete {
                snapshot_id: id.to_string(),
                code: e.code,
                message: e.message,
            }),
        },
    }
}

fn attention(totals: &mut Totals, volume_id: &str, state: &str, reason: String) {
    if totals.attention.len() < MAX_ATTENTION {
        totals.attention.push(Attention {
            volume_id: volume_id.to_string(),
            state: state.to_string(),
            reason,
        });
    }
}

pub async fn handle<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
    input: PruneInput,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<PruneOutput, Error> {
    let deadline = input.deadline(Instant::now(), deadline)?;
    if input.orphans {
        return orphans(app, input, now, deadline).await;
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
    let wanted = adoptions(&app.settings, &app.account_id, &jobs, &snapshots);
    let adopted = adopt(app, &jobs, &wanted, "untagged, matches schedule", dry_run).await?;
    for (vol, (tagged, tags)) in &adopted.tagged {
        for s in snapshots.get_mut(vol).into_iter().flatten() {
            if tagged.contains(&s.id) {
                s.tags.extend(tags.iter().cloned());
            }
        }
    }

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
    let mut decisions: Vec<Decision<'_>> = jobs
        .iter()
        .map(|(vol, job)| {
            let v = volumes.get(vol);
            let facts = VolumeFacts {
                created: v.and_then(|v| v.create_time),
                ack_tag: v.and_then(|v| v.tags.get(TAG_ALLOW_BULK_DELETE).map(String::as_str)),
                allow_bulk_delete: input.allow_bulk_delete,
            };
            let snaps = snapshots.get(vol).map_or(&[][..], Vec::as_slice);
            decide(
                &app.settings,
                &app.account_id,
                job,
                snaps,
                adopted.ids(vol),
                &facts,
                now,
            )
        })
        .collect();
    batch_fuse(&app.settings, &mut decisions, now);

    let mut reports = Vec::with_capacity(jobs.len());
    let mut failed = Vec::new();
    for (job, d) in jobs.values().zip(&decisions) {
        let mut report = volume_report(&job.volume_id, job.policy.to_string(), d, &adopted);
        report.bulk_allowed = d.bulk_allowed(&app.settings.fuse_volume);
        flag(&mut totals, &report, &app.settings.deployment);
        apply(
            app,
            d,
            &mut report,
            reports.len(),
            &mut failed,
            deadline,
            dry_run,
        )
        .await;
        reports.push(report);
    }
    let failed = retry_failed(app, &mut reports, failed, deadline).await;
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

/// Keeps the reports that fit in `budget` bytes of JSON (in order), and says how many did not.
pub fn fit(reports: Vec<VolumeReport>, budget: usize) -> (Vec<VolumeReport>, usize) {
    let mut used = 0;
    let mut kept = Vec::with_capacity(reports.len());
    let total = reports.len();
    for r in reports {
        used += serde_json::to_vec(&r).map_or(usize::MAX / 2, |v| v.len() + 1);
        if used > budget {
            break;
        }
        kept.push(r);
    }
    let left_out = total - kept.len();
    (kept, left_out)
}

/// Counts, publishes, and reports what still failed (`totals.failed`, `totals.failures`).
#[allow(clippy::too_many_arguments)]
fn finish<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
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

/// The orphan scan: every snapshot of ours in one listing, grouped by volume; the volumes
/// that are gone or carry no generation tag any more are orphans, planned under
/// `EBS_GENS_ORPHANS` (pins, pending, another deployment's: kept; the newest K: kept) and
/// weighed by the batch fuse. Misconfigured volumes are not orphans (their tag is a typo).
async fn orphans<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
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
    let settings = &app.settings;
    // Copies and imports carry the placeholder volume `vol-ffffffff`: no volume's orphans.
    let mut ours = group_by_volume(app.ec2.snapshots_managed_by(&settings.deployment).await?);
    ours.remove(NO_VOLUME);
    let ids: Vec<String> = ours.keys().cloned().collect();
    let read = if ids.is_empty() {
        vec![]
    } else {
        app.ec2.volumes_by_id(&ids).await?
    };
    let present: BTreeMap<String, Volume> =
        read.iter().map(|v| (v.id.clone(), v.clone())).collect();
    let (jobs, bad) = classify_volumes(settings, read);
    let tagged: BTreeSet<&str> = jobs
        .iter()
        .map(|j| j.volume_id.as_str())
        .chain(bad.iter().map(|m| m.volume_id.as_str()))
        .collect();
    let found: Vec<(&String, &Vec<Snapshot>, Orphaned)> = ours
        .iter()
        .filter(|(vol, _)| !tagged.contains(vol.as_str()))
        .map(|(vol, snaps)| {
            let why = if present.contains_key(vol.as_str()) {
                Orphaned::Untagged
            } else {
                Orphaned::VolumeGone
            };
            (vol, snaps, why)
        })
        .collect();
    let ctx = settings.plan_context(&app.account_id);
    let mut decisions: Vec<Decision<'_>> = found
        .iter()
        .map(|(vol, snaps, _)| {
            let mut d = Decision {
                plan: plan_orphans(vol, settings.orphans, &ctx, snaps, now),
                deferred: BTreeSet::new(),
                contested_by: vec![],
                freshness: Freshness {
                    newest: newest_of_ours(snaps, &settings.deployment),
                    allowed_seconds: 0,
                    stale: None,
                },
                coverage: vec![],
                strip: String::new(),
                held: None,
                ack: None,
            };
            // The volume fuse too: a tag removed by mistake must not become a bulk deletion
            // at the next sweep. An untagged volume can still carry the acknowledgement.
            let facts = VolumeFacts {
                created: None,
                ack_tag: present
                    .get(vol.as_str())
                    .and_then(|v| v.tags.get(TAG_ALLOW_BULK_DELETE).map(String::as_str)),
                allow_bulk_delete: input.allow_bulk_delete,
            };
            fuse(settings, &mut d, &facts, now);
            d
        })
        .collect();
    batch_fuse(settings, &mut decisions, now);
    for ((_, _, why), d) in found.iter().zip(decisions.iter_mut()) {
        if let (Orphaned::VolumeGone, Some(h)) = (why, &mut d.held) {
            h.acknowledge = ACK_GONE.to_string();
        }
    }

    let mut totals = Totals::default();
    let mut reports = Vec::with_capacity(found.len());
    let mut failed = Vec::new();
    let none = super::Adopted::default();
    for ((vol, snaps, why), d) in found.iter().zip(&decisions) {
        let policy = snaps
            .iter()
            .filter(|s| s.is_owned_by(&settings.deployment) && s.tag(TAG_POLICY).is_some())
            .max_by_key(|s| s.start_time)
            .and_then(|s| s.tag(TAG_POLICY))
            .map_or_else(|| "unknown".to_string(), |p| format!("was {p}"));
        let mut report = volume_report(vol, policy, d, &none);
        report.orphaned = Some(*why);
        flag(&mut totals, &report, &settings.deployment);
        apply(
            app,
            d,
            &mut report,
            reports.len(),
            &mut failed,
            deadline,
            dry_run,
        )
        .await;
        totals.orphaned += snaps.len();
        totals.orphan_volumes += 1;
        reports.push(report);
    }
    let failed = retry_failed(app, &mut reports, failed, deadline).await;
    for report in &reports {
        totals.count(report);
        tracing::info!(volume_id = %report.volume_id, reason = ?report.orphaned, deleted = report.deleted.len(), orphans = %settings.orphans, dry_run, "orphaned snapshots");
    }
    totals.volumes = found.len();
    finish(
        app,
        reports,
        vec![],
        totals,
        failed,
        dry_run,
        input.full_report,
        now,
    )
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

/// The report of one volume before any delete: what is kept, adopted, doubtful, contested,
/// stale, held, and what this run leaves for the next because it adopted it.
fn volume_report(
    vol: &str,
    policy: String,
    d: &Decision<'_>,
    adopted: &super::Adopted,
) -> VolumeReport {
    for id in &d.deferred {
        tracing::info!(volume_id = %vol, snapshot_id = %id, reason = "adopted in this run; deleted next run", "delete deferred");
    }
    VolumeReport {
        volume_id: vol.to_string(),
        policy,
        adopted: adopted.ids(vol).to_vec(),
        kept: d.plan.keep.iter().map(item).collect(),
        doubtful: d.plan.doubtful.clone(),
        contested_by: d.contested_by.clone(),
        deferred: d
            .plan
            .delete
            .iter()
            .filter(|e| d.deferred.contains(e.snapshot_id))
            .map(|e| deferred(e, ADOPTED_THIS_RUN))
            .collect(),
        not_adopted: adopted
            .refused
            .iter()
            .filter(|(v, _, _)| v == vol)
            .map(|(_, s, why)| Item {
                snapshot_id: s.clone(),
                reasons: vec![why.clone()],
            })
            .collect(),
        newest: d.freshness.newest,
        stale: d.freshness.stale.clone(),
        coverage: d.coverage.clone(),
        strip: d.strip.clone(),
        held: d.held.clone(),
        // Held: what would go now (this run's adoptions are listed in `deferred` instead).
        held_back: if d.held.is_some() {
            d.plan
                .delete
                .iter()
                .filter(|e| !d.deferred.contains(e.snapshot_id))
                .map(item)
                .collect()
        } else {
            vec![]
        },
        ..VolumeReport::default()
    }
}

/// Logs and lists a stale, held, doubtful or contested volume (every run, until fixed).
fn flag(totals: &mut Totals, report: &VolumeReport, deployment: &str) {
    let vol = &report.volume_id;
    if let Some(why) = &report.stale {
        tracing::warn!(volume_id = %vol, reason = %why, "stale volume: no recent snapshot");
        attention(totals, vol, "stale", why.clone());
    }
    if let Some(h) = &report.held {
        tracing::warn!(volume_id = %vol, reason = %h.why, acknowledge = %h.acknowledge, "bulk deletion held; nothing deleted for this volume");
        attention(
            totals,
            vol,
            "held",
            format!("{}; to allow it: {}", h.why, h.acknowledge),
        );
    }
    if let Some(why) = &report.bulk_allowed {
        tracing::warn!(volume_id = %vol, reason = %why, "bulk deletion acknowledged");
    }
    if let Some(why) = &report.doubtful {
        tracing::warn!(volume_id = %vol, reason = %why, "doubtful listing; nothing deleted for this volume");
        attention(totals, vol, "doubtful", why.clone());
    }
    if !report.contested_by.is_empty() {
        let why = format!(
            "deployment {} also snapshots this volume (deployment {deployment} here)",
            report.contested_by.join(", "),
        );
        tracing::warn!(volume_id = %vol, reason = %why, "contested volume");
        attention(totals, vol, "contested", why);
    }
}

/// The writes: each planned delete of this run (none in a dry run, which reports them as
/// deleted), its outcome recorded in `report`; retryable failures collected in `failed`.
async fn apply<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
    d: &Decision<'_>,
    report: &mut VolumeReport,
    index: usize,
    failed: &mut Vec<Failure>,
    deadline: Option<Instant>,
    dry_run: bool,
) {
    let vol = d.plan.volume_id;
    for e in d.deletes() {
        let reason = item(e).reasons.join(", ");
        if dry_run {
            tracing::info!(volume_id = %vol, snapshot_id = %e.snapshot_id, reason = %reason, dry_run, "delete");
            report.deleted.push(item(e));
            continue;
        }
        match delete_one(app, e.snapshot_id, deadline).await {
            Outcome::Failed(f) => {
                tracing::error!(volume_id = %vol, snapshot_id = %e.snapshot_id, code = %f.code, error = %f.message, "delete failed; tried again before this run ends");
                failed.push(Failure {
                    volume: index,
                    item: item(e),
                    failed: f,
                });
            }
            outcome => record(report, item(e), outcome),
        }
    }
}

/// Records how one delete ended in its volume's report (a failure is kept by the caller).
fn record(report: &mut VolumeReport, item: Item, outcome: Outcome) {
    let vol = &report.volume_id;
    let id = &item.snapshot_id;
    match outcome {
        Outcome::Deleted => {
            tracing::info!(volume_id = %vol, snapshot_id = %id, reason = %item.reasons.join(", "), "delete");
            report.deleted.push(item);
        }
        Outcome::AlreadyGone => {
            tracing::info!(volume_id = %vol, snapshot_id = %id, "already deleted by someone else");
            report.already_gone.push(item.snapshot_id);
        }
        Outcome::Deferred => {
            tracing::warn!(volume_id = %vol, snapshot_id = %id, "deadline near; deletion deferred to the next run");
            let mut i = item;
            i.reasons.push(DEADLINE_NEAR.to_string());
            report.deferred.push(i);
        }
        Outcome::Skipped { why, denied } => {
            tracing::warn!(volume_id = %vol, snapshot_id = %id, error = %why, denied, "delete refused; skipped");
            if denied {
                report.denied.push(item.snapshot_id.clone());
            }
            report.skipped.push(Item {
                snapshot_id: item.snapshot_id,
                reasons: vec![why],
            });
        }
        Outcome::Failed(_) => unreachable!("failures are kept by the caller"),
    }
}

/// The waits before each new pass over the deletes that failed (each already tried by the
/// SDK's own retries): one invocation settles them and reports exactly what it deleted.
pub const DELETE_RETRY_WAITS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];

/// A planned delete that failed: its volume's report (index), the plan's item, the error.
struct Failure {
    volume: usize,
    item: Item,
    failed: FailedDelete,
}

/// Tries the failed deletes again, a pass after each wait while the deadline allows, recording
/// every outcome in its volume's report; returns what still failed.
async fn retry_failed<E: Ec2Api, V: EventsApi, S: SchedulerApi>(
    app: &App<E, V, S>,
    reports: &mut [VolumeReport],
    mut failed: Vec<Failure>,
    deadline: Option<Instant>,
) -> Vec<FailedDelete> {
    for wait in DELETE_RETRY_WAITS {
        let room = deadline
            .is_none_or(|d| d.saturating_duration_since(Instant::now()) >= wait + DEADLINE_MARGIN);
        if failed.is_empty() || !room {
            break;
        }
        tokio::time::sleep(wait).await;
        let mut still = Vec::new();
        for f in failed {
            match delete_one(app, &f.item.snapshot_id, deadline).await {
                Outcome::Failed(again) => {
                    tracing::error!(volume_id = %reports[f.volume].volume_id, snapshot_id = %f.item.snapshot_id, code = %again.code, error = %again.message, "delete failed again");
                    still.push(Failure { failed: again, ..f });
                }
                outcome => record(&mut reports[f.volume], f.item, outcome),
            }
        }
        failed = still;
    }
    failed.into_iter().map(|f| f.failed).collect()
}

impl Totals {
    /// Adds one volume's report.
    fn count(&mut self, r: &VolumeReport) {
        self.adopted += r.adopted.len();
        self.kept += r.kept.len();
        self.deleted += r.deleted.len();
        self.skipped += r.skipped.len();
        self.denied += r.denied.len();
        self.deferred += r.deferred.len();
        self.already_gone += r.already_gone.len();
        self.doubtful += usize::from(r.doubtful.is_some());
        self.contested += usize::from(!r.contested_by.is_empty());
        self.stale += usize::from(r.stale.is_some());
        self.held += usize::from(r.held.is_some());
        self.deletions_held += r.held_back.len();
    }
}

/// The metrics prune-volumes publishes (adoptions and deletions only when they happened).
fn counts(t: &Totals, dry_run: bool) -> Counts {
    let done = |n: usize| if dry_run { 0 } else { n as u64 };
    let mut c = Counts::default();
    c.add(Metric::SnapshotsAdopted, done(t.adopted));
    c.add(Metric::SnapshotsDeleted, done(t.deleted));
    c.add(Metric::SnapshotsBlocked, (t.skipped - t.denied) as u64);
    c.add(Metric::DeleteDenied, t.denied as u64);
    c.add(Metric::SnapshotsDeferred, t.deferred as u64);
    c.add(Metric::DeleteFailed, t.failed as u64);
    c.add(Metric::VolumesDoubtful, t.doubtful as u64);
    c.add(Metric::VolumesContested, t.contested as u64);
    c.add(Metric::VolumesStale, t.stale as u64);
    c.add(Metric::DeletionsHeld, t.deletions_held as u64);
    c.add(Metric::SnapshotsOrphaned, t.orphaned as u64);
    c
}
