//! Health on the strict fake: staleness, the `ebs-gens:policy` tag, and results that always
//! fit what a state machine accepts.

use chrono::{Duration, TimeZone, Utc};
use ebs_gens::app::prune::{self, PruneInput};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::snapshot::TAG_POLICY;
use ebs_gens::SnapshotState;

mod common;
use common::fleet::*;

#[tokio::test(start_paused = true)]
async fn stale_volumes_are_listed_counted_and_new_ones_are_not_judged() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-fresh", "7", 3, 0);
    volume(&fake, "vol-stale", "7", 3, 3);
    fake.add_volume("vol-new", None, &[("Daily_Gens", "7")]);
    fake.set_volume_created("vol-new", now() - Duration::hours(3));
    fake.add_volume("vol-never", None, &[("Daily_Gens", "7")]);
    fake.set_volume_created("vol-never", now() - Duration::days(2));
    let app = app(&fake, &[]);
    let out = prune_with(
        &app,
        &["vol-fresh", "vol-stale", "vol-new", "vol-never"],
        PruneInput::default(),
    )
    .await;
    let by = |v: &str| out.volumes.iter().find(|r| r.volume_id == v).unwrap();
    assert_eq!(by("vol-fresh").stale, None);
    assert_eq!(
        by("vol-stale").stale.as_deref(),
        Some("newest completed snapshot is 3d 2h old; a daily volume allows 1d 12h 15m")
    );
    assert_eq!(by("vol-new").stale, None, "younger than one period");
    assert!(by("vol-never")
        .stale
        .as_deref()
        .unwrap()
        .starts_with("no completed snapshot"));
    assert_eq!(out.totals.stale, 2);
    assert_eq!(
        by("vol-stale").strip,
        "·███···",
        "the last 7 days, oldest first"
    );
    assert_eq!(by("vol-fresh").coverage[0].to_string(), "daily 3/7");
}

#[tokio::test(start_paused = true)]
async fn adoption_records_the_policy_and_schedules_carry_it() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "7"), ("Weekly_Gens", "4")]);
    let fire = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 20).unwrap();
    let id = fake.add_snapshot("vol-1", fire, SnapshotState::Completed, &[]);
    let app = app(&fake, &[]);
    let out = prune::handle(
        &app,
        PruneInput {
            volumes: vec![job("vol-1", 7)],
            ..Default::default()
        },
        now(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.volumes[0].adopted, std::slice::from_ref(&id));
    let s = fake.snapshots().into_iter().find(|s| s.id == id).unwrap();
    assert_eq!(s.tag(TAG_POLICY), Some("daily=7,weekly=4"));
}

#[tokio::test(start_paused = true)]
async fn a_state_machine_never_gets_a_result_over_its_limit_and_totals_stay_whole() {
    let fake = FakeAws::new(ACCOUNT);
    let vols = fleet(&fake, 150, "40", 40);
    let ids: Vec<&str> = vols.iter().map(String::as_str).collect();
    let app = app(&fake, &[]);
    let out = prune_with(&app, &ids, PruneInput::default()).await;
    let bytes = serde_json::to_vec(&out).unwrap().len();
    assert!(bytes < 256 * 1024, "{bytes} bytes");
    assert!(out.reports_left_out > 0);
    assert_eq!(out.volumes.len() + out.reports_left_out, 150);
    assert_eq!(out.totals.kept, 150 * 40, "totals count every volume");
    let full = prune_with(
        &app,
        &ids,
        PruneInput {
            full_report: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((full.volumes.len(), full.reports_left_out), (150, 0));
}
