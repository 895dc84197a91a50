//! Issue 11 on the strict fake: the bulk-deletion fuse (volume and batch), staleness, the orphan
//! scan and its policy, the `ebs-gens:policy` tag, and the operator's view (status, explain,
//! a followed remote sweep) built from the same handlers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::prune::{self, PruneInput, PruneOutput};
use ebs_gens::app::status::{self, Severity, State, Verdict};
use ebs_gens::app::sweep::sweep;
use ebs_gens::app::{App, VolumeJob};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::snapshot::{TAG_ALLOW_BULK_DELETE, TAG_KEEP, TAG_MANAGED_BY, TAG_POLICY, TAG_VOLUME};
use ebs_gens::{GenClass, SnapshotState, VolumePolicy};

mod common;

const ACCOUNT: &str = "111122223333";

type FakeApp<'a> = App<&'a FakeAws, &'a FakeAws>;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn app<'a>(fake: &'a FakeAws, vars: &[(&str, &str)]) -> FakeApp<'a> {
    let mut all = vec![
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
    ];
    all.extend_from_slice(vars);
    App::new(
        common::settings(&all),
        fake,
        fake,
        ACCOUNT,
        "us-east-1",
        "test",
    )
}

/// A volume with `n` daily snapshots of ours, the newest `newest_days` days ago.
fn volume(fake: &FakeAws, vol: &str, gens: &str, n: i64, newest_days: i64) -> Vec<String> {
    fake.add_volume(vol, None, &[("Daily_Gens", gens)]);
    fake.set_volume_created(vol, now() - Duration::days(400));
    let policy = format!("daily={gens}");
    (0..n)
        .map(|d| {
            fake.add_snapshot(
                vol,
                now() - Duration::days(newest_days + d) - Duration::hours(2),
                SnapshotState::Completed,
                &[
                    (TAG_MANAGED_BY, "prod"),
                    (TAG_VOLUME, vol),
                    (TAG_POLICY, &policy),
                ],
            )
        })
        .collect()
}

/// `n` volumes `vol-000`… as [`volume`] makes them, newest snapshot today.
fn fleet(fake: &FakeAws, n: usize, gens: &str, snapshots: i64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v = format!("vol-{i:03}");
            volume(fake, &v, gens, snapshots, 0);
            v
        })
        .collect()
}

fn job(vol: &str, n: u32) -> VolumeJob {
    VolumeJob {
        volume_id: vol.into(),
        policy: VolumePolicy::new(vec![(GenClass::Daily, n)]).unwrap(),
        instance_id: None,
        volume_name: None,
    }
}

async fn prune_with(app: &FakeApp<'_>, vols: &[&str], input: PruneInput) -> PruneOutput {
    let input = PruneInput {
        volumes: vols.iter().map(|v| job(v, 1)).collect(),
        ..input
    };
    prune::handle(app, input, now(), None).await.unwrap()
}

fn left(fake: &FakeAws, vol: &str) -> usize {
    fake.snapshots()
        .iter()
        .filter(|s| s.volume_id == vol)
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_fat_fingered_tag_change_is_held_and_an_acknowledged_run_deletes_exactly_the_plan() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-a", "3", 30, 0); // Daily_Gens 30 → 3: 27 of 30 would go.
    volume(&fake, "vol-b", "7", 8, 0); // 8 → 7: one goes.
    let app = app(&fake, &[]);

    let out = prune_with(&app, &["vol-a", "vol-b"], PruneInput::default()).await;
    let a = &out.volumes[0];
    let held = a.held.as_ref().expect("vol-a held");
    assert_eq!((held.would_delete, held.completed), (27, 30));
    assert_eq!(
        held.acknowledge,
        format!("tag the volume {TAG_ALLOW_BULK_DELETE}=2026-11-25")
    );
    assert!(a.deleted.is_empty());
    assert_eq!(a.held_back.len(), 27);
    assert_eq!(left(&fake, "vol-a"), 30, "nothing deleted while held");
    let b = &out.volumes[1];
    assert!(b.held.is_none());
    assert_eq!(b.deleted.len(), 1, "8 → 7 deletes one");
    assert_eq!(left(&fake, "vol-b"), 7);
    assert_eq!((out.totals.held, out.totals.deletions_held), (1, 27));
    assert_eq!(out.totals.attention[0].state, "held");

    // Yesterday's acknowledgement is not today's.
    fake.set_volume_tag("vol-a", TAG_ALLOW_BULK_DELETE, "2026-11-24");
    let again = prune_with(&app, &["vol-a"], PruneInput::default()).await;
    assert!(again.volumes[0].held.is_some());
    assert_eq!(left(&fake, "vol-a"), 30);

    // Today's: exactly the planned set goes, and the report says how it was allowed.
    fake.set_volume_tag("vol-a", TAG_ALLOW_BULK_DELETE, "2026-11-25");
    let acked = prune_with(&app, &["vol-a"], PruneInput::default()).await;
    let v = &acked.volumes[0];
    assert!(v.held.is_none());
    let planned: Vec<&String> = a.held_back.iter().map(|i| &i.snapshot_id).collect();
    let deleted: Vec<&String> = v.deleted.iter().map(|i| &i.snapshot_id).collect();
    assert_eq!(deleted, planned);
    assert_eq!(
        v.bulk_allowed.as_deref(),
        Some("tag ebs-gens:allow-bulk-delete=2026-11-25")
    );
    assert_eq!(left(&fake, "vol-a"), 3);
}

#[tokio::test(start_paused = true)]
async fn allow_bulk_delete_input_and_a_dry_run_never_delete_more_than_planned() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-a", "3", 30, 0);
    let app = app(&fake, &[]);
    let dry = prune_with(
        &app,
        &["vol-a"],
        PruneInput {
            dry_run: true,
            allow_bulk_delete: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(dry.volumes[0].deleted.len(), 27, "what would go");
    assert_eq!(left(&fake, "vol-a"), 30, "a dry run deletes nothing");
    let run = prune_with(
        &app,
        &["vol-a"],
        PruneInput {
            allow_bulk_delete: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(run.volumes[0].deleted, dry.volumes[0].deleted);
    assert_eq!(left(&fake, "vol-a"), 3);
}

#[tokio::test(start_paused = true)]
async fn the_batch_fuse_holds_every_volume_when_together_they_delete_too_much() {
    let fake = FakeAws::new(ACCOUNT);
    // 12 volumes, each deleting 10 of 25 (40 %: under the volume fuse's 50 %), 120 of 300
    // together: over the batch fuse (more than 25 % and more than 100).
    let vols = fleet(&fake, 12, "15", 25);
    let ids: Vec<&str> = vols.iter().map(String::as_str).collect();
    let app = app(&fake, &[]);
    let out = prune_with(&app, &ids, PruneInput::default()).await;
    assert_eq!(out.totals.held, 12);
    assert_eq!(out.totals.deletions_held, 120);
    assert!(out.volumes[0]
        .held
        .as_ref()
        .unwrap()
        .why
        .contains("batch fuse"));
    assert_eq!(fake.snapshots().len(), 300);
    // A higher threshold lets the same batch go.
    let loose = self::app(&fake, &[("EBS_GENS_FUSE_BATCH_PERCENT", "50")]);
    let out = prune_with(&loose, &ids, PruneInput::default()).await;
    assert_eq!((out.totals.held, out.totals.deleted), (0, 120));
}

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
async fn orphans_are_found_by_one_listing_kept_by_default_and_pruned_when_asked() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-live", "2", 3, 0);
    let gone = volume(&fake, "vol-gone", "2", 5, 35);
    fake.add_snapshot(
        "vol-gone",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[
            (TAG_MANAGED_BY, "prod"),
            (TAG_VOLUME, "vol-gone"),
            (TAG_KEEP, "audit"),
        ],
    );
    fake.add_snapshot(
        "vol-gone",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "staging")],
    );
    fake.remove_volume("vol-gone");
    volume(&fake, "vol-untagged", "2", 2, 40);
    fake.remove_volume_tag("vol-untagged", "Daily_Gens");
    fake.add_volume("vol-typo", None, &[("Daily_Gens", "two")]);
    fake.add_snapshot(
        "vol-typo",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-typo")],
    );
    let scan = PruneInput {
        orphans: true,
        ..Default::default()
    };

    let keep = prune::handle(&app(&fake, &[]), scan.clone(), now(), None)
        .await
        .unwrap();
    let ids: Vec<(&str, String)> = keep
        .volumes
        .iter()
        .map(|r| (r.volume_id.as_str(), r.orphaned.unwrap().to_string()))
        .collect();
    assert_eq!(
        ids,
        [
            ("vol-gone", "volume deleted".to_string()),
            ("vol-untagged", "volume has no generation tag".to_string())
        ],
        "a misconfigured volume is not an orphan; a live one is not either"
    );
    assert_eq!((keep.totals.orphaned, keep.totals.orphan_volumes), (8, 2));
    assert_eq!(
        keep.totals.deleted, 0,
        "EBS_GENS_ORPHANS=keep deletes nothing"
    );
    assert_eq!(keep.volumes[0].policy, "was daily=2");

    let app = app(&fake, &[("EBS_GENS_ORPHANS", "keep-last=2,older-than=30")]);
    let out = prune::handle(&app, scan.clone(), now(), None)
        .await
        .unwrap();
    let g = &out.volumes[0];
    let deleted: Vec<&String> = g.deleted.iter().map(|i| &i.snapshot_id).collect();
    assert_eq!(
        deleted,
        [&gone[2], &gone[3], &gone[4]],
        "all but the newest two"
    );
    assert!(g.kept.iter().any(|k| k.reasons == ["pinned"]));
    // Another deployment's snapshot is not even listed (the scan lists ours by tag).
    assert!(fake
        .snapshots()
        .iter()
        .any(|s| s.tag(TAG_MANAGED_BY) == Some("staging")));
    assert_eq!(g.kept.len() + g.deleted.len(), 6);
    assert_eq!(out.volumes[1].deleted.len(), 0, "its newest two are kept");
    assert_eq!(fake.calls()["DescribeSnapshots"], 2, "one listing per scan");
    // Orphans with their volumes in the input are refused.
    let bad = PruneInput {
        volumes: vec![job("vol-live", 2)],
        orphans: true,
        ..Default::default()
    };
    let e = prune::handle(&app, bad, now(), None).await.unwrap_err();
    assert!(
        e.to_string().contains("orphan scan takes no volumes"),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweep_runs_the_orphan_scan_and_sums_health_into_its_summary() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-stale", "3", 3, 3);
    volume(&fake, "vol-held", "3", 30, 0);
    volume(&fake, "vol-gone", "3", 4, 0);
    fake.remove_volume("vol-gone");
    let app = app(&fake, &[]);
    let s = sweep(&app, false, now(), 1).await.unwrap();
    let t = &s.totals;
    assert_eq!(
        (t.volumes, t.stale, t.held, t.deletions_held),
        (2, 1, 1, 27)
    );
    assert_eq!((t.orphaned, t.orphan_volumes), (4, 1));
    assert!(!s.failed());
    let states: Vec<&str> = t.attention.iter().map(|a| a.state.as_str()).collect();
    assert!(
        states.contains(&"stale") && states.contains(&"held"),
        "{states:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn status_grades_the_fleet_and_explain_finds_each_snapshot() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-ok", "2", 3, 0);
    volume(&fake, "vol-stale", "2", 2, 3);
    let held = volume(&fake, "vol-held", "2", 30, 0);
    fake.add_volume("vol-typo", None, &[("Daily_Gens", "abc")]);
    volume(&fake, "vol-gone", "2", 2, 0);
    fake.remove_volume("vol-gone");
    let app = app(&fake, &[]).without_metrics();
    let st = status::status(&app, now(), &|_| {}).await.unwrap();
    assert_eq!(st.severity, Severity::Critical);
    let states = |v: &str| {
        st.volumes
            .iter()
            .find(|s| s.volume_id == v)
            .unwrap()
            .states
            .clone()
    };
    assert_eq!(states("vol-ok"), [State::Ok]);
    assert_eq!(states("vol-stale"), [State::Stale]);
    assert_eq!(states("vol-held"), [State::Held]);
    assert_eq!(states("vol-typo"), [State::Misconfigured]);
    assert_eq!(st.orphans.len(), 1);
    assert_eq!(st.orphans[0].snapshots, 2);
    assert_eq!(st.volumes[0].severity(), Severity::Critical, "worst first");
    assert_eq!(
        fake.snapshots().len(),
        3 + 2 + 30 + 2,
        "status changes nothing"
    );

    // The newest of vol-ok is kept, its third is surplus; vol-held's surplus is held.
    let rep = status::plan(
        &app,
        &[vec![job("vol-ok", 2), job("vol-held", 2)]],
        now(),
        &|_| {},
    )
    .await
    .unwrap();
    let ok = rep.iter().find(|r| r.volume_id == "vol-ok").unwrap();
    let newest = &ok.kept[0].snapshot_id;
    assert_eq!(
        status::verdict(ok, newest),
        (Verdict::Keep, vec!["last 2 daily".to_string()])
    );
    let surplus = &ok.deleted[0].snapshot_id;
    assert_eq!(status::verdict(ok, surplus).0, Verdict::Delete);
    let h = rep.iter().find(|r| r.volume_id == "vol-held").unwrap();
    let (v, why) = status::verdict(h, &held[29]);
    assert_eq!(v, Verdict::Held);
    assert!(why
        .last()
        .unwrap()
        .contains("ebs-gens:allow-bulk-delete=2026-11-25"));
    assert_eq!(status::verdict(h, "snap-nope").0, Verdict::Unplanned);

    // Unknown or unmanaged volumes are named.
    let e = status::volumes(&app, &["vol-missing".into(), "vol-typo".into()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("vol-missing: no such volume"), "{e}");
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
async fn a_remote_sweep_is_started_and_followed_to_its_end() {
    let fake = FakeAws::new(ACCOUNT);
    let arn = "arn:aws:states:us-east-1:111122223333:stateMachine:ebs-gens-prod-sweep";
    let follow = status::remote_sweep(
        &fake,
        arn,
        status::SweepRun {
            dry_run: true,
            allow_bulk_delete: false,
        },
        now(),
        std::time::Duration::from_secs(2),
        |e| {
            if e.status == "RUNNING" {
                fake.finish_execution(&e.arn, "SUCCEEDED", Some(r#"{"summary":{}}"#), None);
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(follow.status, "SUCCEEDED");
    assert_eq!(follow.output.as_deref(), Some(r#"{"summary":{}}"#));
    let started = fake.executions();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].1, r#"{"dry_run":true}"#);
    assert!(started[0]
        .0
        .ends_with(":ebs-gens-cli-20261125T120000-dry-run"));
    assert_eq!(fake.calls()["DescribeExecution"], 2);
}

#[tokio::test(start_paused = true)]
async fn a_remote_sweep_carries_allow_bulk_delete_as_a_boolean_the_state_machine_accepts() {
    let fake = FakeAws::new(ACCOUNT);
    let arn = "arn:aws:states:us-east-1:111122223333:stateMachine:ebs-gens-prod-sweep";
    let run = status::SweepRun {
        dry_run: false,
        allow_bulk_delete: true,
    };
    status::remote_sweep(
        &fake,
        arn,
        run,
        now(),
        std::time::Duration::from_secs(2),
        |e| {
            if e.status == "RUNNING" {
                fake.finish_execution(&e.arn, "SUCCEEDED", Some("{}"), None);
            }
        },
    )
    .await
    .unwrap();
    let started = fake.executions();
    // One of the texts the sweep's CheckInput accepts (statemachine/sweep.asl.json).
    assert_eq!(
        started[0].1,
        r#"{"allow_bulk_delete":true,"dry_run":false}"#
    );
    let asl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/sweep.asl.json"
    ))
    .unwrap();
    let text = serde_json::to_string(&started[0].1).unwrap();
    assert!(
        asl.contains(&text[1..text.len() - 1]),
        "CheckInput refuses {}",
        started[0].1
    );
    assert!(started[0].0.ends_with("-bulk"));
}

#[tokio::test(start_paused = true)]
async fn orphans_get_the_volume_fuse_and_keep_means_keep() {
    let fake = FakeAws::new(ACCOUNT);
    // A tag removed by mistake: 30 snapshots of an existing volume become orphans at once.
    volume(&fake, "vol-untagged", "30", 30, 10);
    fake.remove_volume_tag("vol-untagged", "Daily_Gens");
    // A deleted volume, with a failed snapshot among its orphans.
    volume(&fake, "vol-gone", "3", 8, 40);
    fake.add_snapshot(
        "vol-gone",
        now() - Duration::days(60),
        SnapshotState::Error,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-gone")],
    );
    fake.remove_volume("vol-gone");
    // A copy (EC2 gives it vol-ffffffff): nobody's orphan.
    fake.add_snapshot(
        "vol-ffffffff",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod")],
    );
    let scan = PruneInput {
        orphans: true,
        ..Default::default()
    };
    let keep = prune::handle(&app(&fake, &[]), scan.clone(), now(), None)
        .await
        .unwrap();
    assert_eq!(
        keep.totals.deleted, 0,
        "keep deletes nothing, not even a failed one"
    );
    assert_eq!((keep.totals.orphan_volumes, keep.totals.orphaned), (2, 39));

    let app = app(&fake, &[("EBS_GENS_ORPHANS", "keep-last=1,older-than=7")]);
    let out = prune::handle(&app, scan.clone(), now(), None)
        .await
        .unwrap();
    let by = |v: &str| out.volumes.iter().find(|r| r.volume_id == v).unwrap();
    let u = by("vol-untagged").held.as_ref().expect("29 of 30 is held");
    assert_eq!(
        u.acknowledge,
        "tag the volume ebs-gens:allow-bulk-delete=2026-11-25"
    );
    let g = by("vol-gone").held.as_ref().expect("7 of 8 is held");
    assert!(
        g.acknowledge.contains("--allow-bulk-delete"),
        "{}",
        g.acknowledge
    );
    assert_eq!(out.totals.deleted, 0);
    // The untagged volume's acknowledgement lets it go; the gone one needs the run's.
    fake.set_volume_tag("vol-untagged", TAG_ALLOW_BULK_DELETE, "2026-11-25");
    let out = prune::handle(&app, scan.clone(), now(), None)
        .await
        .unwrap();
    assert_eq!(out.totals.deleted, 29);
    assert_eq!(left(&fake, "vol-untagged"), 1);
    let all = PruneInput {
        allow_bulk_delete: true,
        ..scan
    };
    let out = prune::handle(&app, all, now(), None).await.unwrap();
    assert_eq!(out.totals.deleted, 8, "7 old completed + the failed one");
    assert_eq!(left(&fake, "vol-gone"), 1, "the newest stays");
    assert_eq!(left(&fake, "vol-ffffffff"), 1, "a copy is never an orphan");
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

#[tokio::test(start_paused = true)]
async fn an_execution_name_is_idempotent_only_while_that_execution_runs() {
    use ebs_gens::aws::ExecutionsApi;
    let fake = FakeAws::new(ACCOUNT);
    let sm = "arn:aws:states:us-east-1:123456789012:stateMachine:ebs-gens-prod-sweep";
    let arn = fake.start_execution(sm, "run-1", "{}").await.unwrap();
    // Running: the same name and input is the same execution.
    assert_eq!(fake.start_execution(sm, "run-1", "{}").await.unwrap(), arn);
    // Another input under that name: refused.
    let e = fake
        .start_execution(sm, "run-1", r#"{"dry_run":true}"#)
        .await
        .unwrap_err();
    assert_eq!(e.code, "ExecutionAlreadyExists");
    // Ended: the name stays taken.
    fake.finish_execution(&arn, "SUCCEEDED", Some("{}"), None);
    let e = fake.start_execution(sm, "run-1", "{}").await.unwrap_err();
    assert_eq!(e.code, "ExecutionAlreadyExists");
}
