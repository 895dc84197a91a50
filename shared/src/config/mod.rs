//! Deployment configuration, read once from the environment in each Lambda's `main`. Every
//! setting — variable, context key, type, range, default — is described in [`table`]; the
//! ranges and defaults below come from there.

pub mod table;

use std::collections::BTreeMap;

use chrono::Duration;
use chrono_tz::Tz;

use crate::backend::rules::{valid_rule_chars, validate_prefix};
use crate::copies::{CopyKeys, CopyRules};
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
    /// Which generations are copied to which regions (a volume's tag may replace them).
    pub copies: CopyRules,
    /// Each destination's KMS key for copies (none: its default EBS key).
    pub copy_keys: CopyKeys,
    /// Time-based copies: minutes each copy is to complete within (0: best effort).
    pub copy_completion_minutes: u32,
    /// Which classes' generations are locked, in which mode.
    pub locks: crate::locks::LockRules,
    pub lock_cool_off_hours: u32,
    pub lock_max_days: u32,
    /// Restore drills: how many managed volumes a drill restores (`off`, a count or a share),
    /// and the most GiB one drill may create.
    pub drill_sample: crate::drill::DrillSample,
    pub drill_max_gib: u64,
    /// `EBS_GENS_SETS=on`: tagged instances get sets (docs/sets.md); scheduler backend only.
    pub sets: bool,
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

/// A whole-number setting of the table, its default when unset.
fn int<T: TryFrom<i64>>(
    get: &impl Fn(&str) -> Option<String>,
    row: &table::Setting,
) -> Result<T, ConfigError> {
    let default = row.default.and_then(|d| d.parse().ok());
    let n = ranged(
        get,
        row.var(),
        default.expect("a table default"),
        row.int_range(),
    )?;
    Ok(T::try_from(n).unwrap_or_else(|_| panic!("{}'s range fits its type", row.var())))
}

/// A whole-number setting of the table that must be a multiple of its step.
fn stepped<T: TryFrom<i64>>(
    get: &impl Fn(&str) -> Option<String>,
    row: &table::Setting,
) -> Result<T, ConfigError> {
    let table::Kind::Steps { step, .. } = row.kind else {
        panic!("{} is not a stepped setting", row.var());
    };
    let n: i64 = int(get, row)?;
    if n % step != 0 {
        return Err(ConfigError {
            var: row.var().to_string(),
            why: format!("{n} is not a multiple of {step}"),
        });
    }
    Ok(T::try_from(n).unwrap_or_else(|_| panic!("{}'s range fits its type", row.var())))
}

/// A decimal setting of the table, its default when unset (finite: `NaN` is refused).
fn number(get: &impl Fn(&str) -> Option<String>, row: &table::Setting) -> Result<f64, ConfigError> {
    let table::Kind::Number { min, max } = row.kind else {
        panic!("{} is not a number setting", row.var());
    };
    let default = row.default.and_then(|d| d.parse().ok());
    ranged(get, row.var(), default.expect("a table default"), min..=max)
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
        let flexible_window_minutes = int(&get, &table::FLEXIBLE_WINDOW_MINUTES)?;
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
                // EC2's limit on a tag key.
                if k.chars().count() > 128 {
                    return Err(err(
                        &key_var,
                        format!("{k:?} is longer than 128 characters"),
                    ));
                }
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
        let window: i64 = int(&get, &table::ADOPTION_WINDOW_MINUTES)?;
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
        let delete_burst: u32 = int(&get, &table::DELETE_BURST)?;
        let deletes_per_second = number(&get, &table::DELETES_PER_SECOND)?;
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
        let stale_factor: f64 = number(&get, &table::STALE_FACTOR)?;
        let grace: i64 = int(&get, &table::STALE_GRACE_MINUTES)?;
        let fuse_volume = Fuse {
            percent: int(&get, &table::FUSE_VOLUME_PERCENT)?,
            min: int(&get, &table::FUSE_VOLUME_MIN)?,
        };
        let fuse_batch = Fuse {
            percent: int(&get, &table::FUSE_BATCH_PERCENT)?,
            min: int(&get, &table::FUSE_BATCH_MIN)?,
        };
        let orphans = match get("EBS_GENS_ORPHANS") {
            None => OrphanPolicy::Keep,
            Some(v) => v.parse().map_err(|why| err("EBS_GENS_ORPHANS", why))?,
        };
        let copies = match get("EBS_GENS_COPIES") {
            None => CopyRules::default(),
            Some(v) => v.parse().map_err(|why| err("EBS_GENS_COPIES", why))?,
        };
        let copy_keys: CopyKeys = match get("EBS_GENS_COPY_KMS_KEYS") {
            None => CopyKeys::default(),
            Some(v) => v
                .parse()
                .map_err(|why| err("EBS_GENS_COPY_KMS_KEYS", why))?,
        };
        copy_keys
            .check_rules(&copies)
            .map_err(|why| err("EBS_GENS_COPY_KMS_KEYS", why))?;
        let copy_completion_minutes = stepped(&get, &table::COPY_COMPLETION_MINUTES)?;
        let locks = match get("EBS_GENS_LOCKS") {
            None => crate::locks::LockRules::default(),
            Some(v) => v.parse().map_err(|why| err("EBS_GENS_LOCKS", why))?,
        };
        let lock_cool_off_hours = int(&get, &table::LOCK_COOL_OFF_HOURS)?;
        let lock_max_days = int(&get, &table::LOCK_MAX_DAYS)?;
        let drill_sample = match get("EBS_GENS_DRILL_VOLUMES") {
            None => crate::drill::DrillSample::Off,
            Some(v) => v
                .parse()
                .map_err(|why| err("EBS_GENS_DRILL_VOLUMES", why))?,
        };
        let drill_max_gib = int(&get, &table::DRILL_MAX_GIB)?;
        let sets = match get("EBS_GENS_SETS").as_deref() {
            None | Some("off") => false,
            Some("on") => true,
            Some(other) => return Err(err("EBS_GENS_SETS", format!("{other:?} is not off or on"))),
        };
        if sets && backend.kind() == BackendKind::Rules {
            return Err(err(
                "EBS_GENS_SETS",
                "on needs EBS_GENS_BACKEND=scheduler: the rules backend's built-in target snapshots one volume, never an instance's volumes together".into(),
            ));
        }
        Ok(Settings {
            sets,
            drill_sample,
            drill_max_gib,
            locks,
            lock_cool_off_hours,
            lock_max_days,
            copy_completion_minutes,
            copy_keys,
            copies,
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
    /// What lock planning needs: the rules, the cooling-off period, the longest lock, and the
    /// margin added to every keep time — the schedules' flexible window (a snapshot may be taken
    /// that much later, so the one that replaces a generation may come that much later) and one
    /// hour (the sweep that prunes it, when its event was missed).
    pub fn lock_terms(&self) -> crate::locks::LockTerms {
        crate::locks::LockTerms {
            rules: self.locks.clone(),
            cool_off_hours: self.lock_cool_off_hours,
            max_days: self.lock_max_days,
            margin: Duration::minutes(i64::from(self.backend.flexible_window_minutes()) + 60),
        }
    }

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
            ("EBS_GENS_DRILL_VOLUMES", "abc"),
            ("EBS_GENS_DRILL_VOLUMES", "101%"),
            ("EBS_GENS_DRILL_MAX_GIB", "0"),
            ("EBS_GENS_SETS", "true"),
        ] {
            let e = with(&[bad]).expect_err(bad.0);
            assert!(
                e.to_string().contains(bad.0.trim_end_matches("WEEKLY")),
                "{e}"
            );
        }
    }

    #[test]
    fn sets_are_off_by_default_and_refused_with_the_rules_backend() {
        assert!(!Settings::default().sets);
        assert!(with(&[("EBS_GENS_SETS", "on")]).unwrap().sets);
        let e = with(&[("EBS_GENS_SETS", "on"), ("EBS_GENS_BACKEND", "rules")])
            .expect_err("sets with rules");
        let msg = e.to_string();
        assert!(
            msg.contains("EBS_GENS_SETS") && msg.contains("EBS_GENS_BACKEND=scheduler"),
            "{msg}"
        );
    }

    /// Every variable `from_lookup` reads is in the table, and every variable in the table is
    /// read: the table cannot describe a setting the functions ignore, or miss one they read.
    #[test]
    fn settings_table_names_exactly_the_variables_read() {
        let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
        for backend in ["scheduler", "rules"] {
            Settings::from_lookup(|k| {
                asked.borrow_mut().insert(k.to_string());
                (k == "EBS_GENS_BACKEND").then(|| backend.to_string())
            })
            .unwrap();
        }
        let table: std::collections::BTreeSet<String> = table::SETTINGS
            .iter()
            .filter_map(|s| s.env.map(str::to_string))
            .collect();
        assert_eq!(asked.into_inner(), table);
    }

    /// Each row's type, range and default are what the parser does: the default given
    /// explicitly changes nothing, the bounds are accepted, one step outside is refused naming
    /// the variable, and so is a value of the wrong shape.
    #[test]
    fn settings_table_ranges_and_defaults_are_the_parsers() {
        use table::Kind;
        let unset = format!("{:?}", with(&[]).unwrap());
        for row in table::SETTINGS
            .iter()
            .filter(|r| r.set_by == table::SetBy::Operator)
        {
            let Some(var) = row.env else { continue };
            if let Some(d) = row.default {
                let explicit = format!("{:?}", with(&[(var, d)]).unwrap());
                assert_eq!(explicit, unset, "{var}={d} is not the default");
            }
            let (good, bad): (Vec<String>, Vec<String>) = match row.kind {
                Kind::Integer { min, max } => (
                    vec![min.to_string(), max.to_string()],
                    vec![
                        (min - 1).to_string(),
                        (max + 1).to_string(),
                        "abc".into(),
                        "1.5".into(),
                    ],
                ),
                Kind::Steps { min, max, step } => (
                    vec![min.to_string(), (min + step).to_string(), max.to_string()],
                    vec![
                        (min - step).to_string(),
                        (max + step).to_string(),
                        (min + 1).to_string(),
                        "abc".into(),
                    ],
                ),
                Kind::Number { min, max } => (
                    vec![min.to_string(), max.to_string()],
                    vec![
                        (min - 0.001).to_string(),
                        (max + 1.0).to_string(),
                        "NaN".into(),
                        "abc".into(),
                    ],
                ),
                Kind::Boolean => (
                    vec!["true".into(), "false".into()],
                    vec!["True".into(), "1".into()],
                ),
                Kind::OneOf(values) => (
                    values.iter().map(|v| v.to_string()).collect(),
                    vec!["bogus".into(), values[0].to_uppercase()],
                ),
                Kind::TimeZone => (
                    table::time_zones().iter().map(|z| z.to_string()).collect(),
                    vec!["Mars/Olympus".into(), "utc+1".into()],
                ),
                Kind::Cron => (
                    vec!["cron(0 3 * * ? *)".into()],
                    vec!["cron(0 18 * * *)".into(), "daily".into()],
                ),
                Kind::Orphans {
                    keep_last,
                    older_than_days,
                } => (
                    vec![
                        format!("keep-last={},older-than={}", keep_last.0, older_than_days.1),
                        format!("keep-last={},older-than={}", keep_last.1, older_than_days.0),
                    ],
                    vec![
                        format!("keep-last={},older-than=30", keep_last.0 - 1),
                        format!("keep-last={},older-than=30", keep_last.1 + 1),
                        format!("keep-last=3,older-than={}", older_than_days.1 + 1),
                        "delete".into(),
                    ],
                ),
                Kind::Text { .. } => (vec![], vec![format!("{} x", "x".repeat(200))]),
                Kind::Arn { .. } => (vec![], vec!["not-an-arn".into()]),
                Kind::Locks { .. } => (
                    vec![
                        "off".into(),
                        "daily=governance".into(),
                        "weekly=compliance,daily=governance".into(),
                    ],
                    vec![
                        "daily".into(),
                        "daily=forever".into(),
                        "daily=governance daily=compliance".into(),
                    ],
                ),
                Kind::Copies {
                    regions, max_keep, ..
                } => (
                    vec![
                        format!("weekly:{}=1 daily:{}={max_keep}", regions[0], regions[1]),
                        "off".into(),
                    ],
                    vec![
                        format!("weekly:{}=0", regions[0]),
                        format!("weekly:{}={}", regions[0], max_keep + 1),
                        "weekly:mars-east-1=3".into(),
                        "yearly:us-west-2=3".into(),
                    ],
                ),
            };
            for v in &good {
                // A rate cannot be matched to a fire time: adoption may not be schedule-window.
                with(&[(var, v.as_str()), ("EBS_GENS_ADOPTION", "any-untagged")])
                    .unwrap_or_else(|e| panic!("{var}={v:?} refused: {e}"));
            }
            for v in &bad {
                let e = with(&[(var, v.as_str())]).expect_err(&format!("{var}={v:?} accepted"));
                assert_eq!(e.var, var, "{e}");
            }
        }
    }

    #[test]
    fn stack_set_rows_are_refused_when_malformed() {
        for row in table::SETTINGS
            .iter()
            .filter(|r| r.set_by == table::SetBy::Stack)
        {
            let var = row.env.unwrap();
            let e = with(&[(var, "has space, not an ARN")]).expect_err(var);
            assert_eq!(e.var, var);
        }
    }
}
