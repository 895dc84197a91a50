//! The operator's view (the `ebs-gens` CLI): the fleet's health, the next prune's plan, why a
//! snapshot is kept ([`super::explain`]); a deployed sweep is followed by [`super::remote`]. Every answer comes from the
//! handlers the Lambdas run — discovery, then prune-volumes in a dry run, then the orphan scan
//! in a dry run — so the CLI can never disagree with what the deployment would do. The only
//! decision here ([`assess`]) is pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::Ports;
use crate::error::Error;
use crate::health::Coverage;

use super::discover::{self, DiscoverInput, DEFAULT_BATCH};
use super::prune::{self, PruneInput, VolumeReport};
use super::sweep::PAGE_SIZE;
use super::{classify_volumes, App, MisconfiguredVolume, VolumeJob};

/// How bad a volume's state is; the CLI's exit code is the worst one (sanoid's monitor mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok = 0,
    Warning = 1,
    Critical = 2,
}

/// A managed volume's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Its newest completed snapshot is older than its schedule allows: it is not being backed up.
    Stale,
    /// Its generation tags are wrong: no schedule, nothing deleted.
    Misconfigured,
    /// The fuse holds a bulk deletion until an operator acknowledges it.
    Held,
    /// Its snapshot listing looked wrong: nothing is deleted for it.
    Doubtful,
    /// Another deployment snapshots it too.
    Contested,
    /// A destination's newest copy is older than its class allows (the recovery point lags).
    CopiesStale,
    /// A time-based copy is still pending after its completion duration.
    CopiesLate,
    /// A volume in its instance's sets whose own tags ask for something else (the set applies).
    Overlap,
    Ok,
}

impl State {
    pub fn severity(self) -> Severity {
        match self {
            State::Stale | State::Misconfigured | State::CopiesStale => Severity::Critical,
            State::Held
            | State::Doubtful
            | State::Contested
            | State::CopiesLate
            | State::Overlap => Severity::Warning,
            State::Ok => Severity::Ok,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Stale => "stale",
            State::Misconfigured => "misconfigured",
            State::Held => "held",
            State::Doubtful => "doubtful",
            State::Contested => "contested",
            State::CopiesStale => "copies stale",
            State::CopiesLate => "copies late",
            State::Overlap => "in set",
            State::Ok => "ok",
        }
    }
}

/// One managed volume as `ebs-gens status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeStatus {
    pub volume_id: String,
    pub name: Option<String>,
    pub policy: String,
    pub newest: Option<DateTime<Utc>>,
    /// The oldest the newest snapshot may be before the volume is stale.
    pub allowed_seconds: i64,
    pub coverage: Vec<Coverage>,
    pub strip: String,
    /// Most severe first; `[ok]` when nothing is wrong.
    pub states: Vec<State>,
    /// Why, for each state but `ok`.
    pub reasons: Vec<String>,
    /// What the next prune would delete and adopt (dry run).
    pub would_delete: usize,
    pub would_adopt: usize,
    /// The recovery point in each copy destination: its newest completed copy's source time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<CopyPoint>,
    /// Snapshot locks: kept generations the next prune would lock or extend (with `locks`), and
    /// surplus snapshots held only by their lock.
    #[serde(default)]
    pub to_lock: usize,
    #[serde(default)]
    pub held_by_lock: usize,
    /// When a restore drill last proved one of its generations restorable (this region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proven: Option<DateTime<Utc>>,
    /// A volume snapshotted only in its instance's sets (`EBS_GENS_SETS=on`): the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_set: Option<String>,
    /// An instance's row (`volume_id` is the instance): its sets, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<super::prune::SetLine>,
}

/// One destination's recovery point for a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyPoint {
    pub region: String,
    pub newest_source: Option<DateTime<Utc>>,
    pub kept: usize,
}

impl VolumeStatus {
    pub fn severity(&self) -> Severity {
        self.states
            .iter()
            .map(|s| s.severity())
            .max()
            .unwrap_or(Severity::Ok)
    }
}

/// The snapshots of one former volume (gone, or no generation tag any more).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanStatus {
    pub volume_id: String,
    pub why: crate::orphans::Orphaned,
    /// `was daily=7`: the `ebs-gens:policy` of its newest snapshot.
    pub policy: String,
    pub snapshots: usize,
    pub newest: Option<DateTime<Utc>>,
    /// What the orphan policy would delete in the next sweep.
    pub would_delete: usize,
}

/// Copies of ours in one region that no rule plans any more (listed, not graded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanedCopies {
    pub volume_id: String,
    pub region: String,
    /// Why no rule plans them; `None` when the region could not be listed (see `failed`).
    pub why: Option<crate::orphans::Orphaned>,
    pub copies: usize,
    /// The newest source start among the completed copies kept there.
    pub newest_source: Option<DateTime<Utc>>,
    /// What the orphan policy would delete in the next sweep (or `held` says why not).
    pub would_delete: usize,
    pub held: Option<String>,
    pub failed: Vec<String>,
}

/// The whole fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetStatus {
    pub deployment: String,
    pub at: DateTime<Utc>,
    pub volumes: Vec<VolumeStatus>,
    pub orphans: Vec<OrphanStatus>,
    /// Copies in other regions no rule plans any more (the orphan scan's).
    #[serde(default)]
    pub orphaned_copies: Vec<OrphanedCopies>,
    /// `EBS_GENS_ORPHANS`.
    pub orphan_policy: String,
    /// `EBS_GENS_LOCKS`.
    #[serde(default)]
    pub locks: String,
    /// The Recycle Bin rules that keep (and bill) deleted snapshots of ours, said plainly; or
    /// why they could not be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recycle_bin: Vec<String>,
    /// The worst volume state (orphans are listed, not graded: keeping them is the default).
    pub severity: Severity,
}

/// What the CLI reports as it goes (listings of a large fleet take a while).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Discovered(usize),
    Planned(usize),
    Orphans,
}

/// One volume's states, most severe first. Pure.
pub fn states(r: &VolumeReport) -> (Vec<State>, Vec<String>) {
    let mut out: Vec<(State, String)> = Vec::new();
    if let Some(why) = &r.stale {
        out.push((State::Stale, why.clone()));
    }
    if let Some(h) = &r.held {
        out.push((
            State::Held,
            format!("{}; to allow it: {}", h.why, h.acknowledge),
        ));
    }
    if let Some(why) = &r.doubtful {
        out.push((State::Doubtful, why.clone()));
    }
    if !r.contested_by.is_empty() {
        out.push((
            State::Contested,
            format!(
                "also snapshotted by deployment {}",
                r.contested_by.join(", ")
            ),
        ));
    }
    for d in &r.copies {
        if let Some(why) = &d.stale {
            out.push((State::CopiesStale, format!("{}: {why}", d.region)));
        }
        if let Some(first) = d.late.first() {
            let more = d.late.len() - 1;
            let why = match more {
                0 => first.clone(),
                n => format!("{first} (and {n} more)"),
            };
            out.push((State::CopiesLate, format!("{}: {why}", d.region)));
        }
    }
    if out.is_empty() {
        out.push((State::Ok, String::new()));
    }
    out.sort_by_key(|(s, _)| *s);
    let reasons = out
        .iter()
        .filter(|(s, _)| *s != State::Ok)
        .map(|(_, r)| r.clone())
        .collect();
    (out.into_iter().map(|(s, _)| s).collect(), reasons)
}

/// The fleet's status from the dry-run prune reports, the misconfigured volumes and the orphan
/// scan. Pure.
pub fn assess(
    app_settings: &crate::config::Settings,
    jobs: &[VolumeJob],
    reports: &[VolumeReport],
    misconfigured: &[MisconfiguredVolume],
    orphans: &[VolumeReport],
    at: DateTime<Utc>,
) -> FleetStatus {
    let rule = app_settings.stale_rule();
    let by_id: std::collections::HashMap<&str, &VolumeJob> =
        jobs.iter().map(|j| (j.volume_id.as_str(), j)).collect();
    let mut volumes: Vec<VolumeStatus> = reports
        .iter()
        .map(|r| {
            let job = by_id.get(r.volume_id.as_str()).copied();
            let (states, reasons) = states(r);
            VolumeStatus {
                volume_id: r.volume_id.clone(),
                name: job.and_then(|j| j.volume_name.clone()),
                policy: r.policy.clone(),
                newest: r.newest,
                allowed_seconds: job.map_or(0, |j| rule.allowed(j.finest()).num_seconds()),
                coverage: r.coverage.clone(),
                strip: r.strip.clone(),
                states,
                reasons,
                would_delete: r.deleted.len(),
                would_adopt: r.adopted.len(),
                copies: r
                    .copies
                    .iter()
                    .filter(|d| !d.region.is_empty())
                    .map(|d| CopyPoint {
                        region: d.region.clone(),
                        newest_source: d.newest_source,
                        kept: d.kept.len(),
                    })
                    .collect(),
                to_lock: r.locked.len() + r.copies.iter().map(|d| d.locked.len()).sum::<usize>(),
                held_by_lock: r
                    .kept
                    .iter()
                    .chain(r.copies.iter().flat_map(|d| &d.kept))
                    .filter(|i| {
                        i.reasons
                            .iter()
                            .any(|x| x.starts_with(crate::plan::HELD_BY_LOCK))
                    })
                    .count(),
                proven: r.proven,
                in_set: None,
                sets: r.sets.clone(),
            }
        })
        .collect();
    volumes.extend(misconfigured.iter().map(|m| VolumeStatus {
        volume_id: m.volume_id.clone(),
        name: None,
        policy: "-".into(),
        newest: None,
        allowed_seconds: 0,
        coverage: vec![],
        strip: String::new(),
        states: vec![State::Misconfigured],
        reasons: vec![m
            .error
            .strip_prefix("misconfigured: ")
            .unwrap_or(&m.error)
            .to_string()],
        would_delete: 0,
        would_adopt: 0,
        copies: vec![],
        to_lock: 0,
        held_by_lock: 0,
        proven: None,
        in_set: None,
        sets: vec![],
    }));
    volumes.sort_by(|a, b| {
        b.severity()
            .cmp(&a.severity())
            .then_with(|| a.volume_id.cmp(&b.volume_id))
    });
    let severity = volumes
        .iter()
        .map(VolumeStatus::severity)
        .max()
        .unwrap_or(Severity::Ok);
    FleetStatus {
        deployment: app_settings.deployment.clone(),
        at,
        orphaned_copies: orphans
            .iter()
            .flat_map(|r| {
                r.copies.iter().map(move |d| OrphanedCopies {
                    volume_id: r.volume_id.clone(),
                    region: d.region.clone(),
                    why: r.orphaned,
                    copies: d.kept.len() + d.deleted.len() + d.held_back,
                    newest_source: d.newest_source,
                    would_delete: d.deleted.len(),
                    held: d.held.clone(),
                    failed: d.failed.iter().chain(&d.error).cloned().collect(),
                })
            })
            .collect(),
        orphans: orphans
            .iter()
            .filter(|r| r.copies.is_empty())
            .map(|r| OrphanStatus {
                volume_id: r.volume_id.clone(),
                why: r.orphaned.unwrap_or(crate::orphans::Orphaned::VolumeGone),
                policy: r.policy.clone(),
                snapshots: r.kept.len() + r.deleted.len() + r.held_back.len(),
                newest: r.newest,
                would_delete: r.deleted.len(),
            })
            .collect(),
        orphan_policy: app_settings.orphans.to_string(),
        locks: app_settings.locks.to_string(),
        recycle_bin: vec![],
        volumes,
        severity,
    }
}

/// What discovery found, in the batches the sweep prunes it in.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub batches: Vec<Vec<VolumeJob>>,
    /// Instances with sets (`EBS_GENS_SETS=on`), in their batches.
    pub instances: Vec<Vec<String>>,
    pub misconfigured: Vec<MisconfiguredVolume>,
}

/// Every managed volume in the batches the sweep prunes them in (discovery pages of 250, cut
/// into batches of 100 — the batch fuse weighs a batch, so the CLI must batch alike), the
/// instances with sets, and the misconfigured volumes.
pub async fn discover_all<P: Ports>(
    app: &App<P>,
    progress: &impl Fn(Step),
) -> Result<Discovered, Error> {
    let mut batches = Vec::new();
    let mut instances = Vec::new();
    let mut bad = Vec::new();
    let mut input = DiscoverInput {
        dry_run: true,
        page_size: Some(PAGE_SIZE),
        ..Default::default()
    };
    let mut seen = 0;
    loop {
        let page = discover::handle(app, input.clone()).await?;
        seen += page.managed;
        for b in page.batches {
            match b.instances.is_empty() {
                true => batches.push(b.volumes),
                false => instances.push(b.instances),
            }
        }
        bad.extend(page.misconfigured);
        progress(Step::Discovered(seen));
        match page.next_cursor {
            Some(c) => input.cursor = Some(c),
            None => {
                return Ok(Discovered {
                    batches,
                    instances,
                    misconfigured: bad,
                })
            }
        }
    }
}

/// The given volumes, read now: managed ones as jobs; misconfigured ones; and an error naming
/// any that do not exist or carry no generation tag.
pub async fn volumes<P: Ports>(
    app: &App<P>,
    ids: &[String],
) -> Result<(Vec<VolumeJob>, Vec<MisconfiguredVolume>), Error> {
    let read = app.ec2.volumes_by_id(ids).await?;
    let exists: Vec<String> = read.iter().map(|v| v.id.clone()).collect();
    let (jobs, bad) = classify_volumes(&app.settings, read);
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !exists.contains(id))
        .map(|id| format!("{id}: no such volume"))
        .chain(
            exists
                .iter()
                .filter(|id| {
                    !jobs.iter().any(|j| &j.volume_id == *id)
                        && !bad.iter().any(|m| &m.volume_id == *id)
                })
                .map(|id| format!("{id}: no generation tag (not managed)")),
        )
        .collect();
    if !unknown.is_empty() {
        return Err(Error::InvalidInput(unknown.join("; ")));
    }
    Ok((jobs, bad))
}

/// Given volumes in the sweep's batch size (a subset's batch fuse can differ from the sweep's).
pub fn batches(jobs: Vec<VolumeJob>) -> Vec<Vec<VolumeJob>> {
    jobs.chunks(DEFAULT_BATCH)
        .map(<[VolumeJob]>::to_vec)
        .collect()
}

/// The next prune of each batch, exactly as prune-volumes computes it, in a dry run.
pub async fn plan<P: Ports>(
    app: &App<P>,
    batches: &[Vec<VolumeJob>],
    now: DateTime<Utc>,
    progress: &impl Fn(Step),
) -> Result<Vec<VolumeReport>, Error> {
    let mut reports = Vec::new();
    for batch in batches {
        let input = PruneInput {
            volumes: batch.clone(),
            dry_run: true,
            full_report: true,
            ..Default::default()
        };
        reports.extend(prune::handle(app, input, now, None).await?.volumes);
        progress(Step::Planned(reports.len()));
    }
    Ok(reports)
}

/// The next prune of each batch of instances (their sets), in a dry run: the reports, and the
/// instances not pruned (misconfigured, gone) with why.
pub async fn plan_instances<P: Ports>(
    app: &App<P>,
    batches: &[Vec<String>],
    now: DateTime<Utc>,
) -> Result<(Vec<VolumeReport>, Vec<MisconfiguredVolume>), Error> {
    let (mut reports, mut bad) = (Vec::new(), Vec::new());
    for batch in batches {
        let input = PruneInput {
            instances: batch.clone(),
            dry_run: true,
            full_report: true,
            ..Default::default()
        };
        let out = prune::handle(app, input, now, None).await?;
        reports.extend(out.volumes);
        bad.extend(out.not_pruned);
    }
    Ok((reports, bad))
}

/// Marks the volumes snapshotted in their instance's sets (a different own policy is a
/// warning, said), and lists the instances the layout skips as misconfigured. Pure.
pub fn mark_sets(fleet: &mut FleetStatus, layout: &crate::sets::SetLayout, jobs: &[VolumeJob]) {
    for v in &mut fleet.volumes {
        let Some(instance) = layout.covered.get(&v.volume_id) else {
            continue;
        };
        v.in_set = Some(instance.clone());
        let own = jobs.iter().find(|j| j.volume_id == v.volume_id);
        let overlap = own.and_then(|j| layout.overlap_of(&v.volume_id, &j.policy));
        if let Some(crate::sets::Overlap::InSet {
            differs: Some(why), ..
        }) = overlap
        {
            v.states.retain(|s| *s != State::Ok);
            v.states.push(State::Overlap);
            v.states.sort();
            let at = v
                .states
                .iter()
                .position(|s| *s == State::Overlap)
                .unwrap_or(0);
            v.reasons
                .insert(at.min(v.reasons.len()), format!("in set {instance}: {why}"));
        }
    }
    fleet.severity = fleet
        .volumes
        .iter()
        .map(VolumeStatus::severity)
        .max()
        .unwrap_or(Severity::Ok);
}

/// The orphan scan in a dry run.
pub async fn orphans<P: Ports>(
    app: &App<P>,
    now: DateTime<Utc>,
    progress: &impl Fn(Step),
) -> Result<Vec<VolumeReport>, Error> {
    let input = PruneInput {
        orphans: true,
        dry_run: true,
        full_report: true,
        ..Default::default()
    };
    let out = prune::handle(app, input, now, None).await?;
    progress(Step::Orphans);
    Ok(out.volumes)
}

/// `ebs-gens status`: discovery, the dry-run prune of every managed volume, the orphan scan.
pub async fn status<P: Ports>(
    app: &App<P>,
    now: DateTime<Utc>,
    progress: &impl Fn(Step),
) -> Result<FleetStatus, Error> {
    let found = discover_all(app, progress).await?;
    let mut reports = plan(app, &found.batches, now, progress).await?;
    let (sets, mut bad) = plan_instances(app, &found.instances, now).await?;
    reports.extend(sets);
    bad.extend(found.misconfigured);
    let orphans = orphans(app, now, progress).await?;
    let jobs: Vec<VolumeJob> = found.batches.into_iter().flatten().collect();
    let mut fleet = assess(&app.settings, &jobs, &reports, &bad, &orphans, now);
    if app.settings.sets {
        let tagged = app.ec2.volumes_matching(app.volume_filter()).await?;
        let layout = super::ensure_schedules::set_layout(app, &tagged).await?;
        mark_sets(&mut fleet, &layout, &jobs);
    }
    fleet.recycle_bin = match app.ec2.retention_rules().await {
        Ok(rules) => {
            let ours = (
                crate::snapshot::TAG_MANAGED_BY,
                app.settings.deployment.as_str(),
            );
            rules
                .iter()
                .filter_map(|r| crate::recycle_bin::covers_ours(r, ours))
                .collect()
        }
        Err(e) => vec![format!("Recycle Bin rules could not be read: {e}")],
    };
    Ok(fleet)
}

/// A sweep graded like `status`: failed batches or stale/misconfigured volumes are critical;
/// held, doubtful or contested volumes a warning. Pure.
pub fn sweep_severity(s: &super::sweep::SweepSummary) -> Severity {
    let t = &s.totals;
    if s.failed() || t.stale > 0 || t.misconfigured > 0 {
        Severity::Critical
    } else if t.held > 0 || t.doubtful > 0 || t.contested > 0 {
        Severity::Warning
    } else {
        Severity::Ok
    }
}
