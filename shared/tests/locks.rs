//! Snapshot locks on the strict fake (lock states, cooling-off, extension-only compliance, and a
//! DeleteSnapshot that refuses a locked snapshot and counts the attempt): generations locked as
//! long as they are kept, extended when they become a closed week's keeper, surplus held by its
//! lock and never attempted, a lock longer than the setting's maximum refused with nothing
//! deleted, a dry run that locks nothing, and locked orphans kept.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::prune::{self, PruneInput, PruneOutput};
use ebs_gens::app::{App, VolumeJob};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::aws::NoScheduler;
use ebs_gens::locks::{LockMode, LockState};
use ebs_gens::policy::VolumePolicy;
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};
use ebs_gens::GenClass;

mod common;

const ACCOUNT: &str = "123456789012";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

fn app<'a>(fake: &'a FakeAws, extra: &[(&str, &str)]) -> FakeApp<'a> {
    let mut vars = vec![
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "50"),
    ];
    vars.extend_from_slice(extra);
    App::new(
        common::settings(&vars),
        fake,
        fake,
        ACCOUNT,
        "us-east-1",
        "test",
    )
    .without_metrics()
}

/// Wednesday 2026-11-25, 12:00 UTC.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// A daily snapshot of ours `days` before `now()`'s morning, 09:30.
fn at(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap() - Duration::days(days)
}

fn snap(fake: &FakeAws, vol: &str, days: i64) -> String {
    fake.add_snapshot(
        vol,
        at(days),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol)],
    )
}

fn job(vol: &str, gens: &[(GenClass, u32)]) -> VolumeJob {
    VolumeJob {
        volume_id: vol.into(),
        policy: VolumePolicy::new(gens.to_vec()).unwrap(),
        instance_id: None,
        volume_name: None,
        spec: None,
    }
}

async fn run(
    a: &FakeApp<'_>,
    jobs: Vec<VolumeJob>,
    t: DateTime<Utc>,
    dry_run: bool,
) -> PruneOutput {
    let input = PruneInput {
        volumes: jobs,
        dry_run,
        ..Default::default()
    };
    prune::handle(a, input, t, None).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn generations_are_locked_as_long_as_they_are_kept_and_the_surplus_is_held_never_attempted() {
    let fake = FakeAws::new(ACCOUNT);
    fake.set_now(now());
    fake.add_volume("vol-1", None, &[("Daily_Gens", "3")]);
    let ids: Vec<String> = (0..4).map(|d| snap(&fake, "vol-1", d)).collect();
    let a = app(&fake, &[("EBS_GENS_LOCKS", "daily=governance")]);
    let daily3 = job("vol-1", &[(GenClass::Daily, 3)]);
    let out = run(&a, vec![daily3.clone()], now(), false).await;
    assert_eq!(
        (out.totals.deleted, out.totals.snapshots_locked),
        (1, 3),
        "{:?}",
        out.volumes
    );
    // Kept 3 days from its start, plus the margin (rules backend: no flexible window; one hour).
    for (d, id) in ids[..3].iter().enumerate() {
        let l = fake.lock_of(id).expect("locked");
        assert_eq!(l.state, LockState::Governance);
        assert_eq!(
            l.expires,
            Some(at(d as i64) + Duration::days(3) + Duration::hours(1))
        );
    }
    // Again: every lock already long enough, nothing to do.
    let again = run(&a, vec![daily3], now(), false).await;
    assert_eq!(
        (again.totals.snapshots_locked, again.totals.locks_extended),
        (0, 0)
    );
    // The tag lowered to 1: two generations become surplus, held by their locks, never attempted.
    fake.set_volume_tag("vol-1", "Daily_Gens", "1");
    let lowered = run(
        &a,
        vec![job("vol-1", &[(GenClass::Daily, 1)])],
        now(),
        false,
    )
    .await;
    let t = &lowered.totals;
    assert_eq!(
        (t.deleted, t.skipped, t.held_by_lock, t.failed),
        (0, 0, 2, 0),
        "{:?}",
        lowered.volumes
    );
    assert_eq!(
        fake.locked_delete_attempts(),
        0,
        "a locked snapshot is never attempted"
    );
    let held: Vec<&str> = lowered.volumes[0]
        .kept
        .iter()
        .filter(|k| k.reasons[0].contains("locked until"))
        .map(|k| k.snapshot_id.as_str())
        .collect();
    assert_eq!(held.len(), 2);
    // Once a lock has expired, the next prune deletes its snapshot.
    let later = at(1) + Duration::days(3) + Duration::hours(2);
    fake.set_now(later);
    let after = run(
        &a,
        vec![job("vol-1", &[(GenClass::Daily, 1)])],
        later,
        false,
    )
    .await;
    assert!(after.totals.deleted >= 1, "{:?}", after.volumes);
    assert_eq!(fake.locked_delete_attempts(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_closed_weeks_keeper_is_extended_to_the_weekly_keep_time_in_compliance_never_shortened() {
    let fake = FakeAws::new(ACCOUNT);
    fake.set_now(now());
    fake.add_volume("vol-1", None, &[("Daily_Gens", "7"), ("Weekly_Gens", "2")]);
    // Ten days of dailies, Sunday 11-22 (3 days before Wednesday 11-25) the last of its week.
    let ids: Vec<String> = (0..10).map(|d| snap(&fake, "vol-1", d)).collect();
    let a = app(
        &fake,
        &[
            ("EBS_GENS_LOCKS", "daily=governance weekly=compliance"),
            ("EBS_GENS_LOCK_COOL_OFF_HOURS", "6"),
        ],
    );
    let j = job("vol-1", &[(GenClass::Daily, 7), (GenClass::Weekly, 2)]);
    run(&a, vec![j.clone()], now(), false).await;
    let sunday = fake.lock_of(&ids[3]).unwrap();
    // Week 2026-W47 began Monday 11-16: + 2 weeks + 1 day + 1 hour.
    let weekly_until = Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap();
    assert_eq!(sunday.expires, Some(weekly_until));
    assert_eq!(
        sunday.state,
        LockState::ComplianceCooloff,
        "a new compliance lock starts cooling off"
    );
    // Wednesday's (today's) is the newest of an open week: only its daily keep time, governance.
    let today = fake.lock_of(&ids[0]).unwrap();
    assert_eq!(today.state, LockState::Governance);
    assert_eq!(
        today.expires,
        Some(at(0) + Duration::days(7) + Duration::hours(1))
    );
    // Sunday 11-29: that day's snapshot is the newest of a week still open — a daily lock only.
    let sunday_noon = now() + Duration::days(4);
    fake.set_now(sunday_noon);
    let new_ids: Vec<String> = (1..=4).map(|d| snap(&fake, "vol-1", -d)).collect();
    run(&a, vec![j.clone()], sunday_noon, false).await;
    let keeper = &new_ids[3];
    assert_eq!(fake.lock_of(keeper).unwrap().state, LockState::Governance);
    // Monday 11-30: the week has closed, 11-29 is its keeper: extended to the weekly keep time,
    // strengthened to compliance (with its cooling-off period).
    let monday_noon = now() + Duration::days(5);
    fake.set_now(monday_noon);
    snap(&fake, "vol-1", -5);
    let out = run(&a, vec![j], monday_noon, false).await;
    assert_eq!(out.totals.locks_extended, 1, "{:?}", out.volumes);
    let extended = fake.lock_of(keeper).unwrap();
    assert_eq!(extended.state, LockState::ComplianceCooloff);
    assert_eq!(
        extended.expires,
        Some(Utc.with_ymd_and_hms(2026, 12, 8, 1, 0, 0).unwrap())
    );
    // Last week's keeper is no longer kept (Weekly_Gens=2): held by its compliance lock, which
    // is never shortened.
    let old = fake.lock_of(&ids[3]).unwrap();
    assert_eq!(old.expires, Some(weekly_until), "never shortened");
    assert_eq!(
        old.state,
        LockState::Compliance,
        "past its cooling-off period"
    );
    assert_eq!(out.totals.held_by_lock, 1, "{:?}", out.volumes);
    assert_eq!(fake.locked_delete_attempts(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lock_longer_than_the_maximum_is_refused_and_nothing_of_the_volume_is_locked_or_deleted()
{
    let fake = FakeAws::new(ACCOUNT);
    fake.set_now(now());
    fake.add_volume("vol-1", None, &[("Daily_Gens", "30")]);
    for d in 0..32 {
        snap(&fake, "vol-1", d);
    }
    let a = app(
        &fake,
        &[
            ("EBS_GENS_LOCKS", "daily=compliance"),
            ("EBS_GENS_LOCK_MAX_DAYS", "7"),
        ],
    );
    let out = run(
        &a,
        vec![job("vol-1", &[(GenClass::Daily, 30)])],
        now(),
        false,
    )
    .await;
    let t = &out.totals;
    assert_eq!(
        (t.deleted, t.snapshots_locked, t.locks_failed),
        (0, 0, 1),
        "{:?}",
        out.volumes
    );
    assert!(
        out.volumes[0].lock_failed[0].contains("lockMaxDays=7"),
        "{:?}",
        out.volumes[0].lock_failed
    );
    assert!(!fake.calls().contains_key("LockSnapshot"));
    assert!(!fake.calls().contains_key("DeleteSnapshot"));
    assert_eq!(fake.snapshots().len(), 32);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_reports_the_locks_it_would_set_and_sets_none() {
    let fake = FakeAws::new(ACCOUNT);
    fake.set_now(now());
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    let ids: Vec<String> = (0..2).map(|d| snap(&fake, "vol-1", d)).collect();
    let a = app(&fake, &[("EBS_GENS_LOCKS", "daily=governance")]);
    let out = run(&a, vec![job("vol-1", &[(GenClass::Daily, 2)])], now(), true).await;
    assert_eq!(out.volumes[0].locked.len(), 2);
    assert!(out.volumes[0].locked[0].reasons[0].starts_with("governance until"));
    assert!(!fake.calls().contains_key("LockSnapshot"));
    assert!(ids.iter().all(|i| fake.lock_of(i).is_none()));
}

#[tokio::test(start_paused = true)]
async fn locked_orphans_are_kept_and_never_attempted() {
    let fake = FakeAws::new(ACCOUNT);
    fake.set_now(now());
    // A deleted volume's snapshots, all old; someone locked one.
    let ids: Vec<String> = (10..15).map(|d| snap(&fake, "vol-gone", d)).collect();
    fake.lock(&ids[3]);
    let a = app(&fake, &[("EBS_GENS_ORPHANS", "keep-last=1,older-than=1")]);
    let input = PruneInput {
        orphans: true,
        allow_bulk_delete: true,
        ..Default::default()
    };
    let out = prune::handle(&a, input, now(), None).await.unwrap();
    assert_eq!(out.totals.deleted, 3, "{:?}", out.volumes);
    assert_eq!(out.totals.held_by_lock, 1);
    assert_eq!(fake.locked_delete_attempts(), 0);
    assert!(fake.snapshots().iter().any(|s| s.id == ids[3]));
    let _ = LockMode::Governance;
}

/// A delete that a Recycle Bin retention rule covers is still made (the Recycle Bin keeps it),
/// reported "kept by the Recycle Bin … billed until …" and counted in `recycle_bin`; a rule that
/// excludes our snapshots, or a pending one, changes nothing; no rules: one ListRules, no note.
#[tokio::test(start_paused = true)]
async fn deletes_a_recycle_bin_rule_keeps_are_reported_billed_until_never_as_freed() {
    use ebs_gens::recycle_bin::{RetentionRule, BILLED};
    let fake = FakeAws::new(ACCOUNT);
    fake.set_now(now());
    fake.add_volume("vol-1", None, &[("Daily_Gens", "3")]);
    let ids: Vec<String> = (0..4).map(|d| snap(&fake, "vol-1", d)).collect();
    let a = app(&fake, &[]);
    let rule = |id: &str, days, exclude: &[(&str, &str)], available| RetentionRule {
        id: id.into(),
        days,
        resource_tags: vec![],
        exclude_tags: exclude
            .iter()
            .map(|(k, v)| (k.to_string(), Some(v.to_string())))
            .collect(),
        available,
        locked: false,
    };
    fake.add_retention_rule(rule("excludesours", 30, &[(TAG_MANAGED_BY, "prod")], true));
    fake.add_retention_rule(rule("pendingrule", 90, &[], false));
    let out = run(
        &a,
        vec![job("vol-1", &[(GenClass::Daily, 3)])],
        now(),
        false,
    )
    .await;
    assert_eq!((out.totals.deleted, out.totals.recycle_bin), (1, 0));
    assert!(fake.in_recycle_bin(&ids[3]).is_none());
    // A Region-level rule of 7 days: the next delete goes to the Recycle Bin, billed a week.
    fake.add_retention_rule(rule("regionlevel", 7, &[], true));
    fake.set_volume_tag("vol-1", "Daily_Gens", "2");
    let out = run(
        &a,
        vec![job("vol-1", &[(GenClass::Daily, 2)])],
        now(),
        false,
    )
    .await;
    assert_eq!((out.totals.deleted, out.totals.recycle_bin), (1, 1));
    let d = &out.volumes[0].deleted[0];
    assert_eq!(d.snapshot_id, ids[2]);
    let note = d
        .reasons
        .iter()
        .find(|r| r.starts_with(BILLED))
        .expect("said");
    assert!(
        note.contains("regionlevel") && note.contains("billed until 2026-12-02 12:00 UTC"),
        "{note}"
    );
    assert_eq!(
        fake.in_recycle_bin(&ids[2]),
        Some(now() + Duration::days(7))
    );
}
