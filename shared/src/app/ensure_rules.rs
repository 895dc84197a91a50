//! ensure-rules: reconcile the EventBridge schedule rules with the managed volumes. Rules are
//! created enabled with the built-in target's `RoleArn` set, so there is no console step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::{Ec2Api, EventsApi};
use crate::error::Error;
use crate::metrics::{Counts, Metric};
use crate::rules::{
    layout, parse_rule_name, DesiredVolume, LayoutContext, RuleOp, DEFAULT_RULES_PER_BUS,
};

use super::{classify_volumes, App};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnsureInput {
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnsureOutput {
    /// The operations applied (or, in a dry run, that would be).
    pub ops: Vec<RuleOp>,
    /// How many operations were applied (or would be, in a dry run).
    pub changes: usize,
    /// How many of our rules exist afterwards.
    pub rule_count: usize,
    /// Our rules afterwards: name → volume ids.
    pub rules: BTreeMap<String, Vec<String>>,
    pub managed: usize,
    /// Misconfigured volumes keep whatever rule they had: snapshots go on, nothing is deleted.
    pub misconfigured: usize,
    pub dry_run: bool,
}

pub async fn handle<E: Ec2Api, V: EventsApi>(
    app: &App<E, V>,
    mut input: EnsureInput,
) -> Result<EnsureOutput, Error> {
    input.dry_run = app.dry_run(input.dry_run);
    let role_arn = app
        .snapshot_role_arn
        .clone()
        .ok_or_else(|| Error::Internal("EBS_GENS_SNAPSHOT_ROLE_ARN is not set".into()))?;
    let volumes = app.ec2.volumes_matching(app.volume_filter()).await?;
    let (jobs, misconfigured) = classify_volumes(&app.settings, volumes);
    let existing = app
        .events
        .rules_with_prefix(&app.settings.rule_prefix)
        .await?;

    let mut desired: Vec<DesiredVolume> = jobs
        .iter()
        .map(|j| DesiredVolume {
            volume_id: j.volume_id.clone(),
            class: j.finest(),
            schedule: app.settings.schedule(j.finest()).expression().to_string(),
        })
        .collect();
    // A misconfigured volume keeps its current placement: a typo must not stop its snapshots.
    for m in &misconfigured {
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

    let ctx = LayoutContext {
        prefix: app.settings.rule_prefix.clone(),
        target_arn: app.target_arn.clone(),
        role_arn,
        deployment: app.settings.deployment.clone(),
    };
    let plan = layout(&desired, &existing, &ctx);
    if plan.rules.len() > DEFAULT_RULES_PER_BUS {
        tracing::warn!(
            rules = plan.rules.len(),
            quota = DEFAULT_RULES_PER_BUS,
            "more rules than the default EventBridge quota; request a quota increase"
        );
    }
    for op in &plan.ops {
        tracing::info!(op = %serde_json::to_string(op).unwrap_or_default(), dry_run = input.dry_run, "rule change");
    }
    if !input.dry_run {
        if let Err((done, e)) = app.events.apply(&plan.ops).await {
            tracing::error!(applied = done, of = plan.ops.len(), error = %e, "rule changes stopped");
            return Err(e.into());
        }
    }
    let mut counts = Counts::default();
    counts.add(
        Metric::RuleChanges,
        if input.dry_run {
            0
        } else {
            plan.ops.len() as u64
        },
    );
    counts.add(Metric::Rules, plan.rules.len() as u64);
    app.publish(&counts, chrono::Utc::now());
    Ok(EnsureOutput {
        changes: plan.ops.len(),
        rule_count: plan.rules.len(),
        ops: plan.ops,
        rules: plan.rules,
        managed: jobs.len(),
        misconfigured: misconfigured.len(),
        dry_run: input.dry_run,
    })
}
