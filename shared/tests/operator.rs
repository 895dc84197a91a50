//! The operator's view on the strict fake: status and explain from the same handlers, a
//! followed remote sweep and its input, execution names as Step Functions treats them.

use ebs_gens::app::explain::{self, Verdict};
use ebs_gens::app::remote::{self};
use ebs_gens::app::status::{self, Severity, State};
use ebs_gens::aws::fake::FakeAws;

mod common;
use common::fleet::*;

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
        explain::verdict(ok, newest),
        (Verdict::Keep, vec!["last 2 daily".to_string()])
    );
    let surplus = &ok.deleted[0].snapshot_id;
    assert_eq!(explain::verdict(ok, surplus).0, Verdict::Delete);
    let h = rep.iter().find(|r| r.volume_id == "vol-held").unwrap();
    let (v, why) = explain::verdict(h, &held[29]);
    assert_eq!(v, Verdict::Held);
    assert!(why
        .last()
        .unwrap()
        .contains("ebs-gens:allow-bulk-delete=2026-11-25"));
    assert_eq!(explain::verdict(h, "snap-nope").0, Verdict::Unplanned);

    // Unknown or unmanaged volumes are named.
    let e = status::volumes(&app, &["vol-missing".into(), "vol-typo".into()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("vol-missing: no such volume"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_remote_sweep_is_started_and_followed_to_its_end() {
    let fake = FakeAws::new(ACCOUNT);
    let arn = "arn:aws:states:us-east-1:111122223333:stateMachine:ebs-gens-prod-sweep";
    let follow = remote::remote_sweep(
        &fake,
        arn,
        remote::SweepRun {
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
    let run = remote::SweepRun {
        dry_run: false,
        allow_bulk_delete: true,
    };
    remote::remote_sweep(
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
