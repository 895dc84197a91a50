//! Deployment configuration, read once from the environment in each Lambda's `main`.
//!
//! | variable                         | default                  |
//! |----------------------------------|--------------------------|
//! | `EBS_GENS_DEPLOYMENT`            | `default`                |
//! | `EBS_GENS_RULE_PREFIX`           | `ebs-gens-<deployment>-` |
//! | `EBS_GENS_TIME_ZONE`             | `UTC` (IANA name)        |
//! | `EBS_GENS_ADOPTION`              | `never` on `scheduler`, `schedule-window` on `rules` |
//! | `EBS_GENS_ADOPTION_WINDOW_MINUTES` | `15`                   |
//! | `EBS_GENS_DRY_RUN`               | `false` (`true`: change nothing) |
//! | `EBS_GENS_DELETE_BURST`          | `20`                     |
//! | `EBS_GENS_DELETES_PER_SECOND`    | `2`                      |
//! | `EBS_GENS_BACKEND`               | `scheduler` (or `rules`: the 2017 recipe's built-in target) |
//! | `EBS_GENS_SCHEDULE_GROUP`        | `ebs-gens-<deployment>`  |
//! | `EBS_GENS_FLEXIBLE_WINDOW_MINUTES` | `60` (`0`: off; at most 1440) |
//! | `EBS_GENS_STALE_FACTOR`          | `1.5` (× the finest class's period; 1..=100) |
//! | `EBS_GENS_STALE_GRACE_MINUTES`   | `15` (0..=10080; Scheduler's flexible window is added) |
//! | `EBS_GENS_FUSE_VOLUME_PERCENT`   | `50` (1..=100; 100: off)  |
//! | `EBS_GENS_FUSE_VOLUME_MIN`       | `5`                      |
//! | `EBS_GENS_FUSE_BATCH_PERCENT`    | `25` (1..=100; 100: off)  |
//! | `EBS_GENS_FUSE_BATCH_MIN`        | `100`                    |
//! | `EBS_GENS_ORPHANS`               | `keep` (or `keep-last=K,older-than=DAYS`) |
//! | `EBS_GENS_TAG_KEY_<CLASS>`       | `Hourly_Gens`, `Daily_Gens`, ... |
//! | `EBS_GENS_CRON_<CLASS>`          | see [`GenClass::default_cron`] |
//!
//! `<CLASS>` is `HOURLY`, `DAILY`, `WEEKLY` or `MONTHLY`.

use std::collections::BTreeMap;

use chrono::Duration;
use chrono_tz::Tz;

use crate::backend::rules::{valid_rule_chars, validate_prefix};
use crate::cron::Cron;
use crate::fuse::Fuse;
use crate::health::StaleRule;
use crate::orphans::OrphanPolicy;
use crate::ownership::{AdoptionMode, AdoptionRule};
use crate::plan::PlanContext;
use crate::policy::{GenClass, TagKeys};

/// Deployment names: 1..=32 characters of `[A-Za-z0-9._-]`.
pub const MAX_DEPLOYMENT: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration {var}: {why}")]
pub struct ConfigError {
    pub var: String,
    pub why: String,
}

pub use crate::backend::{Backend, BackendKind};

/// Everything the core needs from the deployment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub deployment: String,
    /// How snapshots are born, with what that needs (see [`Backend`]).
    pub backend: Backend,
    /// Where the scheduler backend keeps its schedules (known to both backends: a reconcile
    /// removes what the other backend left behind after a switch).
    pub schedule_group: String,
    /// What the rules backend's rule names begin with (known to both, likewise).
    pub rule_prefix: String,
    pub tz: Tz,
    pub tag_keys: TagKeys,
    pub crons: BTreeMap<GenClass, Cron>,
    pub adoption: AdoptionMode,
    pub adoption_window: Duration,
    /// Client-side DeleteSnapshot pacing per Lambda instance (AWS's bucket: 100 burst, 5/s per
    /// account and region, shared by every concurrent prune).
    pub delete_burst: u32,
    pub deletes_per_second: f64,
    /// `EBS_GENS_DRY_RUN=true`: every function plans and reports but changes nothing, whatever
    /// its input says (for pointing a local run at a real account, or a cautious first deploy).
    pub force_dry_run: bool,
    /// When a volume counts as stale (the flexible window is added on the scheduler backend).
    pub stale_factor: f64,
    pub stale_grace: Duration,
    /// The bulk-deletion fuse, per volume and per prune batch (the fleet-wide guard).
    pub fuse_volume: Fuse,
    pub fuse_batch: Fuse,
    /// What happens to snapshots of ours whose volume is gone or untagged.
    pub orphans: OrphanPolicy,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_lookup(|_| None).expect("defaults are valid")
    }
}

/// A whole-number setting within `range`, `default` when unset; anything else names the variable.
fn ranged<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(v) = get(var) else {
        return Ok(default);
    };
    v.parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| ConfigError {
            var: var.to_string(),
            why: format!("{v:?} is not {}..={}", range.start(), range.end()),
        })
}

impl Settings {
    /// Reads settings through `lookup` (e.g. `|k| std::env::var(k).ok()`), validating each.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let err = |var: &str, why: String| ConfigError {
            var: var.to_string(),
            why,
        };
        let get = |var: &str| {
            lookup(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let deployment = get("EBS_GENS_DEPLOYMENT").unwrap_or_else(|| "default".into());
        if deployment.len() > MAX_DEPLOYMENT || !valid_rule_chars(&deployment) {
            return Err(err(
                "EBS_GENS_DEPLOYMENT",
                format!("{deployment:?} must be 1..={MAX_DEPLOYMENT} characters of [A-Za-z0-9._-]"),
            ));
        }
        let schedule_group =
            get("EBS_GENS_SCHEDULE_GROUP").unwrap_or_else(|| format!("ebs-gens-{deployment}"));
        if !crate::backend::scheduler::valid_schedule_name(&schedule_group) {
            return Err(err(
                "EBS_GENS_SCHEDULE_GROUP",
                format!("{schedule_group:?} must be 1..=64 characters of [0-9a-zA-Z-_.]"),
            ));
        }
        let arn = |var: &str, valid: fn(&str) -> bool, what: &str| match get(var) {
            Some(a) if !valid(&a) => Err(err(var, format!("{a:?} is not {what}"))),
            a => Ok(a),
        };
        // All three are checked whichever backend runs (the stack sets them for both).
        let role = |var: &str| arn(var, crate::backend::valid_role_arn, "an IAM role ARN");
        let scheduler_role = role("EBS_GENS_SCHEDULER_ROLE_ARN")?;
        let snapshot_role = role("EBS_GENS_SNAPSHOT_ROLE_ARN")?;
        let dead_letter_arn = arn(
            "EBS_GENS_SCHEDULE_DLQ_ARN",
            crate::backend::valid_queue_arn,
            "an SQS queue ARN",
        )?;
        // Checked on both backends: a bad value is an error even where it is not used.
        let flexible_window_minutes =
            ranged(&get, "EBS_GENS_FLEXIBLE_WINDOW_MINUTES", 60, 0..=1440)?;
        let backend = match get("EBS_GENS_BACKEND").as_deref() {
            None | Some("scheduler") => Backend::Scheduler {
                flexible_window_minutes,
                role_arn: scheduler_role,
                dead_letter_arn,
            },
            Some("rules") => Backend::Rules {
                snapshot_role_arn: snapshot_role,
            },
            Some(other) => {
                return Err(err(
                    "EBS_GENS_BACKEND",
                    format!("{other:?} is not scheduler or rules"),
                ))
            }
        };
        let rule_prefix =
            get("EBS_GENS_RULE_PREFIX").unwrap_or_else(|| format!("ebs-gens-{deployment}-"));
        validate_prefix(&rule_prefix).map_err(|why| err("EBS_GENS_RULE_PREFIX", why))?;

        let tz = match get("EBS_GENS_TIME_ZONE") {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                err(
                    "EBS_GENS_TIME_ZONE",
                    format!("{name:?} is not an IANA time zone"),
                )
            })?,
        };

        let mut tag_keys = TagKeys::default();
        let mut crons = BTreeMap::new();
        for class in GenClass::ALL {
            let upper = class.label().to_ascii_uppercase();
            let key_var = format!("EBS_GENS_TAG_KEY_{upper}");
            if let Some(k) = get(&key_var) {
                tag_keys = tag_keys.with_key(class, k);
            }
            let cron_var = format!("EBS_GENS_CRON_{upper}");
            let expr = get(&cron_var).unwrap_or_else(|| class.default_cron().to_string());
            let cron = Cron::parse(&expr).map_err(|e| err(&cron_var, e.why))?;
            crons.insert(class, cron);
        }
        let keys: Vec<&str> = tag_keys.iter().map(|(_, k)| k).collect();
        if (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
            return Err(err(
                "EBS_GENS_TAG_KEY_*",
                "two classes share one tag key".into(),
            ));
        }

        // On `scheduler` every snapshot we take is born tagged: an untagged one is not ours.
        let adoption = match get("EBS_GENS_ADOPTION") {
            None => match backend.kind() {
                BackendKind::Scheduler => AdoptionMode::Never,
                BackendKind::Rules => AdoptionMode::ScheduleWindow,
            },
            Some(m) => m.parse().map_err(|why| err("EBS_GENS_ADOPTION", why))?,
        };
        let window: i64 = ranged(&get, "EBS_GENS_ADOPTION_WINDOW_MINUTES", 15, 1..=1440)?;
        // schedule-window adoption matches a snapshot to a fixed fire time; a rate() schedule
        // has none, so not one snapshot of that class could ever be adopted (or pruned).
        if adoption == AdoptionMode::ScheduleWindow {
            if let Some((class, s)) = crons.iter().find(|(_, s)| s.is_rate()) {
                return Err(err(
                    &format!("EBS_GENS_CRON_{}", class.label().to_ascii_uppercase()),
                    format!(
                        "{} has no fixed fire times, so EBS_GENS_ADOPTION=schedule-window could never adopt a {class} snapshot; use a cron(...) expression or EBS_GENS_ADOPTION=any-untagged",
                        s.expression()
                    ),
                ));
            }
        }
        let delete_burst: u32 = ranged(&get, "EBS_GENS_DELETE_BURST", 20, 1..=100)?;
        let deletes_per_second = match get("EBS_GENS_DELETES_PER_SECOND") {
            None => 2.0,
            Some(r) => r
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1000.0)
                .ok_or_else(|| {
                    err(
                        "EBS_GENS_DELETES_PER_SECOND",
                        format!("{r:?} is not a rate in (0, 1000]"),
                    )
                })?,
        };
        let force_dry_run = match get("EBS_GENS_DRY_RUN").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(err(
                    "EBS_GENS_DRY_RUN",
                    format!("{other:?} is not true or false"),
                ))
            }
        };
        let stale_factor: f64 = ranged(&get, "EBS_GENS_STALE_FACTOR", 1.5, 1.0..=100.0)?;
        let grace: i64 = ranged(&get, "EBS_GENS_STALE_GRACE_MINUTES", 15, 0..=10080)?;
        let fuse_volume = Fuse {
            percent: ranged(&get, "EBS_GENS_FUSE_VOLUME_PERCENT", 50, 1..=100)?,
            min: ranged(&get, "EBS_GENS_FUSE_VOLUME_MIN", 5, 0..=100_000)?,
        };
        let fuse_batch = Fuse {
            percent: ranged(&get, "EBS_GENS_FUSE_BATCH_PERCENT", 25, 1..=100)?,
            min: ranged(&get, "EBS_GENS_FUSE_BATCH_MIN", 100, 0..=1_000_000)?,
        };
        let orphans = match get("EBS_GENS_ORPHANS") {
            None => OrphanPolicy::Keep,
            Some(v) => v.parse().map_err(|why| err("EBS_GENS_ORPHANS", why))?,
        };
        Ok(Settings {
            stale_factor,
            stale_grace: Duration::minutes(grace),
            fuse_volume,
            fuse_batch,
            orphans,
            backend,
            schedule_group,
            force_dry_run,
            delete_burst,
            deletes_per_second,
            deployment,
            rule_prefix,
            tz,
            tag_keys,
            crons,
            adoption,
            adoption_window: Duration::minutes(window),
        })
    }

    /// Reads settings from the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// When `class` fires (`EBS_GENS_CRON_<CLASS>`).
    pub fn cron(&self, class: GenClass) -> &Cron {
        &self.crons[&class]
    }

    pub fn plan_context<'a>(&'a self, account_id: &'a str) -> PlanContext<'a> {
        PlanContext {
            deployment: &self.deployment,
            account_id,
            tz: self.tz,
        }
    }

    /// When a volume is stale: Scheduler's flexible window delays a firing by up to that
    /// much, so it is added on the scheduler backend.
    pub fn stale_rule(&self) -> StaleRule {
        StaleRule {
            factor: self.stale_factor,
            grace: self.stale_grace,
            window: Duration::minutes(self.backend.flexible_window_minutes().into()),
        }
    }

    /// Adoption as the backend fires: EventBridge rules fire in UTC, on time; Scheduler fires
    /// in the deployment's zone, up to its flexible window late.
    pub fn adoption_rule<'a>(&'a self, account_id: &'a str) -> AdoptionRule<'a> {
        let (tz, late) = match self.backend.kind() {
            BackendKind::Rules => (Tz::UTC, Duration::zero()),
            BackendKind::Scheduler => (
                self.tz,
                Duration::minutes(self.backend.flexible_window_minutes().into()),
            ),
        };
        AdoptionRule {
            mode: self.adoption,
            window: self.adoption_window + late,
            tz,
            deployment: &self.deployment,
            account_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn rate_schedules_cannot_use_schedule_window_adoption() {
        let e = with(&[
            ("EBS_GENS_CRON_HOURLY", "rate(1 hour)"),
            ("EBS_GENS_BACKEND", "rules"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "EBS_GENS_CRON_HOURLY");
        // On `scheduler` the default is `never`: nothing to match.
        assert!(with(&[("EBS_GENS_CRON_HOURLY", "rate(1 hour)")]).is_ok());
        assert!(e.why.contains("schedule-window"), "{e}");
        let s = with(&[
            ("EBS_GENS_CRON_HOURLY", "rate(1 hour)"),
            ("EBS_GENS_ADOPTION", "any-untagged"),
        ])
        .unwrap();
        assert!(s.cron(GenClass::Hourly).is_rate());
    }

    #[test]
    fn defaults() {
        let s = with(&[]).unwrap();
        assert_eq!(s.deployment, "default");
        assert_eq!(s.rule_prefix, "ebs-gens-default-");
        assert_eq!(s.tz, Tz::UTC);
        assert_eq!(s.cron(GenClass::Daily).expression(), "cron(30 9 * * ? *)");
        assert_eq!(s.adoption, AdoptionMode::Never);
        assert_eq!(s.adoption_window, Duration::minutes(15));
        let r = s.adoption_rule("123456789012");
        assert_eq!((r.tz, r.window), (Tz::UTC, Duration::minutes(15 + 60)));
        assert_eq!(s.backend, Backend::default());
        assert_eq!(s.schedule_group, "ebs-gens-default");
        assert_eq!(s.backend.flexible_window_minutes(), 60);
        assert_eq!(
            s.fuse_volume,
            Fuse {
                percent: 50,
                min: 5
            }
        );
        assert_eq!(
            s.fuse_batch,
            Fuse {
                percent: 25,
                min: 100
            }
        );
        assert_eq!(s.orphans, OrphanPolicy::Keep);
        let r = s.stale_rule();
        assert_eq!(
            r.allowed(GenClass::Daily),
            Duration::hours(36) + Duration::minutes(15 + 60)
        );
        let rules = with(&[
            ("EBS_GENS_BACKEND", "rules"),
            ("EBS_GENS_STALE_FACTOR", "2"),
            ("EBS_GENS_TIME_ZONE", "Asia/Tokyo"),
        ])
        .unwrap();
        assert_eq!(rules.adoption, AdoptionMode::ScheduleWindow);
        // EventBridge rules fire in UTC, on time, whatever the deployment's zone.
        let r = rules.adoption_rule("123456789012");
        assert_eq!((r.tz, r.window), (Tz::UTC, Duration::minutes(15)));
        let tokyo = with(&[
            ("EBS_GENS_TIME_ZONE", "Asia/Tokyo"),
            ("EBS_GENS_ADOPTION", "schedule-window"),
            ("EBS_GENS_FLEXIBLE_WINDOW_MINUTES", "0"),
        ])
        .unwrap();
        let r = tokyo.adoption_rule("123456789012");
        assert_eq!(
            (r.mode, r.tz, r.window),
            (
                AdoptionMode::ScheduleWindow,
                chrono_tz::Asia::Tokyo,
                Duration::minutes(15)
            )
        );
        assert_eq!(
            rules.stale_rule().allowed(GenClass::Hourly),
            Duration::minutes(135)
        );
        let o = with(&[("EBS_GENS_ORPHANS", "keep-last=2,older-than=30")]).unwrap();
        assert_eq!(
            o.orphans,
            OrphanPolicy::KeepLast {
                keep: 2,
                older_than_days: 30
            }
        );
    }

    #[test]
    fn overrides_and_refusals() {
        let s = with(&[
            ("EBS_GENS_DEPLOYMENT", "prod"),
            ("EBS_GENS_TIME_ZONE", "Asia/Tokyo"),
            ("EBS_GENS_CRON_DAILY", "cron(0 18 * * ? *)"),
            ("EBS_GENS_ADOPTION", "any-untagged"),
            ("EBS_GENS_TAG_KEY_DAILY", "backup:daily"),
        ])
        .unwrap();
        assert_eq!(s.tz, chrono_tz::Asia::Tokyo);
        assert_eq!(s.tag_keys.key(GenClass::Daily), "backup:daily");
        assert_eq!(s.rule_prefix, "ebs-gens-prod-");
        for bad in [
            ("EBS_GENS_DEPLOYMENT", "prod env"),
            ("EBS_GENS_TIME_ZONE", "Mars/Olympus"),
            ("EBS_GENS_CRON_DAILY", "cron(0 18 * * *)"),
            ("EBS_GENS_ADOPTION", "maybe"),
            ("EBS_GENS_ADOPTION_WINDOW_MINUTES", "0"),
            ("EBS_GENS_TAG_KEY_WEEKLY", "Daily_Gens"),
            ("EBS_GENS_RULE_PREFIX", "has space"),
            ("EBS_GENS_BACKEND", "Scheduler"),
            ("EBS_GENS_FLEXIBLE_WINDOW_MINUTES", "1441"),
            ("EBS_GENS_FLEXIBLE_WINDOW_MINUTES", "abc"),
            ("EBS_GENS_SCHEDULE_GROUP", "has space"),
            ("EBS_GENS_SCHEDULER_ROLE_ARN", "ebs-gens-scheduler"),
            (
                "EBS_GENS_SCHEDULE_DLQ_ARN",
                "arn:aws:iam::123456789012:role/x",
            ),
            ("EBS_GENS_DRY_RUN", "True"),
            ("EBS_GENS_DRY_RUN", "1"),
            ("EBS_GENS_DRY_RUN", "yes"),
            ("EBS_GENS_STALE_FACTOR", "abc"),
            ("EBS_GENS_STALE_FACTOR", "0.5"),
            ("EBS_GENS_STALE_FACTOR", "NaN"),
            ("EBS_GENS_STALE_GRACE_MINUTES", "-1"),
            ("EBS_GENS_FUSE_VOLUME_PERCENT", "0"),
            ("EBS_GENS_FUSE_VOLUME_PERCENT", "150"),
            ("EBS_GENS_FUSE_VOLUME_MIN", "five"),
            ("EBS_GENS_FUSE_BATCH_PERCENT", "50%"),
            ("EBS_GENS_FUSE_BATCH_MIN", "-3"),
            ("EBS_GENS_ORPHANS", "delete"),
            ("EBS_GENS_ORPHANS", "keep-last=0,older-than=30"),
            ("EBS_GENS_ORPHANS", "keep-last=3"),
        ] {
            let e = with(&[bad]).expect_err(bad.0);
            assert!(
                e.to_string().contains(bad.0.trim_end_matches("WEEKLY")),
                "{e}"
            );
        }
    }
}
