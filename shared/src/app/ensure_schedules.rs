//! ensure-schedules: reconcile how snapshots are born with the managed volumes, for the configured
//! backend — and remove the other backend's rules or schedules in the same run, so a volume is
//! never snapshotted twice after a switch.
//!
//! - `scheduler` (default): one EventBridge Scheduler schedule per managed volume in the
//!   deployment's group; its target creates the snapshot with our tags. Only the group's listing
//!   is read (names carry a hash of what defines each schedule); only what changed is written.
//! - `rules`: EventBridge rules with the built-in create-snapshot target (the 2017 recipe), created
//!   enabled with the target's `RoleArn` set, so there is no console step.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aws::{ErrorKind, Ports};
use crate::backend::rules::{
    layout, parse_rule_name, DesiredVolume, ExistingRule, LayoutContext, RuleOp,
    DEFAULT_RULES_PER_BUS,
};
use crate::backend::scheduler::{
    instance_spec, reconcile, spec, ListedSchedule, ScheduleChanges, ScheduleContext,
    ScheduleInstance, ScheduleVolume,
};
use crate::config::BackendKind;
use crate::error::Error;
use crate::metrics::{Counts, Metric};
use crate::sets::SetLayout;

use super::{classify_volumes, display_names, App, MisconfiguredVolume, VolumeJob};

/// The function's name (its binary, contract entry and metric dimension).
pub const FUNCTION: &str = "ensure-schedules";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsureInput {
    #[serde(default)]
    pub dry_run: bool,
}

/// What changed in the schedule group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleReport {
    pub group: String,
    pub created: Vec<String>,
    /// Current schedules someone had disabled, enabled again.
    #[serde(default)]
    pub enabled: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnsureOutput {
    pub backend: BackendKind,
    /// The rule operations applied (or, in a dry run, that would be).
    pub ops: Vec<RuleOp>,
    /// How many changes (rule operations + schedules created, enabled and deleted) were
    /// applied (or would be, in a dry run).
    pub changes: usize,
    /// Schedule changes the deadline left for the next invocation: the sweep calls
    /// ensure-schedules again while this is true.
    #[serde(default)]
    pub more: bool,
    /// How many of our rules exist afterwards.
    pub rule_count: usize,
    /// Our rules afterwards: name → volume ids.
    pub rules: BTreeMap<String, Vec<String>>,
    pub schedules: ScheduleReport,
    pub managed: usize,
    /// Misconfigured volumes keep whatever rule or schedule they had: snapshots go on, nothing
    /// is deleted.
    pub misconfigured: usize,
    /// Instance sets (`EBS_GENS_SETS=on`): instances scheduled, skipped (and why), and the
    /// self-tagged volumes whose own schedule a set replaces.
    #[serde(default)]
    pub sets: SetsReport,
    pub dry_run: bool,
}

/// What the sets layout decided this run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetsReport {
    pub instances: usize,
    pub skipped: Vec<crate::sets::SkippedInstance>,
    /// Self-tagged volumes snapshotted only in their instance's sets: volume → instance.
    pub in_sets: BTreeMap<String, String>,
}

pub async fn handle<P: Ports>(
    app: &App<P>,
    input: EnsureInput,
    deadline: Option<tokio::time::Instant>,
) -> Result<EnsureOutput, Error> {
    let dry_run = app.dry_run(input.dry_run);
    let now = fetch(app).await?;
    let scheduler_backend = app.settings.backend.kind() == BackendKind::Scheduler;
    let (rule_jobs, schedule_jobs): (&[VolumeJob], &[VolumeJob]) = match scheduler_backend {
        false => (&now.jobs, &[]),
        true => (&[], &now.jobs),
    };
    let rule_plan = plan_rules(app, rule_jobs, &now.misconfigured, &now.rules)?;
    let mut sched = plan_schedules(
        app,
        schedule_jobs,
        &now.misconfigured,
        &now.sets,
        &now.schedules,
        scheduler_backend,
    )?;
    // Only schedules being written need their tags' `Name` (one instance lookup for them).
    fill_tags(app, &now.jobs, &mut sched.create).await?;
    fill_tags(app, &now.jobs, &mut sched.enable).await?;
    log_changes(&rule_plan.ops, &sched, dry_run);
    let left = match dry_run {
        true => 0,
        false => apply(app, &rule_plan.ops, &sched, deadline).await?,
    };
    let more = left > 0;
    if more {
        // Each call must make progress, so the state machine's MoreSchedules loop ends.
        if left == sched.count() {
            return Err(Error::Transient {
                op: FUNCTION.into(),
                message: format!(
                    "the deadline came before any of {left} schedule changes could be applied"
                ),
            });
        }
        tracing::warn!(
            left,
            "deadline near: schedule changes left for the next invocation"
        );
    }
    // On the scheduler backend rules are removed only once every schedule is in place.
    let rule_ops = if more && scheduler_backend {
        0
    } else {
        rule_plan.ops.len()
    };
    let changes = rule_ops + sched.count() - left;
    let mut counts = Counts::default();
    counts.add(
        Metric::ScheduleChanges,
        if dry_run { 0 } else { changes as u64 },
    );
    counts.add(Metric::Rules, rule_plan.rules.len() as u64);
    app.publish(&counts, chrono::Utc::now());
    Ok(report(app, now, rule_plan, sched, changes, more, dry_run))
}

/// What exists: the managed and misconfigured volumes, the instances with sets, our rules and
/// our schedules.
struct Current {
    jobs: Vec<VolumeJob>,
    misconfigured: Vec<MisconfiguredVolume>,
    sets: SetLayout,
    rules: Vec<ExistingRule>,
    schedules: Vec<ListedSchedule>,
}

async fn fetch<P: Ports>(app: &App<P>) -> Result<Current, Error> {
    let volumes = app.ec2.volumes_matching(app.volume_filter()).await?;
    let sets = match app.settings.sets {
        true => set_layout(app, &volumes).await?,
        false => SetLayout::default(),
    };
    for s in &sets.skipped {
        tracing::warn!(instance_id = %s.instance_id, error = %s.error, "instance skipped: no set schedule change, nothing deleted");
    }
    let (jobs, misconfigured) = classify_volumes(&app.settings, volumes);
    let rules = app
        .events
        .rules_with_prefix(&app.settings.rule_prefix)
        .await?;
    let schedules = match app.scheduler.listed(&app.settings.schedule_group).await {
        // A rules deployment whose stack has no group has no schedules to remove.
        Err(e)
            if e.kind == ErrorKind::NotFound
                && app.settings.backend.kind() == BackendKind::Rules =>
        {
            vec![]
        }
        other => other?,
    };
    Ok(Current {
        jobs,
        misconfigured,
        sets,
        rules,
        schedules,
    })
}

/// The tagged instances' sets (DescribeInstances with the volumes' tag-key filter; the
/// exclusion tag read from the volumes carrying it besides the self-tagged ones).
pub async fn set_layout<P: Ports>(
    app: &App<P>,
    tagged_volumes: &[crate::aws::Volume],
) -> Result<SetLayout, Error> {
    let instances = app
        .ec2
        .instances_matching(vec![app.volume_filter()])
        .await?;
    if instances.is_empty() {
        return Ok(SetLayout::default());
    }
    let excluded = app
        .ec2
        .volumes_matching(crate::aws::Filter::new(
            "tag-key",
            [crate::sets::TAG_EXCLUDE_FROM_SET],
        ))
        .await?;
    let tags: BTreeMap<String, BTreeMap<String, String>> = tagged_volumes
        .iter()
        .chain(&excluded)
        .map(|v| (v.id.clone(), v.tags.clone()))
        .collect();
    Ok(crate::sets::layout(
        &app.settings.tag_keys,
        &instances,
        &tags,
    ))
}

fn log_changes(ops: &[RuleOp], sched: &ScheduleChanges, dry_run: bool) {
    for op in ops {
        tracing::info!(op = %serde_json::to_string(op).unwrap_or_default(), dry_run, "rule change");
    }
    for s in &sched.create {
        tracing::info!(schedule = %s.name, volume_id = %s.volume_id, expression = %s.expression, time_zone = %s.time_zone, dry_run, "schedule created");
    }
    for s in &sched.enable {
        tracing::warn!(schedule = %s.name, volume_id = %s.volume_id, dry_run, "schedule was disabled; enabled again");
    }
    for name in &sched.delete {
        tracing::info!(schedule = %name, dry_run, "schedule deleted");
    }
}

/// Applies both plans; returns the schedule changes the deadline left. Schedules first: when
/// switching to the scheduler, a volume gets its schedule before its rule goes (rules are
/// removed only once every schedule is in place); when switching to rules, the rule exists
/// before the schedule goes.
async fn apply<P: Ports>(
    app: &App<P>,
    ops: &[RuleOp],
    sched: &ScheduleChanges,
    deadline: Option<tokio::time::Instant>,
) -> Result<usize, Error> {
    let group = &app.settings.schedule_group;
    if app.settings.backend.kind() == BackendKind::Scheduler {
        let left = apply_schedules(app, group, sched, deadline).await?;
        if left == 0 {
            apply_rules(app, ops).await?;
        }
        Ok(left)
    } else {
        apply_rules(app, ops).await?;
        apply_schedules(app, group, sched, deadline).await
    }
}

fn report<P: Ports>(
    app: &App<P>,
    now: Current,
    rule_plan: crate::backend::rules::Layout,
    sched: ScheduleChanges,
    changes: usize,
    more: bool,
    dry_run: bool,
) -> EnsureOutput {
    EnsureOutput {
        backend: app.settings.backend.kind(),
        changes,
        more,
        rule_count: rule_plan.rules.len(),
        ops: rule_plan.ops,
        rules: rule_plan.rules,
        schedules: ScheduleReport {
            group: app.settings.schedule_group.clone(),
            created: sched.create.iter().map(|s| s.name.clone()).collect(),
            enabled: sched.enable.iter().map(|s| s.name.clone()).collect(),
            deleted: sched.delete,
            unchanged: sched.unchanged,
        },
        managed: now.jobs.len(),
        misconfigured: now.misconfigured.len(),
        sets: SetsReport {
            instances: now.sets.jobs.len(),
            in_sets: now
                .jobs
                .iter()
                .filter_map(|j| {
                    Some((
                        j.volume_id.clone(),
                        now.sets.covered.get(&j.volume_id)?.clone(),
                    ))
                })
                .collect(),
            skipped: now.sets.skipped,
        },
        dry_run,
    }
}

/// The rules layout for `jobs` (empty for the scheduler backend: every rule of ours goes).
fn plan_rules<P: Ports>(
    app: &App<P>,
    jobs: &[VolumeJob],
    misconfigured: &[MisconfiguredVolume],
    existing: &[ExistingRule],
) -> Result<crate::backend::rules::Layout, Error> {
    let mut desired: Vec<DesiredVolume> = jobs
        .iter()
        .map(|j| DesiredVolume {
            volume_id: j.volume_id.clone(),
            class: j.finest(),
            schedule: app.settings.cron(j.finest()).expression().to_string(),
        })
        .collect();
    let rules_backend = app.settings.backend.kind() == BackendKind::Rules;
    // A misconfigured volume keeps its current placement: a typo must not stop its snapshots.
    for m in misconfigured.iter().filter(|_| rules_backend) {
        let current = existing.iter().find_map(|r| {
            let (class, _, _) = parse_rule_name(&app.settings.rule_prefix, &r.name)?;
            r.targets
                .iter()
                .any(|t| t.id == m.volume_id && t.arn == app.target_arn)
                .then(|| (class, r.schedule_expression.clone()))
        });
        if let Some((class, Some(schedule))) = current {
            desired.push(DesiredVolume {
                volume_id: m.volume_id.clone(),
                class,
                schedule,
            });
        }
    }
    // Removing rules needs no role; creating them does.
    let role_arn = match rules_backend {
        true => require_role(app)?,
        false => String::new(),
    };
    let ctx = LayoutContext {
        prefix: app.settings.rule_prefix.clone(),
        target_arn: app.target_arn.clone(),
        role_arn,
        deployment: app.settings.deployment.clone(),
    };
    let plan = layout(&desired, existing, &ctx);
    if plan.rules.len() > DEFAULT_RULES_PER_BUS {
        tracing::warn!(
            rules = plan.rules.len(),
            quota = DEFAULT_RULES_PER_BUS,
            "more rules than the default EventBridge quota; request a quota increase or use EBS_GENS_BACKEND=scheduler"
        );
    }
    Ok(plan)
}

/// The schedule changes for `jobs` (empty for the rules backend: every schedule of ours goes).
/// Tags are filled in later, for the schedules to create only.
fn plan_schedules<P: Ports>(
    app: &App<P>,
    jobs: &[VolumeJob],
    misconfigured: &[MisconfiguredVolume],
    sets: &SetLayout,
    existing: &[ListedSchedule],
    scheduler_backend: bool,
) -> Result<ScheduleChanges, Error> {
    // Deleting schedules needs no role; creating them does.
    let ctx = match scheduler_backend {
        true => schedule_context(app, &require_role(app)?),
        false => schedule_context(app, ""),
    };
    // A volume a set takes is snapshotted only in its instance's sets (docs/sets.md).
    let mut desired: Vec<_> = jobs
        .iter()
        .filter(|j| !sets.covered.contains_key(&j.volume_id))
        .map(|j| spec(&schedule_volume(app, j, vec![]), &ctx))
        .collect();
    desired.extend(sets.jobs.iter().map(|i| {
        let class = i.policy.finest();
        let instance = ScheduleInstance {
            membership: i.membership.clone(),
            class,
            expression: app.settings.cron(class).expression().to_string(),
            tags: crate::sets::birth_tags(&app.settings.deployment, i),
            identity: i.policy.to_string(),
        };
        instance_spec(&instance, &ctx)
    }));
    // A misconfigured volume, or a skipped instance, keeps the schedule it has (scheduler
    // backend only): a typo must not stop its snapshots.
    let keep: BTreeSet<String> = if scheduler_backend {
        misconfigured
            .iter()
            .map(|m| m.volume_id.clone())
            .chain(sets.skipped.iter().map(|s| s.instance_id.clone()))
            .collect()
    } else {
        BTreeSet::new()
    };
    Ok(reconcile(&desired, existing, &keep))
}

/// The backend's role; ensure-schedules checks it at start-up, so this fails only for an app
/// built without that check (a local tool).
fn require_role<P: Ports>(app: &App<P>) -> Result<String, Error> {
    let role = app.settings.backend.require_role();
    role.map(str::to_string)
        .map_err(|e| Error::Internal(e.to_string()))
}

fn schedule_context<P: Ports>(app: &App<P>, role: &str) -> ScheduleContext {
    ScheduleContext {
        deployment: app.settings.deployment.clone(),
        time_zone: app.settings.tz.name().to_string(),
        flexible_window_minutes: app.settings.backend.flexible_window_minutes(),
        role_arn: role.to_string(),
        dead_letter_arn: app.settings.backend.dead_letter_arn().map(str::to_string),
        partition: app.partition.to_string(),
    }
}

fn schedule_volume<P: Ports>(
    app: &App<P>,
    j: &VolumeJob,
    tags: Vec<(String, String)>,
) -> ScheduleVolume {
    ScheduleVolume {
        volume_id: j.volume_id.clone(),
        class: j.finest(),
        expression: app.settings.cron(j.finest()).expression().to_string(),
        tags,
        // The policy is in the snapshots' `ebs-gens:policy` tag and the volume's shape in their
        // `ebs-gens:volume-spec`, so a changed policy or shape is a new schedule too.
        identity: format!(
            "{}|{}|{}{}",
            j.instance_id.as_deref().unwrap_or_default(),
            j.volume_name.as_deref().unwrap_or_default(),
            j.policy,
            j.spec.as_ref().map(|s| format!("|{s}")).unwrap_or_default()
        ),
    }
}

/// Gives the schedules to create their snapshots' tags (the `Name` from the attached instance).
async fn fill_tags<P: Ports>(
    app: &App<P>,
    jobs: &[VolumeJob],
    create: &mut [crate::backend::scheduler::ScheduleSpec],
) -> Result<(), Error> {
    if create.is_empty() {
        return Ok(());
    }
    let by_id: BTreeMap<&str, &VolumeJob> =
        jobs.iter().map(|j| (j.volume_id.as_str(), j)).collect();
    let need: Vec<&VolumeJob> = create
        .iter()
        .filter_map(|s| by_id.get(s.volume_id.as_str()).copied())
        .collect();
    let names = display_names(&app.ec2, &need).await?;
    let ctx = schedule_context(app, app.settings.backend.role_arn().unwrap_or_default());
    for s in create.iter_mut() {
        let (Some(job), Some(name)) = (by_id.get(s.volume_id.as_str()), names.get(&s.volume_id))
        else {
            continue;
        };
        let tags = crate::ownership::ownership_tags(&app.settings.deployment, job, name);
        *s = spec(&schedule_volume(app, job, tags), &ctx);
    }
    Ok(())
}

async fn apply_rules<P: Ports>(app: &App<P>, ops: &[RuleOp]) -> Result<(), Error> {
    if let Err((done, e)) = app.events.apply(ops).await {
        tracing::error!(applied = done, of = ops.len(), error = %e, "rule changes stopped");
        return Err(e.into());
    }
    Ok(())
}

/// Applies the schedule changes; returns how many the deadline left for the next invocation.
async fn apply_schedules<P: Ports>(
    app: &App<P>,
    group: &str,
    changes: &ScheduleChanges,
    deadline: Option<tokio::time::Instant>,
) -> Result<usize, Error> {
    match app.scheduler.apply(group, changes, deadline).await {
        Ok(a) => Ok(a.left),
        Err((done, e)) => {
            tracing::error!(applied = done, of = changes.count(), error = %e, "schedule changes stopped");
            Err(e.into())
        }
    }
}
