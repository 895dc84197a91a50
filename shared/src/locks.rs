//! Snapshot locks (EBS snapshot lock) that last exactly as long as a generation is kept. Pure.
//!
//! - [`LockRules`] (the setting `locks`): which classes are locked, in which mode.
//! - [`wanted`]: the lock a kept snapshot should carry — for each locked class it is kept for,
//!   until that class would let it go: the finest class `N` periods after the snapshot, a coarser
//!   class `N` of its periods after the start of the period it keeps (plus one finest period: the
//!   next period's first snapshot is what ends it), plus a margin (the schedules' flexible window
//!   and one sweep interval: the prune that deletes it may come that much later). A lock shorter
//!   than that would leave the generation deletable while still kept; a longer one holds surplus.
//! - [`action`]: what LockSnapshot call, if any, brings a snapshot's current lock to what is
//!   wanted — a new lock, or an extension; never a shorter lock, never compliance → governance.
//! - [`hold_locked`]: deletions of snapshots whose lock still holds become "locked until …"
//!   keeps, so a locked snapshot is never deleted (nor attempted: AWS documents no error code for
//!   that refusal, so nothing here relies on one).
//!
//! Facts (EC2 API reference, LockSnapshot and LockedSnapshotsInfo): modes `governance` and
//! `compliance`; a compliance lock has an optional cooling-off period of 1–72 hours during which
//! it can still be changed; after it, its duration can only be increased; lock states
//! `compliance-cooloff`, `governance`, `compliance`, `expired`; a lock set on a `pending`
//! snapshot starts counting when the snapshot completes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Reason};
use crate::policy::{GenClass, VolumePolicy};

/// The two EBS lock modes; compliance is the stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockMode {
    /// Cannot be deleted; users with `ec2:UnlockSnapshot` can unlock or shorten it.
    Governance,
    /// Cannot be deleted or unlocked by anyone once its cooling-off period is over.
    Compliance,
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockMode::Governance => "governance",
            LockMode::Compliance => "compliance",
        })
    }
}

impl FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "governance" => Ok(LockMode::Governance),
            "compliance" => Ok(LockMode::Compliance),
            other => Err(format!(
                "{other:?} is not a lock mode (governance or compliance)"
            )),
        }
    }
}

/// A lock's state as DescribeLockedSnapshots reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockState {
    ComplianceCooloff,
    Governance,
    Compliance,
    Expired,
    /// A state AWS may add: treated as holding (never delete what we do not understand).
    Other(String),
}

impl LockState {
    pub fn parse(s: &str) -> LockState {
        match s {
            "compliance-cooloff" => LockState::ComplianceCooloff,
            "governance" => LockState::Governance,
            "compliance" => LockState::Compliance,
            "expired" => LockState::Expired,
            other => LockState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            LockState::ComplianceCooloff => "compliance-cooloff",
            LockState::Governance => "governance",
            LockState::Compliance => "compliance",
            LockState::Expired => "expired",
            LockState::Other(s) => s,
        }
    }
}

/// A snapshot's lock: its state and when it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub state: LockState,
    pub expires: Option<DateTime<Utc>>,
}

impl Lock {
    /// Whether the lock still prevents deletion at `now`. An unknown state, or a lock without
    /// an expiry, holds.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        match self.state {
            LockState::Expired => false,
            _ => self.expires.is_none_or(|e| e > now),
        }
    }

    /// The lock's mode, when it holds in a mode we know.
    pub fn mode(&self) -> Option<LockMode> {
        match self.state {
            LockState::Governance => Some(LockMode::Governance),
            LockState::Compliance | LockState::ComplianceCooloff => Some(LockMode::Compliance),
            _ => None,
        }
    }

    /// Whether the lock can no longer be changed except by extending it (compliance after its
    /// cooling-off period).
    pub fn extend_only(&self) -> bool {
        self.state == LockState::Compliance
    }
}

/// The setting `locks`: `off`, or `CLASS=MODE` rules separated by spaces or commas
/// (`daily=governance weekly=compliance`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockRules {
    by_class: BTreeMap<GenClass, LockMode>,
}

impl LockRules {
    pub fn is_off(&self) -> bool {
        self.by_class.is_empty()
    }

    pub fn mode(&self, class: GenClass) -> Option<LockMode> {
        self.by_class.get(&class).copied()
    }

    /// Whether any class is locked in compliance mode (a cooling-off period is then needed).
    pub fn any_compliance(&self) -> bool {
        self.by_class.values().any(|m| *m == LockMode::Compliance)
    }
}

impl FromStr for LockRules {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() || s == "off" {
            return Ok(LockRules::default());
        }
        let mut by_class = BTreeMap::new();
        for rule in s.split([' ', ',']).filter(|r| !r.is_empty()) {
            let (class, mode) = rule
                .split_once('=')
                .ok_or_else(|| format!("{rule:?}: expected CLASS=MODE (e.g. daily=governance)"))?;
            let class: GenClass = GenClass::ALL
                .into_iter()
                .find(|c| c.label() == class)
                .ok_or_else(|| {
                    format!("{rule:?}: {class:?} is not a class (hourly, daily, weekly, monthly)")
                })?;
            let mode: LockMode = mode.parse().map_err(|e| format!("{rule:?}: {e}"))?;
            if by_class.insert(class, mode).is_some() {
                return Err(format!("{rule:?}: {class} is locked twice"));
            }
        }
        Ok(LockRules { by_class })
    }
}

impl fmt::Display for LockRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("off");
        }
        let parts: Vec<String> = self
            .by_class
            .iter()
            .map(|(c, m)| format!("{c}={m}"))
            .collect();
        f.write_str(&parts.join(" "))
    }
}

/// Everything [`wanted`] and [`action`] need besides the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTerms {
    pub rules: LockRules,
    /// Compliance locks' cooling-off period, hours (1..=72).
    pub cool_off_hours: u32,
    /// The longest lock ebs-gens sets, in days (a longer one is refused and reported).
    pub max_days: u32,
    /// Added to every keep time (the flexible window and one sweep interval).
    pub margin: Duration,
}

/// The lock a kept snapshot should carry: its mode and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub mode: LockMode,
    pub until: DateTime<Utc>,
    /// The class whose keep time sets `until`.
    pub class: GenClass,
}

/// The lock a kept snapshot should carry, from the reasons the plan keeps it for (only classes
/// the rules lock count): the longest of their keep times; compliance if any of them is. A
/// coarser class counts once its period has closed — until then the newest of an open week is
/// only today's newest, and a lock, never shortened, must not follow it. `None`: no locked class
/// keeps it (pinned, pending, orphans, …).
pub fn wanted(
    reasons: &[Reason],
    start: DateTime<Utc>,
    policy: &VolumePolicy,
    terms: &LockTerms,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<Wanted> {
    let finest = policy.finest();
    let mut out: Option<Wanted> = None;
    for r in reasons {
        let (class, until) = match *r {
            // The newest n of a class finer than the volume's (a destination's `daily:` rule
            // over a weekly volume's copies) are n of the volume's own periods.
            Reason::Last { n, class } => (class, advance(class.max(finest), start, n, tz)),
            Reason::NewestOf(p) => {
                let class = p.class();
                let n = policy.count(class).unwrap_or(1);
                let begins = period_start(class, start, tz);
                if advance(class, begins, 1, tz) > now {
                    continue; // its period is still open
                }
                let next_finest = finest.nominal_period();
                (class, advance(class, begins, n, tz) + next_finest)
            }
            _ => continue,
        };
        let Some(mode) = terms.rules.mode(class) else {
            continue;
        };
        let until = until + terms.margin;
        out = Some(match out {
            None => Wanted { mode, until, class },
            Some(w) => Wanted {
                mode: w.mode.max(mode),
                until: w.until.max(until),
                class: if until > w.until { class } else { w.class },
            },
        });
    }
    out
}

/// A LockSnapshot call: the lock to set (an `ExpirationDate`), with a cooling-off period for a
/// new compliance lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRequest {
    pub mode: LockMode,
    pub until: DateTime<Utc>,
    pub cool_off_hours: Option<u32>,
    /// Whether the snapshot was already locked (this extends or strengthens it).
    pub extends: bool,
}

/// What brings `current` to `want`: nothing when it already holds at least as long in at least
/// as strong a mode (within a minute: AWS stores times to the second); else a new lock or an
/// extension. Never shorter than the current lock, never compliance → governance. A lock longer
/// than `max_days` from `now` is refused (`Err`, reported; nothing locked).
pub fn action(
    current: Option<&Lock>,
    want: &Wanted,
    terms: &LockTerms,
    now: DateTime<Utc>,
) -> Result<Option<LockRequest>, String> {
    let holding = current.filter(|l| l.holds(now));
    let (mode, until) = match holding {
        None => (want.mode, want.until),
        Some(l) => {
            let mode = l.mode().map_or(want.mode, |m| m.max(want.mode));
            let until = l.expires.map_or(want.until, |e| e.max(want.until));
            let enough = l.mode() >= Some(want.mode)
                && l.expires
                    .is_none_or(|e| e + Duration::minutes(1) >= want.until);
            if enough {
                return Ok(None);
            }
            (mode, until)
        }
    };
    if until <= now {
        return Ok(None);
    }
    let days = (until - now).num_seconds() as f64 / 86_400.0;
    if days > f64::from(terms.max_days) {
        return Err(format!(
            "a lock of {days:.1} days (to {}) exceeds lockMaxDays={}: not locked",
            until.format("%Y-%m-%d %H:%M UTC"),
            terms.max_days
        ));
    }
    let new_compliance = mode == LockMode::Compliance
        && holding.is_none_or(|l| l.mode() != Some(LockMode::Compliance));
    Ok(Some(LockRequest {
        mode,
        until,
        cool_off_hours: new_compliance.then_some(terms.cool_off_hours),
        extends: holding.is_some(),
    }))
}

/// Moves the planned deletions whose lock still holds to the kept, "locked until …": a locked
/// snapshot is never deleted before its lock expires (surplus held by a lock, not a failure).
/// Returns how many were held.
pub fn hold_locked(
    plan: &mut Plan<'_>,
    locks: &BTreeMap<String, Lock>,
    now: DateTime<Utc>,
) -> usize {
    let mut held = 0;
    let mut i = 0;
    while i < plan.delete.len() {
        let id = plan.delete[i].snapshot_id;
        match locks.get(id).filter(|l| l.holds(now)) {
            Some(l) => {
                let mut e = plan.delete.remove(i);
                e.reasons = smallvec::smallvec![Reason::Locked { until: l.expires }];
                plan.keep.push(e);
                held += 1;
            }
            None => i += 1,
        }
    }
    if held > 0 {
        plan.keep.sort_by(|a, b| {
            b.start_time
                .cmp(&a.start_time)
                .then_with(|| b.snapshot_id.cmp(a.snapshot_id))
        });
    }
    held
}

/// `t` moved `n` periods of `class` later, by the calendar of `tz` (months are months).
pub fn advance(class: GenClass, t: DateTime<Utc>, n: u32, tz: Tz) -> DateTime<Utc> {
    match class {
        GenClass::Hourly => t + Duration::hours(n.into()),
        GenClass::Daily => t + Duration::days(n.into()),
        GenClass::Weekly => t + Duration::weeks(n.into()),
        GenClass::Monthly => {
            let local = t.with_timezone(&tz).naive_local();
            let moved = local.checked_add_months(Months::new(n)).unwrap_or(local);
            resolve(tz, moved).unwrap_or(t + Duration::days(31 * i64::from(n)))
        }
    }
}

/// The start of the period of `class` that contains `t`, in `tz`.
pub fn period_start(class: GenClass, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let l = t.with_timezone(&tz);
    let date = l.date_naive();
    let day = |d: NaiveDate| resolve(tz, d.and_hms_opt(0, 0, 0).expect("midnight"));
    let start = match class {
        GenClass::Hourly => {
            let h = date.and_hms_opt(l.hour(), 0, 0).expect("an hour");
            resolve(tz, h)
        }
        GenClass::Daily => day(date),
        GenClass::Weekly => {
            day(date - Duration::days(date.weekday().num_days_from_monday().into()))
        }
        GenClass::Monthly => day(date.with_day(1).expect("the first")),
    };
    start.unwrap_or(t)
}

/// A local time in `tz` as UTC: the earlier of two (a DST fold), the next valid minute in a gap.
fn resolve(tz: Tz, local: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => {
            (1..=180).find_map(
                |m| match tz.from_local_datetime(&(local + Duration::minutes(m))) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        Some(t.with_timezone(&Utc))
                    }
                    LocalResult::None => None,
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Entry, Period};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn terms(rules: &str) -> LockTerms {
        LockTerms {
            rules: rules.parse().unwrap(),
            cool_off_hours: 24,
            max_days: 400,
            margin: Duration::minutes(75),
        }
    }

    fn policy(gens: &[(GenClass, u32)]) -> VolumePolicy {
        VolumePolicy::new(gens.to_vec()).unwrap()
    }

    #[test]
    fn lock_rules_read_class_mode_pairs_and_refuse_anything_else_naming_it() {
        let r: LockRules = "daily=governance, weekly=compliance".parse().unwrap();
        assert_eq!(r.mode(GenClass::Daily), Some(LockMode::Governance));
        assert_eq!(r.mode(GenClass::Weekly), Some(LockMode::Compliance));
        assert_eq!(r.mode(GenClass::Monthly), None);
        assert!(r.any_compliance());
        assert_eq!(r.to_string(), "daily=governance weekly=compliance");
        assert!("off".parse::<LockRules>().unwrap().is_off());
        for (bad, says) in [
            ("daily", "CLASS=MODE"),
            ("daily=forever", "not a lock mode"),
            ("yearly=governance", "not a class"),
            ("daily=governance daily=compliance", "locked twice"),
        ] {
            let e = bad.parse::<LockRules>().unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn a_lock_lasts_as_long_as_the_generation_is_kept_plus_the_margin() {
        let tz = chrono_tz::UTC;
        let start = t("2026-11-25T09:30:00Z"); // a Wednesday
        let p = policy(&[(GenClass::Daily, 7), (GenClass::Weekly, 4)]);
        let daily = [Reason::Last {
            n: 7,
            class: GenClass::Daily,
        }];
        let closed = t("2026-11-30T10:00:00Z");
        let w = wanted(&daily, start, &p, &terms("daily=governance"), tz, closed).unwrap();
        assert_eq!(w.until, t("2026-12-02T10:45:00Z"), "7 days + 75 min");
        assert_eq!((w.mode, w.class), (LockMode::Governance, GenClass::Daily));
        // Also the newest of its week: 4 weeks from that week's Monday, plus the day that ends it.
        let week = Period::of(GenClass::Weekly, start, tz);
        let both = [daily[0].clone(), Reason::NewestOf(week)];
        let both_rules = terms("daily=governance weekly=compliance");
        let w = wanted(&both, start, &p, &both_rules, tz, closed).unwrap();
        assert_eq!(
            w.until,
            t("2026-12-22T01:15:00Z"),
            "Mon 11-23 + 4 w + 1 d + 75 min"
        );
        assert_eq!((w.mode, w.class), (LockMode::Compliance, GenClass::Weekly));
        // While its week is open it is only today's newest of the week: no extension yet.
        let open = t("2026-11-27T10:00:00Z");
        let w = wanted(&both, start, &p, &both_rules, tz, open).unwrap();
        assert_eq!((w.mode, w.class), (LockMode::Governance, GenClass::Daily));
        // A class the rules do not lock adds nothing.
        let w = wanted(&both, start, &p, &terms("daily=governance"), tz, closed).unwrap();
        assert_eq!(w.class, GenClass::Daily);
        // Kept for no class (pinned, pending, an orphan): no lock.
        let pinned = wanted(
            &[Reason::Pinned],
            start,
            &p,
            &terms("daily=governance"),
            tz,
            closed,
        );
        assert_eq!(pinned, None);
    }

    #[test]
    fn months_are_calendar_months_in_the_deployments_zone() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        // 2026-01-31 20:00 UTC is Feb 1 in Tokyo: the month kept is February.
        let start = t("2026-01-31T20:00:00Z");
        assert_eq!(
            period_start(GenClass::Monthly, start, tz),
            t("2026-01-31T15:00:00Z")
        );
        assert_eq!(
            advance(GenClass::Monthly, t("2026-01-31T15:00:00Z"), 3, tz),
            t("2026-04-30T15:00:00Z")
        );
        assert_eq!(
            period_start(GenClass::Weekly, start, tz),
            t("2026-01-31T15:00:00Z") - Duration::days(6)
        );
    }

    fn lock(state: &str, expires: &str) -> Lock {
        Lock {
            state: LockState::parse(state),
            expires: Some(t(expires)),
        }
    }

    #[test]
    fn an_action_locks_extends_or_strengthens_and_never_shortens() {
        let now = t("2026-11-25T12:00:00Z");
        let want = |mode, until: &str| Wanted {
            mode,
            until: t(until),
            class: GenClass::Daily,
        };
        let g = LockMode::Governance;
        let c = LockMode::Compliance;
        let tm = terms("daily=compliance");
        type Expect = Option<(LockMode, &'static str, Option<u32>, bool)>;
        let cases: [(Option<Lock>, Wanted, Expect); 7] = [
            // Not locked: a new lock; compliance with its cooling-off period.
            (
                None,
                want(g, "2026-12-02T00:00:00Z"),
                Some((g, "2026-12-02T00:00:00Z", None, false)),
            ),
            (
                None,
                want(c, "2026-12-02T00:00:00Z"),
                Some((c, "2026-12-02T00:00:00Z", Some(24), false)),
            ),
            // Already long enough: nothing.
            (
                Some(lock("governance", "2026-12-03T00:00:00Z")),
                want(g, "2026-12-02T00:00:00Z"),
                None,
            ),
            // Shorter: extended.
            (
                Some(lock("governance", "2026-12-01T00:00:00Z")),
                want(g, "2026-12-09T00:00:00Z"),
                Some((g, "2026-12-09T00:00:00Z", None, true)),
            ),
            // Compliance is never made governance; a longer compliance lock stays as it is.
            (
                Some(lock("compliance", "2026-12-20T00:00:00Z")),
                want(g, "2026-12-09T00:00:00Z"),
                None,
            ),
            // Governance strengthened to compliance, never shortened.
            (
                Some(lock("governance", "2026-12-20T00:00:00Z")),
                want(c, "2026-12-09T00:00:00Z"),
                Some((c, "2026-12-20T00:00:00Z", Some(24), true)),
            ),
            // An expired lock is no lock.
            (
                Some(lock("expired", "2026-11-20T00:00:00Z")),
                want(g, "2026-12-02T00:00:00Z"),
                Some((g, "2026-12-02T00:00:00Z", None, false)),
            ),
        ];
        for (current, w, expect) in cases {
            let got = action(current.as_ref(), &w, &tm, now).unwrap();
            let expect = expect.map(|(mode, until, cool_off_hours, extends)| LockRequest {
                mode,
                until: t(until),
                cool_off_hours,
                extends,
            });
            assert_eq!(got, expect, "{current:?} → {w:?}");
        }
        // Longer than lockMaxDays: refused, naming the setting.
        let e = action(None, &want(g, "2028-01-01T00:00:00Z"), &tm, now).unwrap_err();
        assert!(e.contains("lockMaxDays=400"), "{e}");
    }

    proptest! {
        /// Whatever the current lock and the wanted one, the request is never shorter than the
        /// current lock nor weaker than either, and covers what is wanted.
        #[test]
        fn a_request_only_ever_extends(
            cur_h in proptest::option::of(0i64..2000),
            cur_mode in 0usize..4,
            want_h in 1i64..2000,
            want_c in proptest::bool::ANY,
        ) {
            let now = t("2026-11-25T12:00:00Z");
            let current = cur_h.map(|h| Lock {
                state: LockState::parse(["governance", "compliance", "compliance-cooloff", "expired"][cur_mode]),
                expires: Some(now + Duration::hours(h)),
            });
            let w = Wanted {
                mode: if want_c { LockMode::Compliance } else { LockMode::Governance },
                until: now + Duration::hours(want_h),
                class: GenClass::Daily,
            };
            let req = action(current.as_ref(), &w, &terms("daily=governance"), now).unwrap();
            let holding = current.as_ref().filter(|l| l.holds(now));
            match req {
                Some(r) => {
                    prop_assert!(r.until >= w.until);
                    prop_assert!(r.mode >= w.mode);
                    if let Some(l) = holding {
                        prop_assert!(r.until >= l.expires.unwrap(), "never shorter");
                        prop_assert!(Some(r.mode) >= l.mode(), "never weaker");
                    }
                }
                None => {
                    let l = holding.expect("nothing to do only when a lock holds");
                    prop_assert!(l.expires.unwrap() + Duration::minutes(1) >= w.until);
                    prop_assert!(l.mode() >= Some(w.mode));
                }
            }
        }

        /// After `hold_locked`, no deletion has a lock that holds; every one moved is kept
        /// "locked until"; nothing else changes.
        #[test]
        fn no_delete_before_a_lock_expires(
            deletes in proptest::collection::vec((0i64..100, proptest::option::of(-50i64..50)), 0..20),
        ) {
            let now = t("2026-11-25T12:00:00Z");
            let ids: Vec<String> = (0..deletes.len()).map(|i| format!("snap-{i}")).collect();
            let mut locks = BTreeMap::new();
            let mut plan = Plan { volume_id: "vol-1", keep: vec![], delete: vec![], doubtful: None };
            for (i, (age, lock_h)) in deletes.iter().enumerate() {
                plan.delete.push(Entry {
                    snapshot_id: &ids[i],
                    start_time: now - Duration::hours(*age),
                    reasons: smallvec::smallvec![Reason::Surplus],
                });
                if let Some(h) = lock_h {
                    locks.insert(ids[i].clone(), Lock { state: LockState::Governance, expires: Some(now + Duration::hours(*h)) });
                }
            }
            let before = plan.delete.len();
            let held = hold_locked(&mut plan, &locks, now);
            prop_assert_eq!(plan.delete.len() + held, before);
            for e in &plan.delete {
                prop_assert!(!locks.get(e.snapshot_id).is_some_and(|l| l.holds(now)));
            }
            for e in &plan.keep {
                let is_locked = matches!(e.reasons[0], Reason::Locked { .. });
                prop_assert!(is_locked);
            }
        }
    }

    #[test]
    fn an_unknown_lock_state_holds() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let l = Lock {
            state: LockState::parse("frozen"),
            expires: None,
        };
        assert!(l.holds(now));
        assert!(!lock("expired", "2027-01-01T00:00:00Z").holds(now));
        assert!(!lock("governance", "2026-11-25T11:00:00Z").holds(now));
    }
}
