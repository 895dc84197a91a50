//! Fleet health, decided per volume: staleness, coverage, the strip of recent periods, the
//! bulk-deletion fuse, and the plan for orphaned snapshots. Pure (no I/O, `now` passed in);
//! prune-volumes computes all of it on every run and the `ebs-gens` CLI shows what prune said.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Months, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::plan::{Entry, Period, Plan, PlanContext, Reason, Reasons};
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

fn reason_class(r: &Reason) -> Option<GenClass> {
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

/// The bulk-deletion fuse: a run that would delete more than `percent` % of a volume's
/// completed snapshots of ours *and* more than `min` of them holds those deletions until an
/// operator acknowledges. `percent` 100 turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fuse {
    pub percent: u32,
    pub min: u32,
}

impl Fuse {
    /// Whether deleting `deletes` of `completed` trips the fuse.
    pub fn trips(&self, deletes: usize, completed: usize) -> bool {
        deletes > self.min as usize && deletes * 100 > completed * self.percent as usize
    }
}

impl fmt::Display for Fuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {}% and more than {}", self.percent, self.min)
    }
}

/// What the fuse weighs for one volume: the plan's surplus deletions of completed snapshots
/// (failed `error`-state snapshots are not generations and never trip it) against the
/// completed, unpinned snapshots of ours the plan considered.
pub fn bulk(plan: &Plan<'_>) -> (usize, usize) {
    let counts = |e: &&Entry<'_>| {
        e.reasons
            .iter()
            .any(|r| matches!(r, Reason::Surplus | Reason::OrphanExpired { .. }))
    };
    let deletes = plan.delete.iter().filter(counts).count();
    let kept = plan
        .keep
        .iter()
        .filter(|e| {
            e.reasons.iter().any(|r| {
                reason_class(r).is_some()
                    || matches!(r, Reason::OrphanNewest { .. } | Reason::OrphanYoung { .. })
            })
        })
        .count();
    (deletes, deletes + kept)
}

/// Why a volume's deletions are held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub would_delete: usize,
    pub completed: usize,
    pub why: String,
    /// How to let it go ahead: the volume tag for today, or (a volume that is gone) the CLI.
    pub acknowledge: String,
}

/// The acknowledgement tag's value that allows bulk deletion today (the date in `tz`).
pub fn ack_value(now: DateTime<Utc>, tz: Tz) -> String {
    now.with_timezone(&tz).date_naive().to_string()
}

/// Whether the volume's `ebs-gens:allow-bulk-delete` tag acknowledges today's run.
pub fn acknowledged(tag: Option<&str>, now: DateTime<Utc>, tz: Tz) -> bool {
    tag.is_some_and(|v| v.trim() == ack_value(now, tz))
}

/// The held record for a volume whose run trips `fuse` (`scope`: "volume" or "batch").
pub fn held(
    deletes: usize,
    completed: usize,
    fuse: &Fuse,
    scope: &str,
    now: DateTime<Utc>,
    tz: Tz,
) -> Held {
    Held {
        would_delete: deletes,
        completed,
        why: format!(
            "this run would delete {deletes} of {completed} completed snapshots ({scope} fuse: {fuse})"
        ),
        acknowledge: format!(
            "tag the volume {}={}",
            crate::snapshot::TAG_ALLOW_BULK_DELETE,
            ack_value(now, tz)
        ),
    }
}

/// How to acknowledge a held deletion of a volume that no longer exists (it cannot be tagged).
pub const ACK_GONE: &str =
    "run `ebs-gens sweep --apply --allow-bulk-delete` (the volume is gone; it cannot be tagged)";

/// What happens to snapshots of ours whose volume is gone or no longer carries a generation tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrphanPolicy {
    /// Keep them all (the default).
    #[default]
    Keep,
    /// Keep the newest `keep` completed snapshots of each former volume; delete the others
    /// once they are older than `older_than_days`.
    KeepLast { keep: u32, older_than_days: u32 },
}

impl fmt::Display for OrphanPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrphanPolicy::Keep => f.write_str("keep"),
            OrphanPolicy::KeepLast {
                keep,
                older_than_days,
            } => write!(f, "keep-last={keep},older-than={older_than_days}"),
        }
    }
}

impl FromStr for OrphanPolicy {
    type Err = String;
    /// `keep`, or `keep-last=K,older-than=DAYS` (K 1..=1000: the newest of a former volume is
    /// never deleted; DAYS 1..=36500).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "keep" {
            return Ok(OrphanPolicy::Keep);
        }
        let usage = || format!("{s:?} is not `keep` or `keep-last=K,older-than=DAYS`");
        let mut keep = None;
        let mut days = None;
        for part in s.split(',') {
            let (k, v) = part.split_once('=').ok_or_else(usage)?;
            let n: u32 = v.trim().parse().map_err(|_| usage())?;
            match k.trim() {
                "keep-last" if keep.is_none() => keep = Some(n),
                "older-than" if days.is_none() => days = Some(n),
                _ => return Err(usage()),
            }
        }
        let (Some(keep), Some(older_than_days)) = (keep, days) else {
            return Err(usage());
        };
        if !(1..=1000).contains(&keep) {
            return Err(format!(
                "keep-last={keep} is not 1..=1000 (the newest snapshot of a former volume is always kept)"
            ));
        }
        if !(1..=36500).contains(&older_than_days) {
            return Err(format!("older-than={older_than_days} is not 1..=36500"));
        }
        Ok(OrphanPolicy::KeepLast {
            keep,
            older_than_days,
        })
    }
}

/// Why the snapshots of a former volume are orphans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Orphaned {
    /// The volume no longer exists.
    VolumeGone,
    /// The volume exists but carries no generation tag any more.
    Untagged,
}

impl fmt::Display for Orphaned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Orphaned::VolumeGone => "volume deleted",
            Orphaned::Untagged => "volume has no generation tag",
        })
    }
}

/// Plans one former volume's snapshots under `policy`. Same guarantees as [`crate::plan`]:
/// only ours are ever deleted, pinned/pending/unknown-state are kept, doubtful input deletes
/// nothing; and the newest `keep` completed ones always stay.
pub fn plan_orphans<'a>(
    volume_id: &'a str,
    policy: OrphanPolicy,
    ctx: &PlanContext<'_>,
    snapshots: &'a [Snapshot],
    now: DateTime<Utc>,
) -> Plan<'a> {
    let mut p = crate::plan::plan_with(volume_id, ctx, snapshots, now, |candidates| {
        candidates
            .iter()
            .enumerate()
            .map(|(i, s)| -> Option<Reasons> {
                let r = match policy {
                    OrphanPolicy::Keep => Reason::OrphansKept,
                    OrphanPolicy::KeepLast {
                        keep,
                        older_than_days,
                    } => {
                        if (i as u32) < keep {
                            Reason::OrphanNewest { n: keep }
                        } else if now - s.start_time <= Duration::days(older_than_days.into()) {
                            Reason::OrphanYoung {
                                days: older_than_days,
                            }
                        } else {
                            return None;
                        }
                    }
                };
                Some(smallvec::smallvec![r])
            })
            .collect()
    });
    match policy {
        // Keep means keep: not even failed (`error`-state) snapshots are deleted.
        OrphanPolicy::Keep => {
            for mut e in p.delete.drain(..) {
                e.reasons = smallvec::smallvec![Reason::OrphansKept];
                p.keep.push(e);
            }
            p.keep.sort_by(|a, b| {
                b.start_time
                    .cmp(&a.start_time)
                    .then_with(|| b.snapshot_id.cmp(a.snapshot_id))
            });
        }
        // `plan_with` marks what no rule keeps as surplus; for orphans say why.
        OrphanPolicy::KeepLast {
            older_than_days, ..
        } => {
            for e in &mut p.delete {
                if e.reasons.as_slice() == [Reason::Surplus] {
                    e.reasons = smallvec::smallvec![Reason::OrphanExpired {
                        days: older_than_days
                    }];
                }
            }
        }
    }
    p
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

    #[test]
    fn fuse_trips_above_half_and_above_min() {
        let f = Fuse {
            percent: 50,
            min: 5,
        };
        assert!(f.trips(27, 30));
        assert!(!f.trips(1, 8));
        assert!(!f.trips(5, 6), "not more than the minimum");
        assert!(!f.trips(6, 12), "exactly half");
        assert!(f.trips(7, 12));
        assert!(
            !Fuse {
                percent: 100,
                min: 0
            }
            .trips(10, 10),
            "100% is off"
        );
    }

    #[test]
    fn acknowledgement_is_for_today_in_the_zone() {
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        // 2026-11-25T20:00Z is already the 26th in Tokyo.
        let late = "2026-11-25T20:00:00Z".parse().unwrap();
        assert!(acknowledged(Some("2026-11-26"), late, tz));
        assert!(!acknowledged(Some("2026-11-25"), late, tz));
        assert!(acknowledged(Some(" 2026-11-25 "), now(), Tz::UTC));
        assert!(!acknowledged(Some("yes"), now(), Tz::UTC));
        assert!(!acknowledged(None, now(), Tz::UTC));
    }

    #[test]
    fn orphan_policy_parses_or_names_the_problem() {
        assert_eq!("keep".parse(), Ok(OrphanPolicy::Keep));
        assert_eq!(
            "keep-last=2,older-than=30".parse(),
            Ok(OrphanPolicy::KeepLast {
                keep: 2,
                older_than_days: 30
            })
        );
        assert_eq!(
            " older-than=30, keep-last=2 ".parse(),
            Ok(OrphanPolicy::KeepLast {
                keep: 2,
                older_than_days: 30
            })
        );
        for bad in [
            "",
            "delete",
            "keep-last=2",
            "keep-last=0,older-than=30",
            "keep-last=2,older-than=0",
            "keep-last=x,older-than=30",
            "keep-last=2,keep-last=3",
            "keep-last=2,older-than=30,extra=1",
        ] {
            assert!(bad.parse::<OrphanPolicy>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn orphans_keep_the_newest_and_the_young_and_never_the_pinned() {
        let ctx = PlanContext {
            deployment: "prod",
            account_id: "111122223333",
            tz: Tz::UTC,
        };
        let mut pinned = snap("snap-p", 24 * 90, "prod");
        pinned
            .tags
            .insert(crate::snapshot::TAG_KEEP.into(), "true".into());
        let snaps = vec![
            snap("snap-1", 24 * 40, "prod"),
            snap("snap-2", 24 * 41, "prod"),
            snap("snap-3", 24 * 42, "prod"),
            snap("snap-4", 24 * 10, "prod"),
            pinned,
            snap("snap-o", 24 * 100, "staging"),
        ];
        let mut failed = snap("snap-e", 24 * 50, "prod");
        failed.state = SnapshotState::Error;
        let with_failed: Vec<Snapshot> = snaps.iter().cloned().chain([failed]).collect();
        let p = plan_orphans("vol-1", OrphanPolicy::Keep, &ctx, &with_failed, now());
        assert!(p.delete.is_empty(), "keep keeps even a failed snapshot");
        assert_eq!(p.keep.len(), with_failed.len());
        let policy = OrphanPolicy::KeepLast {
            keep: 1,
            older_than_days: 30,
        };
        let p = plan_orphans("vol-1", policy, &ctx, &snaps, now());
        fn ids<'a>(es: &[Entry<'a>]) -> Vec<&'a str> {
            es.iter().map(|e| e.snapshot_id).collect()
        }
        assert_eq!(ids(&p.delete), ["snap-1", "snap-2", "snap-3"]);
        assert_eq!(
            p.delete[0].reasons[0].to_string(),
            "orphan older than 30 days"
        );
        assert_eq!(ids(&p.keep), ["snap-4", "snap-p", "snap-o"]);
        // All young: nothing goes.
        let policy = OrphanPolicy::KeepLast {
            keep: 1,
            older_than_days: 365,
        };
        assert!(plan_orphans("vol-1", policy, &ctx, &snaps, now())
            .delete
            .is_empty());
    }
}
