//! The generation rules: for one volume, which snapshots to keep, which to delete, and why.
//!
//! Pure (no I/O, no SDK types, `now` passed in) and fail-safe, after restic's `ApplyPolicy` and
//! zrepl's pruning:
//! - only snapshots whose `ebs-gens:managed-by` names this deployment can be deleted;
//! - pinned (`ebs-gens:keep`), pending and unknown-state snapshots are kept and never counted;
//! - our snapshots in `error` state are deleted and never counted;
//! - completed snapshots of ours are ordered newest first (start time, then id, descending);
//!   the finest class keeps the last N, each coarser class the newest of each of its last N
//!   periods that hold snapshots (hour / calendar day / ISO week / calendar month in the
//!   configured time zone); kept = the union, so never fewer than N and always the newest;
//! - doubtful input (a snapshot of another volume, a repeated id, a tag naming another
//!   volume, a start time in the future) deletes nothing.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};
use smallvec::SmallVec;

use crate::policy::{GenClass, VolumePolicy};
use crate::snapshot::{Marks, Snapshot, SnapshotState, TAG_VOLUME};

/// How far in the future a start time may lie before the input is called doubtful (clock skew).
pub const FUTURE_SKEW: Duration = Duration::hours(1);

/// A period of a coarser class, in the configured time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Hour {
        year: i32,
        month: u32,
        day: u32,
        hour: u32,
    },
    Day {
        year: i32,
        month: u32,
        day: u32,
    },
    Week {
        iso_year: i32,
        week: u32,
    },
    Month {
        year: i32,
        month: u32,
    },
}

impl Period {
    pub fn of(class: GenClass, t: DateTime<Utc>, tz: Tz) -> Period {
        let l = t.with_timezone(&tz);
        match class {
            GenClass::Hourly => Period::Hour {
                year: l.year(),
                month: l.month(),
                day: l.day(),
                hour: l.hour(),
            },
            GenClass::Daily => Period::Day {
                year: l.year(),
                month: l.month(),
                day: l.day(),
            },
            GenClass::Weekly => {
                let w = l.iso_week();
                Period::Week {
                    iso_year: w.year(),
                    week: w.week(),
                }
            }
            GenClass::Monthly => Period::Month {
                year: l.year(),
                month: l.month(),
            },
        }
    }
}

impl Period {
    /// The class whose periods these are.
    pub fn class(&self) -> GenClass {
        match self {
            Period::Hour { .. } => GenClass::Hourly,
            Period::Day { .. } => GenClass::Daily,
            Period::Week { .. } => GenClass::Weekly,
            Period::Month { .. } => GenClass::Monthly,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Hour {
                year,
                month,
                day,
                hour,
            } => write!(f, "hour {year:04}-{month:02}-{day:02}T{hour:02}"),
            Period::Day { year, month, day } => write!(f, "day {year:04}-{month:02}-{day:02}"),
            Period::Week { iso_year, week } => write!(f, "week {iso_year:04}-W{week:02}"),
            Period::Month { year, month } => write!(f, "month {year:04}-{month:02}"),
        }
    }
}

/// How a kept snapshot that only its lock keeps is described (the start of its reason).
pub const HELD_BY_LOCK: &str = "surplus held by its snapshot lock";

/// Why a snapshot is kept or deleted. Serialized as its human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Among the last `n` of the finest class: `last 7 daily`.
    Last {
        n: u32,
        class: GenClass,
    },
    /// Newest of a period of a coarser class: `newest of week 2026-W46`.
    NewestOf(Period),
    Pinned,
    Pending,
    NotOurs,
    /// A state we do not act on (`recoverable`, or one AWS adds later).
    UnknownState(String),
    /// The whole volume's input looked wrong, so nothing is deleted.
    Doubtful(String),
    /// Delete: one of ours that failed (`error` state).
    ErrorState,
    /// Delete: one of ours that no rule keeps.
    Surplus,
    /// Kept: an orphan (its volume is gone or untagged) under `EBS_GENS_ORPHANS=keep`.
    OrphansKept,
    /// Kept: among the newest `n` of a former volume.
    OrphanNewest {
        n: u32,
    },
    /// Kept: an orphan younger than `days`.
    OrphanYoung {
        days: u32,
    },
    /// Delete: an orphan older than `days`, beyond the newest kept.
    OrphanExpired {
        days: u32,
    },
    /// Kept: a destination's most recently made copy, from which its next copy is incremental.
    IncrementalBase,
    /// Kept: no rule keeps it, but its snapshot lock holds (until then; `None`: no expiry given).
    Locked {
        until: Option<DateTime<Utc>>,
    },
    /// Kept: the volume's locks could not be planned (why), so nothing of it is deleted.
    LocksUnplanned(String),
    /// Kept here: a member of an instance set (its `ebs-gens:set`), planned only by the set
    /// planner, which keeps or deletes a set whole.
    SetMember(String),
    /// Delete: the rest of a set whose deletion began in an earlier run (its members are
    /// tagged `ebs-gens:set-deleting`) and was cut short, so the set is no longer whole.
    SetDeletionUnfinished(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last { n, class } => write!(f, "last {n} {class}"),
            Reason::NewestOf(p) => write!(f, "newest of {p}"),
            Reason::Pinned => f.write_str("pinned"),
            Reason::Pending => f.write_str("pending"),
            Reason::NotOurs => f.write_str("not ours"),
            Reason::UnknownState(s) => write!(f, "state {s}"),
            Reason::SetMember(set) => {
                write!(f, "member of set {set} (kept or deleted only with its set)")
            }
            Reason::SetDeletionUnfinished(since) => write!(
                f,
                "rest of a set whose deletion began {since} and was cut short"
            ),
            Reason::Doubtful(why) => write!(f, "doubtful input: {why}"),
            Reason::ErrorState => f.write_str("error state"),
            Reason::Surplus => f.write_str("surplus"),
            Reason::OrphansKept => f.write_str("orphan, kept (EBS_GENS_ORPHANS=keep)"),
            Reason::OrphanNewest { n } => write!(f, "orphan, newest {n} of its former volume"),
            Reason::OrphanYoung { days } => write!(f, "orphan younger than {days} days"),
            Reason::OrphanExpired { days } => write!(f, "orphan older than {days} days"),
            Reason::IncrementalBase => {
                f.write_str("most recent copy (the next copy is incremental from it)")
            }
            Reason::Locked { until: Some(t) } => write!(
                f,
                "{HELD_BY_LOCK}: locked until {}",
                t.format("%Y-%m-%d %H:%M UTC")
            ),
            Reason::Locked { until: None } => {
                write!(f, "{HELD_BY_LOCK} (no expiry reported)")
            }
            Reason::LocksUnplanned(why) => write!(f, "nothing deleted: locks not planned: {why}"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reasons for one entry: one per class that keeps it, so rarely more than two.
pub type Reasons = SmallVec<[Reason; 2]>;

/// One snapshot's place in the plan (borrows the snapshot id from the input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry<'a> {
    pub snapshot_id: &'a str,
    pub start_time: DateTime<Utc>,
    pub reasons: Reasons,
}

/// The plan for one volume. Both lists are ordered newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan<'a> {
    pub volume_id: &'a str,
    pub keep: Vec<Entry<'a>>,
    pub delete: Vec<Entry<'a>>,
    /// Why the volume's input looked wrong, when it did (then `delete` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doubtful: Option<String>,
}

/// The deployment facts planning needs.
#[derive(Debug, Clone, Copy)]
pub struct PlanContext<'a> {
    /// Our `ebs-gens:managed-by` value.
    pub deployment: &'a str,
    /// Our account: a snapshot another account owns is never ours, whatever its tags say (one
    /// shared with us can carry them), even if a listing let it through.
    pub account_id: &'a str,
    /// Zone in which days, weeks and months are counted.
    pub tz: Tz,
}

fn doubt(volume_id: &str, order: &[(&Snapshot, Marks<'_>)], now: DateTime<Utc>) -> Option<String> {
    let mut ids: SmallVec<[&str; 32]> = order.iter().map(|(s, _)| s.id.as_str()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Some(format!("{} listed twice", w[0]));
    }
    for (s, m) in order {
        if s.volume_id != volume_id {
            return Some(format!(
                "{} belongs to {}, not {volume_id}",
                s.id, s.volume_id
            ));
        }
        if let (true, Some(v)) = (m.owned, m.volume_tag) {
            if v != volume_id {
                return Some(format!("{} is tagged {TAG_VOLUME}={v}", s.id));
            }
        }
        if s.start_time > now + FUTURE_SKEW {
            return Some(format!("{} starts in the future ({})", s.id, s.start_time));
        }
    }
    None
}

/// Plans one volume: which of `snapshots` to keep and which to delete, each with its reasons.
pub fn plan<'a>(
    volume_id: &'a str,
    policy: &VolumePolicy,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    now: DateTime<Utc>,
) -> Plan<'a> {
    plan_with(volume_id, ctx, snapshots, now, |candidates| {
        generations(policy, ctx.tz, candidates)
    })
}

/// The generation rule: reasons per candidate (completed, ours, unpinned; newest first), `None`
/// for a candidate no class keeps.
pub(crate) fn generations(
    policy: &VolumePolicy,
    tz: Tz,
    candidates: &[&Snapshot],
) -> Vec<Option<Reasons>> {
    let mut reasons: Vec<Reasons> = vec![Reasons::new(); candidates.len()];
    let finest = policy.finest();
    for &(class, n) in policy.gens() {
        if class == finest {
            for r in reasons.iter_mut().take(n as usize) {
                r.push(Reason::Last { n, class });
            }
            continue;
        }
        let mut seen = Seen::new(n as usize);
        for (i, s) in candidates.iter().enumerate() {
            if seen.len() == n as usize {
                break;
            }
            let p = Period::of(class, s.start_time, tz);
            if seen.insert(p) {
                reasons[i].push(Reason::NewestOf(p));
            }
        }
    }
    reasons
        .into_iter()
        .map(|r| (!r.is_empty()).then_some(r))
        .collect()
}

/// The fail-safe frame every plan shares (ownership, pins, states, doubt, order), with `rule`
/// deciding only among the candidates: completed, unpinned snapshots of ours, newest first.
/// What `rule` keeps for no reason (`None`) is deleted as surplus.
pub fn plan_with<'a>(
    volume_id: &'a str,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    now: DateTime<Utc>,
    rule: impl FnOnce(&[&'a Snapshot]) -> Vec<Option<Reasons>>,
) -> Plan<'a> {
    let entry = |s: &'a Snapshot, reasons: Reasons| Entry {
        snapshot_id: &s.id,
        start_time: s.start_time,
        reasons,
    };
    let one = |r: Reason| -> Reasons { smallvec::smallvec![r] };
    let mut order: SmallVec<[(&'a Snapshot, Marks<'a>); 32]> = snapshots
        .iter()
        .map(|s| (s, s.marks(ctx.deployment, ctx.account_id)))
        .collect();
    order.sort_unstable_by(|(a, _), (b, _)| {
        b.start_time
            .cmp(&a.start_time)
            .then_with(|| b.id.cmp(&a.id))
    });

    if let Some(why) = doubt(volume_id, &order, now) {
        return Plan {
            volume_id,
            keep: order
                .iter()
                .map(|(s, _)| entry(s, one(Reason::Doubtful(why.clone()))))
                .collect(),
            delete: Vec::new(),
            doubtful: Some(why),
        };
    }

    let mut keep = Vec::with_capacity(order.len());
    let mut delete = Vec::new();
    let mut candidates: SmallVec<[&'a Snapshot; 32]> = SmallVec::with_capacity(order.len());
    for (s, m) in order {
        if let Some(set) = m.set {
            // A set is kept or deleted only whole, by the set planner (crate::sets).
            keep.push(entry(s, one(Reason::SetMember(set.to_string()))));
        } else if !m.owned {
            keep.push(entry(s, one(Reason::NotOurs)));
        } else if m.pinned {
            keep.push(entry(s, one(Reason::Pinned)));
        } else {
            match &s.state {
                SnapshotState::Completed => candidates.push(s),
                SnapshotState::Pending => keep.push(entry(s, one(Reason::Pending))),
                SnapshotState::Error => delete.push(entry(s, one(Reason::ErrorState))),
                SnapshotState::Other(st) => {
                    keep.push(entry(s, one(Reason::UnknownState(st.clone()))))
                }
            }
        }
    }

    let mut reasons = rule(&candidates).into_iter();
    for s in candidates {
        // A rule that answers for fewer candidates than it was given keeps the rest.
        match reasons.next() {
            Some(None) => delete.push(entry(s, one(Reason::Surplus))),
            Some(Some(r)) => keep.push(entry(s, r)),
            None => keep.push(entry(s, one(Reason::Doubtful("no rule decided".into())))),
        }
    }
    let newest_first = |a: &Entry, b: &Entry| {
        b.start_time
            .cmp(&a.start_time)
            .then_with(|| b.snapshot_id.cmp(a.snapshot_id))
    };
    keep.sort_by(newest_first);
    delete.sort_by(newest_first);
    Plan {
        volume_id,
        keep,
        delete,
        doubtful: None,
    }
}

/// Periods already counted: a short list for the usual small N, a hash set for large N.
/// It lives on the stack for one class of one volume, so its size is deliberate.
#[allow(clippy::large_enum_variant)]
enum Seen {
    Few(SmallVec<[Period; 16]>),
    Many(HashSet<Period>),
}

impl Seen {
    fn new(n: usize) -> Self {
        if n <= 16 {
            Seen::Few(SmallVec::new())
        } else {
            Seen::Many(HashSet::with_capacity(n))
        }
    }

    fn len(&self) -> usize {
        match self {
            Seen::Few(v) => v.len(),
            Seen::Many(h) => h.len(),
        }
    }

    fn insert(&mut self, p: Period) -> bool {
        match self {
            Seen::Few(v) if v.contains(&p) => false,
            Seen::Few(v) => {
                v.push(p);
                true
            }
            Seen::Many(h) => h.insert(p),
        }
    }
}

/// Groups snapshots by source volume id (pure; the order within a group is kept).
pub fn group_by_volume(snapshots: Vec<Snapshot>) -> BTreeMap<String, Vec<Snapshot>> {
    let mut groups: std::collections::HashMap<String, Vec<Snapshot>> =
        std::collections::HashMap::new();
    for s in snapshots {
        match groups.get_mut(&s.volume_id) {
            Some(group) => group.push(s),
            None => {
                groups.insert(s.volume_id.clone(), vec![s]);
            }
        }
    }
    groups.into_iter().collect()
}
