//! Copies in another region on the strict fake (one `FakeAws` per region): copies born tagged
//! and made once per source, a destination keeping its own newest N and its incremental base,
//! AWS's 20 copies in flight, a backlog drained, faults, a dry run and a bad tag.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::prune::{self, PruneInput, PruneOutput};
use ebs_gens::app::{App, VolumeJob};
use ebs_gens::aws::fake::{FakeAws, MAX_COPIES_IN_FLIGHT};
use ebs_gens::aws::{CopySpec, Ec2Api, NoScheduler};
use ebs_gens::copies::{TAG_COPIES, TAG_COPY_OF, TAG_SOURCE_REGION, TAG_SOURCE_START};
use ebs_gens::policy::VolumePolicy;
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};
use ebs_gens::GenClass;

mod common;

const ACCOUNT: &str = "123456789012";
const WEST: &str = "us-west-2";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

fn app<'a>(east: &'a FakeAws, west: &'a FakeAws, copies: &str) -> FakeApp<'a> {
    app_with(east, west, copies, &[])
}

fn app_with<'a>(
    east: &'a FakeAws,
    west: &'a FakeAws,
    copies: &str,
    extra: &[(&str, &str)],
) -> FakeApp<'a> {
    let mut vars = vec![
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
        ("EBS_GENS_COPIES", copies),
    ];
    vars.extend_from_slice(extra);
    let s = common::settings(&vars);
    App::new(s, east, east, ACCOUNT, "us-east-1", "test")
        .with_destination(WEST, west)
        .without_metrics()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn fire(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 30).unwrap() - Duration::days(days)
}

/// A managed volume `Daily_Gens=7` with `n` daily snapshots of ours (newest first).
fn volume(east: &FakeAws, vol: &str, n: i64) -> Vec<String> {
    east.add_volume(vol, None, &[("Daily_Gens", "7")]);
    (0..n)
        .map(|d| {
            east.add_snapshot(
                vol,
                fire(d),
                SnapshotState::Completed,
                &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol)],
            )
        })
        .collect()
}

fn job(vol: &str) -> VolumeJob {
    VolumeJob {
        volume_id: vol.into(),
        policy: VolumePolicy::new(vec![(GenClass::Daily, 7)]).unwrap(),
        instance_id: None,
        volume_name: None,
        spec: None,
    }
}

async fn prune(app: &FakeApp<'_>, vols: &[&str], at: DateTime<Utc>, dry_run: bool) -> PruneOutput {
    let input = PruneInput {
        volumes: vols.iter().map(|v| job(v)).collect(),
        dry_run,
        ..Default::default()
    };
    prune::handle(app, input, at, None).await.unwrap()
}

/// Each copy in `west`: its source id.
fn sources(west: &FakeAws) -> Vec<String> {
    west.snapshots()
        .iter()
        .filter_map(|s| s.tag(TAG_COPY_OF).map(str::to_string))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_newest_generations_are_copied_born_tagged_once_each_and_the_destination_keeps_its_own_n(
) {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let snaps = volume(&east, "vol-1", 10);
    let a = app(&east, &west, "daily:us-west-2=3");
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copied, 3, "{:?}", out.volumes[0].copies);
    let mut copied = sources(&west);
    copied.sort();
    let mut want = snaps[..3].to_vec();
    want.sort();
    assert_eq!(copied, want, "the newest three");
    let c = &west.snapshots()[0];
    assert_eq!(c.tag(TAG_MANAGED_BY), Some("prod"));
    assert_eq!(c.tag(TAG_VOLUME), Some("vol-1"));
    assert_eq!(c.tag(TAG_SOURCE_REGION), Some("us-east-1"));
    assert!(c.tag(TAG_SOURCE_START).is_some());
    // Pending copies count as made: the next run copies nothing again.
    let again = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!((again.totals.copied, sources(&west).len()), (0, 3));
    west.complete_copies(10);
    // A day later: one new snapshot, one new copy; the destination keeps 3 (+ nothing else:
    // the newest copy is also the most recently made).
    let newest = east.add_snapshot(
        "vol-1",
        fire(-1),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-1")],
    );
    let next = prune(&a, &["vol-1"], now() + Duration::days(1), false).await;
    assert_eq!(next.totals.copied, 1);
    assert!(sources(&west).contains(&newest));
    west.complete_copies(10);
    let last = prune(&a, &["vol-1"], now() + Duration::days(1), false).await;
    assert_eq!(
        last.totals.copies_deleted, 1,
        "{:?}",
        last.volumes[0].copies
    );
    assert!(
        !sources(&west).contains(&snaps[2]),
        "the oldest beyond three goes"
    );
    assert_eq!(west.snapshots().len(), 3);
    assert_eq!(last.totals.copies_failed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_snapshot_backlog_drains_at_twenty_in_flight_with_each_source_copied_once() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let vols: Vec<String> = (0..50).map(|i| format!("vol-{i:03}")).collect();
    for v in &vols {
        volume(&east, v, 20);
    }
    let a = app(&east, &west, "daily:us-west-2=20");
    let refs: Vec<&str> = vols.iter().map(String::as_str).collect();
    let mut runs = 0;
    let mut most = 0;
    while sources(&west).len() < 1000 {
        runs += 1;
        assert!(runs <= 60, "the backlog did not drain");
        let out = prune(&a, &refs, now(), false).await;
        assert_eq!(
            out.totals.copies_failed,
            0,
            "{:?}",
            out.volumes
                .iter()
                .flat_map(|v| &v.copies)
                .find(|d| !d.failed.is_empty() || d.error.is_some())
        );
        most = most.max(west.copies_in_flight());
        assert!(west.copies_in_flight() <= MAX_COPIES_IN_FLIGHT);
        west.complete_copies(MAX_COPIES_IN_FLIGHT);
        // The next sweep, an hour later (EC2's token buckets refill meanwhile).
        tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    }
    assert_eq!(
        most, MAX_COPIES_IN_FLIGHT,
        "each run fills the 20 in flight"
    );
    assert_eq!(runs, 50, "1000 copies, 20 a run");
    let unique: BTreeSet<String> = sources(&west).into_iter().collect();
    assert_eq!(unique.len(), 1000, "no source copied twice");
    assert_eq!(
        west.throttled("CopySnapshot"),
        0,
        "within CopySnapshot's bucket"
    );
}

#[tokio::test(start_paused = true)]
async fn copies_in_flight_by_others_are_back_pressure_not_failure() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-1", 5);
    // Someone else's 20 copies fill the destination.
    for i in 0..MAX_COPIES_IN_FLIGHT {
        let spec = CopySpec {
            source_region: "eu-west-1".into(),
            source_snapshot_id: format!("snap-{i:017x}"),
            description: "not ours".into(),
            tags: vec![],
            kms_key_id: None,
            completion_minutes: None,
        };
        west.copy_snapshot(&spec).await.unwrap();
    }
    let a = app(&east, &west, "daily:us-west-2=3");
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!((out.totals.copied, out.totals.copies_deferred), (0, 3));
    assert_eq!(out.totals.copies_failed, 0, "not a failure");
    west.complete_copies(MAX_COPIES_IN_FLIGHT);
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copied, 3, "resumed by the next run");
}

#[tokio::test(start_paused = true)]
async fn copies_resume_after_faults_and_end_with_one_copy_per_source() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let vols: Vec<String> = (0..10).map(|i| format!("vol-{i}")).collect();
    for v in &vols {
        volume(&east, v, 7);
    }
    let a = app(&east, &west, "daily:us-west-2=5");
    let refs: Vec<&str> = vols.iter().map(String::as_str).collect();
    west.inject_faults(0.3, 7);
    let mut failed_runs = 0;
    for _ in 0..20 {
        let input = PruneInput {
            volumes: refs.iter().map(|v| job(v)).collect(),
            ..Default::default()
        };
        match prune::handle(&a, input, now(), None).await {
            Ok(out) if out.totals.copies_failed > 0 => failed_runs += 1,
            Ok(_) => {}
            // A listing that keeps failing fails the batch (retried by the state machine).
            Err(_) => failed_runs += 1,
        }
        west.complete_copies(MAX_COPIES_IN_FLIGHT);
    }
    west.clear_faults();
    let out = prune(&a, &refs, now(), false).await;
    assert_eq!(out.totals.copies_failed, 0);
    assert!(failed_runs > 0, "the faults were felt (and reported)");
    let all = sources(&west);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (50, 50),
        "each source exactly once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_copies_and_deletes_nothing_and_says_what_it_would() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-1", 5);
    let a = app(&east, &west, "daily:us-west-2=3");
    let out = prune(&a, &["vol-1"], now(), true).await;
    assert_eq!(out.totals.copied, 3);
    assert!(west.snapshots().is_empty());
    assert_eq!(west.writes().values().sum::<u64>(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_bad_copies_tag_is_reported_by_name_and_nothing_is_copied() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-1", 5);
    volume(&east, "vol-2", 5);
    east.set_volume_tag("vol-1", TAG_COPIES, "daily:eu-west-1=3");
    east.set_volume_tag("vol-2", TAG_COPIES, "daily:us-west-2=abc");
    let a = app(&east, &west, "daily:us-west-2=3");
    let out = prune(&a, &["vol-1", "vol-2"], now(), false).await;
    assert_eq!((out.totals.copied, out.totals.copies_failed), (0, 2));
    let errors: BTreeMap<&str, String> = out
        .volumes
        .iter()
        .map(|v| (v.volume_id.as_str(), v.copies[0].error.clone().unwrap()))
        .collect();
    assert!(errors["vol-1"].contains("eu-west-1"), "{errors:?}");
    assert!(errors["vol-2"].contains("abc"), "{errors:?}");
    assert!(west.snapshots().is_empty());
    // The volumes themselves are pruned as usual.
    assert_eq!(out.totals.volumes, 2);
    // `off` on the tag turns copies off for that volume.
    east.set_volume_tag("vol-1", TAG_COPIES, "off");
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!((out.totals.copied, out.totals.copies_failed), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_destination_never_deletes_what_the_next_run_would_copy_again() {
    // Two snapshots a day: the finest class counts snapshots, not days, here and there alike.
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    east.add_volume("vol-1", None, &[("Daily_Gens", "7")]);
    for h in 0..8 {
        east.add_snapshot(
            "vol-1",
            fire(0) - Duration::hours(12 * h),
            SnapshotState::Completed,
            &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-1")],
        );
    }
    let a = app(&east, &west, "daily:us-west-2=3");
    assert_eq!(prune(&a, &["vol-1"], now(), false).await.totals.copied, 3);
    for _ in 0..3 {
        west.complete_copies(MAX_COPIES_IN_FLIGHT);
        tokio::time::advance(std::time::Duration::from_secs(3600)).await;
        let out = prune(&a, &["vol-1"], now(), false).await;
        assert_eq!(
            (out.totals.copied, out.totals.copies_deleted),
            (0, 0),
            "stable: {:?}",
            out.volumes[0].copies
        );
    }
    assert_eq!(west.snapshots().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_lagging_destination_is_copies_stale_and_status_shows_its_recovery_point() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let snaps = volume(&east, "vol-1", 5);
    let a = app(&east, &west, "daily:us-west-2=3");
    // Copies made three days ago (of the sources from 3 and 4 days ago), then the destination
    // stuck: someone else's 20 copies in flight.
    for src in east
        .snapshots()
        .iter()
        .filter(|x| snaps[3..].contains(&x.id))
    {
        let spec = CopySpec {
            source_region: "us-east-1".into(),
            source_snapshot_id: src.id.clone(),
            description: "ours".into(),
            tags: vec![
                (TAG_MANAGED_BY.into(), "prod".into()),
                (TAG_VOLUME.into(), "vol-1".into()),
                (TAG_COPY_OF.into(), src.id.clone()),
                (TAG_SOURCE_START.into(), src.start_time.to_rfc3339()),
            ],
            kms_key_id: None,
            completion_minutes: None,
        };
        west.copy_snapshot(&spec).await.unwrap();
    }
    west.complete_copies(10);
    for i in 0..MAX_COPIES_IN_FLIGHT {
        let spec = CopySpec {
            source_region: "eu-west-1".into(),
            source_snapshot_id: format!("snap-{i:017x}"),
            description: "not ours".into(),
            tags: vec![],
            kms_key_id: None,
            completion_minutes: None,
        };
        west.copy_snapshot(&spec).await.unwrap();
    }
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copies_stale, 1, "{:?}", out.volumes[0].copies);
    let d = &out.volumes[0].copies[0];
    assert!(
        d.stale
            .as_deref()
            .unwrap()
            .contains("older than daily allows"),
        "{d:?}"
    );
    assert_eq!(
        d.newest_source.map(|t| t.date_naive()),
        Some(fire(3).date_naive())
    );
    // `ebs-gens status` grades it critical and shows the recovery point.
    let (states, reasons) = ebs_gens::app::status::states(&out.volumes[0]);
    assert!(
        states.contains(&ebs_gens::app::status::State::CopiesStale),
        "{states:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("us-west-2:")),
        "{reasons:?}"
    );
    // Once the destination frees up, the next run copies and it is fresh again.
    west.complete_copies(MAX_COPIES_IN_FLIGHT);
    tokio::time::advance(std::time::Duration::from_secs(3600)).await;
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copied, 3);
    west.complete_copies(MAX_COPIES_IN_FLIGHT);
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copies_stale, 0, "{:?}", out.volumes[0].copies);
}

#[tokio::test(start_paused = true)]
async fn a_copy_that_ends_in_error_is_a_reported_failure_and_is_made_again() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-1", 3);
    let a = app(&east, &west, "daily:us-west-2=1");
    assert_eq!(prune(&a, &["vol-1"], now(), false).await.totals.copied, 1);
    let failed = west.snapshots()[0].id.clone();
    west.fail_copy(&failed);
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copies_failed, 1, "{:?}", out.volumes[0].copies);
    assert!(out.volumes[0].copies[0].failed[0].contains("ended in error"));
    assert_eq!(out.totals.copied, 1, "made again");
    assert!(
        !west.snapshot_ids().contains(&failed),
        "the failed copy is deleted"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lowered_copy_rule_is_held_by_the_fuse_until_acknowledged() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-1", 7);
    let wide = app(&east, &west, "daily:us-west-2=7");
    assert_eq!(
        prune(&wide, &["vol-1"], now(), false).await.totals.copied,
        7
    );
    west.complete_copies(20);
    // Lowered to 1 by mistake: 6 of 7 copies would go, past the volume fuse (50 %, 5).
    let narrow = app(&east, &west, "daily:us-west-2=1");
    let out = prune(&narrow, &["vol-1"], now(), false).await;
    let d = &out.volumes[0].copies[0];
    assert!(d.held.as_deref().unwrap().contains("6 of 7"), "{d:?}");
    assert_eq!(
        (out.totals.copies_deleted, out.totals.deletions_held),
        (0, 6)
    );
    assert_eq!(west.snapshots().len(), 7);
    // Acknowledged for this run: deleted.
    let input = PruneInput {
        volumes: vec![job("vol-1")],
        allow_bulk_delete: true,
        ..Default::default()
    };
    let out = prune::handle(&narrow, input, now(), None).await.unwrap();
    assert_eq!(out.totals.copies_deleted, 6);
    assert_eq!(west.snapshots().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_source_this_run_deletes_is_not_copied() {
    // Daily_Gens=7 with 9 snapshots: the two oldest go this run; a rule asking for 9 copies
    // copies only the 7 that remain.
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let snaps = volume(&east, "vol-1", 9);
    let a = app(&east, &west, "daily:us-west-2=9");
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(
        (
            out.totals.deleted,
            out.totals.copied,
            out.totals.copies_failed
        ),
        (2, 7, 0)
    );
    assert!(!sources(&west).contains(&snaps[8]));
}

/// `ebs-gens explain` on a copy's id: found in the destination, explained from its volume's
/// dry-run plan there (kept with the rule's reasons, or deleted), a volume gone keeps its copies,
/// someone else's snapshot there is never touched, and an id found nowhere names where it looked.
#[tokio::test(start_paused = true)]
async fn explain_finds_a_copy_in_its_destination_and_says_why_it_is_kept_or_deleted() {
    use ebs_gens::app::explain::{explain, Verdict};
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    let snaps = volume(&east, "vol-1", 4);
    let a = app(&east, &west, "daily:us-west-2=3");
    prune(&a, &["vol-1"], now(), false).await;
    west.complete_copies(10);
    let copy_of = |src_index: usize| {
        let src = snaps[src_index].clone();
        west.snapshots()
            .into_iter()
            .find(|c| c.tag(TAG_COPY_OF) == Some(src.as_str()))
            .map(|c| c.id)
    };
    let newest = copy_of(0).expect("the newest is copied");
    let e = explain(&a, &newest, now()).await.unwrap();
    assert_eq!(e.verdict, Verdict::Keep);
    assert_eq!(e.region.as_deref(), Some(WEST));
    assert!(
        e.reasons.iter().any(|r| r.contains("us-west-2")),
        "{:?}",
        e.reasons
    );
    // The rule lowered to 1: the older copies go, with the plan's reasons (a copy of the
    // newest and the most recently made one stay).
    let lowered = app(&east, &west, "daily:us-west-2=1");
    let older = west
        .snapshots()
        .into_iter()
        .map(|c| c.id)
        .find(|id| id != &newest)
        .unwrap();
    let e = explain(&lowered, &older, now()).await.unwrap();
    assert!(
        matches!(e.verdict, Verdict::Delete | Verdict::Keep | Verdict::Held),
        "{e:?}"
    );
    assert!(!e.reasons.is_empty(), "{e:?}");
    // Someone else's snapshot in the destination: never touched.
    let foreign = west.add_snapshot("vol-9", now(), SnapshotState::Completed, &[]);
    let e = explain(&a, &foreign, now()).await.unwrap();
    assert_eq!(e.verdict, Verdict::Keep);
    assert!(e.reasons[0].contains("never touched"), "{:?}", e.reasons);
    // The volume deleted: its copies are kept.
    east.remove_volume("vol-1");
    let e = explain(&a, &newest, now()).await.unwrap();
    assert_eq!(e.verdict, Verdict::Keep);
    assert!(
        e.reasons[0].contains("gone or no longer managed"),
        "{:?}",
        e.reasons
    );
    // Found nowhere: an error naming where it looked.
    let err = explain(&a, "snap-0000000000000dead", now())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("us-east-1") && msg.contains(WEST), "{msg}");
}

/// The orphan scan (prune-volumes with `orphans: true`).
async fn scan(a: &FakeApp<'_>, at: DateTime<Utc>) -> PruneOutput {
    let input = PruneInput {
        orphans: true,
        ..Default::default()
    };
    prune::handle(a, input, at, None).await.unwrap()
}

/// The orphan scan finds copies no rule plans any more — the volume deleted, or its tag turning
/// copies off for that region — and applies the orphan policy to them: `keep` (the default)
/// deletes none and lists them; `keep-last` deletes the old ones but the newest K and the most
/// recently made copy. Copies another region's deployment made are never touched.
#[tokio::test(start_paused = true)]
async fn orphaned_copies_are_listed_and_follow_the_orphan_policy() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-gone", 5);
    volume(&east, "vol-off", 5);
    let a = app(&east, &west, "daily:us-west-2=5");
    prune(&a, &["vol-gone", "vol-off"], now(), false).await;
    west.complete_copies(20);
    assert_eq!(west.snapshots().len(), 10);
    // Another region's deployment of the same name made this one: never ours to plan.
    let foreign = west.add_snapshot(
        "vol-ffffffff",
        fire(30),
        SnapshotState::Completed,
        &[
            (TAG_MANAGED_BY, "prod"),
            (TAG_VOLUME, "vol-gone"),
            (TAG_COPY_OF, "snap-elsewhere"),
            (TAG_SOURCE_REGION, "eu-west-1"),
            (TAG_SOURCE_START, "2026-10-01T00:00:00+00:00"),
        ],
    );
    east.remove_volume("vol-gone");
    east.set_volume_tag("vol-off", TAG_COPIES, "off");
    let later = now() + Duration::days(20);
    let kept = scan(&a, later).await;
    assert_eq!(kept.totals.orphaned_copies, 10, "{:?}", kept.volumes);
    assert_eq!(kept.totals.copies_deleted, 0);
    let why: BTreeMap<&str, String> = kept
        .volumes
        .iter()
        .filter(|r| !r.copies.is_empty())
        .map(|r| (r.volume_id.as_str(), r.orphaned.unwrap().to_string()))
        .collect();
    assert_eq!(why["vol-gone"], "volume deleted");
    assert_eq!(why["vol-off"], "no copy rule names this region");
    assert_eq!(west.snapshots().len(), 11, "keep deletes nothing");
    // Under keep-last=1,older-than=7 the copies 20 days on go, but the newest and the one
    // made last (here the same, or two) — and never the foreign one.
    let s = common::settings(&[
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
        ("EBS_GENS_COPIES", "daily:us-west-2=5"),
        ("EBS_GENS_ORPHANS", "keep-last=1,older-than=7"),
    ]);
    let strict = App::new(s, &east, &east, ACCOUNT, "us-east-1", "test")
        .with_destination(WEST, &west)
        .without_metrics();
    // (4 of 5 is under the volume fuse's "more than 5": no acknowledgement needed.)
    let out = scan(&strict, later).await;
    assert!(out.totals.copies_deleted >= 6, "{:?}", out.volumes);
    assert_eq!(out.totals.copies_failed, 0);
    let left: BTreeSet<String> = west.snapshots().into_iter().map(|c| c.id).collect();
    assert!(
        left.contains(&foreign),
        "another deployment's copy is never touched"
    );
    let mut per_volume: BTreeMap<String, usize> = BTreeMap::new();
    for c in west.snapshots() {
        *per_volume
            .entry(c.tag(TAG_VOLUME).unwrap().to_string())
            .or_default() += 1;
    }
    // vol-gone: its newest (also made last) + the foreign copy; vol-off: its newest.
    assert!(
        per_volume["vol-off"] >= 1 && per_volume["vol-off"] <= 2,
        "{per_volume:?}"
    );
    assert!(
        per_volume["vol-gone"] >= 2 && per_volume["vol-gone"] <= 3,
        "{per_volume:?}"
    );
}

/// Time-based copies: each copy asks AWS to complete within the setting's minutes; one still
/// pending past them is reported late (the missed-completion event goes to the destination
/// region, which the deployment does not watch), and no longer once it completes.
#[tokio::test(start_paused = true)]
async fn a_time_based_copy_still_pending_past_its_duration_is_reported_late() {
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    volume(&east, "vol-1", 2);
    let s = common::settings(&[
        ("EBS_GENS_COPIES", "daily:us-west-2=2"),
        ("EBS_GENS_COPY_COMPLETION_MINUTES", "60"),
    ]);
    let a = App::new(s, &east, &east, ACCOUNT, "us-east-1", "test")
        .with_destination(WEST, &west)
        .without_metrics();
    let out = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(out.totals.copied, 2);
    let copies = west.snapshots();
    for c in &copies {
        assert_eq!(
            west.completion_minutes(&c.id),
            Some(60),
            "asked to complete within 60 min"
        );
        west.set_start_time(&c.id, now() - Duration::minutes(30));
    }
    let on_time = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(on_time.totals.copies_late, 0);
    west.set_start_time(&copies[0].id, now() - Duration::minutes(90));
    let late = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(late.totals.copies_late, 1, "{:?}", late.volumes[0].copies);
    let d = &late.volumes[0].copies[0];
    assert!(
        d.late[0].contains(&copies[0].id) && d.late[0].contains("60 min"),
        "{:?}",
        d.late
    );
    assert_eq!(late.totals.copied, 0, "a late copy is not copied again");
    west.complete_copies(10);
    let done = prune(&a, &["vol-1"], now(), false).await;
    assert_eq!(done.totals.copies_late, 0);
    // AWS's range: a duration off its 15-minute steps is refused by the fake as by EC2 (the
    // setting refuses it first, naming the variable).
    let bad = CopySpec {
        source_region: "us-east-1".into(),
        source_snapshot_id: "snap-00000000000000001".into(),
        description: "x".into(),
        tags: vec![],
        kms_key_id: None,
        completion_minutes: Some(50),
    };
    assert!(west.copy_snapshot(&bad).await.is_err());
    let err = ebs_gens::config::Settings::from_lookup(|k| {
        (k == "EBS_GENS_COPY_COMPLETION_MINUTES").then(|| "50".to_string())
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("EBS_GENS_COPY_COMPLETION_MINUTES"),
        "{err}"
    );
}

/// With `locks`, a destination locks its completed copies for as long as it keeps them (their
/// source's start plus the rule's N periods and the margin), and a copy the destination no
/// longer keeps is held by its lock, never attempted; a copy lock over `lockMaxDays` stops that
/// destination's deletes.
#[tokio::test(start_paused = true)]
async fn copies_are_locked_as_long_as_the_destination_keeps_them_and_held_by_their_locks() {
    use ebs_gens::locks::LockState;
    let (east, west) = (FakeAws::new(ACCOUNT), FakeAws::in_region(ACCOUNT, WEST));
    east.set_now(now());
    west.set_now(now());
    volume(&east, "vol-1", 5);
    let locks = [("EBS_GENS_LOCKS", "daily=governance")];
    let a = app_with(&east, &west, "daily:us-west-2=3", &locks);
    assert_eq!(prune(&a, &["vol-1"], now(), false).await.totals.copied, 3);
    west.complete_copies(10);
    let out = prune(&a, &["vol-1"], now(), false).await;
    let d = &out.volumes[0].copies[0];
    assert_eq!((d.locked.len(), d.lock_failed.len()), (3, 0), "{d:?}");
    for c in west.snapshots() {
        let start = chrono::DateTime::parse_from_rfc3339(c.tag(TAG_SOURCE_START).unwrap()).unwrap();
        let l = west.lock_of(&c.id).expect("every kept copy is locked");
        assert_eq!(l.state, LockState::Governance);
        assert_eq!(
            l.expires,
            Some(start.with_timezone(&Utc) + Duration::days(3) + Duration::hours(1)),
            "the destination's keep time, not the source's 7 days"
        );
    }
    // The rule lowered to 1: two copies surplus, held by their locks, never attempted.
    let narrow = app_with(&east, &west, "daily:us-west-2=1", &locks);
    let out = prune(&narrow, &["vol-1"], now(), false).await;
    assert_eq!(
        (
            out.totals.copies_deleted,
            out.totals.held_by_lock,
            out.totals.copies_failed
        ),
        (0, 2, 0),
        "{:?}",
        out.volumes[0].copies
    );
    assert_eq!(west.locked_delete_attempts(), 0);
    assert_eq!(west.snapshots().len(), 3);
    // A lock longer than lockMaxDays: reported, nothing locked or deleted in that destination.
    let weekly = app_with(
        &east,
        &west,
        "daily:us-west-2=1 weekly:us-west-2=8",
        &[
            ("EBS_GENS_LOCKS", "weekly=governance"),
            ("EBS_GENS_LOCK_MAX_DAYS", "7"),
        ],
    );
    let before = west.snapshots().len();
    let out = prune(&weekly, &["vol-1"], now() + Duration::days(5), false).await;
    let d = &out.volumes[0].copies[0];
    assert!(
        d.lock_failed.iter().any(|w| w.contains("lockMaxDays")),
        "{d:?}"
    );
    assert_eq!((out.totals.copies_deleted, d.locked.len()), (0, 0));
    assert!(west.snapshots().len() >= before);
    assert_eq!(west.locked_delete_attempts(), 0);
}
