//! The Lambdas' logic against the strict fake: what moto cannot show (pagination, 1000-id
//! batching, pending snapshots, throttling storms, a volume deleted mid-run, partial delete
//! failure then success, AMI and Backup refusals, the delete pacer).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::discover::{self, DiscoverInput};
use ebs_gens::app::ensure_schedules::{self, EnsureInput};
use ebs_gens::app::prune::{self, PruneInput};
use ebs_gens::app::sweep::{sweep, sweep_with};
use ebs_gens::app::tag::TagAction;
use ebs_gens::app::{tag, App};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::aws::retry::Retrying;
use ebs_gens::aws::NoScheduler;
use ebs_gens::config::Settings;
use ebs_gens::snapshot::{SnapshotState, TAG_KEEP, TAG_MANAGED_BY, TAG_NAME, TAG_VOLUME};
use ebs_gens::ErrorName;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-snapshot";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

mod common;
use common::event;

/// Fast pacing: the fake's DeleteSnapshot bucket (100 burst, 5/s) is what the pacer must respect.
fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
        ("EBS_GENS_SNAPSHOT_ROLE_ARN", ROLE),
    ];
    vars.extend_from_slice(extra);
    common::settings(&vars)
}

fn app(fake: &FakeAws) -> FakeApp<'_> {
    App::new(settings(&[]), fake, fake, ACCOUNT, "us-east-1", "test")
}

/// The volumes of the first batch discovery hands to prune-volumes.
async fn first_batch(app: &FakeApp<'_>) -> Vec<ebs_gens::app::VolumeJob> {
    discover::handle(app, DiscoverInput::default())
        .await
        .unwrap()
        .batches
        .remove(0)
        .volumes
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// A daily 09:30 UTC fire time `days` ago, plus `secs` seconds.
fn fire(days: i64, secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap() - Duration::days(days)
        + Duration::seconds(secs)
}

fn ours(vol: &str) -> [(&'static str, &str); 2] {
    [(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol)]
}

/// `n` daily snapshots of ours for `vol`, newest first from today.
fn history(fake: &FakeAws, vol: &str, n: i64) -> Vec<String> {
    (0..n)
        .map(|d| fake.add_snapshot(vol, fire(d, 30), SnapshotState::Completed, &ours(vol)))
        .collect()
}

fn ids_of(fake: &FakeAws, vol: &str) -> Vec<String> {
    fake.snapshots()
        .into_iter()
        .filter(|s| s.volume_id == vol)
        .map(|s| s.id)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn discovery_pages_through_thousands_of_volumes() {
    let fake = FakeAws::new(ACCOUNT);
    for i in 0..1203 {
        fake.add_volume(&format!("vol-{i:05}"), None, &[("Daily_Gens", "3")]);
    }
    fake.add_volume("vol-bad", None, &[("Daily_Gens", "abc")]);
    fake.add_volume("vol-none", None, &[("Name", "scratch")]);
    let app = app(&fake);
    let mut cursor = None;
    let (mut managed, mut bad, mut pages) = (0, 0, 0);
    loop {
        let out = discover::handle(
            &app,
            DiscoverInput {
                cursor,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        pages += 1;
        managed += out.managed;
        bad += out.misconfigured.len();
        assert!(out.batches.iter().all(|b| b.volumes.len() <= 100));
        assert!(
            serde_json::to_vec(&out).unwrap().len() < 256 * 1024,
            "page output over 256 KB"
        );
        match out.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!((managed, bad, pages), (1203, 1, 3));
    assert_eq!(fake.calls()["DescribeVolumes"], 3);
}

#[tokio::test(start_paused = true)]
async fn sweep_keeps_n_deletes_surplus_and_makes_two_rules_for_seven_volumes() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_instance("i-1", &[("Owner", "ops"), ("Name", "web01")]);
    for v in 0..7 {
        let vol = format!("vol-w{v}");
        fake.add_volume(&vol, Some("i-1"), &[("Daily_Gens", "3")]);
        history(&fake, &vol, 6);
    }
    let summary = sweep(&app(&fake), false, now(), 3).await.unwrap();
    assert_eq!(summary.totals.volumes, 7);
    assert_eq!(summary.totals.deleted, 21);
    assert_eq!(summary.totals.kept, 21);
    let rules = fake.rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules.values().map(|(_, _, t)| t.len()).collect::<Vec<_>>(),
        vec![5, 2]
    );
    for v in 0..7 {
        assert_eq!(ids_of(&fake, &format!("vol-w{v}")).len(), 3);
    }
    // A second sweep changes nothing.
    fake.reset_calls();
    let again = sweep(&app(&fake), false, now(), 3).await.unwrap();
    assert_eq!((again.totals.deleted, again.schedule_changes), (0, 0));
    assert!(!fake.calls().contains_key("DeleteSnapshot"));
}

#[tokio::test(start_paused = true)]
async fn adoption_is_batched_by_1000_ids_and_names_come_from_the_instance_name_tag() {
    let fake = FakeAws::new(ACCOUNT);
    // The instance's first tag is not Name: the 2017 recipe's tags[0] bug.
    fake.add_instance("i-1", &[("CostCenter", "42"), ("Name", "db01")]);
    fake.add_volume(
        "vol-big",
        Some("i-1"),
        &[("Daily_Gens", "1000"), ("Name", "data")],
    );
    // 2,500 untagged snapshots at the daily fire time (e.g. missed events).
    for d in 0..2500 {
        fake.add_snapshot("vol-big", fire(d, 20), SnapshotState::Completed, &[]);
    }
    let app = app(&fake);
    let job = first_batch(&app).await;
    let out = common::prune(&app, job, now()).await.unwrap();
    assert_eq!(out.totals.adopted, 2500);
    // Adopted in this run: deleted in the next (tag visibility), never in the same invocation.
    assert_eq!((out.totals.deleted, out.totals.deferred), (0, 1500));
    assert_eq!(fake.calls()["CreateTags"], 3, "2,500 ids in 1,000-id calls");
    assert_eq!(
        fake.calls()["DescribeSnapshots"],
        3,
        "2,500 snapshots in 1,000-snapshot pages"
    );
    let s = fake.snapshots().into_iter().next().unwrap();
    assert_eq!(s.tags[TAG_NAME], "db01_Daily_vol-big");
    assert_eq!(s.tags[TAG_MANAGED_BY], "prod");
}

#[tokio::test(start_paused = true)]
async fn pending_pinned_foreign_and_untagged_outside_window_are_never_deleted() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    history(&fake, "vol-1", 4);
    let pending = fake.add_snapshot(
        "vol-1",
        fire(0, 3600),
        SnapshotState::Pending,
        &ours("vol-1"),
    );
    let pinned = fake.add_snapshot(
        "vol-1",
        fire(30, 0),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod"), (TAG_KEEP, "yes")],
    );
    let other = fake.add_snapshot(
        "vol-1",
        fire(40, 0),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "staging")],
    );
    let manual = fake.add_snapshot("vol-1", fire(50, 3 * 3600), SnapshotState::Completed, &[]);
    let foreign = fake.add_foreign_snapshot("vol-1", fire(60, 0), "999999999999");
    let app = app(&fake);
    let summary = sweep(&app, false, now(), 3).await.unwrap();
    assert_eq!(summary.totals.deleted, 2);
    let left = ids_of(&fake, "vol-1");
    for id in [&pending, &pinned, &other, &manual, &foreign] {
        assert!(left.contains(id), "{id} was deleted");
    }
    // The pending one completes: it now counts, and the oldest of the two kept goes.
    fake.complete(&pending);
    let summary = sweep(&app, false, now(), 3).await.unwrap();
    assert_eq!(summary.totals.deleted, 1);
}

#[tokio::test(start_paused = true)]
async fn another_accounts_snapshot_with_our_tags_is_never_listed_nor_deleted() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    history(&fake, "vol-1", 3);
    // Shared with us, carrying our tags and our volume's id: the oldest, so surplus if ours.
    let shared = fake.add_shared_snapshot(
        "vol-1",
        fire(30, 0),
        "999999999999",
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-1")],
    );
    let app = app(&fake);
    // The fake answers the request as sent: without an owner restriction it is visible.
    let everyone = ebs_gens::aws::Ec2Api::describe_snapshots(&fake, Default::default())
        .await
        .unwrap()
        .items;
    assert!(everyone.iter().any(|s| s.id == shared));
    // Our listings ask for OwnerIds=self: it never reaches the planner.
    let listed = app.ec2.snapshots_of(&["vol-1".to_string()]).await.unwrap();
    assert!(listed.iter().all(|s| s.id != shared), "listed {shared}");
    let ours = app.ec2.snapshots_managed_by("prod").await.unwrap();
    assert!(ours.iter().all(|s| s.id != shared), "listed {shared}");
    let summary = sweep(&app, false, now(), 3).await.unwrap();
    assert_eq!(summary.totals.deleted, 2);
    assert!(
        fake.snapshots().iter().any(|s| s.id == shared),
        "deleted {shared}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_delete_is_tried_again_in_the_same_run_and_every_delete_is_counted() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    let ids = history(&fake, "vol-1", 5);
    fake.fail_next_deletes(&ids[2], 1);
    let app = app(&fake);
    let job = first_batch(&app).await;
    let input = PruneInput {
        volumes: job.clone(),
        dry_run: false,
        ..Default::default()
    };
    let out = prune::handle(&app, input, now(), None).await.unwrap();
    // One invocation: the failure tried again after the others; all four counted.
    assert_eq!((out.totals.deleted, out.totals.failed), (4, 0));
    assert_eq!(ids_of(&fake, "vol-1"), vec![ids[0].clone()]);
    assert_eq!(fake.calls()["DeleteSnapshot"], 5);
}

#[tokio::test(start_paused = true)]
async fn a_delete_that_keeps_failing_is_reported_and_fails_the_sweep_with_honest_totals() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    let ids = history(&fake, "vol-1", 5);
    // More failures than the run's passes: it still fails at the end.
    fake.fail_next_deletes(&ids[2], 1 + prune::DELETE_RETRY_WAITS.len() as u32);
    let app = app(&fake);
    let job = first_batch(&app).await;
    let input = PruneInput {
        volumes: job,
        dry_run: false,
        ..Default::default()
    };
    let out = prune::handle(&app, input, now(), None).await.unwrap();
    assert_eq!((out.totals.deleted, out.totals.failed), (3, 1));
    assert_eq!(out.totals.failures[0].snapshot_id, ids[2]);
    // The sweep counts the three deletions, and fails on the fourth.
    let folded = discover::fold(
        Default::default(),
        &[discover::BatchResult {
            totals: Some(out.totals),
            error: None,
        }],
    );
    assert_eq!((folded.deleted, folded.failed_batches), (3, 1));
    assert_eq!(folded.errors[0]["Error"], ErrorName::DeleteFailed.as_str());
    assert!(folded.errors[0]["Cause"]
        .as_str()
        .unwrap()
        .contains(&ids[2]));
    // The next run deletes it.
    let s = sweep(&app, false, now(), 3).await.unwrap();
    assert_eq!(s.totals.deleted, 1);
    assert_eq!(ids_of(&fake, "vol-1"), vec![ids[0].clone()]);
}

#[tokio::test(start_paused = true)]
async fn ami_and_backup_refusals_are_skipped_and_reported_not_retried() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    let ids = history(&fake, "vol-1", 3);
    fake.use_in_ami(&ids[1], "ami-0abc");
    fake.manage_by_backup(&ids[2]);
    let app = app(&fake);
    let job = first_batch(&app).await;
    let out = common::prune(&app, job, now()).await.unwrap();
    assert_eq!((out.totals.deleted, out.totals.skipped), (0, 2));
    let reasons: Vec<&str> = out.volumes[0]
        .skipped
        .iter()
        .map(|i| i.reasons[0].as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("InvalidSnapshot.InUse")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("AWS Backup")),
        "{reasons:?}"
    );
    assert_eq!(fake.calls()["DeleteSnapshot"], 2);
}

#[tokio::test(start_paused = true)]
async fn a_volume_deleted_mid_run_keeps_all_its_snapshots() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    fake.add_volume("vol-2", None, &[("Daily_Gens", "2")]);
    history(&fake, "vol-1", 4);
    history(&fake, "vol-2", 4);
    let app = app(&fake);
    let job = first_batch(&app).await;
    fake.remove_volume("vol-2");
    let out = common::prune(&app, job, now()).await.unwrap();
    // Its snapshots may be the only copy left of the volume: nothing is deleted for it.
    assert_eq!(out.totals.deleted, 2);
    assert_eq!(ids_of(&fake, "vol-2").len(), 4);
    assert_eq!(out.not_pruned[0].volume_id, "vol-2");
    // The next rule reconciliation drops the deleted volume's target.
    ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap();
    let targets: Vec<String> = fake
        .rules()
        .values()
        .flat_map(|(_, _, t)| t.iter().map(|t| t.id.clone()))
        .collect();
    assert_eq!(targets, vec!["vol-1".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn dry_run_changes_nothing_and_reports_the_plan() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    history(&fake, "vol-1", 4);
    fake.add_snapshot("vol-1", fire(10, 60), SnapshotState::Completed, &[]);
    let before = fake.snapshots();
    let summary = sweep(&app(&fake), true, now(), 3).await.unwrap();
    // The adopted one is surplus too, but is deleted only by the run after its adoption.
    assert_eq!(
        (
            summary.totals.deleted,
            summary.totals.adopted,
            summary.totals.deferred
        ),
        (2, 1, 1)
    );
    assert_eq!(fake.snapshots(), before);
    assert!(fake.rules().is_empty());
    let calls = fake.calls();
    for op in ["DeleteSnapshot", "CreateTags", "PutRule", "PutTargets"] {
        assert!(!calls.contains_key(op), "{op} called in a dry run");
    }
}

/// End state (snapshot ids per volume, rules) of a fleet after sweeping until it converges.
async fn converge(fake: &FakeAws) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    // Production clients retry throttling and 5xx (the SDK's standard mode): model that.
    let retrying = Retrying::production(fake);
    let app: App<(&Retrying<&FakeAws>, &Retrying<&FakeAws>, NoScheduler)> = App::new(
        settings(&[]),
        &retrying,
        &retrying,
        ACCOUNT,
        "us-east-1",
        "test",
    );
    // The first sweep deletes 12 of each volume's 16 snapshots: acknowledged, or the
    // bulk-deletion fuse would hold it.
    for _ in 0..30 {
        match sweep_with(&app, false, true, now(), 3, |_| {}).await {
            Ok(s) if !s.failed() => {
                fake.clear_faults();
                let again = sweep(&app, false, now(), 1).await.unwrap();
                assert_eq!(again.totals.deleted, 0, "converged state must be stable");
                let mut by_vol: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for s in fake.snapshots() {
                    by_vol.entry(s.volume_id).or_default().push(s.id);
                }
                let rules = fake
                    .rules()
                    .into_iter()
                    .map(|(n, (_, _, t))| format!("{n}:{}", t.len()))
                    .collect();
                return (by_vol, rules);
            }
            _ => continue,
        }
    }
    panic!("did not converge in 30 sweeps");
}

fn storm_fleet(fake: &FakeAws) -> Vec<String> {
    fake.add_instance("i-1", &[("Name", "app")]);
    let mut planned_keep = Vec::new();
    for v in 0..40 {
        let vol = format!("vol-{v:03}");
        fake.add_volume(
            &vol,
            Some("i-1"),
            &[("Daily_Gens", "3"), ("Weekly_Gens", "2")],
        );
        let ids = history(fake, &vol, 15);
        // An untagged snapshot from today's schedule (its event was missed): adopted, newest.
        fake.add_snapshot(&vol, fire(0, 40), SnapshotState::Completed, &[]);
        // Keep = the 3 newest (adopted, ids[0], ids[1]) + the newest of the previous ISO week
        // (2026-11-25 is a Wednesday; Sunday the 22nd is ids[3]).
        planned_keep.extend([ids[0].clone(), ids[1].clone(), ids[3].clone()]);
    }
    planned_keep
}

#[tokio::test(start_paused = true)]
async fn twenty_percent_throttling_and_5xx_converge_to_the_same_end_state() {
    let calm = FakeAws::new(ACCOUNT);
    let keep_calm = storm_fleet(&calm);
    let (calm_state, calm_rules) = converge(&calm).await;

    let storm = FakeAws::new(ACCOUNT);
    let keep_storm = storm_fleet(&storm);
    assert_eq!(keep_calm, keep_storm);
    storm.inject_faults(0.2, 7);
    let (storm_state, storm_rules) = converge(&storm).await;

    assert_eq!(calm_state, storm_state);
    assert_eq!(calm_rules, storm_rules);
    let total = |f: &FakeAws| f.calls().values().sum::<u64>();
    assert!(
        total(&storm) > total(&calm) + 50,
        "the storm injected few faults: {} vs {}",
        total(&storm),
        total(&calm)
    );
    // Nothing the plan keeps was deleted, in either run.
    let left: Vec<&String> = storm_state.values().flatten().collect();
    for id in &keep_storm {
        assert!(left.contains(&id), "{id} kept by the plan but deleted");
    }
    assert_eq!(
        calm_state.values().map(Vec::len).sum::<usize>(),
        40 * 4,
        "3 daily (one adopted) + 1 weekly"
    );
}

#[tokio::test(start_paused = true)]
async fn the_pacer_keeps_a_large_prune_under_the_delete_bucket() {
    let fake = FakeAws::new(ACCOUNT);
    for v in 0..10 {
        let vol = format!("vol-{v}");
        fake.add_volume(&vol, None, &[("Daily_Gens", "1")]);
        history(&fake, &vol, 51);
    }
    // 500 deletes against AWS's DeleteSnapshot bucket (100 burst, 5/s): paced, none throttled.
    // (An acknowledged bulk deletion: the fuse holds 50 of 51 otherwise.)
    let app = app(&fake);
    let held = sweep(&app, false, now(), 1).await.unwrap();
    assert_eq!((held.totals.deleted, held.totals.held), (0, 10));
    assert_eq!(held.totals.deletions_held, 500);
    let summary = sweep_with(&app, false, true, now(), 1, |_| {})
        .await
        .unwrap();
    assert_eq!(summary.totals.deleted, 500);
    assert!(!summary.failed(), "{:?}", summary.totals.errors);
    assert_eq!(
        fake.calls()["DeleteSnapshot"],
        500,
        "no throttled call was retried"
    );
}

#[tokio::test(start_paused = true)]
async fn tag_snapshot_adopts_once_duplicates_change_nothing_failures_tag_nothing() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_instance("i-1", &[("Name", "web01")]);
    fake.add_volume("vol-1", Some("i-1"), &[("Daily_Gens", "7")]);
    fake.add_volume("vol-2", None, &[("Daily_Gens", "abc")]);
    let snap = fake.add_snapshot("vol-1", fire(0, 5), SnapshotState::Completed, &[]);
    let app = app(&fake);
    let out = tag::handle(&app, event(&snap, "vol-1", "succeeded"))
        .await
        .unwrap();
    assert_eq!(out.results[0].action, TagAction::Adopted);
    assert_eq!(out.volumes.len(), 1);
    let tagged = fake.snapshots().into_iter().find(|s| s.id == snap).unwrap();
    assert_eq!(tagged.tags[TAG_NAME], "web01_Daily_vol-1");
    let calls = fake.calls()["CreateTags"];
    let again = tag::handle(&app, event(&snap, "vol-1", "succeeded"))
        .await
        .unwrap();
    assert_eq!(again.results[0].action, TagAction::AlreadyOurs);
    assert_eq!(
        fake.calls()["CreateTags"],
        calls,
        "a duplicate event tagged again"
    );

    let failed_snap = fake.add_snapshot("vol-1", fire(0, 6), SnapshotState::Error, &[]);
    let out = tag::handle(&app, event(&failed_snap, "vol-1", "failed"))
        .await
        .unwrap();
    assert_eq!(out.failed.len(), 1);
    assert!(out.volumes.is_empty());
    assert!(fake
        .snapshots()
        .iter()
        .find(|s| s.id == failed_snap)
        .unwrap()
        .tags
        .is_empty());

    let bad = fake.add_snapshot("vol-2", fire(0, 5), SnapshotState::Completed, &[]);
    let out = tag::handle(&app, event(&bad, "vol-2", "succeeded"))
        .await
        .unwrap();
    assert_eq!(out.results[0].action, TagAction::Skipped);
    assert!(
        out.results[0].reason.contains("Daily_Gens"),
        "{}",
        out.results[0].reason
    );

    let err = tag::handle(&app, serde_json::json!({"source": "aws.ec2"}))
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn a_sweep_over_short_and_empty_pages_deletes_exactly_what_full_pages_would() {
    let fake = FakeAws::new(ACCOUNT);
    for v in 0..3 {
        fake.add_volume(&format!("vol-{v}"), None, &[("Daily_Gens", "7")]);
        history(&fake, &format!("vol-{v}"), 12);
    }
    fake.short_pages();
    let s = sweep(&app(&fake), false, now(), 3).await.unwrap();
    assert_eq!(
        (s.totals.volumes, s.totals.deleted, s.totals.kept),
        (3, 15, 21)
    );
    for v in 0..3 {
        assert_eq!(ids_of(&fake, &format!("vol-{v}")).len(), 7);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_delete_found_gone_on_its_retry_counts_as_deleted() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    let ids = history(&fake, "vol-1", 3);
    // The first attempt errs, though (as EC2 may) the snapshot is gone by the retry.
    fake.fail_next_deletes(&ids[2], 1);
    fake.vanish_before_delete(&ids[2]);
    let app = app(&fake);
    let job = first_batch(&app).await;
    let out = common::prune(&app, job, now()).await.unwrap();
    assert_eq!(
        (
            out.totals.deleted,
            out.totals.already_gone,
            out.totals.failed
        ),
        (2, 0, 0)
    );
    assert_eq!(ids_of(&fake, "vol-1"), vec![ids[0].clone()]);
}
