//! `ebs-gens restore` on the strict fake: the generation chosen for a time, the volume created
//! with the source's shape (or the recorded one, or gp3's, said), tagged as restored and never
//! managed, waited for until `available`, attached; every bad input refused before anything is
//! created; a volume that stays `creating` or ends in `error`, and the storage quota, reported.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::restore::{self, RestoreRequest, Wait};
use ebs_gens::app::App;
use ebs_gens::aws::fake::{FakeAws, NewVolumes};
use ebs_gens::aws::NoScheduler;
use ebs_gens::copies::{TAG_COPY_OF, TAG_SOURCE_START};
use ebs_gens::restore::{SpecSource, TAG_RESTORED_FROM, TAG_RESTORE_OF, TAG_VOLUME_SPEC};
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_NAME, TAG_VOLUME};
use ebs_gens::Error;

mod common;

const ACCOUNT: &str = "123456789012";
const WEST: &str = "us-west-2";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

fn app<'a>(east: &'a FakeAws, west: &'a FakeAws) -> FakeApp<'a> {
    let s = common::settings(&[("EBS_GENS_COPIES", "daily:us-west-2=3")]);
    App::new(s, east, east, ACCOUNT, "us-east-1", "test")
        .with_destination(WEST, west)
        .without_metrics()
}

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap() + Duration::days(d)
}

fn now() -> DateTime<Utc> {
    day(5) + Duration::hours(2)
}

/// vol-1 (db01) with five daily generations of ours, days 0..4, and one manual snapshot.
fn fleet(east: &FakeAws) -> Vec<String> {
    east.add_volume("vol-1", None, &[("Daily_Gens", "7"), (TAG_NAME, "db01")]);
    let ids = (0..5)
        .map(|d| {
            east.add_snapshot(
                "vol-1",
                day(d),
                SnapshotState::Completed,
                &[
                    (TAG_MANAGED_BY, "prod"),
                    (TAG_VOLUME, "vol-1"),
                    (TAG_VOLUME_SPEC, "io2 size=50 iops=4000"),
                ],
            )
        })
        .collect();
    east.add_snapshot(
        "vol-1",
        day(3) + Duration::hours(1),
        SnapshotState::Completed,
        &[],
    );
    ids
}

const FAST: Wait = Wait {
    every: std::time::Duration::from_secs(5),
    at_most: std::time::Duration::from_secs(60),
};

fn req(at: Option<DateTime<Utc>>) -> RestoreRequest {
    RestoreRequest {
        volume_id: "vol-1".into(),
        at,
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_restore_as_of_a_time_creates_the_generation_before_it_shaped_like_its_source_and_attaches_it(
) {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let ids = fleet(&east);
    east.add_instance_at("i-1", "us-east-1a", "running", &["/dev/xvda"]);
    let a = app(&east, &west);
    let mut r = req(Some(day(3) + Duration::hours(3)));
    r.attach = Some(("i-1".into(), "/dev/sdf".into()));
    let plan = restore::plan(&a, &r, now()).await.unwrap();
    assert_eq!(
        plan.chosen.snapshot_id, ids[3],
        "not the manual one an hour later"
    );
    assert!(
        plan.chosen
            .why
            .contains("at or before 2026-12-04 12:30 UTC"),
        "{}",
        plan.chosen.why
    );
    assert_eq!(
        plan.spec.to_string(),
        "gp3 size=100 iops=3000 throughput=125"
    );
    assert_eq!(
        (plan.spec_from, plan.zone.as_str()),
        (SpecSource::SourceVolume, "us-east-1a")
    );
    let before = east.volumes().len();
    assert_eq!(east.volumes().len(), before, "a plan creates nothing");
    let seen = std::sync::Mutex::new(Vec::new());
    let done = restore::apply(&a.ec2, &plan, "token-1", FAST, |_, s| {
        seen.lock().unwrap().push(s.to_string())
    })
    .await
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), vec!["creating", "available"]);
    let v = east.volume(&done.volume_id).unwrap();
    assert_eq!(
        (v.state.as_str(), v.instance_id.as_deref()),
        ("in-use", Some("i-1"))
    );
    assert_eq!(v.tags[TAG_RESTORED_FROM], ids[3]);
    assert_eq!(v.tags[TAG_RESTORE_OF], "vol-1");
    assert!(v.tags[TAG_NAME].starts_with("db01 (restore as of 2026-12-04"));
    assert!(
        v.tags.keys().all(|k| !k.ends_with("_Gens")),
        "never managed"
    );
    assert!(done.attached && done.undo[0].contains("detach-volume"));
    assert!(done.undo[1].contains(&format!(
        "delete-volume --region us-east-1 --volume-id {}",
        done.volume_id
    )));
    // The same client token again (a retried call): the same volume, not a second one.
    let again = restore::apply(
        &a.ec2,
        &RestorePlanNoAttach::of(&plan),
        "token-1",
        FAST,
        |_, _| {},
    )
    .await;
    assert!(again.is_err() || again.unwrap().volume_id == done.volume_id);
    assert_eq!(east.volumes().len(), before + 1);
}

/// A plan without its attachment (to call apply twice).
struct RestorePlanNoAttach;
impl RestorePlanNoAttach {
    fn of(p: &restore::RestorePlan) -> restore::RestorePlan {
        restore::RestorePlan {
            attach: None,
            ..p.clone()
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_gone_volume_restores_as_its_snapshot_recorded_in_the_zone_given() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let ids = fleet(&east);
    east.remove_volume("vol-1");
    let a = app(&east, &west);
    let err = restore::plan(&a, &req(None), now()).await.unwrap_err();
    assert!(err.to_string().contains("give --az"), "{err}");
    let mut r = req(None);
    r.az = Some("us-east-1b".into());
    let plan = restore::plan(&a, &r, now()).await.unwrap();
    assert_eq!(plan.chosen.snapshot_id, ids[4], "the newest");
    assert_eq!(plan.spec_from, SpecSource::Recorded);
    assert_eq!(
        plan.spec.to_string(),
        "io2 size=100 iops=4000",
        "at least the snapshot's size"
    );
    assert!(plan.notes.iter().any(|n| n.contains("no longer exists")));
    let done = restore::apply(&a.ec2, &plan, "t", FAST, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        east.volume(&done.volume_id).unwrap().zone.as_deref(),
        Some("us-east-1b")
    );
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_by_name_and_nothing_is_created() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east);
    let manual = east.add_snapshot("vol-1", day(4), SnapshotState::Completed, &[]);
    east.add_instance_at("i-far", "us-east-1c", "running", &[]);
    east.add_instance_at("i-gone", "us-east-1a", "terminated", &[]);
    east.add_instance_at("i-busy", "us-east-1a", "running", &["/dev/sdf"]);
    let a = app(&east, &west);
    let before = east.volumes().len();
    let cases: Vec<(RestoreRequest, &str)> = vec![
        (
            req(Some(day(0) - Duration::minutes(1))),
            "no completed generation of vol-1 at or before",
        ),
        (
            RestoreRequest {
                snapshot_id: Some(manual.clone()),
                ..req(None)
            },
            "not a snapshot of deployment prod",
        ),
        (
            RestoreRequest {
                az: Some("us-west-2a".into()),
                ..req(None)
            },
            "not an availability zone of us-east-1",
        ),
        (
            RestoreRequest {
                attach: Some(("i-far".into(), "/dev/sdf".into())),
                ..req(None)
            },
            "the instance is in us-east-1c",
        ),
        (
            RestoreRequest {
                attach: Some(("i-gone".into(), "/dev/sdf".into())),
                ..req(None)
            },
            "terminated",
        ),
        (
            RestoreRequest {
                attach: Some(("i-busy".into(), "/dev/sdf".into())),
                ..req(None)
            },
            "already in use",
        ),
        (
            RestoreRequest {
                attach: Some(("i-none".into(), "/dev/sdf".into())),
                ..req(None)
            },
            "no such instance",
        ),
        (
            RestoreRequest {
                from_region: Some("eu-west-1".into()),
                ..req(None)
            },
            "not one of this deployment's copy destinations",
        ),
        (
            RestoreRequest {
                from_region: Some(WEST.into()),
                ..req(None)
            },
            "no completed generation of vol-1 made by deployment prod",
        ),
        (
            RestoreRequest {
                volume_id: "vol-9".into(),
                ..req(None)
            },
            "no completed generation of vol-9",
        ),
    ];
    for (r, want) in cases {
        match restore::plan(&a, &r, now()).await {
            Err(Error::InvalidInput(why)) => assert!(why.contains(want), "{why} (wanted {want})"),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    assert_eq!(east.volumes().len(), before, "nothing created");
}

#[tokio::test(start_paused = true)]
async fn a_volume_that_stays_creating_or_fails_or_exceeds_the_quota_is_an_error_naming_it() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east);
    let a = app(&east, &west);
    let plan = restore::plan(&a, &req(None), now()).await.unwrap();
    east.set_new_volumes(NewVolumes::StayCreating);
    let e = restore::apply(&a.ec2, &plan, "a", FAST, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("still creating after 60 s")
            && e.to_string().contains("delete-volume"),
        "{e}"
    );
    east.set_new_volumes(NewVolumes::Fail);
    let e = restore::apply(&a.ec2, &plan, "b", FAST, |_, _| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("ended error"), "{e}");
    east.set_volume_quota_gib(150);
    let before = east.volumes().len();
    let e = restore::apply(&a.ec2, &plan, "c", FAST, |_, _| {})
        .await
        .unwrap_err();
    assert!(e.to_string().contains("VolumeLimitExceeded"), "{e}");
    assert_eq!(east.volumes().len(), before);
}

#[tokio::test(start_paused = true)]
async fn a_copy_in_a_destination_restores_there_by_its_sources_time() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    fleet(&east);
    let copy = west.add_snapshot(
        "vol-ffffffff",
        day(5),
        SnapshotState::Completed,
        &[
            (TAG_MANAGED_BY, "prod"),
            (TAG_VOLUME, "vol-1"),
            (TAG_COPY_OF, "snap-x"),
            (TAG_SOURCE_START, &day(2).to_rfc3339()),
        ],
    );
    let a = app(&east, &west);
    let no_az = RestoreRequest {
        from_region: Some(WEST.into()),
        ..req(Some(day(3)))
    };
    let e = restore::plan(&a, &no_az, now()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("--az is required with --from-region"),
        "{e}"
    );
    let r = RestoreRequest {
        az: Some("us-west-2b".into()),
        ..no_az
    };
    let plan = restore::plan(&a, &r, now()).await.unwrap();
    assert_eq!(
        (plan.chosen.snapshot_id.as_str(), plan.region.as_str()),
        (copy.as_str(), WEST)
    );
    assert_eq!(plan.chosen.taken, day(2));
    let (dest, _) = restore::region_client(&a, Some(WEST)).unwrap();
    let done = restore::apply(dest, &plan, "w", FAST, |_, _| {})
        .await
        .unwrap();
    assert!(west.volume(&done.volume_id).is_some());
    assert!(done.undo[0].contains("--region us-west-2"));
}
