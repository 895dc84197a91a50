//! Copies in other regions: which generations are copied where, and which copies a destination
//! keeps. Pure (no I/O, no SDK types, `now` passed in).
//!
//! A copy rule says "the newest K generations of class C also live in region R"
//! (`weekly:us-west-2=8`). The rules come from the deployment (`EBS_GENS_COPIES`) or, for one
//! volume, from its `ebs-gens:copies` tag (which replaces the deployment's rules for it).
//!
//! - **What is copied** ([`plan_copies`]): for each rule, the class's generations among the
//!   volume's completed snapshots of ours — every snapshot for the volume's finest class (copied
//!   as soon as it completes), the newest snapshot of each *closed* period for a coarser class
//!   (a week's keeper is known only once the week is over) — the newest K of them, less those
//!   that already have a copy there. A copy is identified by its source (`ebs-gens:copy-of`), so
//!   nothing is copied twice; requests are ordered oldest first, so each copy is incremental
//!   from the one before.
//! - **What a destination keeps** ([`plan_destination`]): the same fail-safe frame as the
//!   volume's own plan ([`crate::plan::plan_with`]), over the copies ordered by their *source's*
//!   start time (a catch-up copy starts later than its source): only copies we made can be
//!   deleted; pinned, pending and unknown-state copies are kept and not counted; per rule the
//!   K newest generations are kept, counted as [`plan_copies`] counts them (each copy for the
//!   finest class, the newest of each period for a coarser one), so a destination never deletes
//!   what the next run would copy again; the most recently made copy is never
//!   deleted (AWS copies incrementally only while the previous copy exists with the same key);
//!   of two copies of one source one is kept. A destination no longer in the rules is not planned
//!   at all: its copies stay (reported as orphaned copies).
//!
//! AWS facts (EC2 API reference, CopySnapshot; EBS user guide, "Copy an Amazon EBS snapshot"):
//! CopySnapshot is called in the destination region; tags are not copied (TagSpecifications);
//! a copy's own volume id is arbitrary, so the source volume is our `ebs-gens:volume` tag.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::plan::{plan_with, Entry, Period, Plan, PlanContext, Reason, Reasons};
use crate::policy::{GenClass, VolumePolicy};
use crate::snapshot::{Snapshot, SnapshotState, TAG_VOLUME};

/// On a copy: the id of the snapshot it was copied from.
pub const TAG_COPY_OF: &str = "ebs-gens:copy-of";
/// On a copy: the region of its source.
pub const TAG_SOURCE_REGION: &str = "ebs-gens:source-region";
/// On a copy: its source's start time (RFC 3339), which orders a destination's generations.
pub const TAG_SOURCE_START: &str = "ebs-gens:source-start";
/// On a volume: its own copy rules, replacing the deployment's (`off` for none).
pub const TAG_COPIES: &str = "ebs-gens:copies";

/// Generations a destination may keep per rule.
pub const MAX_COPY_KEEP: u32 = 1000;
/// Destinations per deployment or volume (DLM allows 3; each costs a copy per generation).
pub const MAX_DESTINATIONS: usize = 5;

/// The regions a copy may go to (AWS's published regions, 2026-12; a region AWS opens later
/// is refused until it is added here, rather than guessed at).
pub const KNOWN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "cn-northwest-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
];

/// The partition a region belongs to (a copy never crosses partitions).
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// "The newest `keep` generations of `class` also live in `region`."
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CopyRule {
    pub class: GenClass,
    pub region: String,
    pub keep: u32,
}

impl fmt::Display for CopyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}={}", self.class, self.region, self.keep)
    }
}

/// A set of copy rules: `weekly:us-west-2=8 daily:eu-west-1=7` (spaces or commas between
/// rules), or `off` / empty for none. Each (class, region) at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyRules(Vec<CopyRule>);

impl CopyRules {
    pub fn rules(&self) -> &[CopyRule] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The destination regions, each once.
    pub fn regions(&self) -> BTreeSet<&str> {
        self.0.iter().map(|r| r.region.as_str()).collect()
    }

    /// The rules for one destination: (class, keep).
    pub fn for_region(&self, region: &str) -> Vec<(GenClass, u32)> {
        self.0
            .iter()
            .filter(|r| r.region == region)
            .map(|r| (r.class, r.keep))
            .collect()
    }

    /// The rules for one destination only.
    pub fn only(&self, region: &str) -> CopyRules {
        CopyRules(
            self.0
                .iter()
                .filter(|r| r.region == region)
                .cloned()
                .collect(),
        )
    }

    /// Refuses rules that cannot work from `source`: a copy to the source region itself, or to
    /// another partition.
    pub fn check_source(&self, source: &str) -> Result<(), String> {
        for r in &self.0 {
            if r.region == source {
                return Err(format!(
                    "{r}: copies go to another region than the volume's own ({source})"
                ));
            }
            if partition(&r.region) != partition(source) {
                return Err(format!(
                    "{r}: {} is in partition {}, the volumes in {}: a copy cannot cross partitions",
                    r.region,
                    partition(&r.region),
                    partition(source)
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for CopyRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("off");
        }
        let rules: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&rules.join(" "))
    }
}

impl FromStr for CopyRules {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "off" {
            return Ok(CopyRules::default());
        }
        let mut rules = Vec::new();
        for item in s.split([' ', ',']).filter(|i| !i.is_empty()) {
            let rule = parse_rule(item)?;
            if rules
                .iter()
                .any(|r: &CopyRule| r.class == rule.class && r.region == rule.region)
            {
                return Err(format!(
                    "{item:?}: {}:{} is given twice",
                    rule.class, rule.region
                ));
            }
            rules.push(rule);
        }
        let regions: BTreeSet<&str> = rules.iter().map(|r| r.region.as_str()).collect();
        if regions.len() > MAX_DESTINATIONS {
            return Err(format!(
                "{} destination regions; at most {MAX_DESTINATIONS}",
                regions.len()
            ));
        }
        rules.sort();
        Ok(CopyRules(rules))
    }
}

fn parse_rule(item: &str) -> Result<CopyRule, String> {
    let shape = || format!("{item:?} is not CLASS:REGION=N (e.g. weekly:us-west-2=8)");
    let (class, rest) = item.split_once(':').ok_or_else(shape)?;
    let (region, keep) = rest.split_once('=').ok_or_else(shape)?;
    let class = GenClass::ALL
        .into_iter()
        .find(|c| c.label() == class)
        .ok_or_else(|| format!("{item:?}: {class:?} is not hourly, daily, weekly or monthly"))?;
    if !KNOWN_REGIONS.contains(&region) {
        return Err(format!(
            "{item:?}: {region:?} is not an AWS region ebs-gens knows"
        ));
    }
    let keep = keep
        .parse::<u32>()
        .ok()
        .filter(|k| (1..=MAX_COPY_KEEP).contains(k) && !keep.starts_with('+'))
        .ok_or_else(|| format!("{item:?}: {keep:?} is not a count 1..={MAX_COPY_KEEP}"))?;
    Ok(CopyRule {
        class,
        region: region.to_string(),
        keep,
    })
}

/// The rules one volume is copied under: its `ebs-gens:copies` tag when present (which may
/// say `off`), else the deployment's.
pub fn rules_for_volume(deployment: &CopyRules, tag: Option<&str>) -> Result<CopyRules, String> {
    match tag {
        None => Ok(deployment.clone()),
        Some(v) => v
            .parse()
            .map_err(|why| format!("tag {TAG_COPIES}={v:?}: {why}")),
    }
}

/// The KMS key each destination's copies are encrypted with (`EBS_GENS_COPY_KMS_KEYS`:
/// `REGION=KEY_ARN`, spaces or commas between; a destination not listed uses its default EBS
/// key). Each key must be in its own destination region, and each region one the copy rules name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyKeys(BTreeMap<String, String>);

impl CopyKeys {
    pub fn key(&self, region: &str) -> Option<&str> {
        self.0.get(region).map(String::as_str)
    }

    /// The key ARNs, for IAM.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(String::as_str)
    }

    /// Refuses a key for a region the rules do not copy to.
    pub fn check_rules(&self, rules: &CopyRules) -> Result<(), String> {
        let regions = rules.regions();
        match self.0.keys().find(|r| !regions.contains(r.as_str())) {
            Some(r) => Err(format!(
                "{r} has a key but is not a destination of the copy rules ({rules})"
            )),
            None => Ok(()),
        }
    }
}

impl FromStr for CopyKeys {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut keys = BTreeMap::new();
        for item in s.split([' ', ',']).filter(|i| !i.is_empty()) {
            let (region, arn) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not REGION=KMS_KEY_ARN"))?;
            if !KNOWN_REGIONS.contains(&region) {
                return Err(format!(
                    "{item:?}: {region:?} is not an AWS region ebs-gens knows"
                ));
            }
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let ok = matches!(parts.as_slice(), ["arn", p, "kms", r, acct, res]
                if p.starts_with("aws") && acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())
                    && res.strip_prefix("key/").is_some_and(|n| !n.is_empty())
                    && !r.is_empty());
            if !ok {
                // A key ARN, not an alias: IAM on an alias ARN governs the alias, not the key
                // (KMS developer guide, "Use aliases to control access to KMS keys").
                return Err(format!(
                    "{item:?}: {arn:?} is not a KMS key ARN (arn:…:kms:REGION:ACCOUNT:key/ID)"
                ));
            }
            if parts[3] != region {
                return Err(format!(
                    "{item:?}: the key is in {}, not in {region}: a copy is encrypted with a key of its destination region",
                    parts[3]
                ));
            }
            if keys.insert(region.to_string(), arn.to_string()).is_some() {
                return Err(format!("{region} is given two keys"));
            }
        }
        Ok(CopyKeys(keys))
    }
}

/// One copy to make: `source` to `region`, as a generation of `class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRequest<'a> {
    pub source: &'a Snapshot,
    pub region: &'a str,
    pub class: GenClass,
}

/// Which of a volume's snapshots to copy where (see the module doc). `copied` holds, per
/// destination, the sources that already have a live copy there (pending or completed) with
/// their start times. The generations are chosen over the volume's snapshots *and* those copies
/// — exactly as the destination keeps them ([`plan_destination`]) — so a copy the destination
/// keeps is never wanted again and one it deletes is never copied again, however the volume's
/// own retention has thinned its snapshots. Oldest first within each destination. Pure.
pub fn plan_copies<'a>(
    volume_id: &str,
    rules: &'a CopyRules,
    finest: GenClass,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    copied: &BTreeMap<String, BTreeMap<String, DateTime<Utc>>>,
    now: DateTime<Utc>,
) -> Vec<CopyRequest<'a>> {
    // Completed snapshots of ours of this volume (pinned ones too: a pin keeps a snapshot, and
    // its copy is a generation like any other).
    let sources: BTreeMap<&str, &'a Snapshot> = snapshots
        .iter()
        .filter(|s| {
            let m = s.marks(ctx.deployment, ctx.account_id);
            m.owned
                && s.state == SnapshotState::Completed
                && s.volume_id == volume_id
                && m.volume_tag.is_none_or(|v| v == volume_id)
                && s.start_time <= now
        })
        .map(|s| (s.id.as_str(), s))
        .collect();
    let none = BTreeMap::new();
    let mut out: Vec<CopyRequest<'a>> = Vec::new();
    for rule in rules.rules() {
        let done = copied.get(&rule.region).unwrap_or(&none);
        let mut items: Vec<(&str, DateTime<Utc>)> = sources
            .values()
            .map(|s| (s.id.as_str(), s.start_time))
            .chain(done.iter().map(|(id, t)| (id.as_str(), *t)))
            .collect();
        newest_first(&mut items);
        for id in generations(&items, rule.class, finest, rule.keep, ctx, now) {
            let (Some(source), false) = (sources.get(id), done.contains_key(id)) else {
                continue;
            };
            if !out
                .iter()
                .any(|r| r.region == rule.region && r.source.id == id)
            {
                out.push(CopyRequest {
                    source,
                    region: &rule.region,
                    class: rule.class,
                });
            }
        }
    }
    // Oldest first per destination: each copy incremental from the previous one.
    out.sort_by(|a, b| {
        (a.region, a.source.start_time, &a.source.id).cmp(&(
            b.region,
            b.source.start_time,
            &b.source.id,
        ))
    });
    out
}

/// Sorts (id, start) newest first (ties: the greater id first) and drops repeated ids.
fn newest_first(items: &mut Vec<(&str, DateTime<Utc>)>) {
    items.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(a.0)));
    let mut seen = BTreeSet::new();
    items.retain(|(id, _)| seen.insert(*id));
}

/// The newest `keep` generations of `class` among `items` (id, start time; newest first, ids
/// unique): each item for the finest class (or a finer one), the newest of each *closed* period
/// for a coarser one (the period `now` is in is still open: its keeper is not known yet). The
/// one definition both planners use.
fn generations<'a>(
    items: &[(&'a str, DateTime<Utc>)],
    class: GenClass,
    finest: GenClass,
    keep: u32,
    ctx: &PlanContext<'_>,
    now: DateTime<Utc>,
) -> Vec<&'a str> {
    let keep = keep as usize;
    if class <= finest {
        return items.iter().take(keep).map(|(id, _)| *id).collect();
    }
    let open = Period::of(class, now, ctx.tz);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (id, t) in items {
        let p = Period::of(class, *t, ctx.tz);
        if p == open {
            continue;
        }
        if out.len() == keep {
            break;
        }
        if seen.insert(period_key(p)) {
            out.push(*id);
        }
    }
    out
}

/// A total order key for a period (the planner's `Period` is only Eq + Hash).
fn period_key(p: Period) -> (i32, u32, u32, u32) {
    match p {
        Period::Hour {
            year,
            month,
            day,
            hour,
        } => (year, month, day, hour),
        Period::Day { year, month, day } => (year, month, day, 0),
        Period::Week { iso_year, week } => (iso_year, week, 0, 0),
        Period::Month { year, month } => (year, month, 0, 0),
    }
}

/// The newest generation of `class` that should already have a copy: the newest completed
/// source for the finest class (or a finer one), the newest in a closed period for a coarser one.
/// Pure.
pub fn newest_due(
    sources: &[Snapshot],
    class: GenClass,
    finest: GenClass,
    ctx: &PlanContext<'_>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let open = Period::of(class, now, ctx.tz);
    sources
        .iter()
        .filter(|s| s.is_owned_by(ctx.deployment) && s.state == SnapshotState::Completed)
        .filter(|s| class <= finest || Period::of(class, s.start_time, ctx.tz) != open)
        .map(|s| s.start_time)
        .max()
}

/// Whether a destination's recovery point lags: a generation is due there ([`newest_due`]) and
/// the newest completed copy's source is older than the class allows (the staleness rule; a
/// coarser class also waits up to a period for its period to close). Nothing due is never
/// stale; a first copy is stale only once the due generation has waited longer than allowed.
/// Pure.
pub fn copy_stale(
    newest_copied: Option<DateTime<Utc>>,
    due: Option<DateTime<Utc>>,
    class: GenClass,
    finest: GenClass,
    rule: &crate::health::StaleRule,
    now: DateTime<Utc>,
) -> Option<String> {
    let due = due?;
    let wait = if class > finest {
        class.nominal_period()
    } else {
        chrono::Duration::zero()
    };
    let allowed = rule.allowed(class) + wait;
    match newest_copied {
        Some(t) if t >= due || now - t <= allowed => None,
        Some(t) => Some(format!(
            "newest copy's source is from {t}, older than {class} allows ({} h); the generation from {due} has no copy",
            allowed.num_hours()
        )),
        None if now - due > allowed => Some(format!(
            "no completed copy; the generation from {due} is older than {class} allows ({} h)",
            allowed.num_hours()
        )),
        None => None,
    }
}

/// A copy as the destination planner sees it: its source volume and its source's start time.
/// `None` when our tags do not say them (such a copy is never deleted).
fn as_generation(copy: &Snapshot) -> Option<Snapshot> {
    let volume = copy.tag(TAG_VOLUME)?;
    let start = copy
        .tag(TAG_SOURCE_START)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?;
    copy.tag(TAG_COPY_OF)?;
    Some(Snapshot {
        volume_id: volume.to_string(),
        start_time: start.with_timezone(&Utc),
        ..copy.clone()
    })
}

/// Time-based copies (`minutes` > 0) still pending once their completion duration has passed
/// since they started: late, as AWS's "EBS Copy Snapshot Missed Completion Duration" event says
/// in the destination region (which this deployment does not receive). Pure.
pub fn late_copies(copies: &[Snapshot], minutes: u32, now: DateTime<Utc>) -> Vec<&Snapshot> {
    if minutes == 0 {
        return vec![];
    }
    let within = chrono::Duration::minutes(minutes.into());
    copies
        .iter()
        .filter(|c| c.state == SnapshotState::Pending && now - c.start_time > within)
        .collect()
}

/// The destination's plan for one volume's copies under `rules` (class, keep) for this region
/// (see the module doc). Entries carry each copy's source start time. Pure.
pub fn plan_destination<'a>(
    volume_id: &'a str,
    rules: &[(GenClass, u32)],
    finest: GenClass,
    ctx: &PlanContext<'_>,
    copies: &'a [Snapshot],
    now: DateTime<Utc>,
) -> Plan<'a> {
    plan_copies_with(volume_id, ctx, copies, now, |candidates, made| {
        keep_rule(candidates, rules, finest, made, ctx, now)
    })
}

/// The policy a destination keeps one volume's copies by, for their locks' keep times: its
/// rules for that region, a class finer than the volume's counted as the volume's own (the
/// copies are of its generations), and the volume's finest class present (its period is the
/// step a coarser keeper's lock adds). Pure.
pub fn destination_policy(rules: &[(GenClass, u32)], finest: GenClass) -> VolumePolicy {
    let mut gens: BTreeMap<GenClass, u32> = BTreeMap::new();
    for &(class, n) in rules {
        let n = n.clamp(1, crate::policy::MAX_GENS);
        let kept = gens.entry(class.max(finest)).or_insert(n);
        *kept = (*kept).max(n);
    }
    gens.entry(finest).or_insert(1);
    VolumePolicy::new(gens.into_iter().collect())
        .expect("distinct classes, counts clamped to 1..=MAX_GENS, never empty")
}

/// The plan for copies no rule plans any more — their volume is gone or untagged, or no copy
/// rule of the volume names their region — under the orphan policy, as for the volume's own
/// orphaned snapshots (`keep` deletes none); the most recently made copy is always kept, in case
/// copying there resumes. Pure.
pub fn plan_orphaned_copies<'a>(
    volume_id: &'a str,
    policy: crate::orphans::OrphanPolicy,
    ctx: &PlanContext<'_>,
    copies: &'a [Snapshot],
    now: DateTime<Utc>,
) -> Plan<'a> {
    let mut p = plan_copies_with(volume_id, ctx, copies, now, |candidates, made| {
        let mut reasons = crate::orphans::orphan_reasons(policy, candidates, now);
        if let Some(i) = most_recently_made(candidates, made) {
            reasons[i]
                .get_or_insert_with(Reasons::new)
                .push(Reason::IncrementalBase);
        }
        reasons
    });
    crate::orphans::explain_orphan_plan(policy, &mut p);
    p
}

/// `plan_with`'s frame over copies: each seen as a generation of its volume at its source's
/// start time; `rule` gets the candidates and when each copy was made. A copy without our copy
/// tags is kept as doubtful. Pure.
fn plan_copies_with<'a>(
    volume_id: &'a str,
    ctx: &PlanContext<'_>,
    copies: &'a [Snapshot],
    now: DateTime<Utc>,
    rule: impl FnOnce(&[&Snapshot], &BTreeMap<&str, DateTime<Utc>>) -> Vec<Option<Reasons>>,
) -> Plan<'a> {
    // Made at: the copy's own start time, to find the most recent (the incremental base).
    let made: BTreeMap<&str, DateTime<Utc>> = copies
        .iter()
        .map(|c| (c.id.as_str(), c.start_time))
        .collect();
    let (views, untold): (Vec<_>, Vec<_>) = copies
        .iter()
        .map(|c| (c, as_generation(c)))
        .partition(|(_, v)| v.is_some());
    let views: Vec<Snapshot> = views.into_iter().filter_map(|(_, v)| v).collect();
    // The views are owned here; the plan borrows ids from `copies`, matched back below.
    let plan = plan_with(volume_id, ctx, &views, now, |candidates| {
        rule(candidates, &made)
    });
    let by_id: BTreeMap<&str, &'a Snapshot> = copies.iter().map(|c| (c.id.as_str(), c)).collect();
    let relink = |e: Entry<'_>| Entry {
        snapshot_id: by_id[e.snapshot_id].id.as_str(),
        start_time: e.start_time,
        reasons: e.reasons,
    };
    let mut keep: Vec<Entry<'a>> = plan.keep.into_iter().map(relink).collect();
    let delete: Vec<Entry<'a>> = plan.delete.into_iter().map(relink).collect();
    for (c, _) in untold {
        keep.push(Entry {
            snapshot_id: &c.id,
            start_time: c.start_time,
            reasons: smallvec::smallvec![Reason::Doubtful(format!(
                "a copy without {TAG_VOLUME}, {TAG_COPY_OF} or a valid {TAG_SOURCE_START}"
            ))],
        });
    }
    Plan {
        volume_id,
        keep,
        delete,
        doubtful: plan.doubtful,
    }
}

/// The candidate made last (the destination's incremental base), if any.
fn most_recently_made(
    candidates: &[&Snapshot],
    made: &BTreeMap<&str, DateTime<Utc>>,
) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .max_by_key(|(_, c)| (made.get(c.id.as_str()), c.id.clone()))
        .map(|(i, _)| i)
}

/// Which candidates (completed copies of ours, newest source first) a destination keeps: the
/// most recently made one (the incremental base), and per rule the copies of its generations
/// ([`generations`], as [`plan_copies`] chooses them), one copy per source.
fn keep_rule(
    candidates: &[&Snapshot],
    rules: &[(GenClass, u32)],
    finest: GenClass,
    made: &BTreeMap<&str, DateTime<Utc>>,
    ctx: &PlanContext<'_>,
    now: DateTime<Utc>,
) -> Vec<Option<Reasons>> {
    let mut reasons: Vec<Option<Reasons>> = vec![None; candidates.len()];
    // The incremental base: the most recently made copy.
    if let Some(i) = most_recently_made(candidates, made) {
        reasons[i] = Some(smallvec::smallvec![Reason::IncrementalBase]);
    }
    // One copy per source: the base if it is one, else the first listed (newest source).
    let mut by_source: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, c) in candidates.iter().enumerate() {
        let source = c.tag(TAG_COPY_OF).unwrap_or_default();
        match by_source.get(source) {
            None => {
                by_source.insert(source, i);
            }
            Some(_) if reasons[i].is_some() => {
                by_source.insert(source, i);
            }
            Some(_) => {}
        }
    }
    let mut items: Vec<(&str, DateTime<Utc>)> = by_source
        .iter()
        .map(|(source, &i)| (*source, candidates[i].start_time))
        .collect();
    newest_first(&mut items);
    for &(class, keep) in rules {
        for source in generations(&items, class, finest, keep, ctx, now) {
            let i = by_source[source];
            let why = if class <= finest {
                Reason::Last { n: keep, class }
            } else {
                Reason::NewestOf(Period::of(class, candidates[i].start_time, ctx.tz))
            };
            reasons[i].get_or_insert_with(Reasons::new).push(why);
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use crate::snapshot::{TAG_KEEP, TAG_MANAGED_BY};

    const ACCOUNT: &str = "123456789012";
    const VOL: &str = "vol-1";

    #[test]
    fn a_destination_policy_counts_finer_rules_as_the_volumes_own_class_and_includes_it() {
        use GenClass::*;
        type Gens = &'static [(GenClass, u32)];
        let cases: &[(Gens, GenClass, Gens)] = &[
            (&[(Daily, 3)], Daily, &[(Daily, 3)]),
            (&[(Weekly, 4)], Daily, &[(Daily, 1), (Weekly, 4)]),
            (&[(Daily, 3)], Weekly, &[(Weekly, 3)]),
            (&[(Daily, 3), (Weekly, 5)], Weekly, &[(Weekly, 5)]),
            (
                &[(Hourly, 24), (Monthly, 12)],
                Daily,
                &[(Daily, 24), (Monthly, 12)],
            ),
            (&[(Daily, 0)], Daily, &[(Daily, 1)]),
        ];
        for (rules, finest, want) in cases {
            let p = destination_policy(rules, *finest);
            assert_eq!(p.gens(), *want, "{rules:?} over {finest}");
            assert_eq!(p.finest(), *finest);
        }
    }

    fn ctx() -> PlanContext<'static> {
        PlanContext {
            deployment: "prod",
            account_id: ACCOUNT,
            tz: chrono_tz::UTC,
        }
    }

    /// Sunday 2026-11-29 12:00 UTC.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
    }

    /// A completed daily snapshot of ours, `days` ago at 09:30.
    fn source(id: &str, days: i64) -> Snapshot {
        let t = Utc.with_ymd_and_hms(2026, 11, 29, 9, 30, 0).unwrap() - Duration::days(days);
        Snapshot {
            id: id.into(),
            volume_id: VOL.into(),
            start_time: t,
            state: SnapshotState::Completed,
            owner_id: ACCOUNT.into(),
            tags: [(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, VOL)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// A completed copy of `of` (its source `days` ago), made `made_hours_ago`.
    fn copy(id: &str, of: &str, days: i64, made_hours_ago: i64) -> Snapshot {
        let src = source(of, days);
        let mut c = Snapshot {
            id: id.into(),
            volume_id: "vol-ffffffff".into(),
            start_time: now() - Duration::hours(made_hours_ago),
            ..src.clone()
        };
        c.tags.insert(TAG_COPY_OF.into(), of.into());
        c.tags
            .insert(TAG_SOURCE_START.into(), src.start_time.to_rfc3339());
        c
    }

    fn rules(s: &str) -> CopyRules {
        s.parse().unwrap()
    }

    #[test]
    fn rules_parse_and_refuse_by_name() {
        let r = rules("weekly:us-west-2=8, daily:eu-west-1=7");
        assert_eq!(r.to_string(), "daily:eu-west-1=7 weekly:us-west-2=8");
        assert_eq!(r.for_region("us-west-2"), vec![(GenClass::Weekly, 8)]);
        assert!(rules("off").is_empty() && rules("").is_empty());
        for (bad, says) in [
            ("weekly:mars-east-1=8", "mars-east-1"),
            ("weekly:us-west-2=abc", "abc"),
            ("weekly:us-west-2=0", "\"0\""),
            ("weekly:us-west-2=1001", "1001"),
            ("weekly:us-west-2=+3", "+3"),
            ("yearly:us-west-2=3", "yearly"),
            ("weekly=us-west-2:3", "CLASS:REGION=N"),
            ("weekly:us-west-2=3 weekly:us-west-2=4", "twice"),
            (
                "daily:us-west-1=1 daily:us-west-2=1 daily:eu-west-1=1 daily:eu-west-2=1 daily:eu-west-3=1 daily:eu-north-1=1",
                "at most 5",
            ),
        ] {
            let e = bad.parse::<CopyRules>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(rules("daily:us-east-1=3")
            .check_source("us-east-1")
            .is_err());
        assert!(rules("daily:cn-north-1=3")
            .check_source("us-east-1")
            .is_err());
        rules("daily:us-west-2=3")
            .check_source("us-east-1")
            .unwrap();
        let tagged = rules_for_volume(&r, Some("off")).unwrap();
        assert!(tagged.is_empty());
        assert_eq!(rules_for_volume(&r, None).unwrap(), r);
        assert!(rules_for_volume(&r, Some("daily:nowhere=1"))
            .unwrap_err()
            .contains(TAG_COPIES));
    }

    #[test]
    fn copy_keys_are_in_their_destination_and_for_a_destination_only() {
        let k: CopyKeys = "us-west-2=arn:aws:kms:us-west-2:123456789012:key/1234abcd"
            .parse()
            .unwrap();
        assert_eq!(
            k.key("us-west-2"),
            Some("arn:aws:kms:us-west-2:123456789012:key/1234abcd")
        );
        k.check_rules(&rules("weekly:us-west-2=8")).unwrap();
        assert!(k
            .check_rules(&rules("weekly:eu-west-1=8"))
            .unwrap_err()
            .contains("us-west-2"));
        for (bad, says) in [
            ("us-west-2=arn:aws:kms:eu-west-1:123456789012:key/1234abcd", "not in us-west-2"),
            ("us-west-2=arn:aws:iam::123456789012:role/x", "not a KMS key"),
            ("us-west-2=alias/aws/ebs", "not a KMS key"),
            ("us-west-2=arn:aws:kms:us-west-2:123456789012:alias/backup", "not a KMS key"),
            ("mars-1=arn:aws:kms:mars-1:123456789012:key/1", "mars-1"),
            ("us-west-2", "REGION=KMS_KEY_ARN"),
            (
                "us-west-2=arn:aws:kms:us-west-2:123456789012:key/a us-west-2=arn:aws:kms:us-west-2:123456789012:key/b",
                "two keys",
            ),
        ] {
            let e = bad.parse::<CopyKeys>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert_eq!("".parse::<CopyKeys>().unwrap(), CopyKeys::default());
    }

    #[test]
    fn the_finest_class_is_copied_at_once_oldest_first_and_never_twice() {
        let snaps: Vec<Snapshot> = (0..10).map(|d| source(&format!("snap-{d}"), d)).collect();
        let r = rules("daily:us-west-2=3");
        let copied = BTreeMap::from([(
            "us-west-2".to_string(),
            BTreeMap::from([("snap-1".to_string(), snaps[1].start_time)]),
        )]);
        let want = plan_copies(VOL, &r, GenClass::Daily, &ctx(), &snaps, &copied, now());
        let ids: Vec<&str> = want.iter().map(|w| w.source.id.as_str()).collect();
        assert_eq!(ids, ["snap-2", "snap-0"]);
        assert!(want
            .iter()
            .all(|w| w.region == "us-west-2" && w.class == GenClass::Daily));
    }

    #[test]
    fn a_coarser_class_is_copied_once_its_period_closes_from_the_periods_keeper() {
        // Sunday 2026-11-29: the week of 11-23..11-29 is still open.
        let snaps: Vec<Snapshot> = (0..15).map(|d| source(&format!("snap-{d}"), d)).collect();
        let r = rules("weekly:us-west-2=2");
        let want = plan_copies(
            VOL,
            &r,
            GenClass::Daily,
            &ctx(),
            &snaps,
            &BTreeMap::new(),
            now(),
        );
        let ids: Vec<&str> = want.iter().map(|w| w.source.id.as_str()).collect();
        // The newest of the weeks ending Sunday 11-15 (snap-14) and 11-22 (snap-7).
        assert_eq!(ids, ["snap-14", "snap-7"]);
    }

    #[test]
    fn only_completed_snapshots_of_ours_are_copied_pinned_ones_included() {
        let mut snaps: Vec<Snapshot> = (0..4).map(|d| source(&format!("snap-{d}"), d)).collect();
        snaps[0].state = SnapshotState::Pending;
        snaps[1].tags.insert(TAG_KEEP.into(), "yes".into()); // pinned: still a generation
        snaps[2].tags.insert(TAG_MANAGED_BY.into(), "other".into());
        let r = rules("daily:us-west-2=7");
        let want = plan_copies(
            VOL,
            &r,
            GenClass::Daily,
            &ctx(),
            &snaps,
            &BTreeMap::new(),
            now(),
        );
        let ids: Vec<&str> = want.iter().map(|w| w.source.id.as_str()).collect();
        assert_eq!(ids, ["snap-3", "snap-1"]);
    }

    #[test]
    fn a_destination_keeps_its_newest_generations_by_source_time_and_the_incremental_base() {
        // Ten daily copies; the oldest source (9 days) was copied last (a catch-up).
        let mut copies: Vec<Snapshot> = (0..9)
            .map(|d| copy(&format!("copy-{d}"), &format!("snap-{d}"), d, 24 * d + 1))
            .collect();
        copies.push(copy("copy-9", "snap-9", 9, 0));
        let p = plan_destination(
            VOL,
            &[(GenClass::Daily, 3)],
            GenClass::Daily,
            &ctx(),
            &copies,
            now(),
        );
        let kept: BTreeSet<&str> = p.keep.iter().map(|e| e.snapshot_id).collect();
        assert_eq!(
            kept,
            BTreeSet::from(["copy-0", "copy-1", "copy-2", "copy-9"])
        );
        assert_eq!(p.delete.len(), 6);
        let base = p.keep.iter().find(|e| e.snapshot_id == "copy-9").unwrap();
        assert_eq!(base.reasons[0], Reason::IncrementalBase);
    }

    #[test]
    fn duplicates_of_one_source_keep_one_and_copies_we_did_not_make_stay() {
        let mut copies = vec![
            copy("copy-a", "snap-0", 0, 5),
            copy("copy-b", "snap-0", 0, 1),
            copy("copy-c", "snap-1", 1, 30),
        ];
        let mut theirs = copy("copy-x", "snap-2", 2, 50);
        theirs.tags.insert(TAG_MANAGED_BY.into(), "other".into());
        copies.push(theirs);
        let mut untold = copy("copy-y", "snap-3", 3, 70);
        untold.tags.remove(TAG_SOURCE_START);
        copies.push(untold);
        let p = plan_destination(
            VOL,
            &[(GenClass::Daily, 7)],
            GenClass::Daily,
            &ctx(),
            &copies,
            now(),
        );
        let deleted: Vec<&str> = p.delete.iter().map(|e| e.snapshot_id).collect();
        assert_eq!(deleted, ["copy-a"], "the duplicate, not the base");
        let kept: BTreeSet<&str> = p.keep.iter().map(|e| e.snapshot_id).collect();
        assert!(["copy-b", "copy-c", "copy-x", "copy-y"]
            .iter()
            .all(|c| kept.contains(c)));
    }

    #[test]
    fn doubtful_copies_delete_nothing() {
        let mut copies: Vec<Snapshot> = (0..5)
            .map(|d| copy(&format!("copy-{d}"), &format!("snap-{d}"), d, 24 * d))
            .collect();
        copies[2].tags.insert(TAG_VOLUME.into(), "vol-2".into());
        let p = plan_destination(
            VOL,
            &[(GenClass::Daily, 1)],
            GenClass::Daily,
            &ctx(),
            &copies,
            now(),
        );
        assert!(p.delete.is_empty() && p.doubtful.is_some(), "{p:?}");
    }

    #[test]
    fn a_destination_is_stale_when_its_newest_copy_lags_a_generation_it_should_have() {
        let rule = crate::health::StaleRule {
            factor: 1.5,
            grace: Duration::minutes(15),
            window: Duration::zero(),
        };
        let h = |n: i64| Some(now() - Duration::hours(n));
        let (d, w) = (GenClass::Daily, GenClass::Weekly);
        // (newest copied source, newest due generation, class, stale?)
        for (copied, due, class, stale) in [
            (h(2), h(2), d, false),            // up to date
            (h(30), h(2), d, false),           // within 36 h 15 min
            (h(40), h(2), d, true),            // behind, a newer generation waits
            (h(40), h(40), d, false),          // the source itself is old: the volume's staleness
            (None, h(2), d, false),            // first copy still on its way
            (None, h(40), d, true),            // never copied
            (None, None, d, false),            // nothing due
            (h(24 * 12), h(24 * 3), w, false), // weekly: 10.5 d + 15 min + its week allowed
            (h(24 * 20), h(24 * 3), w, true),
        ] {
            let got = copy_stale(copied, due, class, GenClass::Daily, &rule, now());
            assert_eq!(got.is_some(), stale, "{copied:?} {due:?} {class}: {got:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No churn: whatever the volume's own retention left of its sources and whatever copies
        /// exist, a copy the destination deletes is never wanted again, and the copies the next
        /// run makes are not deleted by the run after.
        #[test]
        fn copies_and_destination_agree(
            present in proptest::collection::vec(any::<bool>(), 40),
            copied in proptest::collection::vec(any::<bool>(), 40),
            daily in 1u32..10,
            weekly in 0u32..6,
        ) {
            // 40 days of daily sources; `present`: still at home; `copied`: has a copy there.
            let history: Vec<Snapshot> = (0..40).map(|d| source(&format!("snap-{d:02}"), d)).collect();
            let sources: Vec<Snapshot> = history.iter().zip(&present).filter(|(_, p)| **p).map(|(s, _)| s.clone()).collect();
            let copies: Vec<Snapshot> = (0..40)
                .filter(|d| copied[*d as usize])
                .map(|d| copy(&format!("copy-{d:02}"), &format!("snap-{d:02}"), d, 2000 - d * 24))
                .collect();
            let mut text = format!("daily:us-west-2={daily}");
            if weekly > 0 { text.push_str(&format!(" weekly:us-west-2={weekly}")); }
            let r = rules(&text);
            let region_rules = r.for_region("us-west-2");
            let d = plan_destination(VOL, &region_rules, GenClass::Daily, &ctx(), &copies, now());
            let deleted: BTreeSet<&str> = d.delete.iter().map(|e| e.snapshot_id).collect();
            let live = |cs: &[Snapshot], gone: &BTreeSet<&str>| -> BTreeMap<String, BTreeMap<String, DateTime<Utc>>> {
                let m = cs.iter().filter(|c| !gone.contains(c.id.as_str())).map(|c| {
                    let t = DateTime::parse_from_rfc3339(c.tag(TAG_SOURCE_START).unwrap()).unwrap().with_timezone(&Utc);
                    (c.tag(TAG_COPY_OF).unwrap().to_string(), t)
                }).collect();
                BTreeMap::from([("us-west-2".to_string(), m)])
            };
            let want = plan_copies(VOL, &r, GenClass::Daily, &ctx(), &sources, &live(&copies, &deleted), now());
            let deleted_sources: BTreeSet<&str> = copies.iter().filter(|c| deleted.contains(c.id.as_str())).map(|c| c.tag(TAG_COPY_OF).unwrap()).collect();
            for w in &want {
                prop_assert!(!deleted_sources.contains(w.source.id.as_str()), "{} deleted there and wanted again", w.source.id);
            }
            // The next run makes them (most recently), and the run after keeps them.
            let mut next: Vec<Snapshot> = copies.iter().filter(|c| !deleted.contains(c.id.as_str())).cloned().collect();
            for (k, w) in want.iter().enumerate() {
                let days = (now() - w.source.start_time).num_days();
                next.push(copy(&format!("new-{k:02}"), &w.source.id, days, -(k as i64) - 1));
            }
            let d2 = plan_destination(VOL, &region_rules, GenClass::Daily, &ctx(), &next, now());
            for e in &d2.delete {
                prop_assert!(!e.snapshot_id.starts_with("new-"), "{} made and then deleted", e.snapshot_id);
            }
            let again = plan_copies(VOL, &r, GenClass::Daily, &ctx(), &sources, &live(&next, &d2.delete.iter().map(|e| e.snapshot_id).collect()), now());
            prop_assert!(again.is_empty(), "still wanted after copying: {:?}", again.iter().map(|w| &w.source.id).collect::<Vec<_>>());
        }

        /// Whatever the copies: the base and the newest source are kept, only ours are
        /// deleted, and each rule keeps min(K, periods) generations.
        #[test]
        fn destination_invariants(
            spec in proptest::collection::vec((0i64..60, 0i64..2000, 0u8..10), 1..40),
            daily in 1u32..10,
            weekly in 0u32..6,
        ) {
            let copies: Vec<Snapshot> = spec
                .iter()
                .enumerate()
                .map(|(i, &(days, made, kind))| {
                    let mut c = copy(&format!("copy-{i:02}"), &format!("snap-{days}"), days, made);
                    match kind {
                        0 => { c.tags.insert(TAG_MANAGED_BY.into(), "other".into()); }
                        1 => c.state = SnapshotState::Pending,
                        2 => { c.tags.insert(TAG_KEEP.into(), "true".into()); }
                        _ => {}
                    }
                    c
                })
                .collect();
            let mut rules = vec![(GenClass::Daily, daily)];
            if weekly > 0 { rules.push((GenClass::Weekly, weekly)); }
            let p = plan_destination(VOL, &rules, GenClass::Daily, &ctx(), &copies, now());
            let deleted: BTreeSet<&str> = p.delete.iter().map(|e| e.snapshot_id).collect();
            let by_id: BTreeMap<&str, &Snapshot> = copies.iter().map(|c| (c.id.as_str(), c)).collect();
            let candidates: Vec<&Snapshot> = copies
                .iter()
                .filter(|c| c.is_owned_by("prod") && !c.is_pinned() && c.state == SnapshotState::Completed)
                .collect();
            for id in &deleted {
                prop_assert!(by_id[id].is_owned_by("prod") && !by_id[id].is_pinned());
            }
            if let Some(base) = candidates.iter().max_by_key(|c| (c.start_time, c.id.clone())) {
                prop_assert!(!deleted.contains(base.id.as_str()), "the incremental base was deleted");
            }
            let src_start = |c: &Snapshot| c.tag(TAG_SOURCE_START).unwrap().to_string();
            if let Some(newest) = candidates.iter().map(|c| src_start(c)).max() {
                prop_assert!(
                    candidates.iter().any(|c| src_start(c) == newest && !deleted.contains(c.id.as_str())),
                    "no copy of the newest source is left"
                );
            }
            for &(class, k) in &rules {
                // Generations as plan_copies counts them: each source for the finest class (daily),
                // the periods for a coarser one.
                let generation = |c: &Snapshot| -> String {
                    if class == GenClass::Daily {
                        return c.tag(TAG_COPY_OF).unwrap().to_string();
                    }
                    let t = DateTime::parse_from_rfc3339(&src_start(c)).unwrap().with_timezone(&Utc);
                    format!("{:?}", period_key(Period::of(class, t, chrono_tz::UTC)))
                };
                let all: BTreeSet<String> = candidates.iter().map(|c| generation(c)).collect();
                let left: BTreeSet<String> = candidates
                    .iter()
                    .filter(|c| !deleted.contains(c.id.as_str()))
                    .map(|c| generation(c))
                    .collect();
                prop_assert!(left.len() >= all.len().min(k as usize), "{class}: {} of {} generations left, keep {k}", left.len(), all.len());
            }
        }
    }

    /// Copies no rule plans any more follow the orphan policy: `keep` deletes none; `keep-last`
    /// keeps the newest K and the young, deletes the rest of ours, never another deployment's,
    /// a pinned one, or the most recently made copy.
    #[test]
    fn orphaned_copies_follow_the_orphan_policy_and_keep_the_incremental_base() {
        use crate::orphans::OrphanPolicy;
        // Sources 1..=6 days old; c6 (the oldest source) was made last (a catch-up copy).
        let mut copies: Vec<Snapshot> = (1..=5)
            .map(|d| copy(&format!("c{d}"), &format!("s{d}"), d, 24 * d))
            .collect();
        copies.push(copy("c6", "s6", 6, 1));
        let mut pinned = copy("cp", "sp", 9, 24 * 9);
        pinned.tags.insert(TAG_KEEP.into(), "audit".into());
        let mut foreign = copy("cf", "sf", 10, 24 * 10);
        foreign.tags.insert(TAG_MANAGED_BY.into(), "staging".into());
        copies.extend([pinned, foreign]);
        let keep = plan_orphaned_copies(VOL, OrphanPolicy::Keep, &ctx(), &copies, now());
        assert!(keep.delete.is_empty(), "{:?}", keep.delete);
        let policy: OrphanPolicy = "keep-last=2,older-than=3".parse().unwrap();
        let p = plan_orphaned_copies(VOL, policy, &ctx(), &copies, now());
        let mut deleted: Vec<&str> = p.delete.iter().map(|e| e.snapshot_id).collect();
        deleted.sort_unstable();
        // Kept: c1, c2 (the newest two) and c6 (made last); c3..c5 are older than 3 days.
        assert_eq!(deleted, ["c3", "c4", "c5"]);
        let reasons = |id: &str| {
            p.keep
                .iter()
                .find(|e| e.snapshot_id == id)
                .map(|e| e.reasons.to_vec())
                .unwrap()
        };
        assert!(reasons("c6").contains(&Reason::IncrementalBase));
        assert!(!deleted.contains(&"cp") && !deleted.contains(&"cf"));
        for e in &p.delete {
            assert!(
                matches!(e.reasons[0], Reason::OrphanExpired { .. }),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_time_based_copy_is_late_once_pending_past_its_duration() {
        let mut pending = copy("c1", "s1", 1, 2);
        pending.state = SnapshotState::Pending;
        let mut done = copy("c2", "s2", 2, 5);
        done.state = SnapshotState::Completed;
        let copies = [pending, done];
        let late = |m| -> Vec<&str> {
            late_copies(&copies, m, now())
                .iter()
                .map(|c| c.id.as_str())
                .collect()
        };
        assert_eq!(late(0), Vec::<&str>::new(), "best effort: never late");
        assert_eq!(late(60), ["c1"], "pending 2 h, due within 1 h");
        assert_eq!(
            late(120),
            Vec::<&str>::new(),
            "exactly at its duration: not yet"
        );
        assert_eq!(late(180), Vec::<&str>::new());
    }
}
