//! What a real account would break (issue 17), on the strict fake: a user's manual snapshot
//! adopted and deleted, a schedule someone disabled, other teams' failed snapshots paging our
//! operator, a reconcile too large for one invocation, a partition other than `aws`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::ensure_schedules::{self, EnsureInput};
use ebs_gens::app::sweep::sweep;
use ebs_gens::app::tag;
use ebs_gens::app::App;
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::config::Settings;
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};

mod common;

const ACCOUNT: &str = "123456789012";
const GROUP: &str = "ebs-gens-prod";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, &'a FakeAws)>;

fn scheduler_settings(vars: &[(&str, &str)]) -> Settings {
    let mut all = vec![("EBS_GENS_BACKEND", "scheduler")];
    all.extend_from_slice(vars);
    common::settings(&all)
}

fn app<'a>(fake: &'a FakeAws, settings: Settings, region: &str) -> FakeApp<'a> {
    App::new(settings, fake, fake, ACCOUNT, region, "test")
        .with_scheduler(fake)
        .without_metrics()
}

/// 2026-11-25 in Pago Pago (UTC-11): the daily cron(30 9 …) fires at 20:30 UTC.
fn pago_fire(days_ago: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 20, 30, 40).unwrap() - Duration::days(days_ago)
}

/// A `Daily_Gens=2` volume with three daily snapshots of ours, born tagged at Pago Pago's
/// fire time, and an untagged manual snapshot started at `manual_at`.
fn pago_fleet(manual_at: DateTime<Utc>) -> (FakeAws, String) {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    for d in 0..3 {
        fake.add_snapshot(
            "vol-1",
            pago_fire(d),
            SnapshotState::Completed,
            &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-1")],
        );
    }
    let manual = fake.add_snapshot("vol-1", manual_at, SnapshotState::Completed, &[]);
    (fake, manual)
}

fn exists(fake: &FakeAws, id: &str) -> bool {
    fake.snapshots().iter().any(|s| s.id == id)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_manual_snapshot_is_never_adopted_nor_deleted_on_the_scheduler_backend() {
    // 09:31 UTC on the 25th is 22:31 on the 24th in Pago Pago: the date differs from UTC's.
    let manual_at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 31, 0).unwrap();
    let (fake, manual) = pago_fleet(manual_at);
    let app = app(
        &fake,
        scheduler_settings(&[("EBS_GENS_TIME_ZONE", "Pacific/Pago_Pago")]),
        "us-east-1",
    );
    for round in 0..2 {
        let s = sweep(&app, false, now(), 3).await.unwrap();
        assert_eq!(s.totals.adopted, 0);
        assert!(!s.failed(), "{s:?}");
        // The in-process sweep counts schedule changes too (the volume's schedule, created
        // by the first sweep), not only rule operations.
        assert_eq!(s.schedule_changes, 1 - round, "round {round}");
    }
    assert!(
        exists(&fake, &manual),
        "the user's manual snapshot was deleted"
    );
    let ours = fake
        .snapshots()
        .into_iter()
        .filter(|s| s.is_owned_by("prod"))
        .count();
    assert_eq!(ours, 2, "Daily_Gens=2 of ours kept");
}

#[tokio::test(start_paused = true)]
async fn schedule_window_adoption_reads_fire_times_in_the_zone_schedules_fire_in() {
    let settings = || {
        scheduler_settings(&[
            ("EBS_GENS_TIME_ZONE", "Pacific/Pago_Pago"),
            ("EBS_GENS_ADOPTION", "schedule-window"),
        ])
    };
    // A snapshot at 09:31 UTC is not near any Pago Pago fire time: kept, never adopted.
    let (fake, manual) = pago_fleet(Utc.with_ymd_and_hms(2026, 11, 25, 9, 31, 0).unwrap());
    let a = app(&fake, settings(), "us-east-1");
    for _ in 0..2 {
        assert_eq!(sweep(&a, false, now(), 3).await.unwrap().totals.adopted, 0);
    }
    assert!(exists(&fake, &manual));
    // One started 09:31 local + the flexible window's lateness (60 min) is a missed firing of
    // ours (its event lost): adopted.
    let late = pago_fire(0) + Duration::minutes(61);
    let (fake, missed) = pago_fleet(late);
    let a = app(&fake, settings(), "us-east-1");
    let s = sweep(&a, false, now(), 3).await.unwrap();
    assert_eq!(s.totals.adopted, 1);
    let adopted = fake
        .snapshots()
        .into_iter()
        .find(|s| s.id == missed)
        .unwrap();
    assert!(adopted.is_owned_by("prod"));
}

#[tokio::test(start_paused = true)]
async fn a_disabled_schedule_is_enabled_again_by_the_next_reconcile() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    for i in 0..3 {
        fake.add_volume(&format!("vol-{i}"), None, &[("Daily_Gens", "7")]);
    }
    let app = app(&fake, scheduler_settings(&[]), "us-east-1");
    let first = ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap();
    assert_eq!(first.schedules.created.len(), 3);
    let name = first.schedules.created[1].clone();
    let before = fake.schedules_in(GROUP)[&name].clone();
    fake.disable_schedule(GROUP, &name);
    assert_eq!(
        fake.fire_schedules(GROUP, now()).len(),
        2,
        "a disabled schedule does not fire"
    );

    // A dry run reports it and changes nothing.
    let dry = ensure_schedules::handle(&app, EnsureInput { dry_run: true }, None)
        .await
        .unwrap();
    assert_eq!(dry.schedules.enabled, vec![name.clone()]);
    assert_eq!(fake.schedule_enabled(GROUP, &name), Some(false));
    assert!(!fake.calls().contains_key("UpdateSchedule"));

    let out = ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap();
    assert_eq!(out.schedules.enabled, vec![name.clone()]);
    assert_eq!(out.changes, 1);
    assert_eq!(out.schedules.unchanged, 2);
    assert_eq!(fake.schedule_enabled(GROUP, &name), Some(true));
    // Enabled with its whole definition (UpdateSchedule resets what it is not given).
    assert_eq!(fake.schedules_in(GROUP)[&name], before);
    assert_eq!(fake.fire_schedules(GROUP, now()).len(), 3);
    let again = ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap();
    assert_eq!(again.changes, 0);
}

#[tokio::test(start_paused = true)]
async fn failures_of_snapshots_that_are_not_ours_do_not_page_our_operator() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-ours", None, &[("Daily_Gens", "7")]);
    fake.add_volume("vol-theirs", None, &[("Team", "data")]);
    let app = app(&fake, scheduler_settings(&[]), "us-east-1");
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
    // Another team's (or DLM's) snapshot of an unmanaged volume, and of our volume.
    let theirs = fake.add_snapshot(
        "vol-theirs",
        at,
        SnapshotState::Error,
        &[("aws:dlm:lifecycle-policy-id", "policy-1")],
    );
    let dlm_of_ours = fake.add_snapshot(
        "vol-ours",
        at,
        SnapshotState::Error,
        &[("aws:dlm:lifecycle-policy-id", "policy-1")],
    );
    for (snap, vol) in [(&theirs, "vol-theirs"), (&dlm_of_ours, "vol-ours")] {
        let out = tag::handle(&app, common::event(snap, vol, "failed"))
            .await
            .unwrap();
        assert!(out.failed.is_empty(), "{snap}: {out:?}");
        assert_eq!(out.results[0].action, tag::TagAction::Skipped);
    }
    // Ours fails loudly.
    let ours = fake.add_snapshot(
        "vol-ours",
        at,
        SnapshotState::Error,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-ours")],
    );
    let out = tag::handle(&app, common::event(&ours, "vol-ours", "failed"))
        .await
        .unwrap();
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].snapshot_id, ours);
}

#[tokio::test(start_paused = true)]
async fn schedules_target_the_regions_partition() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "7")]);
    let app = app(&fake, scheduler_settings(&[]), "cn-north-1");
    ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap();
    let all = fake.schedules_in(GROUP);
    let s = all.values().next().unwrap();
    assert_eq!(
        s.target_arn,
        "arn:aws-cn:scheduler:::aws-sdk:ec2:createSnapshot"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_too_large_for_one_invocation_hands_the_rest_to_the_next() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    for i in 0..400 {
        fake.add_volume(&format!("vol-{i:04}"), None, &[("Daily_Gens", "7")]);
    }
    // 1 s per Scheduler call: 16 at a time, 400 creates need 25 s; a 20 s deadline (10 s of
    // margin) fits only part of them.
    fake.set_scheduler_latency(std::time::Duration::from_secs(1));
    let app = app(&fake, scheduler_settings(&[]), "us-east-1");
    let mut rounds = 0;
    let mut changes = 0;
    loop {
        rounds += 1;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        let out = ensure_schedules::handle(&app, EnsureInput::default(), Some(deadline))
            .await
            .unwrap();
        assert!(
            tokio::time::Instant::now() <= deadline,
            "ran past its deadline"
        );
        changes += out.changes;
        if !out.more {
            break;
        }
        assert!(out.changes > 0, "an invocation made no progress");
    }
    assert!(rounds > 1, "the deadline never cut the reconcile short");
    assert_eq!(changes, 400);
    assert_eq!(fake.schedules_in(GROUP).len(), 400);
    // A deadline too near for anything: an error the state machine retries, never `more`
    // without progress (which would loop).
    for i in 400..410 {
        fake.add_volume(&format!("vol-{i:04}"), None, &[("Daily_Gens", "7")]);
    }
    let e = ensure_schedules::handle(
        &app,
        EnsureInput::default(),
        Some(tokio::time::Instant::now() + std::time::Duration::from_secs(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(e.name().as_str(), "Transient", "{e}");
}

/// A volume whose surplus cannot all be deleted in the event path's budget: 2,000 surplus
/// daily snapshots of ours at the deployment's delete pace.
fn big_surplus() -> FakeAws {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    // Acknowledged for today: the bulk-deletion fuse lets the surplus go.
    fake.add_volume(
        "vol-big",
        None,
        &[
            ("Daily_Gens", "7"),
            (ebs_gens::snapshot::TAG_ALLOW_BULK_DELETE, "2026-11-26"),
        ],
    );
    for d in 0..2007 {
        fake.add_snapshot(
            "vol-big",
            pago_fire(d),
            SnapshotState::Completed,
            &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-big")],
        );
    }
    fake
}

#[tokio::test(start_paused = true)]
async fn the_event_paths_prune_stops_at_the_deadline_in_its_input_and_leaves_the_rest_to_the_sweep()
{
    use ebs_gens::app::prune::{self, PruneInput, DEADLINE_MARGIN};
    use ebs_gens::contract::EVENT_PRUNE_DEADLINE_SECONDS;
    let fake = big_surplus();
    let app = app(&fake, scheduler_settings(&[]), "us-east-1");
    let (jobs, _) = ebs_gens::app::status::volumes(&app, &["vol-big".to_string()])
        .await
        .unwrap();
    let input = PruneInput {
        volumes: jobs,
        deadline_seconds: Some(EVENT_PRUNE_DEADLINE_SECONDS.into()),
        ..Default::default()
    };
    let started = tokio::time::Instant::now();
    // The Lambda's own deadline (900 s) is later: the input's wins.
    let lambda = Some(started + std::time::Duration::from_secs(900));
    let out = prune::handle(&app, input, now(), lambda).await.unwrap();
    let took = started.elapsed();
    let t = &out.totals;
    assert!(t.deleted > 0, "{t:?}");
    assert!(t.deferred > 0, "the surplus must not fit: {t:?}");
    assert_eq!(
        t.deleted + t.deferred,
        2000,
        "every surplus snapshot deleted or deferred"
    );
    assert!(
        took <= std::time::Duration::from_secs(EVENT_PRUNE_DEADLINE_SECONDS.into()),
        "the prune ran {took:?}, past its {EVENT_PRUNE_DEADLINE_SECONDS} s deadline"
    );
    assert!(
        took + DEADLINE_MARGIN
            >= std::time::Duration::from_secs(EVENT_PRUNE_DEADLINE_SECONDS.into()),
        "the prune stopped at {took:?}, long before its deadline"
    );
    let left = fake.snapshots().len();
    assert_eq!(left, 7 + t.deferred, "nothing lost, nothing below N");
    // The sweep (no input deadline) deletes what the event path left.
    let s = sweep(&app, false, now(), 3).await.unwrap();
    assert_eq!(s.totals.deleted, t.deferred);
    assert_eq!(fake.snapshots().len(), 7);
}

#[tokio::test]
async fn a_prune_deadline_outside_the_functions_timeout_is_refused_by_name() {
    use ebs_gens::app::prune::{self, PruneInput};
    let fake = big_surplus();
    let app = app(&fake, scheduler_settings(&[]), "us-east-1");
    for bad in [0, 901] {
        let input = PruneInput {
            deadline_seconds: Some(bad),
            ..Default::default()
        };
        let e = prune::handle(&app, input, now(), None).await.unwrap_err();
        assert!(
            matches!(&e, ebs_gens::Error::InvalidInput(m) if m.contains("deadline_seconds")),
            "{bad}: {e:?}"
        );
    }
    assert_eq!(fake.snapshots().len(), 2007, "nothing deleted");
}

#[tokio::test(start_paused = true)]
async fn a_deployment_never_reads_the_rules_of_another_whose_name_extends_its_own() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "7")]);
    let role = "arn:aws:iam::123456789012:role/ebs-gens-snapshot";
    let on_rules = |deployment: &str| {
        App::new(
            common::settings(&[
                ("EBS_GENS_DEPLOYMENT", deployment),
                ("EBS_GENS_SNAPSHOT_ROLE_ARN", role),
            ]),
            &fake,
            &fake,
            ACCOUNT,
            "us-east-1",
            "test",
        )
        .without_metrics()
    };
    // `prod-eu`'s rules start with `prod`'s prefix (ebs-gens-prod-).
    ensure_schedules::handle(&on_rules("prod-eu"), EnsureInput::default(), None)
        .await
        .unwrap();
    let theirs = fake.rules();
    assert!(!theirs.is_empty());
    fake.reset_calls();
    let out = ensure_schedules::handle(&on_rules("prod"), EnsureInput::default(), None)
        .await
        .unwrap();
    assert!(out.changes > 0, "{out:?}");
    let calls = fake.calls();
    assert_eq!(
        calls.get("ListTargetsByRule").copied().unwrap_or(0),
        0,
        "prod listed the targets of prod-eu's rules (its IAM may not allow it)"
    );
    for (name, rule) in theirs {
        assert_eq!(fake.rules().get(&name), Some(&rule), "{name} changed");
    }
}

#[tokio::test(start_paused = true)]
async fn plan_shows_a_row_with_reasons_for_every_snapshot_the_next_prune_touches() {
    use ebs_gens::app::explain::{self, Verdict};
    use ebs_gens::app::status::{self};
    // Untagged: one older than every generation (adopted, then surplus: deferred) and one
    // newer (adopted and kept).
    let (fake, old_manual) = pago_fleet(pago_fire(5));
    let new_manual = fake.add_snapshot(
        "vol-1",
        now() - Duration::hours(1),
        SnapshotState::Completed,
        &[],
    );
    let a = app(
        &fake,
        scheduler_settings(&[("EBS_GENS_ADOPTION", "any-untagged")]),
        "us-east-1",
    );
    let (jobs, _) = status::volumes(&a, &["vol-1".to_string()]).await.unwrap();
    let reports = status::plan(&a, &status::batches(jobs), now(), &|_| {})
        .await
        .unwrap();
    let rows = explain::rows(&reports[0]);
    let mut seen: Vec<&str> = rows.iter().map(|r| r.snapshot_id.as_str()).collect();
    seen.sort_unstable();
    let mut all: Vec<String> = fake.snapshots().into_iter().map(|s| s.id).collect();
    all.sort_unstable();
    assert_eq!(seen, all, "one row per snapshot: {rows:#?}");
    for r in &rows {
        assert!(!r.reasons.is_empty(), "{} has no reasons", r.snapshot_id);
    }
    let of = |id: &str| rows.iter().find(|r| r.snapshot_id == id).unwrap();
    assert_eq!(of(&new_manual).action, Verdict::Adopt);
    assert_eq!(of(&old_manual).action, Verdict::Deferred);
    assert!(
        of(&old_manual)
            .reasons
            .iter()
            .any(|r| r.contains("adopted in this run")),
        "{:?}",
        of(&old_manual)
    );
    assert_eq!(
        rows.iter().filter(|r| r.action == Verdict::Delete).count(),
        2,
        "{rows:#?}"
    );
    // `explain` reads the same rows.
    assert_eq!(
        explain::verdict(&reports[0], &old_manual).0,
        Verdict::Deferred
    );
}
