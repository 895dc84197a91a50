//! EventBridge Scheduler layout, the default backend: one schedule per managed volume in the
//! deployment's schedule group, whose universal target (`aws-sdk:ec2:createSnapshot`) creates
//! the snapshot *with our tags*. Pure: no I/O, no SDK types.
//!
//! ListSchedules returns names only (no expression, no target input), so a schedule's name
//! carries a short hash of everything that defines it: `vol-0abc….daily.1f2e3d4c5b6a`. The
//! reconcile then needs the listing alone — no GetSchedule per schedule — and replaces a
//! schedule whose hash differs (create the new one first, then delete the old: a volume is never
//! left without one).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::policy::GenClass;

/// Scheduler names: 1..=64 characters of `[0-9a-zA-Z-_.]`.
pub const MAX_SCHEDULE_NAME: usize = 64;
/// ListSchedules `MaxResults`: 1..=100.
pub const MAX_SCHEDULES_PAGE: i32 = 100;
/// The universal target that calls EC2 CreateSnapshot with the schedule's `Input`, in the
/// region's partition (`aws`, `aws-cn`, `aws-us-gov`, …): `arn:aws:scheduler:::aws-sdk:ec2:createSnapshot`
/// in the commercial regions.
pub fn create_snapshot_target(partition: &str) -> String {
    format!("arn:{partition}:scheduler:::aws-sdk:ec2:createSnapshot")
}

/// One schedule as ListSchedules summarizes it: its name and whether it is enabled (a
/// schedule someone disabled keeps its name, so the name alone would call it current).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedSchedule {
    pub name: String,
    pub enabled: bool,
}

impl ListedSchedule {
    pub fn enabled(name: impl Into<String>) -> Self {
        ListedSchedule {
            name: name.into(),
            enabled: true,
        }
    }
}

/// Whether `s` is a valid schedule or group name.
pub fn valid_schedule_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCHEDULE_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Everything that defines one volume's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub name: String,
    pub volume_id: String,
    pub class: GenClass,
    /// `cron(...)` or `rate(...)`.
    pub expression: String,
    /// IANA zone the cron is evaluated in.
    pub time_zone: String,
    /// Scheduler's flexible time window (0: off).
    pub flexible_window_minutes: u32,
    /// The CreateSnapshot request, as JSON (`VolumeId`, `Description`, `TagSpecifications`).
    pub input: String,
    /// Retry policy: attempts and the longest an invocation may be retried.
    pub retry_attempts: u32,
    pub max_event_age_seconds: u32,
    pub role_arn: String,
    pub dead_letter_arn: Option<String>,
    /// The universal target's ARN ([`create_snapshot_target`] of the region's partition).
    pub target_arn: String,
}

/// The deployment facts every schedule shares.
#[derive(Debug, Clone)]
pub struct ScheduleContext {
    pub deployment: String,
    pub time_zone: String,
    pub flexible_window_minutes: u32,
    pub role_arn: String,
    pub dead_letter_arn: Option<String>,
    /// The AWS partition of the deployment's region (`aws`, `aws-cn`, `aws-us-gov`, …).
    pub partition: String,
}

/// One managed volume as the schedule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleVolume {
    pub volume_id: String,
    pub class: GenClass,
    pub expression: String,
    /// The tags each snapshot is born with (ours, `Name` included).
    pub tags: Vec<(String, String)>,
    /// What else identifies the volume's tags for the hash (instance id, volume `Name`), so a
    /// re-attached volume gets a new schedule without looking up instance names every sweep.
    pub identity: String,
}

/// FNV-1a 64: a short, stable hash (not for security: names only change when inputs change).
fn fnv64(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Retry policy bounded by the schedule's interval: a snapshot started later than a quarter of
/// its interval (at most an hour, at least a minute) is worse than the next scheduled one.
pub fn max_event_age_seconds(class: GenClass) -> u32 {
    let quarter = class.nominal_period().num_seconds() / 4;
    quarter.clamp(60, 3600) as u32
}

/// Attempts Scheduler makes for one firing (the default, 185 over 24 h, would stack snapshots).
pub const RETRY_ATTEMPTS: u32 = 3;

/// The desired schedule of `v`.
pub fn spec(v: &ScheduleVolume, ctx: &ScheduleContext) -> ScheduleSpec {
    let input = serde_json::json!({
        "VolumeId": v.volume_id,
        "Description": format!("ebs-gens {}: {} snapshot of {}", ctx.deployment, v.class, v.volume_id),
        "TagSpecifications": tag_specifications(&v.tags),
    })
    .to_string();
    schedule(
        &v.volume_id,
        v.class,
        &v.expression,
        &v.identity,
        input,
        create_snapshot_target(&ctx.partition),
        ctx,
    )
}

/// The universal target that calls EC2 CreateSnapshots (an instance's volumes together).
pub fn create_snapshots_target(partition: &str) -> String {
    format!("arn:{partition}:scheduler:::aws-sdk:ec2:createSnapshots")
}

/// What Scheduler writes into a target's input at each firing: the scheduled time, the same on
/// every retry of that firing ("Adding context attributes in EventBridge Scheduler",
/// https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html;
/// its example is a universal target).
pub const SCHEDULED_TIME: &str = "<aws.scheduler.scheduled-time>";

/// One instance with sets, as its schedule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleInstance {
    pub membership: crate::sets::Membership,
    pub class: GenClass,
    pub expression: String,
    /// The tags every member is born with (ours, the set tag added here).
    pub tags: Vec<(String, String)>,
    /// What else identifies it for the hash (its policy).
    pub identity: String,
}

/// The desired schedule of an instance's sets: CreateSnapshots with its InstanceSpecification
/// (the boot volume and the excluded data volumes left out), every member born with our tags and
/// `ebs-gens:set` = `<instance>@<scheduled time>`. Which volumes are attached is read by EC2 at
/// each firing, so a volume attached later joins the next set; the exclusions are in the hash.
pub fn instance_spec(i: &ScheduleInstance, ctx: &ScheduleContext) -> ScheduleSpec {
    let m = &i.membership;
    let mut tags = i.tags.clone();
    tags.push((
        crate::sets::TAG_SET.to_string(),
        format!("{}@{SCHEDULED_TIME}", m.instance),
    ));
    let mut spec = serde_json::json!({
        "InstanceSpecification": {
            "InstanceId": m.instance,
            "ExcludeBootVolume": m.exclude_boot,
        },
        "Description": format!("ebs-gens {}: {} set of {}", ctx.deployment, i.class, m.instance),
        "TagSpecifications": tag_specifications(&tags),
    });
    if !m.excluded.is_empty() {
        spec["InstanceSpecification"]["ExcludeDataVolumeIds"] = serde_json::json!(m.excluded);
    }
    let identity = format!(
        "{}|boot={}|{}",
        i.identity,
        m.exclude_boot,
        m.excluded.join(",")
    );
    schedule(
        &m.instance,
        i.class,
        &i.expression,
        &identity,
        spec.to_string(),
        create_snapshots_target(&ctx.partition),
        ctx,
    )
}

fn tag_specifications(tags: &[(String, String)]) -> serde_json::Value {
    serde_json::json!([{
        "ResourceType": "snapshot",
        "Tags": tags.iter().map(|(k, val)| serde_json::json!({"Key": k, "Value": val})).collect::<Vec<_>>(),
    }])
}

/// A schedule named `<resource>.<class>.<hash of what defines it>`.
fn schedule(
    resource: &str,
    class: GenClass,
    expression: &str,
    identity: &str,
    input: String,
    target_arn: String,
    ctx: &ScheduleContext,
) -> ScheduleSpec {
    let window = ctx.flexible_window_minutes.to_string();
    let dlq = ctx.dead_letter_arn.clone().unwrap_or_default();
    let hash = fnv64(&[
        expression,
        &ctx.time_zone,
        &window,
        identity,
        &ctx.deployment,
        &ctx.role_arn,
        &dlq,
        class.label(),
    ]);
    ScheduleSpec {
        name: format!(
            "{resource}.{}.{:012x}",
            class.label(),
            hash & 0xffff_ffff_ffff
        ),
        volume_id: resource.to_string(),
        class,
        expression: expression.to_string(),
        time_zone: ctx.time_zone.clone(),
        flexible_window_minutes: ctx.flexible_window_minutes,
        input,
        retry_attempts: RETRY_ATTEMPTS,
        max_event_age_seconds: max_event_age_seconds(class),
        role_arn: ctx.role_arn.clone(),
        dead_letter_arn: ctx.dead_letter_arn.clone(),
        target_arn,
    }
}

/// Reads one of our schedule names back: `(volume or instance id, class)`; `None` for anything
/// else (never touched).
pub fn parse_schedule_name(name: &str) -> Option<(String, GenClass)> {
    let mut parts = name.split('.');
    let (Some(vol), Some(class), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let class = GenClass::ALL.into_iter().find(|c| c.label() == class)?;
    let id = vol
        .strip_prefix("vol-")
        .or_else(|| vol.strip_prefix("i-"))
        .unwrap_or_default();
    let ok = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && hash.len() == 12
        && hash.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| (vol.to_string(), class))
}

/// What to change in the group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleChanges {
    /// Schedules to create (new volumes, and replacements of changed ones).
    pub create: Vec<ScheduleSpec>,
    /// Current schedules someone disabled: updated with their whole definition, enabled
    /// (UpdateSchedule resets every field it is not given).
    pub enable: Vec<ScheduleSpec>,
    /// Names of schedules to delete (after the creates: replaced, or their volume is gone).
    pub delete: Vec<String>,
    /// How many of ours are current, enabled and untouched.
    pub unchanged: usize,
}

impl ScheduleChanges {
    pub fn count(&self) -> usize {
        self.create.len() + self.enable.len() + self.delete.len()
    }

    /// The changes as units of one volume each, in the order they must be applied: the
    /// volume's new schedule is created (or re-enabled) before its old one is deleted, so a
    /// volume that is replaced is never left with neither, and has both only for the moment
    /// between the two calls.
    pub fn by_volume(&self) -> Vec<VolumeScheduleChange<'_>> {
        let mut units: BTreeMap<&str, VolumeScheduleChange<'_>> = BTreeMap::new();
        fn unit<'a, 'm>(
            units: &'m mut BTreeMap<&'a str, VolumeScheduleChange<'a>>,
            volume_id: &'a str,
        ) -> &'m mut VolumeScheduleChange<'a> {
            units
                .entry(volume_id)
                .or_insert_with(|| VolumeScheduleChange {
                    volume_id: volume_id.to_string(),
                    ..Default::default()
                })
        }
        for s in &self.create {
            unit(&mut units, &s.volume_id).create.push(s);
        }
        for s in &self.enable {
            unit(&mut units, &s.volume_id).enable.push(s);
        }
        for name in &self.delete {
            // Only names we made are ever listed for deletion: the volume id comes first.
            let vol = name.split('.').next().unwrap_or(name);
            unit(&mut units, vol).delete.push(name);
        }
        units.into_values().collect()
    }
}

/// The schedule changes of one volume, applied in order: create, enable, then delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeScheduleChange<'a> {
    pub volume_id: String,
    pub create: Vec<&'a ScheduleSpec>,
    pub enable: Vec<&'a ScheduleSpec>,
    pub delete: Vec<&'a str>,
}

impl VolumeScheduleChange<'_> {
    pub fn count(&self) -> usize {
        self.create.len() + self.enable.len() + self.delete.len()
    }
}

/// Compares the desired schedules with the names listed in the group. `keep_volumes` are volumes
/// whose existing schedules stay whatever their hash (misconfigured volumes: a typo in a tag must
/// not stop their snapshots). Names we did not make are never touched.
///
/// A current schedule that is disabled is enabled again: a schedule someone switched off
/// would otherwise stop the volume's snapshots with nothing but staleness to show for it.
/// (A misconfigured volume's disabled schedule stays as it is: its definition is not known.)
pub fn reconcile(
    desired: &[ScheduleSpec],
    existing: &[ListedSchedule],
    keep_volumes: &BTreeSet<String>,
) -> ScheduleChanges {
    let want: BTreeMap<&str, &ScheduleSpec> =
        desired.iter().map(|s| (s.name.as_str(), s)).collect();
    let have: BTreeMap<&str, bool> = existing
        .iter()
        .map(|l| (l.name.as_str(), l.enabled))
        .collect();
    let mut out = ScheduleChanges::default();
    for s in desired {
        match have.get(s.name.as_str()) {
            None => out.create.push(s.clone()),
            Some(false) => out.enable.push(s.clone()),
            Some(true) => out.unchanged += 1,
        }
    }
    for l in existing {
        let Some((vol, _)) = parse_schedule_name(&l.name) else {
            continue;
        };
        if !want.contains_key(l.name.as_str()) && !keep_volumes.contains(&vol) {
            out.delete.push(l.name.clone());
        }
    }
    out.create.sort_by(|a, b| a.name.cmp(&b.name));
    out.enable.sort_by(|a, b| a.name.cmp(&b.name));
    out.delete.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ScheduleContext {
        ScheduleContext {
            deployment: "prod".into(),
            time_zone: "Asia/Tokyo".into(),
            flexible_window_minutes: 15,
            role_arn: "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler".into(),
            dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:ebs-gens-prod-dlq".into()),
            partition: "aws".into(),
        }
    }

    fn vol(id: &str, expr: &str) -> ScheduleVolume {
        ScheduleVolume {
            volume_id: id.into(),
            class: GenClass::Daily,
            expression: expr.into(),
            tags: vec![
                ("ebs-gens:managed-by".into(), "prod".into()),
                ("Name".into(), format!("web_Daily_{id}")),
            ],
            identity: "i-1".into(),
        }
    }

    #[test]
    fn an_instance_schedule_takes_its_set_with_one_createsnapshots_born_tagged_with_the_set() {
        let m = crate::sets::Membership {
            instance: "i-0123456789abcdef0".into(),
            exclude_boot: true,
            excluded: vec!["vol-scratch".into()],
            members: vec!["vol-data".into(), "vol-log".into()],
        };
        let i = ScheduleInstance {
            membership: m.clone(),
            class: GenClass::Daily,
            expression: "cron(30 2 * * ? *)".into(),
            tags: vec![("ebs-gens:managed-by".into(), "prod".into())],
            identity: "daily=7".into(),
        };
        let s = instance_spec(&i, &ctx());
        assert!(valid_schedule_name(&s.name), "{}", s.name);
        assert_eq!(
            parse_schedule_name(&s.name),
            Some(("i-0123456789abcdef0".into(), GenClass::Daily))
        );
        assert_eq!(
            s.target_arn,
            "arn:aws:scheduler:::aws-sdk:ec2:createSnapshots"
        );
        let v: serde_json::Value = serde_json::from_str(&s.input).unwrap();
        assert_eq!(
            v["InstanceSpecification"]["InstanceId"],
            "i-0123456789abcdef0"
        );
        assert_eq!(v["InstanceSpecification"]["ExcludeBootVolume"], true);
        assert_eq!(
            v["InstanceSpecification"]["ExcludeDataVolumeIds"],
            serde_json::json!(["vol-scratch"])
        );
        let tags = v["TagSpecifications"][0]["Tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t["Key"] == "ebs-gens:set"
            && t["Value"] == "i-0123456789abcdef0@<aws.scheduler.scheduled-time>"));
        // Another exclusion is another schedule (replaced by the reconcile).
        let mut other = i.clone();
        other.membership.excluded.clear();
        assert_ne!(instance_spec(&other, &ctx()).name, s.name);
        let v: serde_json::Value =
            serde_json::from_str(&instance_spec(&other, &ctx()).input).unwrap();
        assert!(v["InstanceSpecification"]
            .get("ExcludeDataVolumeIds")
            .is_none());
    }

    #[test]
    fn names_are_valid_parse_back_and_change_with_what_defines_the_schedule() {
        let a = spec(&vol("vol-0123456789abcdef0", "cron(30 9 * * ? *)"), &ctx());
        assert!(valid_schedule_name(&a.name), "{}", a.name);
        assert_eq!(
            parse_schedule_name(&a.name),
            Some(("vol-0123456789abcdef0".into(), GenClass::Daily))
        );
        let b = spec(&vol("vol-0123456789abcdef0", "cron(0 18 * * ? *)"), &ctx());
        assert_ne!(a.name, b.name);
        let mut c = ctx();
        c.time_zone = "UTC".into();
        assert_ne!(
            a.name,
            spec(&vol("vol-0123456789abcdef0", "cron(30 9 * * ? *)"), &c).name
        );
        // A 32-character volume id still fits in 64.
        let long = spec(
            &vol(&format!("vol-{}", "a".repeat(32)), "cron(0 * * * ? *)"),
            &ctx(),
        );
        assert!(long.name.len() <= MAX_SCHEDULE_NAME, "{}", long.name);
        for bad in [
            "other-schedule",
            "vol-1.daily",
            "vol-1.fortnightly.0123456789ab",
            "x.daily.0123456789ab",
        ] {
            assert_eq!(parse_schedule_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_target_input_is_a_create_snapshot_request_with_our_tags() {
        let s = spec(&vol("vol-1", "cron(30 9 * * ? *)"), &ctx());
        let v: serde_json::Value = serde_json::from_str(&s.input).unwrap();
        assert_eq!(v["VolumeId"], "vol-1");
        assert_eq!(v["TagSpecifications"][0]["ResourceType"], "snapshot");
        assert_eq!(
            v["TagSpecifications"][0]["Tags"][0]["Key"],
            "ebs-gens:managed-by"
        );
        assert_eq!(s.max_event_age_seconds, 3600);
        assert_eq!(max_event_age_seconds(GenClass::Hourly), 900);
    }

    #[test]
    fn reconcile_creates_replaces_deletes_and_leaves_the_rest() {
        let keep = spec(&vol("vol-1", "cron(30 9 * * ? *)"), &ctx());
        let changed_old = spec(&vol("vol-2", "cron(30 9 * * ? *)"), &ctx());
        let changed_new = spec(&vol("vol-2", "cron(0 18 * * ? *)"), &ctx());
        let fresh = spec(&vol("vol-3", "cron(30 9 * * ? *)"), &ctx());
        let gone = spec(&vol("vol-4", "cron(30 9 * * ? *)"), &ctx());
        let held = spec(&vol("vol-5", "cron(30 9 * * ? *)"), &ctx());
        let existing: Vec<ListedSchedule> = [
            &keep.name,
            &changed_old.name,
            &gone.name,
            &held.name,
            "someone-elses",
        ]
        .into_iter()
        .map(ListedSchedule::enabled)
        .collect();
        let desired = vec![keep.clone(), changed_new.clone(), fresh.clone()];
        let c = reconcile(&desired, &existing, &["vol-5".to_string()].into());
        let created: Vec<&str> = c.create.iter().map(|s| s.name.as_str()).collect();
        let mut want = vec![changed_new.name.as_str(), fresh.name.as_str()];
        want.sort();
        assert_eq!(created, want);
        let mut del = vec![changed_old.name.clone(), gone.name.clone()];
        del.sort();
        assert_eq!(c.delete, del);
        assert_eq!(c.unchanged, 1);
        // Nothing to do the second time.
        let after: Vec<ListedSchedule> = [keep.name, changed_new.name, fresh.name, held.name]
            .into_iter()
            .map(ListedSchedule::enabled)
            .collect();
        assert_eq!(
            reconcile(&desired, &after, &["vol-5".to_string()].into()).count(),
            0
        );
    }

    #[test]
    fn a_disabled_schedule_is_enabled_again_with_its_whole_definition() {
        let current = spec(&vol("vol-1", "cron(30 9 * * ? *)"), &ctx());
        let other = spec(&vol("vol-2", "cron(30 9 * * ? *)"), &ctx());
        let held = spec(&vol("vol-5", "cron(30 9 * * ? *)"), &ctx());
        let listed = vec![
            ListedSchedule {
                name: current.name.clone(),
                enabled: false,
            },
            ListedSchedule::enabled(&other.name),
            // A misconfigured volume's disabled schedule: its definition is unknown, so it
            // stays as it is.
            ListedSchedule {
                name: held.name.clone(),
                enabled: false,
            },
        ];
        let c = reconcile(
            &[current.clone(), other],
            &listed,
            &["vol-5".to_string()].into(),
        );
        assert_eq!(c.enable, vec![current]);
        assert!(c.create.is_empty() && c.delete.is_empty());
        assert_eq!((c.unchanged, c.count()), (1, 1));
    }

    #[test]
    fn changes_apply_volume_by_volume_new_before_old() {
        let old = spec(&vol("vol-2", "cron(30 9 * * ? *)"), &ctx());
        let new = spec(&vol("vol-2", "cron(0 18 * * ? *)"), &ctx());
        let gone = spec(&vol("vol-4", "cron(30 9 * * ? *)"), &ctx());
        let c = reconcile(
            std::slice::from_ref(&new),
            &[
                ListedSchedule::enabled(&old.name),
                ListedSchedule::enabled(&gone.name),
            ],
            &BTreeSet::new(),
        );
        let units = c.by_volume();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].volume_id, "vol-2");
        assert_eq!(units[0].create, vec![&new]);
        assert_eq!(units[0].delete, vec![old.name.as_str()]);
        assert_eq!(units[1].delete, vec![gone.name.as_str()]);
        assert_eq!(units.iter().map(|u| u.count()).sum::<usize>(), c.count());
    }

    #[test]
    fn the_target_is_in_the_regions_partition() {
        assert_eq!(
            spec(&vol("vol-1", "cron(30 9 * * ? *)"), &ctx()).target_arn,
            "arn:aws:scheduler:::aws-sdk:ec2:createSnapshot"
        );
        let mut cn = ctx();
        cn.partition = "aws-cn".into();
        let s = spec(&vol("vol-1", "cron(30 9 * * ? *)"), &cn);
        assert_eq!(
            s.target_arn,
            "arn:aws-cn:scheduler:::aws-sdk:ec2:createSnapshot"
        );
    }
}
