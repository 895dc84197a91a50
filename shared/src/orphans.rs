//! Orphaned snapshots — ours, whose volume is gone or no longer tagged — and what
//! `EBS_GENS_ORPHANS` keeps of them. Pure.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::{Plan, PlanContext, Reason, Reasons};
use crate::snapshot::Snapshot;

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
    /// Copies in a region no copy rule of the volume names any more (the volume is managed).
    NoCopyRule,
    /// An instance's sets: the instance is terminated or gone.
    InstanceGone,
    /// An instance's sets: the instance carries no generation tag any more, or sets are off.
    InstanceUntagged,
}

impl fmt::Display for Orphaned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Orphaned::VolumeGone => "volume deleted",
            Orphaned::Untagged => "volume has no generation tag",
            Orphaned::NoCopyRule => "no copy rule names this region",
            Orphaned::InstanceGone => "instance terminated",
            Orphaned::InstanceUntagged => "instance has no generation tag (or sets are off)",
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
        orphan_reasons(policy, candidates, now)
    });
    explain_orphan_plan(policy, &mut p);
    p
}

/// Which candidates (completed, ours, newest first) the orphan policy keeps, and why. Pure.
pub(crate) fn orphan_reasons(
    policy: OrphanPolicy,
    candidates: &[&Snapshot],
    now: DateTime<Utc>,
) -> Vec<Option<Reasons>> {
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
}

/// The orphan policy's last word on a plan: `keep` deletes nothing at all (not even a failed
/// snapshot); under `keep-last` what no rule keeps expired. Pure.
pub(crate) fn explain_orphan_plan(policy: OrphanPolicy, p: &mut Plan<'_>) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Entry;
    use crate::snapshot::{SnapshotState, TAG_MANAGED_BY};
    use chrono_tz::Tz;

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
