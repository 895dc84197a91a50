//! The fleet the health, fuse, orphan and operator suites build on the strict fake.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::prune::{self, PruneInput, PruneOutput};
use ebs_gens::app::{App, VolumeJob};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::aws::NoScheduler;
use ebs_gens::snapshot::{TAG_MANAGED_BY, TAG_POLICY, TAG_VOLUME};
use ebs_gens::{GenClass, SnapshotState, VolumePolicy};

use super::settings;

pub const ACCOUNT: &str = "111122223333";

pub type FakeApp<'a> = App<(&'a FakeAws, &'a FakeAws, NoScheduler)>;

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

pub fn app<'a>(fake: &'a FakeAws, vars: &[(&str, &str)]) -> FakeApp<'a> {
    let mut all = vec![
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
    ];
    all.extend_from_slice(vars);
    App::new(settings(&all), fake, fake, ACCOUNT, "us-east-1", "test")
}

/// A volume with `n` daily snapshots of ours, the newest `newest_days` days ago.
pub fn volume(fake: &FakeAws, vol: &str, gens: &str, n: i64, newest_days: i64) -> Vec<String> {
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
pub fn fleet(fake: &FakeAws, n: usize, gens: &str, snapshots: i64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v = format!("vol-{i:03}");
            volume(fake, &v, gens, snapshots, 0);
            v
        })
        .collect()
}

pub fn job(vol: &str, n: u32) -> VolumeJob {
    VolumeJob {
        volume_id: vol.into(),
        policy: VolumePolicy::new(vec![(GenClass::Daily, n)]).unwrap(),
        instance_id: None,
        volume_name: None,
        spec: None,
    }
}

pub async fn prune_with(app: &FakeApp<'_>, vols: &[&str], input: PruneInput) -> PruneOutput {
    let input = PruneInput {
        volumes: vols.iter().map(|v| job(v, 1)).collect(),
        ..input
    };
    prune::handle(app, input, now(), None).await.unwrap()
}

pub fn left(fake: &FakeAws, vol: &str) -> usize {
    fake.snapshots()
        .iter()
        .filter(|s| s.volume_id == vol)
        .count()
}
