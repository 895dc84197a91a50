//! EventBridge rule layout: from the managed volumes and the rules that exist, the operations
//! that reach the desired state. Pure.
//!
//! One target per volume on the built-in `create-snapshot` target, at most 5 targets per rule
//! (an EventBridge quota), rules named `<prefix><class>-<hash>-<nn>` and grouped by schedule.
//! A volume keeps its rule while nothing changed (no churn); targets of volumes that are no
//! longer managed are removed; emptied rules are deleted. Rules whose names do not parse as ours,
//! and targets that are not ours, are never touched.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::policy::GenClass;

/// EventBridge: at most 5 targets per rule.
pub const MAX_TARGETS_PER_RULE: usize = 5;
/// EventBridge: at most 10 targets per PutTargets call.
pub const MAX_TARGETS_PER_PUT: usize = 10;
/// EventBridge: at most 10 target ids per RemoveTargets call (eb-quota; the API reference's
/// `Ids` allows 100, the service quota page says 10 — we keep to the smaller).
pub const MAX_IDS_PER_REMOVE: usize = 10;
/// EventBridge rule names: 1..=64 characters of `[.\-_A-Za-z0-9]`.
pub const MAX_RULE_NAME: usize = 64;
/// Default rules per event bus (adjustable; 100 in a few regions).
pub const DEFAULT_RULES_PER_BUS: usize = 300;

/// Whether `s` is a valid EventBridge rule name (or name fragment, when `allow_empty`).
pub fn valid_rule_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A volume that should be snapshotted on `schedule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredVolume {
    pub volume_id: String,
    pub class: GenClass,
    pub schedule: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleState {
    Enabled,
    Disabled,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub arn: String,
    pub input: Option<String>,
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingRule {
    pub name: String,
    pub schedule_expression: Option<String>,
    pub state: RuleState,
    pub targets: Vec<Target>,
}

/// What the layout needs from the deployment.
#[derive(Debug, Clone)]
pub struct LayoutContext {
    /// Rule name prefix, e.g. `ebs-gens-prod-`.
    pub prefix: String,
    /// `arn:aws:events:REGION:ACCOUNT:target/create-snapshot`.
    pub target_arn: String,
    /// The role the built-in target assumes (needs `ec2:CreateSnapshot`).
    pub role_arn: String,
    /// Shown as each rule's description.
    pub deployment: String,
}

/// One change to EventBridge, in the order they must be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RuleOp {
    RemoveTargets {
        rule: String,
        ids: Vec<String>,
    },
    PutRule {
        rule: String,
        schedule: String,
        description: String,
    },
    PutTargets {
        rule: String,
        targets: Vec<Target>,
    },
    DeleteRule {
        rule: String,
    },
}

/// The operations plus a summary of where things end up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub ops: Vec<RuleOp>,
    /// Our rules once the ops are applied, with their volume ids.
    pub rules: BTreeMap<String, Vec<String>>,
}

/// The built-in target's ARN for a region and account.
pub fn create_snapshot_target_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:events:{region}:{account}:target/create-snapshot")
}

/// The `Input` of a volume's target: the volume id as a JSON string.
pub fn target_input(volume_id: &str) -> String {
    serde_json::Value::String(volume_id.to_string()).to_string()
}

/// Short, stable hash of a schedule expression (FNV-1a, 24 bits, 6 hex digits).
pub fn schedule_hash(schedule: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in schedule.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{:06x}", h & 0x00ff_ffff)
}

/// `<prefix><class>-<hash>-<nn>`.
pub fn rule_name(prefix: &str, class: GenClass, schedule: &str, seq: u32) -> String {
    format!(
        "{prefix}{}-{}-{seq:02}",
        class.label(),
        schedule_hash(schedule)
    )
}

/// Parses a rule name of ours back into (class, hash, seq); `None` for anything else.
pub fn parse_rule_name(prefix: &str, name: &str) -> Option<(GenClass, String, u32)> {
    let rest = name.strip_prefix(prefix)?;
    let mut parts = rest.split('-');
    let (Some(class), Some(hash), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let class = GenClass::ALL.into_iter().find(|c| c.label() == class)?;
    if hash.len() != 6
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    if !(2..=3).contains(&seq.len()) || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((class, hash.to_string(), seq.parse().ok()?))
}

/// Longest prefix that still leaves room for `monthly-xxxxxx-nnn`.
pub const MAX_PREFIX: usize = MAX_RULE_NAME - "monthly-000000-000".len();

/// Checks a rule prefix: EventBridge's characters, room for our suffix.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX || !valid_rule_chars(prefix) {
        return Err(format!(
            "rule prefix {prefix:?} must be 1..={MAX_PREFIX} characters of [.-_A-Za-z0-9]"
        ));
    }
    Ok(())
}

struct OurRule<'a> {
    rule: &'a ExistingRule,
    class: GenClass,
    hash: String,
    seq: u32,
    keep: Vec<String>,
    foreign: usize,
}

impl OurRule<'_> {
    fn free(&self) -> usize {
        MAX_TARGETS_PER_RULE.saturating_sub(self.keep.len() + self.foreign)
    }
}

/// Computes the operations that bring `existing` rules to serve `desired` volumes, in three
/// named phases: [`claim`] (which existing targets stay, which go), [`place`] (the rest into free
/// slots, then new rules) and [`emit`] (the ordered, batched operations).
pub fn layout(desired: &[DesiredVolume], existing: &[ExistingRule], ctx: &LayoutContext) -> Layout {
    let want: HashMap<&str, &DesiredVolume> =
        desired.iter().map(|d| (d.volume_id.as_str(), d)).collect();
    let mut ours: Vec<OurRule> = existing
        .iter()
        .filter_map(|r| {
            let (class, hash, seq) = parse_rule_name(&ctx.prefix, &r.name)?;
            Some(OurRule {
                rule: r,
                class,
                hash,
                seq,
                keep: Vec::new(),
                foreign: 0,
            })
        })
        .collect();
    ours.sort_by(|a, b| a.rule.name.cmp(&b.rule.name));
    let mut changes = claim(&mut ours, &want, ctx);
    let new_rules = place(desired, &mut ours, &mut changes, ctx);
    emit(&ours, &want, new_rules, changes, ctx)
}

/// The target our rules should carry for `volume_id`.
fn spec(volume_id: &str, ctx: &LayoutContext) -> Target {
    Target {
        id: volume_id.to_string(),
        arn: ctx.target_arn.clone(),
        input: Some(target_input(volume_id)),
        role_arn: Some(ctx.role_arn.clone()),
    }
}

/// Target changes found so far: removals (in order) and targets to put, by rule.
#[derive(Default)]
struct Changes {
    removes: Vec<(String, Vec<String>)>,
    puts: BTreeMap<String, Vec<Target>>,
}

/// Phase 1: each existing rule keeps the targets that still fit it (right class and schedule,
/// room left, not placed elsewhere already) and loses the rest; a kept target that drifted from
/// its spec is put again. Targets that are not the built-in target are never touched.
fn claim<'a>(
    ours: &mut [OurRule<'_>],
    want: &HashMap<&'a str, &'a DesiredVolume>,
    ctx: &LayoutContext,
) -> Changes {
    let mut changes = Changes::default();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    for r in ours.iter_mut() {
        let mut remove = Vec::new();
        let mut targets: Vec<&Target> = r.rule.targets.iter().collect();
        targets.sort_by(|a, b| a.id.cmp(&b.id));
        for t in targets {
            if t.arn != ctx.target_arn {
                r.foreign += 1;
                continue;
            }
            let fits = want.get(t.id.as_str()).is_some_and(|d| {
                d.class == r.class
                    && schedule_hash(&d.schedule) == r.hash
                    && !placed.contains(d.volume_id.as_str())
            });
            if fits && r.keep.len() + r.foreign < MAX_TARGETS_PER_RULE {
                placed.insert(want[t.id.as_str()].volume_id.as_str());
                r.keep.push(t.id.clone());
                let s = spec(&t.id, ctx);
                if *t != s {
                    changes.puts.entry(r.rule.name.clone()).or_default().push(s);
                }
            } else {
                remove.push(t.id.clone());
            }
        }
        if !remove.is_empty() {
            changes.removes.push((r.rule.name.clone(), remove));
        }
    }
    changes
}

/// A rule to create: name, class, schedule, volumes.
type NewRule = (String, GenClass, String, Vec<String>);

/// Phase 2: volumes not yet placed, grouped by (class, schedule), fill the free slots of
/// matching rules, then new rules numbered after the ones in use.
fn place(
    desired: &[DesiredVolume],
    ours: &mut [OurRule<'_>],
    changes: &mut Changes,
    ctx: &LayoutContext,
) -> Vec<NewRule> {
    let placed: BTreeSet<&str> = ours
        .iter()
        .flat_map(|r| r.keep.iter().map(String::as_str))
        .collect();
    let mut groups: BTreeMap<(GenClass, &str), Vec<&str>> = BTreeMap::new();
    for d in desired {
        if !placed.contains(d.volume_id.as_str()) {
            groups
                .entry((d.class, d.schedule.as_str()))
                .or_default()
                .push(d.volume_id.as_str());
        }
    }
    let mut new_rules = Vec::new();
    for ((class, schedule), mut vols) in groups {
        vols.sort_unstable();
        vols.dedup();
        let hash = schedule_hash(schedule);
        let mut queue = vols.into_iter().peekable();
        for r in ours
            .iter_mut()
            .filter(|r| r.class == class && r.hash == hash)
        {
            while r.free() > 0 {
                let Some(v) = queue.next() else { break };
                r.keep.push(v.to_string());
                changes
                    .puts
                    .entry(r.rule.name.clone())
                    .or_default()
                    .push(spec(v, ctx));
            }
        }
        let used: BTreeSet<u32> = ours
            .iter()
            .filter(|r| r.class == class && r.hash == hash)
            .map(|r| r.seq)
            .collect();
        let mut seq = 0u32;
        while queue.peek().is_some() {
            seq += 1;
            while used.contains(&seq) {
                seq += 1;
            }
            let vols: Vec<String> = queue
                .by_ref()
                .take(MAX_TARGETS_PER_RULE)
                .map(str::to_string)
                .collect();
            new_rules.push((
                rule_name(&ctx.prefix, class, schedule, seq),
                class,
                schedule.to_string(),
                vols,
            ));
        }
    }
    new_rules
}

/// Phase 3: the operations, in an order EventBridge accepts — removals first (freeing slots),
/// then rule upserts, then targets (at most [`MAX_TARGETS_PER_PUT`] per call), then deletes of
/// rules left empty (only after their targets are gone). Batching happens here and only here.
fn emit(
    ours: &[OurRule<'_>],
    want: &HashMap<&str, &DesiredVolume>,
    new_rules: Vec<NewRule>,
    mut changes: Changes,
    ctx: &LayoutContext,
) -> Layout {
    let description = |class: GenClass, schedule: &str| {
        format!(
            "ebs-gens {}: {class} snapshots on {schedule}",
            ctx.deployment
        )
    };
    let mut ops = Vec::new();
    for (rule, ids) in &changes.removes {
        for chunk in ids.chunks(MAX_IDS_PER_REMOVE) {
            ops.push(RuleOp::RemoveTargets {
                rule: rule.clone(),
                ids: chunk.to_vec(),
            });
        }
    }
    let mut rules = BTreeMap::new();
    let mut deletes = Vec::new();
    for r in ours {
        if r.keep.is_empty() {
            if r.foreign == 0 {
                deletes.push(RuleOp::DeleteRule {
                    rule: r.rule.name.clone(),
                });
            }
            continue;
        }
        let schedule = &want[r.keep[0].as_str()].schedule;
        if r.rule.state != RuleState::Enabled
            || r.rule.schedule_expression.as_deref() != Some(schedule.as_str())
        {
            ops.push(RuleOp::PutRule {
                rule: r.rule.name.clone(),
                schedule: schedule.clone(),
                description: description(r.class, schedule),
            });
        }
        let mut ids = r.keep.clone();
        ids.sort();
        rules.insert(r.rule.name.clone(), ids);
    }
    for (name, class, schedule, vols) in new_rules {
        ops.push(RuleOp::PutRule {
            rule: name.clone(),
            schedule: schedule.clone(),
            description: description(class, &schedule),
        });
        changes
            .puts
            .insert(name.clone(), vols.iter().map(|v| spec(v, ctx)).collect());
        rules.insert(name, vols);
    }
    for (rule, targets) in changes.puts {
        for chunk in targets.chunks(MAX_TARGETS_PER_PUT) {
            ops.push(RuleOp::PutTargets {
                rule: rule.clone(),
                targets: chunk.to_vec(),
            });
        }
    }
    ops.extend(deletes);
    Layout { ops, rules }
}
