//! Helpers shared by the handler test suites (fake and moto).

use ebs_gens::config::Settings;

#[allow(dead_code)] // only the suites on the health fleet use it
pub mod fleet;

/// Settings for deployment `prod` on the rules backend (the suites written for it): `vars` in
/// order, later entries win.
/// The role the rules backend's built-in target assumes, as the stack names it.
#[allow(dead_code)]
pub const SNAPSHOT_ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-prod-snapshot";
/// The role the scheduler backend's schedules run as.
#[allow(dead_code)]
pub const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler";

pub fn settings(vars: &[(&str, &str)]) -> Settings {
    let mut all: Vec<(String, String)> = vec![
        ("EBS_GENS_DEPLOYMENT".into(), "prod".into()),
        ("EBS_GENS_BACKEND".into(), "rules".into()),
        // The roles the stack gives a deployment (each backend reads its own).
        ("EBS_GENS_SNAPSHOT_ROLE_ARN".into(), SNAPSHOT_ROLE.into()),
        ("EBS_GENS_SCHEDULER_ROLE_ARN".into(), SCHEDULER_ROLE.into()),
    ];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Settings::from_lookup(move |k| {
        all.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

#[allow(dead_code)] // not every suite delivers events
/// The `createSnapshot` fixture, pointed at `snapshot` of `volume` with `result`.
pub fn event(snapshot: &str, volume: &str, result: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/create-snapshot-succeeded.json"
    ))
    .unwrap();
    v["detail"]["snapshot_id"] = format!("arn:aws:ec2::us-east-1:snapshot/{snapshot}").into();
    v["detail"]["source"] = format!("arn:aws:ec2::us-east-1:volume/{volume}").into();
    v["detail"]["result"] = result.into();
    v
}

/// One prune-volumes invocation for real (not a dry run), without a deadline.
#[allow(dead_code)] // not every suite prunes directly
pub async fn prune<P: ebs_gens::aws::Ports>(
    app: &ebs_gens::app::App<P>,
    volumes: Vec<ebs_gens::app::VolumeJob>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ebs_gens::app::prune::PruneOutput, ebs_gens::Error> {
    let input = ebs_gens::app::prune::PruneInput {
        volumes,
        dry_run: false,
        ..Default::default()
    };
    ebs_gens::app::prune::handle(app, input, now, None).await
}
