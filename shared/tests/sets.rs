//! Instance sets on the strict fake, end to end: ensure-schedules gives a tagged instance one
//! CreateSnapshots schedule (a self-tagged member loses its own, an excluded volume keeps its
//! own), the fake's Scheduler fires it, the multi-volume completion event tags the members, and
//! prune keeps the newest N sets whole — a failed set deleted whole, a deletion cut short
//! finished by the next run, the limits of CreateSnapshots reported, never silent.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::ensure_schedules::{self, EnsureInput, EnsureOutput};
use ebs_gens::app::prune::{self, PruneInput, PruneOutput};
use ebs_gens::app::sweep::sweep;
use ebs_gens::app::tag::{self, TagAction};
use ebs_gens::app::App;
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::backend::scheduler::parse_schedule_name;
use ebs_gens::sets::{TAG_EXCLUDE_BOOT, TAG_EXCLUDE_FROM_SET, TAG_SET, TAG_SET_SIZE};
use ebs_gens::snapshot::{Snapshot, SnapshotState, TAG_NAME, TAG_VOLUME};

mod common;

const ACCOUNT: &str = "123456789012";
const GROUP: &str = "ebs-gens-prod";

type SetsApp<'a> = App<(&'a FakeAws, &'a FakeAws, &'a FakeAws)>;

fn app<'a>(fake: &'a FakeAws, sets: &str) -> SetsApp<'a> {
    let settings = common::settings(&[
        ("EBS_GENS_BACKEND", "scheduler"),
        ("EBS_GENS_SETS", sets),
        ("EBS_GENS_DELETE_BURST", "100"),
    ]);
    App::new(settings, fake, fake, ACCOUNT, "us-east-1", "test").with_scheduler(fake)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// A database instance (boot volume left out) with three data volumes — one also tagged on its
/// own, asking for something else — and a scratch volume excluded from the set that keeps its
/// own schedule; beside it a single volume as today.
fn account() -> FakeAws {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    fake.add_instance(
        "i-db",
        &[
            ("Name", "db01"),
            ("Daily_Gens", "3"),
            (TAG_EXCLUDE_BOOT, "true"),
        ],
    );
    fake.add_volume("vol-boot", Some("i-db"), &[]);
    fake.set_boot_volume("vol-boot");
    fake.add_volume("vol-data", Some("i-db"), &[("Hourly_Gens", "24")]);
    fake.add_volume("vol-log", Some("i-db"), &[]);
    fake.add_volume("vol-wal", Some("i-db"), &[]);
    fake.add_volume(
        "vol-scratch",
        Some("i-db"),
        &[("Daily_Gens", "2"), (TAG_EXCLUDE_FROM_SET, "true")],
    );
    fake.add_volume("vol-web", None, &[("Daily_Gens", "2")]);
    fake
}

async fn ensure(app: &SetsApp<'_>) -> EnsureOutput {
    ensure_schedules::handle(app, EnsureInput::default(), None)
        .await
        .unwrap()
}

/// The multi-volume completion event of the set `members` (each `completed` unless failed).
fn set_event(fake: &FakeAws, members: &[String]) -> serde_json::Value {
    let snaps: Vec<Snapshot> = fake
        .snapshots()
        .into_iter()
        .filter(|s| members.contains(&s.id))
        .collect();
    let failed = snaps.iter().any(|s| s.state == SnapshotState::Error);
    let entries: Vec<serde_json::Value> = snaps
        .iter()
        .map(|s| {
            serde_json::json!({
                "snapshot_id": format!("arn:aws:ec2::us-east-1:snapshot/{}", s.id),
                "source": format!("arn:aws:ec2::us-east-1:volume/{}", s.volume_id),
                "status": if s.state == SnapshotState::Error { "failed" } else { "completed" },
            })
        })
        .collect();
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/create-snapshots-multi.json"
    ))
    .unwrap();
    v["detail"]["snapshots"] = entries.into();
    v["detail"]["result"] = if failed { "failed" } else { "succeeded" }.into();
    v
}

/// The instance's set snapshots (those carrying `ebs-gens:set`), by set tag.
fn sets(fake: &FakeAws) -> std::collections::BTreeMap<String, Vec<Snapshot>> {
    let mut out: std::collections::BTreeMap<String, Vec<Snapshot>> = Default::default();
    for s in fake.snapshots() {
        if let Some(t) = s.tag(TAG_SET) {
            out.entry(t.to_string()).or_default().push(s.clone());
        }
    }
    out
}

async fn prune_instance(app: &SetsApp<'_>, instances: Vec<String>) -> PruneOutput {
    let input = PruneInput {
        instances,
        ..Default::default()
    };
    prune::handle(app, input, now(), None).await.unwrap()
}

/// One day's firing: every schedule fires, the set completes, its event is handled and the
/// instance pruned (as the snapshot-completed state machine does).
async fn day(fake: &FakeAws, app: &SetsApp<'_>, d: i64) -> PruneOutput {
    let made = fake.fire_schedules(GROUP, now() - Duration::days(d));
    let members: Vec<String> = made
        .iter()
        .filter(|id| {
            fake.snapshots()
                .iter()
                .any(|s| &s.id == *id && s.tag(TAG_SET).is_some())
        })
        .cloned()
        .collect();
    for id in &made {
        fake.complete(id);
    }
    let out = tag::handle(app, set_event(fake, &members)).await.unwrap();
    assert_eq!(out.instances, ["i-db"]);
    assert!(
        out.volumes.is_empty(),
        "a set's event prunes the instance, not its volumes"
    );
    prune_instance(app, out.instances).await
}

#[tokio::test(start_paused = true)]
async fn an_instance_set_is_one_createsnapshots_schedule_that_replaces_a_members_own_and_keeps_n_sets_whole(
) {
    let fake = account();
    let app = app(&fake, "on");
    let out = ensure(&app).await;
    let owners: BTreeSet<String> = fake
        .schedules_in(GROUP)
        .keys()
        .filter_map(|n| parse_schedule_name(n).map(|(r, _)| r))
        .collect();
    // The instance's schedule, the excluded volume's and the single volume's: not vol-data's
    // own (the set takes it), and nothing for the boot volume.
    assert_eq!(
        owners,
        BTreeSet::from(["i-db".into(), "vol-scratch".into(), "vol-web".into()])
    );
    assert_eq!(out.sets.instances, 1);
    assert_eq!(
        out.sets.in_sets.get("vol-data").map(String::as_str),
        Some("i-db")
    );
    let spec = fake
        .schedules_in(GROUP)
        .into_values()
        .find(|s| s.volume_id == "i-db")
        .unwrap();
    assert!(spec.target_arn.ends_with("ec2:createSnapshots"));
    let input: serde_json::Value = serde_json::from_str(&spec.input).unwrap();
    assert_eq!(input["InstanceSpecification"]["ExcludeBootVolume"], true);
    assert_eq!(
        input["InstanceSpecification"]["ExcludeDataVolumeIds"],
        serde_json::json!(["vol-scratch"])
    );

    // Five days of sets: each set's three members share a start time and, after their event,
    // carry their own volume, Name and the set's size; the newest 3 sets stay, each whole.
    for d in (0..5).rev() {
        let pruned = day(&fake, &app, d).await;
        assert_eq!(pruned.totals.failed, 0);
    }
    let now_sets = sets(&fake);
    assert_eq!(now_sets.len(), 3, "Daily_Gens=3 on the instance: 3 sets");
    for members in now_sets.values() {
        let vols: BTreeSet<&str> = members.iter().map(|s| s.volume_id.as_str()).collect();
        assert_eq!(vols, BTreeSet::from(["vol-data", "vol-log", "vol-wal"]));
        assert_eq!(
            members
                .iter()
                .map(|s| s.start_time)
                .collect::<BTreeSet<_>>()
                .len(),
            1
        );
        for m in members {
            assert_eq!(m.tag(TAG_VOLUME), Some(m.volume_id.as_str()));
            assert_eq!(m.tag(TAG_SET_SIZE), Some("3"));
            assert_eq!(
                m.tag(TAG_NAME),
                Some(format!("db01_Daily_{}", m.volume_id).as_str())
            );
        }
    }
    assert!(
        !fake.snapshots().iter().any(|s| s.volume_id == "vol-boot"),
        "the boot volume is left out"
    );
    // The excluded volume keeps its own generations.
    let scratch = fake
        .snapshots()
        .iter()
        .filter(|s| s.volume_id == "vol-scratch" && s.tag(TAG_SET).is_none())
        .count();
    assert_eq!(
        scratch, 5,
        "its own snapshots (its own prune is the sweep's)"
    );

    // The sweep prunes volumes and instances alike: a set whose event was lost is pruned by it,
    // and vol-data's set members are never pruned on their own, whatever its own tag asks.
    for id in fake.fire_schedules(GROUP, now() + Duration::hours(1)) {
        fake.complete(&id);
    }
    assert_eq!(sets(&fake).len(), 4);
    let summary = sweep(&app, false, now() + Duration::hours(2), 3)
        .await
        .unwrap();
    assert_eq!(summary.totals.instances, 1);
    assert!(summary.totals.deleted >= 3, "{:?}", summary.totals);
    assert_eq!(sets(&fake).len(), 3);
    assert!(fake.dead_letters().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_set_is_counted_deleted_whole_and_never_counts_toward_n() {
    let fake = account();
    let app = app(&fake, "on");
    ensure(&app).await;
    for d in (1..4).rev() {
        day(&fake, &app, d).await;
    }
    // Today's set fails (EBS fails every member of a set together).
    let made = fake.fire_schedules(GROUP, now());
    let members: Vec<String> = made
        .iter()
        .filter(|id| {
            fake.snapshots()
                .iter()
                .any(|s| &s.id == *id && s.tag(TAG_SET).is_some())
        })
        .cloned()
        .collect();
    for id in &members {
        fake.fail_snapshot(id);
    }
    let out = tag::handle(&app, set_event(&fake, &members)).await.unwrap();
    assert_eq!(out.failed.len(), 3, "each failed member is reported");
    assert!(out.failed.iter().all(|r| r.action == TagAction::Failed));
    let pruned = prune_instance(&app, out.instances).await;
    assert_eq!(pruned.totals.deleted, 3, "the failed set, whole");
    let left = sets(&fake);
    assert_eq!(
        left.len(),
        3,
        "the three completed sets stay: a failed set never counts"
    );
    assert!(left
        .values()
        .flatten()
        .all(|s| s.state == SnapshotState::Completed));
}

#[tokio::test(start_paused = true)]
async fn a_set_deletion_cut_short_is_finished_by_the_next_run_and_never_leaves_a_partial_set_kept()
{
    let fake = account();
    let app = app(&fake, "on");
    ensure(&app).await;
    for d in (1..4).rev() {
        day(&fake, &app, d).await;
    }
    // The next set makes the oldest surplus; one of its members fails to delete for longer
    // than the prune's retries.
    let oldest: Vec<String> = sets(&fake)
        .into_values()
        .next()
        .unwrap()
        .iter()
        .map(|s| s.id.clone())
        .collect();
    fake.fail_next_deletes(&oldest[0], 1 + prune::DELETE_RETRY_WAITS.len() as u32);
    let pruned = day(&fake, &app, 0).await;
    assert_eq!(pruned.totals.failed, 1);
    assert_eq!(pruned.totals.deleted, 2);
    // What is left of it is no longer a whole set, but it carries the mark of its deletion:
    // the next run deletes the rest instead of keeping a partial set for ever.
    let again = prune_instance(&app, vec!["i-db".into()]).await;
    assert_eq!(again.totals.deleted, 1);
    assert!(again.volumes[0].deleted[0]
        .reasons
        .iter()
        .any(|r| r.contains("deletion began")));
    assert_eq!(sets(&fake).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_member_pinned_keeps_its_whole_set_and_bad_instance_tags_are_reported_skips() {
    let fake = account();
    let app = app(&fake, "on");
    ensure(&app).await;
    for d in (1..4).rev() {
        day(&fake, &app, d).await;
    }
    // Pin one member of the oldest set: the next set makes it surplus, but it stays whole.
    let oldest = sets(&fake).into_values().next().unwrap();
    let pin = [(ebs_gens::snapshot::TAG_KEEP.to_string(), "true".to_string())];
    ebs_gens::aws::Ec2Api::create_tags(&&fake, &[oldest[0].id.clone()], &pin)
        .await
        .unwrap();
    let pruned = day(&fake, &app, 0).await;
    assert_eq!(pruned.totals.deleted, 0);
    assert_eq!(sets(&fake).len(), 4, "3 sets, and the pinned one whole");
    let line = &pruned.volumes[0].sets.last().unwrap();
    assert_eq!((line.action.as_str(), line.members.len()), ("keep", 3));
    assert!(line.reasons.iter().any(|r| r == "pinned"), "{line:?}");

    // A tag value that is not a count: the instance is skipped, its schedule kept, nothing
    // deleted for it.
    fake.add_instance(
        "i-db",
        &[
            ("Name", "db01"),
            ("Daily_Gens", "abc"),
            (TAG_EXCLUDE_BOOT, "true"),
        ],
    );
    let out = ensure(&app).await;
    assert_eq!(out.sets.skipped.len(), 1);
    assert!(
        out.sets.skipped[0].error.contains("Daily_Gens"),
        "{:?}",
        out.sets.skipped
    );
    assert!(out.schedules.deleted.is_empty(), "its schedule stays");
    let pruned = prune_instance(&app, vec!["i-db".into()]).await;
    assert_eq!(pruned.totals.deleted, 0);
    assert_eq!(pruned.not_pruned.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn sets_off_is_todays_behaviour_and_turning_them_off_gives_members_their_own_schedules_back()
{
    let fake = account();
    let off = app(&fake, "off");
    ensure(&off).await;
    let owners: BTreeSet<String> = fake
        .schedules_in(GROUP)
        .keys()
        .filter_map(|n| parse_schedule_name(n).map(|(r, _)| r))
        .collect();
    assert_eq!(
        owners,
        BTreeSet::from(["vol-data".into(), "vol-scratch".into(), "vol-web".into()])
    );
    let on = app(&fake, "on");
    let out = ensure(&on).await;
    assert_eq!(out.schedules.created.len(), 1, "the instance's");
    assert_eq!(out.schedules.deleted.len(), 1, "vol-data's own");
    let back = ensure(&off).await;
    assert_eq!(
        (back.schedules.created.len(), back.schedules.deleted.len()),
        (1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn createsnapshots_limits_are_enforced_and_reported_in_the_dead_letter_queue() {
    let fake = account();
    let app = app(&fake, "on");
    ensure(&app).await;
    // st1: one pending snapshot per volume. A second firing while the first set is pending is
    // refused whole (ConcurrentSnapshotLimitExceeded) into the dead-letter queue, never silent.
    fake.set_volume_type("vol-log", "st1");
    let first = fake.fire_schedules(GROUP, now());
    let second = fake.fire_schedules(GROUP, now() + Duration::hours(1));
    assert_eq!(
        first.len(),
        5,
        "the set's 3 members, vol-scratch's and vol-web's own"
    );
    assert_eq!(
        second.len(),
        2,
        "the set is refused whole; the gp3 volumes' own go on"
    );
    let dead = fake.dead_letters();
    assert!(
        dead.iter()
            .any(|(s, code)| s.starts_with("i-db.") && code == "ConcurrentSnapshotLimitExceeded"),
        "{dead:?}"
    );
    // The CreateSnapshots bucket (100, 5 a second) throttles a burst.
    fake.set_bucket("CreateSnapshots", 2.0, 0.001);
    for id in fake.snapshot_ids() {
        fake.complete(&id);
    }
    for _ in 0..3 {
        fake.fire_schedules(GROUP, now());
        for id in fake.snapshot_ids() {
            fake.complete(&id);
        }
    }
    assert!(fake.throttled("CreateSnapshots") >= 1);
    assert!(fake
        .dead_letters()
        .iter()
        .any(|(_, code)| code == "RequestLimitExceeded"));
}

#[tokio::test(start_paused = true)]
async fn status_plan_and_explain_show_sets_and_the_overlap_decision() {
    use ebs_gens::app::explain::{self, Verdict};
    use ebs_gens::app::status::{self, State};
    let fake = account();
    let app = app(&fake, "on").without_metrics();
    ensure(&app).await;
    for d in (0..4).rev() {
        day(&fake, &app, d).await;
    }
    // One more set than Daily_Gens=3, made while nothing pruned (the event was lost).
    let made = fake.fire_schedules(GROUP, now() + Duration::hours(1));
    for id in &made {
        fake.complete(id);
    }
    let st = status::status(&app, now() + Duration::hours(2), &|_| {})
        .await
        .unwrap();
    let row = st.volumes.iter().find(|v| v.volume_id == "i-db").unwrap();
    assert_eq!(row.sets.len(), 4);
    assert_eq!(row.sets.iter().filter(|s| s.action == "delete").count(), 1);
    assert_eq!(row.coverage[0].have, 3, "sets, not snapshots");
    // vol-data: in the set, its own tag asks for hourly=24 — a warning naming both.
    let data = st
        .volumes
        .iter()
        .find(|v| v.volume_id == "vol-data")
        .unwrap();
    assert_eq!(data.in_set.as_deref(), Some("i-db"));
    assert!(data.states.contains(&State::Overlap), "{data:?}");
    assert!(data
        .reasons
        .iter()
        .any(|r| r.contains("hourly=24") && r.contains("daily=3")));
    // explain on a member of the surplus set explains its set.
    let oldest = sets(&fake).into_values().next().unwrap();
    let e = explain::explain(&app, &oldest[0].id, now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(e.verdict, Verdict::Delete, "{e:?}");
    assert!(
        e.reasons.iter().any(|r| r.contains("member of set i-db@")),
        "{e:?}"
    );
    // With sets off, a member is never planned: kept, and said why.
    let off = self::app(&fake, "off").without_metrics();
    let e = explain::explain(&off, &oldest[0].id, now()).await.unwrap();
    assert_eq!(e.verdict, Verdict::Keep);
    assert!(e.reasons[0].contains("sets are off"));
    // A hand-made prune of instances with sets off is refused, naming the setting.
    let refused = prune::handle(
        &off,
        PruneInput {
            instances: vec!["i-db".into()],
            ..Default::default()
        },
        now(),
        None,
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("EBS_GENS_SETS"), "{refused}");
}

#[tokio::test(start_paused = true)]
async fn a_terminated_instances_sets_are_orphans_under_the_orphan_policy_set_by_set() {
    use ebs_gens::orphans::Orphaned;
    let fake = account();
    let app = app(&fake, "on");
    ensure(&app).await;
    for d in (0..3).rev() {
        day(&fake, &app, d).await;
    }
    fake.set_instance_state("i-db", "terminated");
    // Default policy `keep`: listed as orphans, set by set, nothing deleted.
    let kept = orphan_scan(&app, false).await;
    let row = kept.volumes.iter().find(|r| r.volume_id == "i-db").unwrap();
    assert_eq!(row.orphaned, Some(Orphaned::InstanceGone));
    assert_eq!((row.sets.len(), row.deleted.len()), (3, 0));
    assert!(
        !kept
            .volumes
            .iter()
            .any(|r| r.volume_id.starts_with("vol-d") || r.volume_id == "vol-log"),
        "members are never orphans one by one"
    );
    // keep-last=1,older-than=1: the newest set stays, the two older ones go whole.
    let settings = common::settings(&[
        ("EBS_GENS_BACKEND", "scheduler"),
        ("EBS_GENS_SETS", "on"),
        ("EBS_GENS_ORPHANS", "keep-last=1,older-than=1"),
        ("EBS_GENS_DELETE_BURST", "100"),
    ]);
    let keep_last =
        App::new(settings, &fake, &fake, ACCOUNT, "us-east-1", "test").with_scheduler(&fake);
    let out = orphan_scan(&keep_last, false).await;
    let row = out.volumes.iter().find(|r| r.volume_id == "i-db").unwrap();
    assert!(
        row.held.is_some(),
        "6 of 9 at once: the fuse holds it, as for a volume"
    );
    assert_eq!(sets(&fake).len(), 3);
    let out = orphan_scan(&keep_last, true).await;
    let row = out.volumes.iter().find(|r| r.volume_id == "i-db").unwrap();
    assert_eq!(row.deleted.len(), 6, "two sets of three");
    assert_eq!(sets(&fake).len(), 1);
    assert_eq!(sets(&fake).into_values().next().unwrap().len(), 3, "whole");
}

async fn orphan_scan(app: &SetsApp<'_>, allow_bulk_delete: bool) -> PruneOutput {
    let input = PruneInput {
        orphans: true,
        allow_bulk_delete,
        ..Default::default()
    };
    prune::handle(app, input, now() + Duration::days(10), None)
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn restore_instance_restores_the_newest_whole_set_at_a_time_into_the_instances_zone() {
    use ebs_gens::app::restore;
    let fake = account();
    let app = app(&fake, "on");
    ensure(&app).await;
    for d in (0..3).rev() {
        day(&fake, &app, d).await;
    }
    let at = now() - Duration::days(1) + Duration::hours(1);
    let plan = restore::plan_set(&app, "i-db", Some(at), None, now())
        .await
        .unwrap();
    assert_eq!(plan.chosen.taken, now() - Duration::days(1));
    assert_eq!(plan.volumes.len(), 3);
    assert_eq!(plan.zone, "us-east-1a");
    let sources: Vec<&str> = plan
        .volumes
        .iter()
        .map(|v| v.source_volume.as_str())
        .collect();
    assert_eq!(sources, ["vol-data", "vol-log", "vol-wal"]);
    assert!(plan
        .volumes
        .iter()
        .all(|v| v.chosen.taken == plan.chosen.taken));
    assert_eq!(plan.devices.len(), 3, "where each was attached");
    let before = fake.volumes().len();
    let made = restore::apply_set(&app.ec2, &plan, "t", restore::Wait::DEFAULT, |_, _| {})
        .await
        .unwrap();
    assert_eq!(made.len(), 3);
    assert_eq!(fake.volumes().len(), before + 3);
    assert!(made.iter().all(|r| r.state == "available" && !r.attached));
    // Before the first set: a clear error, nothing created.
    let e = restore::plan_set(&app, "i-db", Some(now() - Duration::days(9)), None, now())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("no completed set at or before"),
        "{e}"
    );
    // The instance gone: --az is needed, and named.
    fake.set_instance_state("i-db", "terminated");
    let e = restore::plan_set(&app, "i-db", None, None, now())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--az"), "{e}");
    let ok = restore::plan_set(&app, "i-db", None, Some("us-east-1a"), now())
        .await
        .unwrap();
    assert_eq!(ok.chosen.taken, now());
    assert_eq!(fake.volumes().len(), before + 3, "plans create nothing");
}

#[tokio::test(start_paused = true)]
async fn a_drill_restores_an_instances_newest_set_together_and_proves_each_member() {
    use ebs_gens::app::drill::{self, DrillInput};
    use ebs_gens::drill::{TAG_DRILL, TAG_RESTORE_PROVEN};
    let fake = account();
    let settings = common::settings(&[
        ("EBS_GENS_BACKEND", "scheduler"),
        ("EBS_GENS_SETS", "on"),
        ("EBS_GENS_DRILL_VOLUMES", "100%"),
    ]);
    let app = App::new(settings, &fake, &fake, ACCOUNT, "us-east-1", "test").with_scheduler(&fake);
    ensure(&app).await;
    for d in (0..2).rev() {
        day(&fake, &app, d).await;
    }
    let s = drill::handle(&app, DrillInput::default(), now())
        .await
        .unwrap();
    let newest: BTreeSet<String> = sets(&fake)
        .into_values()
        .last()
        .unwrap()
        .iter()
        .map(|m| m.id.clone())
        .collect();
    let of_set: BTreeSet<String> = s
        .drills
        .iter()
        .filter(|d| newest.contains(&d.snapshot_id))
        .map(|d| d.snapshot_id.clone())
        .collect();
    assert_eq!(
        of_set, newest,
        "every member of the newest set, together: {s:?}"
    );
    let mut s = s;
    for i in 1..=3 {
        s = drill::handle(
            &app,
            DrillInput {
                state: Some(s),
                ..Default::default()
            },
            now() + Duration::seconds(30 * i),
        )
        .await
        .unwrap();
    }
    assert_eq!((s.pending, s.failures), (0, 0), "{s:?}");
    for m in sets(&fake).into_values().last().unwrap() {
        assert!(m.tag(TAG_RESTORE_PROVEN).is_some(), "{} proven", m.id);
    }
    assert!(!fake
        .volumes()
        .iter()
        .any(|v| v.tags.contains_key(TAG_DRILL)));
}
