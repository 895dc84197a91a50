//! Restore drills on the strict fake: a sample restored to drill volumes born tagged, read until
//! `available`, proven (time recorded, snapshot tagged, volume deleted), rotation to the volumes
//! proven longest ago, a failed or stuck volume reported and cleaned up, leftovers of a failed
//! run deleted (never a volume the drill did not make), copies in a destination drilled, a dry
//! run that creates nothing, and a hand-made bad input refused.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::drill::{self, DrillInput, DrillState};
use ebs_gens::app::App;
use ebs_gens::aws::fake::{FakeAws, NewVolumes};
use ebs_gens::aws::NoScheduler;
use ebs_gens::copies::{TAG_COPY_OF, TAG_SOURCE_START};
use ebs_gens::drill::{TAG_DRILL, TAG_RESTORE_PROVEN};
use ebs_gens::snapshot::{SnapshotState, TAG_CLASS, TAG_MANAGED_BY, TAG_VOLUME};

mod common;

const ACCOUNT: &str = "123456789012";
const WEST: &str = "us-west-2";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

fn app<'a>(east: &'a FakeAws, west: &'a FakeAws, sample: &str) -> FakeApp<'a> {
    let s = common::settings(&[
        ("EBS_GENS_DRILL_VOLUMES", sample),
        ("EBS_GENS_COPIES", "daily:us-west-2=3"),
    ]);
    App::new(s, east, east, ACCOUNT, "us-east-1", "test")
        .with_destination(WEST, west)
        .without_metrics()
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 4, 0, 0).unwrap()
}

/// `n` managed volumes, each with two daily generations of ours.
fn fleet(east: &FakeAws, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v = format!("vol-{i}");
            east.add_volume(&v, None, &[("Daily_Gens", "7")]);
            for d in 1..=2 {
                east.add_snapshot(
                    &v,
                    t0() - Duration::days(d),
                    SnapshotState::Completed,
                    &[
                        (TAG_MANAGED_BY, "prod"),
                        (TAG_VOLUME, &v),
                        (TAG_CLASS, "daily"),
                    ],
                );
            }
            v
        })
        .collect()
}

async fn start(a: &FakeApp<'_>, at: DateTime<Utc>) -> DrillState {
    drill::handle(a, DrillInput::default(), at).await.unwrap()
}

async fn check(a: &FakeApp<'_>, s: DrillState, at: DateTime<Utc>) -> DrillState {
    let input = DrillInput {
        state: Some(s),
        ..Default::default()
    };
    drill::handle(a, input, at).await.unwrap()
}

fn drill_volumes(f: &FakeAws) -> Vec<String> {
    f.volumes()
        .into_iter()
        .filter(|v| v.tags.contains_key(TAG_DRILL))
        .map(|v| v.id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_drill_restores_a_sample_proves_it_and_leaves_nothing_behind_then_rotates() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east, 3);
    let a = app(&east, &west, "2");
    let s = start(&a, t0()).await;
    assert_eq!((s.pending, s.failures), (2, 0), "{s:?}");
    assert_eq!(drill_volumes(&east).len(), 2);
    for v in drill_volumes(&east) {
        let v = east.volume(&v).unwrap();
        assert_eq!(v.tags[TAG_DRILL], "prod");
        assert!(v.tags.keys().all(|k| !k.ends_with("_Gens")));
        assert!(v.instance_id.is_none(), "a drill never attaches");
    }
    // First read: still creating. Second: available, proven, deleted.
    let s = check(&a, s, t0() + Duration::seconds(30)).await;
    assert_eq!(s.pending, 2, "{s:#?}");
    let s = check(&a, s, t0() + Duration::seconds(60)).await;
    assert_eq!((s.pending, s.failures, s.proven.len()), (0, 0, 2), "{s:?}");
    assert!(s
        .proven
        .iter()
        .all(|p| p.seconds == 60.0 && p.class.as_deref() == Some("daily")));
    assert!(
        drill_volumes(&east).is_empty(),
        "every drill volume deleted"
    );
    let proven: Vec<String> = s.proven.iter().map(|p| p.volume_id.clone()).collect();
    for p in &s.proven {
        let snap = east
            .snapshots()
            .into_iter()
            .find(|x| x.id == p.snapshot_id)
            .unwrap();
        assert!(
            snap.tag(TAG_RESTORE_PROVEN).is_some(),
            "the proof is on the snapshot"
        );
    }
    // The next drill starts with the volume never proven.
    let next = start(&a, t0() + Duration::days(7)).await;
    assert!(
        next.drills.iter().any(|d| !proven.contains(&d.volume_id)),
        "{next:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_or_stuck_drill_volume_is_reported_and_cleaned_up() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east, 1);
    let a = app(&east, &west, "1");
    east.set_new_volumes(NewVolumes::Fail);
    let s = start(&a, t0()).await;
    let s = check(&a, s, t0() + Duration::seconds(30)).await;
    let s = check(&a, s, t0() + Duration::seconds(60)).await;
    assert_eq!((s.pending, s.failures), (0, 1), "{s:?}");
    assert!(
        s.failed[0].contains("the volume is error"),
        "{:?}",
        s.failed
    );
    assert!(drill_volumes(&east).is_empty());
    east.set_new_volumes(NewVolumes::StayCreating);
    let mut s = start(&a, t0() + Duration::days(1)).await;
    for m in 1..=31 {
        s = check(&a, s, t0() + Duration::days(1) + Duration::minutes(m)).await;
        if s.pending == 0 {
            break;
        }
    }
    assert_eq!(s.failures, 1);
    assert!(
        s.failed[0].contains("still creating after 30 min"),
        "{:?}",
        s.failed
    );
}

#[tokio::test(start_paused = true)]
async fn leftovers_of_a_failed_drill_are_deleted_and_nothing_else_is_touched() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east, 1);
    east.add_volume("vol-leftover", None, &[(TAG_DRILL, "prod")]);
    east.add_volume("vol-other-drill", None, &[(TAG_DRILL, "test")]);
    east.add_volume("vol-user", None, &[("Name", "precious")]);
    let a = app(&east, &west, "off");
    let s = start(&a, t0()).await;
    assert_eq!(s.leftovers.len(), 1, "{s:?}");
    assert!(s.leftovers[0].starts_with("vol-leftover"));
    assert!(east.volume("vol-leftover").is_none());
    assert!(
        east.volume("vol-other-drill").is_some(),
        "another deployment's drill volume"
    );
    assert!(east.volume("vol-user").is_some());
    assert_eq!(
        (s.pending, s.drills.len()),
        (0, 0),
        "drills off: nothing restored"
    );
}

#[tokio::test(start_paused = true)]
async fn copies_in_a_destination_are_drilled_there_and_a_dry_run_creates_nothing() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east, 1);
    west.add_snapshot(
        "vol-ffffffff",
        t0() - Duration::hours(20),
        SnapshotState::Completed,
        &[
            (TAG_MANAGED_BY, "prod"),
            (TAG_VOLUME, "vol-0"),
            (TAG_COPY_OF, "snap-x"),
            (TAG_SOURCE_START, &(t0() - Duration::days(1)).to_rfc3339()),
        ],
    );
    let a = app(&east, &west, "100%");
    let dry = drill::handle(
        &a,
        DrillInput {
            dry_run: true,
            state: None,
        },
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(dry.drills.len(), 0);
    assert_eq!(
        dry.notes
            .iter()
            .filter(|n| n.starts_with("would restore"))
            .count(),
        2,
        "{dry:?}"
    );
    assert!(drill_volumes(&east).is_empty() && drill_volumes(&west).is_empty());
    let s = start(&a, t0()).await;
    assert_eq!(s.pending, 2, "the volume here and its copy there");
    assert_eq!(drill_volumes(&west).len(), 1);
    let s = check(&a, s, t0() + Duration::seconds(30)).await;
    let s = check(&a, s, t0() + Duration::seconds(60)).await;
    assert_eq!((s.pending, s.failures, s.proven.len()), (0, 0, 2));
    assert!(s.proven.iter().any(|p| p.region == WEST));
    assert!(drill_volumes(&west).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_hand_made_bad_input_is_refused_by_name() {
    let bad = serde_json::json!({"state": {"started": "2026-12-06T04:00:00Z", "drils": []}});
    let e = serde_json::from_value::<DrillInput>(bad).unwrap_err();
    assert!(e.to_string().contains("drils"), "{e}");
    let bad = serde_json::json!({"dry_run": "yes"});
    assert!(serde_json::from_value::<DrillInput>(bad).is_err());
}
