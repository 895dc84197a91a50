//! Fleet health, decided per volume: staleness, coverage and the strip of recent periods (the
//! bulk-deletion fuse is `fuse.rs`, orphaned snapshots `orphans.rs`). Pure (no I/O, `now` passed in);
//! prune-volumes computes all of it on every run and the `ebs-gens` CLI shows what prune said.

use std::fmt;

use chrono::{DateTime, Duration, Months, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::plan::{Period, Plan, Reason};
use crate::policy::{GenClass, VolumePolicy};
use crate::snapshot::{Snapshot, SnapshotState};

/// When a volume's newest completed snapshot is too old: `factor` × the finest class's period
/// + `grace` + `window` (Scheduler's flexible window, when that backend fires the snapshots).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleRule {
    pub factor: f64,
    pub grace: Duration,
    pub window: Duration,
}

impl StaleRule {
    /// The oldest a volume's newest completed snapshot may be.
    pub fn allowed(&self, class: GenClass) -> Duration {
        let period = class.nominal_period().num_seconds() as f64;
        Duration::seconds((period * self.factor).round() as i64) + self.grace + self.window
    }
}

/// One volume's freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// Start time of the newest completed snapshot of ours.
    pub newest: Option<DateTime<Utc>>,
    /// The oldest that snapshot may be (see [`StaleRule`]).
    pub allowed_seconds: i64,
    /// Why the volume is stale, when it is.
    pub stale: Option<String>,
}

/// A duration as an operator reads it: `3d 2h`, `1d 12h 15m`, `45m` (whole minutes).
pub fn human(d: Duration) -> String {
    let m = d.num_minutes().max(0);
    let parts: Vec<String> = [(m / 1440, "d"), ((m / 60) % 24, "h"), (m % 60, "m")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if parts.is_empty() {
        "0m".into()
    } else {
        parts.join(" ")
    }
}

/// Whether the volume's newest completed snapshot of ours is older than `rule` allows.
///
/// A volume is judged only once it has been managed for a whole period of its finest class:
/// when it was created earlier than that, or when one of our snapshots of it is older than
/// that (creation time unknown counts as new, so only the snapshots speak).
pub fn freshness(
    class: GenClass,
    deployment: &str,
    snapshots: &[Snapshot],
    created: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    rule: &StaleRule,
) -> Freshness {
    let ours = || snapshots.iter().filter(|s| s.is_owned_by(deployment));
    let newest = ours()
        .filter(|s| s.state == SnapshotState::Completed)
        .map(|s| s.start_time)
        .max();
    let oldest = ours().map(|s| s.start_time).min();
    let period = class.nominal_period();
    let managed_long_enough =
        created.is_some_and(|c| now - c >= period) || oldest.is_some_and(|o| now - o >= period);
    let allowed = rule.allowed(class);
    let stale = match newest {
        _ if !managed_long_enough => None,
        None => Some(format!(
            "no completed snapshot of ours; a {class} volume allows {}",
            human(allowed)
        )),
        Some(n) if now - n > allowed => Some(format!(
            "newest completed snapshot is {} old; a {class} volume allows {}",
            human(now - n),
            human(allowed)
        )),
        Some(_) => None,
    };
    Freshness {
        newest,
        allowed_seconds: allowed.num_seconds(),
        stale,
    }
}

/// How many generations of one class the plan keeps, of how many the policy asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub class: GenClass,
    pub have: u32,
    pub want: u32,
}

impl fmt::Display for Coverage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.class, self.have, self.want)
    }
}

/// Coverage per class of `policy`, read from the reasons the plan gave its kept snapshots.
pub fn coverage(policy: &VolumePolicy, plan: &Plan<'_>) -> Vec<Coverage> {
    policy
        .gens()
        .iter()
        .map(|&(class, want)| Coverage {
            class,
            want,
            have: plan
                .keep
                .iter()
                .filter(|e| e.reasons.iter().any(|r| reason_class(r) == Some(class)))
                .count() as u32,
        })
        .collect()
}

pub(crate) fn reason_class(r: &Reason) -> Option<GenClass> {
    match r {
        Reason::Last { class, .. } => Some(*class),
        Reason::NewestOf(p) => Some(p.class()),
        _ => None,
    }
}

/// At most this many periods in a volume's strip.
pub const STRIP_PERIODS: u32 = 14;

/// A volume's strip covers the periods its finest class keeps (at most [`STRIP_PERIODS`]): a
/// healthy `Daily_Gens=7` volume shows seven filled cells, so any empty one is a missed day.
pub fn strip_len(policy: &VolumePolicy) -> u32 {
    policy.finest_count().clamp(1, STRIP_PERIODS)
}

/// The last `n` periods of `class`, oldest first: `█` when a completed snapshot of ours started
/// in it, `·` when none did — a gap is seen at a glance.
pub fn strip(
    class: GenClass,
    deployment: &str,
    snapshots: &[Snapshot],
    tz: Tz,
    now: DateTime<Utc>,
    n: u32,
) -> String {
    let filled: Vec<Period> = snapshots
        .iter()
        .filter(|s| s.is_owned_by(deployment) && s.state == SnapshotState::Completed)
        .map(|s| Period::of(class, s.start_time, tz))
        .collect();
    (0..n)
        .rev()
        .map(|i| {
            let t = match class {
                GenClass::Monthly => now.checked_sub_months(Months::new(i)).unwrap_or(now),
                _ => now - class.nominal_period() * i as i32,
            };
            if filled.contains(&Period::of(class, t, tz)) {
                '█'
            } else {
                '·'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::TAG_MANAGED_BY;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn snap(id: &str, hours_ago: i64, owner: &str) -> Snapshot {
        Snapshot {
            id: id.into(),
            volume_id: "vol-1".into(),
            start_time: now() - Duration::hours(hours_ago),
            state: SnapshotState::Completed,
            owner_id: "111122223333".into(),
            tags: [(TAG_MANAGED_BY.to_string(), owner.to_string())].into(),
        }
    }

    const RULE: StaleRule = StaleRule {
        factor: 1.5,
        grace: Duration::minutes(15),
        window: Duration::zero(),
    };

    #[test]
    fn stale_after_one_and_a_half_periods_plus_grace() {
        let allowed = RULE.allowed(GenClass::Daily);
        assert_eq!(allowed, Duration::hours(36) + Duration::minutes(15));
        let fresh = [snap("snap-1", 30, "prod"), snap("snap-2", 54, "prod")];
        let f = freshness(GenClass::Daily, "prod", &fresh, None, now(), &RULE);
        assert_eq!(f.stale, None);
        assert_eq!(f.newest, Some(now() - Duration::hours(30)));
        let old = [snap("snap-1", 37, "prod"), snap("snap-2", 61, "prod")];
        let f = freshness(GenClass::Daily, "prod", &old, None, now(), &RULE);
        assert_eq!(
            f.stale.as_deref(),
            Some("newest completed snapshot is 1d 13h old; a daily volume allows 1d 12h 15m")
        );
        // Another deployment's fresh snapshot does not make ours fresh.
        let mixed = [snap("snap-1", 37, "prod"), snap("snap-9", 1, "staging")];
        assert!(
            freshness(GenClass::Daily, "prod", &mixed, None, now(), &RULE)
                .stale
                .is_some()
        );
        // Scheduler's flexible window is added: an hourly volume fired late is not stale.
        let windowed = StaleRule {
            window: Duration::minutes(60),
            ..RULE
        };
        let hourly = [snap("snap-1", 2, "prod"), snap("snap-2", 3, "prod")];
        assert!(
            freshness(GenClass::Hourly, "prod", &hourly, None, now(), &RULE)
                .stale
                .is_some()
        );
        assert!(
            freshness(GenClass::Hourly, "prod", &hourly, None, now(), &windowed)
                .stale
                .is_none()
        );
    }

    #[test]
    fn new_volumes_are_not_judged_until_one_period_has_passed() {
        let created = Some(now() - Duration::hours(5));
        let f = freshness(GenClass::Daily, "prod", &[], created, now(), &RULE);
        assert_eq!(f.stale, None);
        let created = Some(now() - Duration::hours(25));
        let f = freshness(GenClass::Daily, "prod", &[], created, now(), &RULE);
        assert!(f.stale.unwrap().starts_with("no completed snapshot"));
        // Unknown creation time: an old snapshot of ours is the evidence.
        let pending = Snapshot {
            state: SnapshotState::Pending,
            ..snap("snap-1", 48, "prod")
        };
        let f = freshness(GenClass::Daily, "prod", &[pending], None, now(), &RULE);
        assert!(f.stale.is_some());
    }

    #[test]
    fn strip_shows_gaps_oldest_first() {
        let snaps = [
            snap("a", 1, "prod"),
            snap("b", 25, "prod"),
            snap("c", 73, "prod"),
            snap("x", 49, "other"),
        ];
        let s = strip(GenClass::Daily, "prod", &snaps, Tz::UTC, now(), 5);
        assert_eq!(s, "·█·██");
    }
}
