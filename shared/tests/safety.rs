//! Safety hardening: each way a review found to break a promise ("never below N", "the newest
//! is always kept", "dry run changes nothing", "failures are visible"), closed with a test on
//! the strict fake.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::discover::{self, DiscoverInput};
use ebs_gens::app::prune::{self, PruneInput, PruneOutput};
use ebs_gens::app::runtime::guarded;
use ebs_gens::app::sweep::sweep;
use ebs_gens::app::tag::{self, TagAction};
use ebs_gens::app::{input, App, VolumeJob};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::aws::NoScheduler;
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};
use ebs_gens::{Error, ErrorName};
use serde_json::json;

mod common;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-snapshot";

type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

fn app(fake: &FakeAws) -> FakeApp<'_> {
    let s = common::settings(&[
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
        ("EBS_GENS_SNAPSHOT_ROLE_ARN", ROLE),
    ]);
    App::new(s, fake, fake, ACCOUNT, "us-east-1", "test")
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn fire(days: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 30).unwrap() - Duration::days(days)
}

/// `n` daily snapshots of ours for `vol`, newest first.
fn history(fake: &FakeAws, vol: &str, n: i64) -> Vec<String> {
    (0..n)
        .map(|d| {
            fake.add_snapshot(
                vol,
                fire(d),
                SnapshotState::Completed,
                &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol)],
            )
        })
        .collect()
}

fn count(fake: &FakeAws, vol: &str) -> usize {
    fake.snapshots()
        .iter()
        .filter(|s| s.volume_id == vol)
        .count()
}

async fn prune_json(app: &FakeApp<'_>, v: serde_json::Value) -> Result<PruneOutput, Error> {
    prune::handle(app, input::<PruneInput>(v)?, now(), None).await
}

async fn batch(app: &FakeApp<'_>) -> Vec<VolumeJob> {
    discover::handle(app, DiscoverInput::default())
        .await
        .unwrap()
        .batches
        .remove(0)
        .volumes
}

#[tokio::test(start_paused = true)]
async fn hand_made_prune_input_with_a_bad_policy_changes_nothing() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "3")]);
    history(&fake, "vol-1", 4);
    let app = app(&fake);
    for (gens, names) in [
        (json!([["daily", 0]]), "gens"),
        (json!([]), "gens"),
        (json!([["daily", 1001]]), "gens"),
        (json!([["daily", 1], ["daily", 2]]), "gens"),
        (json!("daily=1"), "volumes[0].policy.gens"),
    ] {
        let v = json!({"volumes": [{"volume_id": "vol-1", "policy": {"gens": gens}}]});
        let e = prune_json(&app, v).await.unwrap_err();
        assert_eq!(e.name(), ErrorName::InvalidInput, "{e}");
        assert!(e.to_string().contains(names), "{e}");
    }
    for (v, field) in [
        (json!({"volumes": [], "dryRun": true}), "dryRun"),
        (json!({"volumes": [], "dry_run": "true"}), "boolean"),
        (json!({"volumes": [], "dry_run": 1}), "boolean"),
        (json!({"volumes": [], "dry_run": null}), "boolean"),
        (
            json!({"volumes": [{"volume_id": "vol-1", "policy": {"gens": [["daily", 1]]}, "extra": 1}]}),
            "extra",
        ),
        (
            json!({"volumes": [{"volume_id": "i-123", "policy": {"gens": [["daily", 1]]}}]}),
            "volume_id",
        ),
    ] {
        let e = prune_json(&app, v.clone()).await.unwrap_err();
        assert_eq!(e.name(), ErrorName::InvalidInput, "{v}");
        assert!(e.to_string().contains(field), "{v}: {e}");
    }
    assert_eq!(count(&fake, "vol-1"), 4, "nothing deleted");
    assert!(!fake.calls().contains_key("DeleteSnapshot"));
}

#[tokio::test(start_paused = true)]
async fn unsorted_gens_plan_like_sorted_ones() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1"), ("Weekly_Gens", "2")]);
    history(&fake, "vol-1", 4);
    let app = app(&fake);
    let v = json!({"volumes": [{"volume_id": "vol-1", "policy": {"gens": [["weekly", 2], ["daily", 1]]}}]});
    let job: PruneInput = input(v.clone()).unwrap();
    assert_eq!(job.volumes[0].policy.finest(), ebs_gens::GenClass::Daily);
    let out = prune_json(&app, v).await.unwrap();
    // The newest (also newest of ISO week 48) and the newest of week 47 are kept.
    assert_eq!(out.volumes[0].policy, "daily=1,weekly=2");
    assert_eq!(out.totals.kept, 2, "{:?}", out.volumes[0]);
}

#[tokio::test(start_paused = true)]
async fn prune_plans_from_the_tags_of_now_not_of_discovery() {
    let fake = FakeAws::new(ACCOUNT);
    for v in ["vol-abc", "vol-zero", "vol-gone", "vol-low", "vol-up"] {
        fake.add_volume(v, None, &[("Daily_Gens", "3")]);
        history(&fake, v, 6);
    }
    let app = app(&fake);
    let jobs = batch(&app).await;
    assert_eq!(jobs.len(), 5);
    // Tags change after discovery, before the prune (or a Step Functions retry replays old input).
    fake.add_volume("vol-abc", None, &[("Daily_Gens", "abc")]);
    fake.add_volume("vol-zero", None, &[("Daily_Gens", "0")]);
    fake.add_volume("vol-gone", None, &[("Name", "tag removed")]);
    fake.add_volume("vol-low", None, &[("Daily_Gens", "1")]);
    fake.add_volume("vol-up", None, &[("Daily_Gens", "5")]);
    fake.reset_calls();
    let out = common::prune(&app, jobs, now()).await.unwrap();
    assert_eq!(fake.calls()["DescribeVolumes"], 1, "one re-read per batch");
    for v in ["vol-abc", "vol-zero", "vol-gone"] {
        assert_eq!(count(&fake, v), 6, "{v}: nothing deleted");
        assert!(out.not_pruned.iter().any(|m| m.volume_id == v), "{v}");
    }
    assert_eq!(count(&fake, "vol-low"), 1, "a lowered tag is honoured");
    assert_eq!(count(&fake, "vol-up"), 5, "a raised tag is honoured");
    assert_eq!(out.totals.not_pruned, 3);
    assert!(out.totals.attention.iter().any(|a| a.state == "not-pruned"));
}

#[tokio::test(start_paused = true)]
async fn a_deleted_volume_in_the_batch_is_not_pruned_and_the_rest_are() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-a", None, &[("Daily_Gens", "2")]);
    history(&fake, "vol-a", 4);
    let app = app(&fake);
    let v = json!({"volumes": [
        {"volume_id": "vol-a", "policy": {"gens": [["daily", 2]]}},
        {"volume_id": "vol-deleted", "policy": {"gens": [["daily", 1]]}}
    ]});
    let out = prune_json(&app, v).await.unwrap();
    assert_eq!(count(&fake, "vol-a"), 2);
    assert_eq!(out.not_pruned[0].volume_id, "vol-deleted");
}

#[tokio::test(start_paused = true)]
async fn near_miss_tag_keys_are_found_and_reported_as_misconfigured() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-lower", None, &[("daily_gens", "7")]);
    fake.add_volume("vol-space", None, &[("Daily_Gens ", "7")]);
    fake.add_volume("vol-upper", None, &[("DAILY_GENS", "7")]);
    fake.add_volume("vol-other", None, &[("Owner", "me")]);
    let out = discover::handle(&app(&fake), DiscoverInput::default())
        .await
        .unwrap();
    let bad: Vec<&str> = out
        .misconfigured
        .iter()
        .map(|m| m.volume_id.as_str())
        .collect();
    assert_eq!(bad, ["vol-lower", "vol-space", "vol-upper"]);
    assert!(out
        .misconfigured
        .iter()
        .all(|m| m.error.contains("did you mean `Daily_Gens`?")));
    assert_eq!(out.managed, 0);
}

#[tokio::test(start_paused = true)]
async fn a_doubtful_volume_is_counted_listed_and_untouched_every_run() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    history(&fake, "vol-1", 3);
    fake.add_snapshot(
        "vol-1",
        fire(5),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-2")],
    );
    let app = app(&fake);
    for _ in 0..2 {
        let s = sweep(&app, false, now(), 3).await.unwrap();
        assert_eq!(s.totals.doubtful, 1);
        assert_eq!(s.totals.attention[0].state, "doubtful");
        assert!(
            s.totals.attention[0].reason.contains("vol-2"),
            "{:?}",
            s.totals.attention
        );
        assert_eq!(count(&fake, "vol-1"), 4);
    }
}

#[tokio::test(start_paused = true)]
async fn tag_snapshot_never_writes_a_volume_tag_the_snapshot_contradicts() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-a", None, &[("Daily_Gens", "3")]);
    fake.add_volume("vol-b", None, &[("Daily_Gens", "3")]);
    let snap = fake.add_snapshot("vol-b", fire(0), SnapshotState::Completed, &[]);
    let app = app(&fake);
    // The event claims vol-a; EC2 says the snapshot is of vol-b.
    let out = tag::handle(&app, common::event(&snap, "vol-a", "succeeded"))
        .await
        .unwrap();
    assert_eq!(out.results[0].action, TagAction::Skipped);
    assert!(out.results[0].reason.contains("vol-b"), "{:?}", out.results);
    assert!(fake.snapshots()[0].tags.is_empty());
    assert!(!fake.calls().contains_key("CreateTags"));
}

#[tokio::test(start_paused = true)]
async fn refusals_for_good_are_skipped_reported_and_not_retried() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "1")]);
    let ids = history(&fake, "vol-1", 5);
    fake.lock(&ids[1]);
    fake.deny_delete(&ids[2]);
    fake.vanish_before_delete(&ids[3]);
    let app = app(&fake);
    let v = json!({"volumes": [{"volume_id": "vol-1", "policy": {"gens": [["daily", 1]]}}]});
    let out = prune_json(&app, v)
        .await
        .expect("a refusal for good does not fail the batch");
    let t = &out.totals;
    assert_eq!(
        (
            t.deleted,
            t.skipped,
            t.denied,
            t.already_gone,
            t.held_by_lock
        ),
        (1, 1, 1, 1, 1)
    );
    let r = &out.volumes[0];
    assert_eq!(r.deleted[0].snapshot_id, ids[4]);
    assert_eq!(r.already_gone, [ids[3].clone()]);
    // The locked one is read as locked before any delete: kept, never attempted.
    assert!(r
        .kept
        .iter()
        .any(|i| i.snapshot_id == ids[1] && i.reasons[0].contains("locked until")));
    assert_eq!(fake.locked_delete_attempts(), 0);
    assert!(r
        .skipped
        .iter()
        .any(|i| i.reasons[0].contains("UnauthorizedOperation")));
    assert_eq!(
        fake.calls()["DeleteSnapshot"],
        3,
        "one call each, no retries, none on the locked one"
    );
}

#[tokio::test(start_paused = true)]
async fn create_tags_refused_for_one_snapshot_skips_it_not_the_batch() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "5")]);
    let untagged: Vec<String> = (0..3)
        .map(|d| fake.add_snapshot("vol-1", fire(d), SnapshotState::Completed, &[]))
        .collect();
    fake.deny_tagging(&untagged[1]);
    let app = app(&fake);
    let v = json!({"volumes": [{"volume_id": "vol-1", "policy": {"gens": [["daily", 5]]}}]});
    let out = prune_json(&app, v).await.unwrap();
    let r = &out.volumes[0];
    assert_eq!(r.adopted.len(), 2);
    assert_eq!(r.not_adopted[0].snapshot_id, untagged[1]);
    assert!(r.not_adopted[0].reasons[0].contains("UnauthorizedOperation"));
    let s = fake.snapshots();
    let refused = s.iter().find(|s| s.id == untagged[1]).unwrap();
    assert!(refused.tags.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_adopted_in_this_run_is_deleted_in_the_next() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    for d in 0..5 {
        fake.add_snapshot("vol-1", fire(d), SnapshotState::Completed, &[]);
    }
    let app = app(&fake);
    let v = json!({"volumes": [{"volume_id": "vol-1", "policy": {"gens": [["daily", 2]]}}]});
    let first = prune_json(&app, v.clone()).await.unwrap();
    assert_eq!(first.totals.adopted, 5);
    assert_eq!((first.totals.deleted, first.totals.deferred), (0, 3));
    assert_eq!(count(&fake, "vol-1"), 5);
    let second = prune_json(&app, v).await.unwrap();
    assert_eq!((second.totals.adopted, second.totals.deleted), (0, 3));
    assert_eq!(count(&fake, "vol-1"), 2);
}

#[tokio::test(start_paused = true)]
async fn two_deployments_on_one_volume_are_reported_as_contested() {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_volume("vol-1", None, &[("Daily_Gens", "2")]);
    history(&fake, "vol-1", 3);
    let theirs = fake.add_snapshot(
        "vol-1",
        fire(0),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "staging"), (TAG_VOLUME, "vol-1")],
    );
    // An old snapshot of a renamed deployment is history, not a contest.
    fake.add_snapshot(
        "vol-2",
        fire(30),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "old"), (TAG_VOLUME, "vol-2")],
    );
    fake.add_volume("vol-2", None, &[("Daily_Gens", "2")]);
    let s = sweep(&app(&fake), false, now(), 3).await.unwrap();
    assert_eq!(s.totals.contested, 1);
    let a = s
        .totals
        .attention
        .iter()
        .find(|a| a.state == "contested")
        .unwrap();
    assert_eq!(a.volume_id, "vol-1");
    assert!(a.reason.contains("staging"), "{}", a.reason);
    assert!(
        fake.snapshots().iter().any(|s| s.id == theirs),
        "never ours to delete"
    );
    assert_eq!(count(&fake, "vol-1"), 3);
}

#[tokio::test(start_paused = true)]
async fn instance_lookups_stay_under_200_filter_values_per_request() {
    let fake = FakeAws::new(ACCOUNT);
    fake.set_bucket("CreateTags", 1000.0, 100.0);
    for i in 0..200 {
        let (vol, inst) = (format!("vol-{i:04}"), format!("i-{i:04}"));
        fake.add_instance(&inst, &[("Name", "web")]);
        fake.add_volume(&vol, Some(&inst), &[("Daily_Gens", "3")]);
        fake.add_snapshot(&vol, fire(0), SnapshotState::Completed, &[]);
    }
    let app = app(&fake);
    let jobs = discover::handle(
        &app,
        DiscoverInput {
            batch_size: Some(200),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .batches
    .remove(0)
    .volumes;
    assert_eq!(jobs.len(), 200);
    let out = common::prune(&app, jobs, now()).await.unwrap();
    assert_eq!(out.totals.adopted, 200);
    assert_eq!(fake.calls()["DescribeTags"], 2, "198 + 2 instance ids");
}

#[tokio::test]
async fn a_panic_becomes_internal_never_a_rust_type_name() {
    let e = guarded(async {
        let v: Vec<u32> = Vec::new();
        #[allow(clippy::unnecessary_operation)]
        let _ = v[0];
        Ok::<(), Error>(())
    })
    .await
    .unwrap_err();
    assert_eq!(e.name(), ErrorName::Internal);
    assert!(e.to_string().contains("panic"), "{e}");
    let d: lambda_runtime::Diagnostic = e.into();
    assert_eq!(d.error_type, "Internal");
}

#[tokio::test(start_paused = true)]
async fn discover_and_ensure_inputs_reject_unknown_and_non_boolean_fields() {
    for v in [
        json!({"dryRun": true}),
        json!({"dry_run": "true"}),
        json!({"dry_run": null}),
        json!({"summary": {"deleted": 1, "bogus": 2}}),
        json!({"results": [{"totals": {}, "extra": 1}]}),
    ] {
        let e = input::<DiscoverInput>(v.clone()).unwrap_err();
        assert_eq!(e.name(), ErrorName::InvalidInput, "{v}");
    }
    for v in [json!({"dryRun": false}), json!({"dry_run": 0})] {
        let e = input::<ebs_gens::app::ensure_schedules::EnsureInput>(v.clone()).unwrap_err();
        assert_eq!(e.name(), ErrorName::InvalidInput, "{v}");
    }
}
