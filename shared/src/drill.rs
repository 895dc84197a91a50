//! Restore drills: which generations a drill restores (a sample of the managed volumes — a count
//! or a share — the ones proven longest ago first, so every volume is drilled in turn, within a
//! cap on the GiB one drill may create), how a drill volume's state reads (proven, failed, still
//! creating, too slow), and when a volume was last proven restorable (the
//! `ebs-gens:restore-proven` tag the drill writes on the snapshot it restored). A drill proves that
//! the volume is created and becomes `available` — not that its file system is readable. Pure.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

/// On a drill volume: the deployment whose drill created it (written only at creation:
/// IAM lets the drill delete only volumes born with it).
pub const TAG_DRILL: &str = "ebs-gens:drill";
/// On a snapshot or copy of ours: when a drill last restored it to an `available` volume.
pub const TAG_RESTORE_PROVEN: &str = "ebs-gens:restore-proven";

/// How long a drill volume may stay `creating` before the drill calls it failed.
pub const MAX_CREATING: Duration = Duration::minutes(30);

/// The setting `drillVolumes`: `off`, a count (`3`) or a share of the managed volumes (`10%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DrillSample {
    #[default]
    Off,
    Count(u32),
    Percent(u32),
}

impl FromStr for DrillSample {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("{s:?}: expected off, a count (3) or a share (10%)");
        if s.is_empty() || s == "off" || s == "0" {
            return Ok(DrillSample::Off);
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: u32 = p.parse().map_err(|_| bad())?;
            return match p {
                1..=100 => Ok(DrillSample::Percent(p)),
                _ => Err(bad()),
            };
        }
        let n: u32 = s.parse().map_err(|_| bad())?;
        match n {
            1..=1000 => Ok(DrillSample::Count(n)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for DrillSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrillSample::Off => f.write_str("off"),
            DrillSample::Count(n) => write!(f, "{n}"),
            DrillSample::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl DrillSample {
    /// How many of `of` volumes one drill restores (a share rounds up: at least one).
    pub fn size(&self, of: usize) -> usize {
        match *self {
            DrillSample::Off => 0,
            DrillSample::Count(n) => (n as usize).min(of),
            DrillSample::Percent(p) => (of * p as usize).div_ceil(100).min(of),
        }
    }
}

/// A generation a drill could restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub volume_id: String,
    /// The region the snapshot (or copy) is in.
    pub region: String,
    pub snapshot_id: String,
    pub class: Option<String>,
    pub size_gib: i32,
    /// When the volume's generations were last proven restorable here.
    pub proven: Option<DateTime<Utc>>,
    /// An instance's set (`volume_id` is the instance, `snapshot_id` the set): its members,
    /// (snapshot, volume), restored together; empty for a volume.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<(String, String)>,
}

impl Candidate {
    /// What the drill creates a volume from: (snapshot, the volume it is a generation of).
    pub fn units(&self) -> Vec<(String, String)> {
        match self.members.is_empty() {
            true => vec![(self.snapshot_id.clone(), self.volume_id.clone())],
            false => self.members.clone(),
        }
    }
}

/// The drill's sample: `sample.size(n)` of the candidates, the ones never proven first, then the
/// longest ago (rotation: over successive drills every volume comes round), within `max_gib` in
/// all. A candidate that does not fit the cap is passed over (said in the second list), and a
/// smaller one may take its place.
pub fn sample(
    candidates: &[Candidate],
    sample: DrillSample,
    max_gib: u64,
) -> (Vec<&Candidate>, Vec<String>) {
    let mut order: Vec<&Candidate> = candidates.iter().collect();
    order.sort_by(|a, b| {
        a.proven
            .cmp(&b.proven)
            .then_with(|| a.region.cmp(&b.region))
            .then_with(|| a.volume_id.cmp(&b.volume_id))
    });
    let want = sample.size(candidates.len());
    let (mut chosen, mut passed, mut gib) = (Vec::new(), Vec::new(), 0u64);
    for c in order {
        if chosen.len() == want {
            break;
        }
        let size = u64::try_from(c.size_gib.max(1)).unwrap_or(1);
        if gib + size > max_gib {
            passed.push(format!(
                "{} ({}, {size} GiB): over the drill's cap of {max_gib} GiB",
                c.volume_id, c.region
            ));
            continue;
        }
        gib += size;
        chosen.push(c);
    }
    (chosen, passed)
}

/// When a volume was last proven restorable: the newest `ebs-gens:restore-proven` among its
/// snapshots (a value that does not parse is ignored).
pub fn proven_at(snapshots: &[Snapshot]) -> Option<DateTime<Utc>> {
    snapshots
        .iter()
        .filter_map(|s| s.tag(TAG_RESTORE_PROVEN))
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
}

/// What a drill volume's state means now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// `available`: restorable, in this many seconds.
    Proven {
        seconds: f64,
    },
    /// `error`, gone, or still `creating` after [`MAX_CREATING`].
    Failed {
        why: String,
    },
    Pending,
}

/// A drill volume's state, created at `created`, read at `now`.
pub fn outcome(state: Option<&str>, created: DateTime<Utc>, now: DateTime<Utc>) -> Outcome {
    let took = now - created;
    match state {
        Some("available") => Outcome::Proven {
            seconds: took.num_milliseconds() as f64 / 1000.0,
        },
        Some("creating") if took <= MAX_CREATING => Outcome::Pending,
        Some("creating") => Outcome::Failed {
            why: format!("still creating after {} min", MAX_CREATING.num_minutes()),
        },
        Some(other) => Outcome::Failed {
            why: format!("the volume is {other}"),
        },
        None => Outcome::Failed {
            why: "the volume is gone".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(d: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap() + Duration::days(d)
    }

    fn cand(vol: &str, gib: i32, proven: Option<i64>) -> Candidate {
        Candidate {
            members: vec![],
            volume_id: vol.into(),
            region: "us-east-1".into(),
            snapshot_id: format!("snap-{vol}"),
            class: Some("daily".into()),
            size_gib: gib,
            proven: proven.map(at),
        }
    }

    #[test]
    fn the_setting_reads_a_count_or_a_share_and_bad_values_are_named() {
        assert_eq!("off".parse(), Ok(DrillSample::Off));
        assert_eq!("0".parse(), Ok(DrillSample::Off));
        assert_eq!("3".parse(), Ok(DrillSample::Count(3)));
        assert_eq!("10%".parse(), Ok(DrillSample::Percent(10)));
        for bad in ["abc", "-1", "101%", "0%", "1001", "3.5"] {
            assert!(
                bad.parse::<DrillSample>()
                    .unwrap_err()
                    .contains("expected off"),
                "{bad}"
            );
        }
        assert_eq!(DrillSample::Percent(10).size(25), 3, "rounds up");
        assert_eq!(DrillSample::Percent(1).size(5), 1, "at least one");
        assert_eq!(DrillSample::Count(9).size(4), 4);
        assert_eq!(DrillSample::Off.size(100), 0);
    }

    #[test]
    fn never_proven_first_then_the_longest_ago_within_the_cap() {
        let c = vec![
            cand("vol-a", 100, Some(3)),
            cand("vol-b", 100, None),
            cand("vol-c", 500, Some(1)),
            cand("vol-d", 100, Some(2)),
        ];
        let ids = |v: Vec<&Candidate>| v.iter().map(|c| c.volume_id.clone()).collect::<Vec<_>>();
        let (s, passed) = sample(&c, DrillSample::Count(2), 10_000);
        assert_eq!(
            (ids(s), passed.len()),
            (vec!["vol-b".to_string(), "vol-c".to_string()], 0)
        );
        // vol-c does not fit 300 GiB: passed over, said, and vol-d takes its place.
        let (s, passed) = sample(&c, DrillSample::Count(2), 300);
        assert_eq!(ids(s), vec!["vol-b", "vol-d"]);
        assert!(passed[0].contains("vol-c") && passed[0].contains("cap of 300 GiB"));
        let (s, _) = sample(&c, DrillSample::Off, 10_000);
        assert!(s.is_empty());
    }

    #[test]
    fn rotation_reaches_every_volume_over_successive_drills() {
        let mut c: Vec<Candidate> = (0..7)
            .map(|i| cand(&format!("vol-{i}"), 10, None))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for week in 0..3 {
            let chosen: Vec<String> = sample(&c, DrillSample::Count(3), 1000)
                .0
                .iter()
                .map(|x| x.volume_id.clone())
                .collect();
            for v in &chosen {
                seen.insert(v.clone());
                c.iter_mut().find(|x| &x.volume_id == v).unwrap().proven = Some(at(week));
            }
        }
        assert_eq!(seen.len(), 7, "three drills of three cover seven volumes");
    }

    #[test]
    fn a_drill_volumes_state_reads_as_proven_failed_or_pending() {
        let t0 = at(0);
        assert_eq!(
            outcome(Some("available"), t0, t0 + Duration::seconds(42)),
            Outcome::Proven { seconds: 42.0 }
        );
        assert_eq!(
            outcome(Some("creating"), t0, t0 + Duration::minutes(29)),
            Outcome::Pending
        );
        assert!(
            matches!(outcome(Some("creating"), t0, t0 + Duration::minutes(31)), Outcome::Failed { why } if why.contains("30 min"))
        );
        assert!(
            matches!(outcome(Some("error"), t0, t0), Outcome::Failed { why } if why.contains("error"))
        );
        assert!(matches!(outcome(None, t0, t0), Outcome::Failed { why } if why.contains("gone")));
    }

    #[test]
    fn the_last_proof_is_the_newest_tag_among_the_snapshots() {
        let s = |tag: Option<&str>| Snapshot {
            id: "snap".into(),
            volume_id: "vol".into(),
            start_time: at(0),
            state: crate::SnapshotState::Completed,
            owner_id: "1".into(),
            tags: tag
                .map(|t| [(TAG_RESTORE_PROVEN.to_string(), t.to_string())].into())
                .unwrap_or_default(),
        };
        let snaps = vec![
            s(Some("2026-11-01T04:00:00Z")),
            s(None),
            s(Some("2026-11-08T04:00:00Z")),
            s(Some("garbage")),
        ];
        assert_eq!(
            proven_at(&snaps),
            Some(Utc.with_ymd_and_hms(2026, 11, 8, 4, 0, 0).unwrap())
        );
        assert_eq!(proven_at(&[]), None);
    }
}
