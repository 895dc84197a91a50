//! EBS completion events: fixtures parse, round-trip, and bad input is a typed error.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use ebs_gens::error::{Error, ErrorName};
use ebs_gens::events::{
    id_after, parse_completion, Completion, CreateSnapshotDetail, CreateSnapshotsDetail, Outcome,
};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn round_trips<T: serde::Serialize + serde::de::DeserializeOwned>(name: &str) {
    let v = fixture(name);
    let typed: EventBridgeEvent<T> = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        v,
        "{name} does not round-trip"
    );
}

#[test]
fn fixtures_round_trip() {
    round_trips::<CreateSnapshotDetail>("create-snapshot-succeeded.json");
    round_trips::<CreateSnapshotDetail>("create-snapshot-failed.json");
    round_trips::<CreateSnapshotsDetail>("create-snapshots-multi.json");
    round_trips::<CreateSnapshotsDetail>("create-snapshots-multi-failed.json");
    round_trips::<Value>("scheduled-event.json");
}

#[test]
fn succeeded_create_snapshot() {
    let c = parse_completion(fixture("create-snapshot-succeeded.json")).unwrap();
    assert_eq!(
        c,
        vec![Completion {
            snapshot_id: "snap-0a1b2c3d4e5f60718".into(),
            volume_id: "vol-0123456789abcdef0".into(),
            outcome: Outcome::Succeeded,
            cause: String::new(),
            end_time: Some("2026-11-25T09:31:11Z".parse().unwrap()),
        }]
    );
}

#[test]
fn failed_create_snapshot_keeps_the_cause() {
    let c = parse_completion(fixture("create-snapshot-failed.json")).unwrap();
    assert_eq!(c[0].outcome, Outcome::Failed);
    assert!(c[0].cause.contains("error state"));
}

#[test]
fn multi_volume_gives_one_completion_per_snapshot() {
    let c = parse_completion(fixture("create-snapshots-multi.json")).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[1].snapshot_id, "snap-012345678");
    assert_eq!(c[1].volume_id, "vol-012345678");
    let c = parse_completion(fixture("create-snapshots-multi-failed.json")).unwrap();
    assert_eq!(
        c.iter().map(|c| c.outcome).collect::<Vec<_>>(),
        vec![Outcome::Succeeded, Outcome::Failed]
    );
}

#[test]
fn ids_come_after_the_resource_marker_whatever_the_region_field_holds() {
    assert_eq!(
        id_after("arn:aws:ec2::us-west-2:snapshot/snap-01234567", "snapshot").unwrap(),
        "snap-01234567"
    );
    assert_eq!(
        id_after("arn:aws:ec2:us-west-2:123456789012:volume/vol-1a", "volume").unwrap(),
        "vol-1a"
    );
    assert_eq!(id_after("snap-abc", "snapshot").unwrap(), "snap-abc");
    for bad in [
        "arn:aws:ec2::us-west-2:snapshot/",
        "arn:aws:ec2::x:volume/vol-1",
        "snap-../../x",
        "",
    ] {
        assert!(id_after(bad, "snapshot").is_err(), "{bad}");
    }
}

#[test]
fn multi_volume_status_other_than_completed_is_a_failure() {
    for status in ["error", "failed", "weird"] {
        let mut v = fixture("create-snapshots-multi.json");
        v["detail"]["snapshots"][0]["status"] = json!(status);
        let c = parse_completion(v).unwrap();
        assert_eq!(c[0].outcome, Outcome::Failed, "{status}");
        assert!(c[0].cause.contains(status), "{}", c[0].cause);
        assert!(c[1..].iter().all(|c| c.outcome == Outcome::Succeeded));
    }
}

#[test]
fn malformed_or_unknown_events_are_invalid_input_not_panics() {
    let good = fixture("create-snapshot-succeeded.json");
    let mut cases: Vec<(&str, Value)> = vec![
        ("not an object", json!("hello")),
        ("empty", json!({})),
        ("scheduled event", fixture("scheduled-event.json")),
    ];
    let mut v = good.clone();
    v["source"] = json!("aws.s3");
    cases.push(("other source", v));
    let mut v = good.clone();
    v["detail"]["event"] = json!("copySnapshot");
    cases.push(("copySnapshot", v));
    let mut v = good.clone();
    v["detail"]["result"] = json!("maybe");
    cases.push(("unknown result", v));
    let mut v = good.clone();
    v["detail"].as_object_mut().unwrap().remove("snapshot_id");
    cases.push(("no snapshot id", v));
    let mut v = good.clone();
    v["detail"]["source"] = json!("arn:aws:ec2::us-east-1:instance/i-123");
    cases.push(("source is not a volume", v));
    let mut v = fixture("create-snapshots-multi.json");
    v["detail"]["snapshots"] = json!([]);
    cases.push(("multi with no snapshots", v));
    for (name, v) in cases {
        let e = parse_completion(v).expect_err(name);
        let e: Error = e.into();
        assert_eq!(e.name(), ErrorName::InvalidInput, "{name}");
    }
}
