//! The bulk-deletion fuse: what a run would delete against what it keeps, held unless
//! acknowledged for today. Pure.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::health::reason_class;
use crate::plan::{Entry, Plan, Reason};

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
    "run `ebs-gens sweep --remote --apply --allow-bulk-delete` (the volume is gone; it cannot be tagged)";

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
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
}
