//! Names, ownership tags and the adoption rule for untagged snapshots. Pure.

use std::fmt;
use std::str::FromStr;

use chrono::Duration;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::cron::Cron;
use crate::policy::GenClass;
use crate::snapshot::{
    Snapshot, SnapshotState, TAG_CLASS, TAG_MANAGED_BY, TAG_NAME, TAG_POLICY, TAG_VOLUME,
};

/// EC2 tag values hold at most 256 characters.
pub const MAX_TAG_VALUE: usize = 256;

/// The name shown for a volume's instance: the instance's `Name` tag, else the volume's own
/// `Name`, else the instance id, else `unattached`. Blank values are skipped.
pub fn display_name(
    instance_name: Option<&str>,
    volume_name: Option<&str>,
    instance_id: Option<&str>,
) -> String {
    [instance_name, volume_name, instance_id]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("unattached")
        .to_string()
}

/// `Name` tag value `<instance-name>_<Class>_<vol-id>`, the 2017 recipe's format, cut to fit
/// EC2's 256-character limit by shortening the instance name (never the volume id).
pub fn snapshot_name(instance_name: &str, class: GenClass, volume_id: &str) -> String {
    let label = match class {
        GenClass::Hourly => "Hourly",
        GenClass::Daily => "Daily",
        GenClass::Weekly => "Weekly",
        GenClass::Monthly => "Monthly",
    };
    let suffix = format!("_{label}_{volume_id}");
    let room = MAX_TAG_VALUE.saturating_sub(suffix.chars().count());
    let name: String = instance_name.chars().take(room).collect();
    format!("{name}{suffix}")
}

/// The tags we put on a snapshot of ours, in a fixed order.
pub fn ownership_tags(
    deployment: &str,
    job: &crate::policy::VolumeJob,
    instance_name: &str,
) -> Vec<(String, String)> {
    let (volume_id, policy) = (job.volume_id.as_str(), &job.policy);
    let class = policy.finest();
    let spec = job
        .spec
        .as_ref()
        .map(|s| (crate::restore::TAG_VOLUME_SPEC.to_string(), s.to_string()));
    let mut tags = vec![
        (TAG_MANAGED_BY.to_string(), deployment.to_string()),
        (TAG_VOLUME.to_string(), volume_id.to_string()),
        (TAG_CLASS.to_string(), class.label().to_string()),
        (TAG_POLICY.to_string(), policy.to_string()),
        (
            TAG_NAME.to_string(),
            snapshot_name(instance_name, class, volume_id),
        ),
    ];
    tags.extend(spec);
    tags
}

/// How untagged snapshots (made by EventBridge's built-in CreateSnapshot target, which cannot
/// tag) become ours. The default depends on the backend ([`crate::backend::BackendKind`]): `never`
/// on `scheduler` (every snapshot it takes is born tagged, so an untagged one is somebody
/// else's), `schedule-window` on `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdoptionMode {
    /// Adopt only when the snapshot started within the window after one of the volume's
    /// scheduled fire times, in the zone the schedule fires in.
    ScheduleWindow,
    /// Adopt any untagged, completed, self-owned snapshot of a managed volume (the 2017 recipe).
    AnyUntagged,
    /// Never adopt.
    Never,
}

impl FromStr for AdoptionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "schedule-window" => Ok(AdoptionMode::ScheduleWindow),
            "any-untagged" => Ok(AdoptionMode::AnyUntagged),
            "never" => Ok(AdoptionMode::Never),
            other => Err(format!(
                "adoption mode {other:?} is not one of schedule-window, any-untagged, never"
            )),
        }
    }
}

impl fmt::Display for AdoptionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdoptionMode::ScheduleWindow => "schedule-window",
            AdoptionMode::AnyUntagged => "any-untagged",
            AdoptionMode::Never => "never",
        })
    }
}

/// Why a snapshot was not adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "skip", content = "detail")]
pub enum SkipReason {
    AlreadyOurs,
    HasTags,
    NotCompleted(String),
    NotSelfOwned,
    VolumeNotManaged,
    AdoptionDisabled,
    RateSchedule,
    OutsideWindow,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyOurs => f.write_str("already ours"),
            SkipReason::HasTags => f.write_str("carries someone else's tags"),
            SkipReason::NotCompleted(s) => write!(f, "not completed ({s})"),
            SkipReason::NotSelfOwned => f.write_str("owned by another account"),
            SkipReason::VolumeNotManaged => f.write_str("volume is not managed"),
            SkipReason::AdoptionDisabled => f.write_str("adoption mode is never"),
            SkipReason::RateSchedule => {
                f.write_str("rate() schedule has no fixed fire times to match")
            }
            SkipReason::OutsideWindow => {
                f.write_str("started outside the window after a scheduled fire time")
            }
        }
    }
}

/// The adoption decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "decision")]
pub enum Adoption {
    Adopt,
    Skip { reason: SkipReason },
}

/// The part of the deployment configuration adoption needs.
#[derive(Debug, Clone, Copy)]
pub struct AdoptionRule<'a> {
    pub mode: AdoptionMode,
    /// How long after a fire time a snapshot may start (on `scheduler`, widened by its
    /// flexible window, by which a firing may be late).
    pub window: Duration,
    /// The zone the creation schedule fires in: UTC for EventBridge rules, the deployment's
    /// zone for Scheduler.
    pub tz: Tz,
    pub deployment: &'a str,
    pub account_id: &'a str,
}

/// Decides whether to adopt `snapshot`. `volume_schedule` is the creation schedule of the
/// snapshot's volume when that volume is managed, `None` otherwise.
pub fn decide_adoption(
    rule: &AdoptionRule<'_>,
    snapshot: &Snapshot,
    volume_schedule: Option<&Cron>,
) -> Adoption {
    let skip = |reason| Adoption::Skip { reason };
    if snapshot.is_owned_by(rule.deployment) {
        return skip(SkipReason::AlreadyOurs);
    }
    if !snapshot.tags.is_empty() {
        return skip(SkipReason::HasTags);
    }
    if snapshot.state != SnapshotState::Completed {
        return skip(SkipReason::NotCompleted(snapshot.state.to_string()));
    }
    if snapshot.owner_id != rule.account_id {
        return skip(SkipReason::NotSelfOwned);
    }
    let Some(schedule) = volume_schedule else {
        return skip(SkipReason::VolumeNotManaged);
    };
    match rule.mode {
        AdoptionMode::Never => skip(SkipReason::AdoptionDisabled),
        AdoptionMode::AnyUntagged => Adoption::Adopt,
        AdoptionMode::ScheduleWindow => {
            match schedule.fired_within(rule.tz, snapshot.start_time, rule.window) {
                None => skip(SkipReason::RateSchedule),
                Some(true) => Adoption::Adopt,
                Some(false) => skip(SkipReason::OutsideWindow),
            }
        }
    }
}

/// Whether a failed snapshot is ours to count and alarm on. The completion rule hears every
/// `createSnapshot` in the account (DLM, AWS Backup, other teams): only ours may page our
/// operator. On `scheduler` every snapshot we take is born with our `ebs-gens:managed-by`, so
/// the snapshot decides (when EC2 no longer shows it, its volume being managed does, so a
/// failure is never hidden); on `rules` snapshots are born untagged, so the volume decides.
pub fn failure_is_ours(
    backend: crate::backend::BackendKind,
    deployment: &str,
    snapshot: Option<&Snapshot>,
    volume_managed: bool,
) -> bool {
    match (backend, snapshot) {
        (crate::backend::BackendKind::Scheduler, Some(s)) => s.is_owned_by(deployment),
        _ => volume_managed,
    }
}

/// Other deployments that snapshot this volume too: a snapshot of it carries another
/// deployment's `ebs-gens:managed-by` and started within two periods of the volume's finest
/// class before `now` (older ones are history, e.g. from a renamed deployment). Each
/// deployment only ever deletes its own snapshots, so this is reported, not fatal.
pub fn contested_by(
    deployment: &str,
    class: GenClass,
    snapshots: &[Snapshot],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let since = now - class.nominal_period() * 2;
    let mut others: Vec<String> = snapshots
        .iter()
        .filter(|s| s.start_time >= since)
        .filter_map(|s| s.tag(TAG_MANAGED_BY))
        .filter(|d| *d != deployment)
        .map(str::to_string)
        .collect();
    others.sort();
    others.dedup();
    others
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::collections::BTreeMap;

    const ACCOUNT: &str = "123456789012";

    fn snap(min_after_930: i64, tags: &[(&str, &str)]) -> Snapshot {
        Snapshot {
            id: "snap-1".into(),
            volume_id: "vol-1".into(),
            start_time: Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap()
                + Duration::minutes(min_after_930),
            state: SnapshotState::Completed,
            owner_id: ACCOUNT.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn rule(mode: AdoptionMode) -> AdoptionRule<'static> {
        AdoptionRule {
            mode,
            window: Duration::minutes(15),
            tz: Tz::UTC,
            deployment: "prod",
            account_id: ACCOUNT,
        }
    }

    fn daily() -> Cron {
        Cron::parse("cron(30 9 * * ? *)").unwrap()
    }

    #[test]
    fn adopts_at_the_fire_time_and_at_the_window_edge() {
        let r = rule(AdoptionMode::ScheduleWindow);
        assert_eq!(
            decide_adoption(&r, &snap(0, &[]), Some(&daily())),
            Adoption::Adopt
        );
        assert_eq!(
            decide_adoption(&r, &snap(15, &[]), Some(&daily())),
            Adoption::Adopt
        );
    }

    #[test]
    fn skips_just_outside_the_window() {
        let r = rule(AdoptionMode::ScheduleWindow);
        let mut late = snap(15, &[]);
        late.start_time += Duration::seconds(1);
        assert_eq!(
            decide_adoption(&r, &late, Some(&daily())),
            Adoption::Skip {
                reason: SkipReason::OutsideWindow
            }
        );
        // Just before the fire time is outside too.
        assert_eq!(
            decide_adoption(&r, &snap(-1, &[]), Some(&daily())),
            Adoption::Skip {
                reason: SkipReason::OutsideWindow
            }
        );
    }

    #[test]
    fn any_untagged_ignores_the_window_never_adopts_nothing() {
        assert_eq!(
            decide_adoption(
                &rule(AdoptionMode::AnyUntagged),
                &snap(300, &[]),
                Some(&daily())
            ),
            Adoption::Adopt
        );
        assert_eq!(
            decide_adoption(&rule(AdoptionMode::Never), &snap(0, &[]), Some(&daily())),
            Adoption::Skip {
                reason: SkipReason::AdoptionDisabled
            }
        );
    }

    #[test]
    fn never_adopts_someone_elses_tags_or_snapshots() {
        for mode in [AdoptionMode::ScheduleWindow, AdoptionMode::AnyUntagged] {
            let r = rule(mode);
            assert_eq!(
                decide_adoption(&r, &snap(0, &[("Owner", "alice")]), Some(&daily())),
                Adoption::Skip {
                    reason: SkipReason::HasTags
                }
            );
            assert_eq!(
                decide_adoption(&r, &snap(0, &[(TAG_MANAGED_BY, "staging")]), Some(&daily())),
                Adoption::Skip {
                    reason: SkipReason::HasTags
                }
            );
            let mut foreign = snap(0, &[]);
            foreign.owner_id = "999999999999".into();
            assert_eq!(
                decide_adoption(&r, &foreign, Some(&daily())),
                Adoption::Skip {
                    reason: SkipReason::NotSelfOwned
                }
            );
            let mut pending = snap(0, &[]);
            pending.state = SnapshotState::Pending;
            assert!(matches!(
                decide_adoption(&r, &pending, Some(&daily())),
                Adoption::Skip {
                    reason: SkipReason::NotCompleted(_)
                }
            ));
            assert_eq!(
                decide_adoption(&r, &snap(0, &[]), None),
                Adoption::Skip {
                    reason: SkipReason::VolumeNotManaged
                }
            );
        }
        assert_eq!(
            decide_adoption(
                &rule(AdoptionMode::AnyUntagged),
                &snap(0, &[(TAG_MANAGED_BY, "prod")]),
                Some(&daily())
            ),
            Adoption::Skip {
                reason: SkipReason::AlreadyOurs
            }
        );
    }

    #[test]
    fn rate_schedules_cannot_be_matched_by_window() {
        let rate = Cron::parse("rate(1 day)").unwrap();
        assert_eq!(
            decide_adoption(
                &rule(AdoptionMode::ScheduleWindow),
                &snap(0, &[]),
                Some(&rate)
            ),
            Adoption::Skip {
                reason: SkipReason::RateSchedule
            }
        );
    }

    #[test]
    fn display_name_falls_back_in_order() {
        assert_eq!(display_name(Some("web"), Some("data"), Some("i-1")), "web");
        assert_eq!(display_name(Some("  "), Some("data"), Some("i-1")), "data");
        assert_eq!(display_name(None, None, Some("i-1")), "i-1");
        assert_eq!(display_name(None, None, None), "unattached");
    }

    #[test]
    fn snapshot_name_fits_ec2_limit_and_keeps_volume_id() {
        assert_eq!(
            snapshot_name("web01", GenClass::Daily, "vol-1"),
            "web01_Daily_vol-1"
        );
        let long = "é".repeat(400);
        let n = snapshot_name(&long, GenClass::Weekly, "vol-0123456789abcdef0");
        assert_eq!(n.chars().count(), MAX_TAG_VALUE);
        assert!(n.ends_with("_Weekly_vol-0123456789abcdef0"));
    }

    #[test]
    fn adoption_mode_round_trips() {
        for m in [
            AdoptionMode::ScheduleWindow,
            AdoptionMode::AnyUntagged,
            AdoptionMode::Never,
        ] {
            assert_eq!(m.to_string().parse::<AdoptionMode>().unwrap(), m);
        }
        assert!("sometimes".parse::<AdoptionMode>().is_err());
    }

    #[test]
    fn the_window_is_read_in_the_zone_the_schedule_fires_in() {
        // Pago Pago is UTC-11: cron(30 9 …) fires at 20:30 UTC, on the previous local date
        // from 09:31 UTC's point of view. A manual snapshot at 09:31 UTC is not ours.
        let r = AdoptionRule {
            tz: chrono_tz::Pacific::Pago_Pago,
            ..rule(AdoptionMode::ScheduleWindow)
        };
        let manual = snap(1, &[]); // 09:31 UTC = 22:31 local
        assert_eq!(
            decide_adoption(&r, &manual, Some(&daily())),
            Adoption::Skip {
                reason: SkipReason::OutsideWindow
            }
        );
        let fired = snap(11 * 60 + 1, &[]); // 20:31 UTC = 09:31 local
        assert_eq!(decide_adoption(&r, &fired, Some(&daily())), Adoption::Adopt);
    }

    #[test]
    fn only_our_failures_are_ours() {
        use crate::backend::BackendKind::{Rules, Scheduler};
        let ours = snap(0, &[(TAG_MANAGED_BY, "prod")]);
        let dlm = snap(0, &[("aws:dlm:lifecycle-policy-id", "policy-1")]);
        let other = snap(0, &[(TAG_MANAGED_BY, "staging")]);
        assert!(failure_is_ours(Scheduler, "prod", Some(&ours), true));
        // A managed volume's snapshot someone else took (DLM, a manual one) is theirs.
        assert!(!failure_is_ours(Scheduler, "prod", Some(&dlm), true));
        assert!(!failure_is_ours(Scheduler, "prod", Some(&other), true));
        // Gone from EC2: the volume decides, so a failure of ours is never hidden.
        assert!(failure_is_ours(Scheduler, "prod", None, true));
        assert!(!failure_is_ours(Scheduler, "prod", None, false));
        // rules: born untagged, the volume decides.
        assert!(failure_is_ours(Rules, "prod", Some(&dlm), true));
        assert!(!failure_is_ours(Rules, "prod", Some(&ours), false));
    }
}
