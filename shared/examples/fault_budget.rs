//! Does the largest prune batch fit its Lambda timeout when AWS misbehaves?
//!
//! `cargo run --example fault_budget` (or `make fault-budget`). One discovery batch
//! (`DEFAULT_BATCH` volumes) is pruned on the strict fake with production's settings — the SDK
//! retry configuration (`Retrying::production`: standard mode, 5 attempts, backoff 1 s → 20 s),
//! the default delete pacing (burst 20, 2 per second), EC2's token buckets — while a seeded 20 %
//! of all calls fail (half `RequestLimitExceeded`, half HTTP 500). The state machine's Retry
//! (`Transient`, 4 attempts) is modelled by invoking again with a fresh deadline; a delete that
//! still fails after the SDK's attempts is tried again inside the invocation
//! (`prune::DELETE_RETRY_WAITS`), so the totals count every delete.
//! Time is tokio's paused clock: pacer waits and backoff sleeps count exactly, CPU time does not,
//! so the figures repeat run after run. Prints a Markdown table; fails if any invocation would
//! run past the Lambda timeout, a batch needs more invocations than the state machine allows, a
//! delete still failed, a delete was deferred while there was time for it, the reported deletions
//! differ from what left the fake, or any volume went below N.

use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use ebs_gens::app::discover::DEFAULT_BATCH;
use ebs_gens::app::prune::{self, PruneInput, DEADLINE_MARGIN};
use ebs_gens::app::{App, VolumeJob};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::aws::retry::Retrying;
use ebs_gens::config::Settings;
use ebs_gens::contract::FUNCTIONS;
use ebs_gens::policy::{GenClass, VolumePolicy};
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};
use tokio::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const KEEP: u32 = 7;
/// The sweep's Retry on `Transient`: MaxAttempts 4 after the first invocation.
const INVOCATIONS_ALLOWED: u32 = 5;
/// A delete deferred is legitimate only this close to the deadline's margin: the longest one
/// delete can take (the SDK's 5 attempts, backoff capped at 20 s, plus the pacer's wait).
const ONE_DELETE_AT_MOST: Duration = Duration::from_secs(90);

struct Row {
    case: String,
    rate: f64,
    deletes: usize,
    invocations: u32,
    longest: Duration,
    calls: u64,
    injected: u64,
    deleted: usize,
    deferred: usize,
    failed: usize,
    below_n: usize,
    ok: bool,
}

async fn run(surplus: usize, rate: f64, timeout: Duration) -> Row {
    let fake = FakeAws::new(ACCOUNT);
    let fire = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 20).unwrap();
    let mut jobs = Vec::new();
    for i in 0..DEFAULT_BATCH {
        let vol = format!("vol-{i:08x}");
        fake.add_volume(&vol, None, &[("Daily_Gens", &KEEP.to_string())]);
        for d in 0..(KEEP as usize + surplus) {
            fake.add_snapshot(
                &vol,
                fire - ChronoDuration::days(d as i64),
                SnapshotState::Completed,
                &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &vol)],
            );
        }
        jobs.push(VolumeJob {
            volume_id: vol,
            policy: VolumePolicy::new(vec![(GenClass::Daily, KEEP)]).unwrap(),
            instance_id: None,
            volume_name: None,
            spec: None,
        });
    }
    let retrying = Retrying::production(&fake);
    let settings =
        Settings::from_lookup(|k| (k == "EBS_GENS_DEPLOYMENT").then(|| "prod".to_string()))
            .expect("settings");
    let app = App::new(
        settings,
        &retrying,
        &retrying,
        ACCOUNT,
        "us-east-1",
        "prune-volumes",
    )
    .without_metrics();
    fake.inject_faults(rate, 0x5eed);
    let now = fire + ChronoDuration::hours(3);
    let (mut invocations, mut longest, mut deleted, mut deferred, mut failed) =
        (0, Duration::ZERO, 0, 0, 0);
    let mut ok = false;
    while invocations < INVOCATIONS_ALLOWED {
        invocations += 1;
        let start = Instant::now();
        // Acknowledged: 10 or 30 surplus a volume is a bulk deletion the fuse would hold.
        let input = PruneInput {
            volumes: jobs.clone(),
            dry_run: false,
            allow_bulk_delete: true,
            ..Default::default()
        };
        let r = prune::handle(&app, input, now, Some(start + timeout)).await;
        longest = longest.max(start.elapsed());
        match r {
            Ok(out) => {
                deleted += out.totals.deleted;
                deferred = out.totals.deferred;
                failed = out.totals.failed;
                ok = true;
                break;
            }
            Err(e) if e.name().retryable() => {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            Err(e) => panic!("not retryable: {e}"),
        }
    }
    let snaps = fake.snapshots();
    let left = snaps
        .iter()
        .filter(|s| s.tags.contains_key(TAG_MANAGED_BY))
        .count();
    let removed = DEFAULT_BATCH * (KEEP as usize + surplus) - left;
    // N per volume, not only as a fleet total.
    let below_n = jobs
        .iter()
        .filter(|j| snaps.iter().filter(|s| s.volume_id == j.volume_id).count() < KEEP as usize)
        .count();
    // Deferring is for a deadline that is near: never while a delete still fitted.
    let deferred_with_time_left =
        deferred > 0 && longest + DEADLINE_MARGIN + ONE_DELETE_AT_MOST < timeout;
    Row {
        case: format!("{DEFAULT_BATCH} volumes × {surplus} surplus"),
        rate,
        deletes: DEFAULT_BATCH * surplus,
        invocations,
        longest,
        calls: fake.calls().values().sum(),
        injected: fake.injected_faults(),
        deleted,
        deferred,
        failed,
        below_n,
        // Every planned delete is done (and reported: the totals are what left the fake) or
        // handed to the next run because the deadline was near; nothing failed or went below N.
        ok: ok
            && longest <= timeout
            && failed == 0
            && below_n == 0
            && !deferred_with_time_left
            && deleted == removed
            && deleted + deferred == DEFAULT_BATCH * surplus,
    }
}

fn main() {
    let prune = FUNCTIONS
        .iter()
        .find(|f| f.name == "prune-volumes")
        .expect("prune-volumes in the contract");
    let timeout = Duration::from_secs(prune.timeout_seconds.into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    for surplus in [1, 10, 30] {
        for rate in [0.0, 0.2] {
            rows.push(rt.block_on(run(surplus, rate, timeout)));
        }
    }
    println!(
        "| batch | faults | planned deletes | invocations | longest invocation | calls | injected faults | deleted | deferred to next run | failed | volumes below N |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut all_ok = true;
    for r in &rows {
        println!(
            "| {} | {:.0} % | {} | {} | {:.0} s | {} | {} | {} | {} | {} | {} |",
            r.case,
            r.rate * 100.0,
            r.deletes,
            r.invocations,
            r.longest.as_secs_f64(),
            r.calls,
            r.injected,
            r.deleted,
            r.deferred,
            r.failed,
            r.below_n
        );
        all_ok &= r.ok;
    }
    println!(
        "\nprune-volumes timeout {} s; no delete starts within {} s of the deadline.",
        timeout.as_secs(),
        DEADLINE_MARGIN.as_secs()
    );
    if !all_ok {
        eprintln!("a batch ran past its Lambda timeout, needed more invocations than the state machine allows, left a delete failed, deferred a delete while it had time, reported other deletions than it made, or took a volume below N");
        std::process::exit(1);
    }
}
