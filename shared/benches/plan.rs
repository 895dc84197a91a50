//! Planning 1,000,000 snapshots over 100,000 volumes (target: < 0.25 s on one core).
//!
//! `cargo bench --workspace --bench plan`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration as StdDuration;

use chrono::{Duration, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use ebs_gens::plan::{group_by_volume, plan, PlanContext};
use ebs_gens::policy::{GenClass, VolumePolicy};
use ebs_gens::snapshot::{Snapshot, SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};

const VOLUMES: usize = 100_000;
const PER_VOLUME: usize = 10;

fn fleet() -> (Vec<Snapshot>, BTreeMap<String, VolumePolicy>) {
    let base = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
    let mut snaps = Vec::with_capacity(VOLUMES * PER_VOLUME);
    let mut policies = BTreeMap::new();
    for v in 0..VOLUMES {
        let vol = format!("vol-{v:017x}");
        let policy = match v % 3 {
            0 => VolumePolicy::new(vec![(GenClass::Daily, 7)]),
            1 => VolumePolicy::new(vec![(GenClass::Daily, 3), (GenClass::Weekly, 4)]),
            _ => VolumePolicy::new(vec![
                (GenClass::Daily, 2),
                (GenClass::Weekly, 2),
                (GenClass::Monthly, 3),
            ]),
        }
        .unwrap();
        policies.insert(vol.clone(), policy);
        for i in 0..PER_VOLUME {
            let mut tags = BTreeMap::new();
            if (v + i) % 17 != 0 {
                tags.insert(TAG_MANAGED_BY.to_string(), "prod".to_string());
                tags.insert(TAG_VOLUME.to_string(), vol.clone());
            }
            snaps.push(Snapshot {
                id: format!("snap-{:017x}", v * PER_VOLUME + i),
                volume_id: vol.clone(),
                start_time: base
                    - Duration::days((i * 3) as i64)
                    - Duration::minutes((v % 60) as i64),
                state: if i == 0 && v % 50 == 0 {
                    SnapshotState::Pending
                } else {
                    SnapshotState::Completed
                },
                owner_id: "123456789012".into(),
                tags,
            });
        }
    }
    (snaps, policies)
}

fn bench(c: &mut Criterion) {
    let (snaps, policies) = fleet();
    let ctx = PlanContext {
        deployment: "prod",
        account_id: "123456789012",
        tz: chrono_tz::Asia::Tokyo,
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let groups = group_by_volume(snaps.clone());
    let mut g = c.benchmark_group("plan");
    g.sample_size(10)
        .measurement_time(StdDuration::from_secs(15));
    // The figure the README quotes: plan every volume of a grouped fleet.
    g.bench_function("plan_1M_snapshots_100k_volumes", |b| {
        b.iter(|| {
            let mut deletes = 0usize;
            for (vol, group) in &groups {
                let p = plan(vol, &policies[vol], &ctx, group, now);
                deletes += p.delete.len();
            }
            black_box(deletes)
        })
    });
    // Grouping a flat DescribeSnapshots result by volume (the output is dropped outside the timing).
    g.bench_function("group_1M_snapshots_by_volume", |b| {
        b.iter_batched(
            || snaps.clone(),
            group_by_volume,
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
