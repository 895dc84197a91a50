//! Dry runs change nothing, on fleets with work in every direction (issue 18.2): schedules and
//! rules to create, enable, replace and remove, snapshots to adopt and delete, a held volume,
//! orphans to delete — through the deployment's `EBS_GENS_DRY_RUN=true` (the cautious first
//! deploy), the sweep's `dry_run` input and ensure-schedules alone. Every write call is counted
//! (`FakeAws::writes`), and a real run afterwards shows the fleet had each kind of work to do.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::ensure_schedules::{self, EnsureInput};
use ebs_gens::app::sweep::{sweep, SweepSummary};
use ebs_gens::app::App;
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::config::Settings;
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};

mod common;

const ACCOUNT: &str = "123456789012";
const GROUP: &str = "ebs-gens-prod";
const SCHED_ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler";
const RULE_ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-prod-snapshot";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, &'a FakeAws)>;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// The default daily fire time (09:30 UTC) `days` ago, 30 s late.
fn fire(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 30).unwrap() - Duration::days(days)
}

fn settings(backend: &str, extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("EBS_GENS_BACKEND", backend),
        ("EBS_GENS_SCHEDULE_GROUP", GROUP),
        // The untagged snapshot is adopted on either backend.
        ("EBS_GENS_ADOPTION", "any-untagged"),
        // Orphans of a deleted volume are deleted (all but the newest, once a day old).
        ("EBS_GENS_ORPHANS", "keep-last=1,older-than=1"),
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_SNAPSHOT_ROLE_ARN", RULE_ROLE),
        ("EBS_GENS_SCHEDULER_ROLE_ARN", SCHED_ROLE),
    ];
    vars.extend_from_slice(extra);
    common::settings(&vars)
}

fn app(fake: &FakeAws, settings: Settings) -> FakeApp<'_> {
    App::new(settings, fake, fake, ACCOUNT, "us-east-1", "test")
        .with_scheduler(fake)
        .without_metrics()
}

fn history(fake: &FakeAws, vol: &str, n: i64) {
    for d in 0..n {
        fake.add_snapshot(
            vol,
            fire(d),
            SnapshotState::Completed,
            &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol)],
        );
    }
}

/// A deployment on `backend` that has run for a while, then drifted: the other backend's
/// leftovers (rules, or schedules) to remove; a volume deleted (its schedule or rule target to
/// remove, its snapshots orphans to delete); a new volume (to schedule); a volume whose tags
/// changed (its schedule or rule replaced); a disabled schedule (to enable); a surplus (to
/// delete); an untagged snapshot (to adopt); a fat-fingered tag (held by the fuse).
async fn drifted(backend: &str) -> FakeAws {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    for (vol, gens) in [
        ("vol-surplus", "2"),
        ("vol-held", "3"),
        ("vol-adopt", "7"),
        ("vol-gone", "2"),
        ("vol-disabled", "7"),
        ("vol-retagged", "7"),
    ] {
        fake.add_volume(vol, None, &[("Daily_Gens", gens)]);
    }
    history(&fake, "vol-surplus", 5);
    history(&fake, "vol-held", 20);
    history(&fake, "vol-adopt", 2);
    history(&fake, "vol-gone", 4);
    ensure_schedules::handle(
        &app(&fake, settings(backend, &[])),
        EnsureInput::default(),
        None,
    )
    .await
    .unwrap();
    // The other backend's leftovers (as after a switch of backend), made by a deployment of
    // that backend whose own leftovers would live elsewhere (another group, another prefix).
    let other = if backend == "scheduler" {
        settings("rules", &[("EBS_GENS_SCHEDULE_GROUP", "not-ours")])
    } else {
        settings("scheduler", &[("EBS_GENS_RULE_PREFIX", "not-ours-")])
    };
    ensure_schedules::handle(&app(&fake, other), EnsureInput::default(), None)
        .await
        .unwrap();
    // Drift.
    fake.remove_volume("vol-gone");
    fake.add_volume("vol-new", None, &[("Daily_Gens", "3")]);
    fake.set_volume_tag("vol-retagged", "Weekly_Gens", "4");
    fake.add_snapshot(
        "vol-adopt",
        fire(0) + Duration::minutes(5),
        SnapshotState::Completed,
        &[],
    );
    if backend == "scheduler" {
        let name = fake
            .schedules_in(GROUP)
            .into_iter()
            .find(|(_, s)| s.volume_id == "vol-disabled")
            .map(|(n, _)| n)
            .unwrap();
        fake.disable_schedule(GROUP, &name);
    }
    fake.reset_calls();
    fake
}

/// Everything a write could change: snapshots (with tags), rules (with targets), schedules
/// (with whether each is enabled).
type AccountState = (Vec<ebs_gens::Snapshot>, String, Vec<(String, Option<bool>)>);

fn state(fake: &FakeAws) -> AccountState {
    let mut snaps = fake.snapshots();
    snaps.sort_by(|a, b| a.id.cmp(&b.id));
    let schedules = fake
        .schedules_in(GROUP)
        .into_keys()
        .map(|n| {
            let on = fake.schedule_enabled(GROUP, &n);
            (n, on)
        })
        .collect();
    (snaps, format!("{:?}", fake.rules()), schedules)
}

/// The work the summary says a run has: deletes, adoptions, a held volume, orphans, schedule
/// or rule changes.
fn assert_work_in_every_direction(s: &SweepSummary) {
    let t = &s.totals;
    assert!(t.deleted > 0, "no delete planned: {t:?}");
    assert!(t.adopted > 0, "no adoption planned: {t:?}");
    assert!(t.held > 0, "no held volume: {t:?}");
    assert!(t.orphaned > 0, "no orphans: {t:?}");
    assert!(
        s.schedule_changes > 0,
        "no schedule or rule change planned: {s:?}"
    );
}

async fn dry_runs_change_nothing(backend: &str) {
    let fake = drifted(backend).await;
    let before = state(&fake);

    // 1. The deployment's own dry run (EBS_GENS_DRY_RUN=true), with an input that asks for a
    //    real run: the setting wins.
    let cautious = app(&fake, settings(backend, &[("EBS_GENS_DRY_RUN", "true")]));
    let s = sweep(&cautious, false, now(), 3).await.unwrap();
    assert!(s.dry_run, "{s:?}");
    assert_work_in_every_direction(&s);
    assert_eq!(
        fake.writes(),
        Default::default(),
        "{backend}: EBS_GENS_DRY_RUN=true wrote"
    );
    assert_eq!(state(&fake), before);

    // 2. The sweep's dry_run input (what `ebs-gens sweep` without --apply runs).
    let normal = app(&fake, settings(backend, &[]));
    let s = sweep(&normal, true, now(), 3).await.unwrap();
    assert_work_in_every_direction(&s);
    assert_eq!(
        fake.writes(),
        Default::default(),
        "{backend}: dry_run=true wrote"
    );
    let e = ensure_schedules::handle(&normal, EnsureInput { dry_run: true }, None)
        .await
        .unwrap();
    assert!(e.changes > 0);
    assert_eq!(
        fake.writes(),
        Default::default(),
        "{backend}: ensure-schedules' dry run wrote"
    );
    assert_eq!(state(&fake), before);

    // 3. The same fleet for real: every kind of write the dry runs left out.
    let s = sweep(&normal, false, now(), 3).await.unwrap();
    assert!(!s.failed(), "{s:?}");
    let writes = fake.writes();
    let expected: &[&str] = if backend == "scheduler" {
        &[
            "CreateTags",
            "DeleteSnapshot",
            "CreateSchedule",
            "UpdateSchedule",
            "DeleteSchedule",
            "DeleteRule",
        ]
    } else {
        &[
            "CreateTags",
            "DeleteSnapshot",
            "PutTargets",
            "RemoveTargets",
            "DeleteSchedule",
        ]
    };
    for op in expected {
        assert!(
            writes.contains_key(op),
            "{backend}: the real run made no {op}: {writes:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn dry_runs_change_nothing_on_the_scheduler_backend() {
    dry_runs_change_nothing("scheduler").await;
}

#[tokio::test(start_paused = true)]
async fn dry_runs_change_nothing_on_the_rules_backend() {
    dry_runs_change_nothing("rules").await;
}
