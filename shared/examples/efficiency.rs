//! API-efficiency benchmark on the strict fake: calls per operation for one sweep, next to the
//! lower bound and to the 2017 recipe's algorithm run on the same fake.
//!
//! `cargo run --example efficiency` (or `make efficiency`). Prints a Markdown table.

use std::collections::BTreeMap;

use chrono::{Duration, TimeZone, Utc};
use ebs_gens::app::sweep::{sweep, sweep_with, PAGE_SIZE};
use ebs_gens::app::App;
use ebs_gens::aws::fake::{self, FakeAws};
use ebs_gens::aws::{Ec2Api, Filter, PageRequest};
use ebs_gens::config::Settings;
use ebs_gens::snapshot::{SnapshotState, TAG_MANAGED_BY, TAG_VOLUME};

const ACCOUNT: &str = "123456789012";
const KEEP: usize = 7;

struct Fleet {
    volumes: usize,
    snapshots: usize,
    deletes: usize,
    adopt: usize,
    rules: usize,
}

/// `volumes` volumes (5 per instance) with `per` daily snapshots each, `Daily_Gens=7`; every
/// tenth volume's newest snapshot is untagged (its completion event was missed).
fn seed(fake: &FakeAws, volumes: usize, per: usize) -> Fleet {
    let fire = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 20).unwrap();
    for i in 0..volumes {
        let inst = format!("i-{:08x}", i / 5);
        if i % 5 == 0 {
            fake.add_instance(&inst, &[("Name", &format!("app{}", i / 5))]);
        }
        let vol = format!("vol-{i:08x}");
        fake.add_volume(&vol, Some(&inst), &[("Daily_Gens", "7")]);
        for d in 0..per {
            let untagged = d == 0 && i % 10 == 0;
            let tags: Vec<(&str, &str)> = if untagged {
                vec![]
            } else {
                vec![(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &vol)]
            };
            fake.add_snapshot(
                &vol,
                fire - Duration::days(d as i64),
                SnapshotState::Completed,
                &tags,
            );
        }
    }
    Fleet {
        volumes,
        snapshots: volumes * per,
        deletes: volumes * per.saturating_sub(KEEP),
        adopt: volumes.div_ceil(10),
        rules: volumes.div_ceil(5),
    }
}

fn lower_bound(f: &Fleet) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    m.insert("DescribeVolumes", f.volumes.div_ceil(500) as u64);
    // Instance Name lookups are needed only for volumes with adoptions; not in the bound.
    m.insert("DescribeSnapshots", f.snapshots.div_ceil(1000) as u64);
    m.insert("DeleteSnapshot", f.deletes as u64);
    // Never delete a locked snapshot (nor attempt to): the locks of what goes are read first,
    // up to 1000 ids a call.
    m.insert("DescribeLockedSnapshots", f.deletes.div_ceil(1000) as u64);
    // Say which deletes a Recycle Bin rule keeps (billed): the region's rules read once (no
    // rules here, so no GetRule).
    m.insert("rbin:ListRules", u64::from(f.deletes > 0));
    // The brief's bound, ceil(T/1000). Each volume's adopted snapshots need their own tag set
    // (`Name`, `ebs-gens:volume`), so the reachable bound is one call per volume with adoptions.
    m.insert("CreateTags", f.adopt.div_ceil(1000) as u64);
    // Rule work on a fresh deployment: one ListRules, one PutRule and one PutTargets per rule.
    m.insert("ListRules", 1);
    m.insert("(runs to converge)", 1);
    m.insert("PutRule", f.rules as u64);
    m.insert("PutTargets", f.rules as u64);
    m
}

/// The 2017 recipe on the same fake, run until it reaches the same end state: per run, one
/// DescribeSnapshots and one instance lookup per volume, one CreateTags per new snapshot, and at
/// most one DeleteSnapshot per volume.
async fn recipe(fake: &FakeAws, f: &Fleet) -> BTreeMap<&'static str, u64> {
    let vols: Vec<String> = (0..f.volumes).map(|i| format!("vol-{i:08x}")).collect();
    let mut runs = 0;
    loop {
        runs += 1;
        let mut deleted = 0;
        for (i, vol) in vols.iter().enumerate() {
            let req = PageRequest {
                filters: vec![Filter::new("volume-id", [vol.as_str()])],
                ..Default::default()
            };
            let mut snaps = fake.describe_snapshots(req).await.unwrap().items;
            let inst = format!("i-{:08x}", i / 5);
            let tag_req = PageRequest {
                filters: vec![Filter::new("resource-id", [inst.as_str()])],
                ..Default::default()
            };
            fake.describe_tags(tag_req).await.unwrap();
            for s in snaps.iter().filter(|s| s.tags.is_empty()) {
                let tags = vec![(TAG_MANAGED_BY.to_string(), "prod".to_string())];
                fake.create_tags(std::slice::from_ref(&s.id), &tags)
                    .await
                    .unwrap();
            }
            snaps.sort_by_key(|s| s.start_time);
            if snaps.len() > KEEP {
                fake.delete_snapshot(&snaps[0].id).await.unwrap();
                deleted += 1;
            }
        }
        if deleted == 0 || runs > 100 {
            break;
        }
    }
    let mut calls = fake.calls();
    // The recipe's rules: one per instance (it broke past 5 volumes); creating them is console work.
    calls.insert("(runs to converge)", runs);
    calls.into_iter().collect()
}

/// EC2's documented buckets stay on (the delete pacer keeps under DeleteSnapshot's); the
/// EventBridge and Scheduler control planes' rate limits are not modelled here.
fn unmetered_control_planes(fake: &FakeAws) {
    for op in [
        "ListRules",
        "ListTargetsByRule",
        "PutRule",
        "PutTargets",
        "RemoveTargets",
        "DeleteRule",
        "ListSchedules",
        "CreateSchedule",
        "DeleteSchedule",
    ] {
        fake.set_bucket(op, 1e12, 1e12);
    }
}

/// Deployment `prod` on `backend`, deletes paced at EC2's own DeleteSnapshot rate.
fn settings(backend: &str) -> Settings {
    let vars = [
        ("EBS_GENS_DEPLOYMENT", "prod"),
        ("EBS_GENS_BACKEND", backend),
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
        (
            "EBS_GENS_SNAPSHOT_ROLE_ARN",
            "arn:aws:iam::123456789012:role/ebs-gens-snapshot",
        ),
        (
            "EBS_GENS_SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler",
        ),
    ];
    Settings::from_lookup(|k| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

async fn case(volumes: usize, per: usize) -> String {
    let fake = FakeAws::new(ACCOUNT);
    let f = seed(&fake, volumes, per);
    unmetered_control_planes(&fake);
    let app = App::new(
        settings("rules"),
        &fake,
        &fake,
        ACCOUNT,
        "us-east-1",
        "efficiency",
    )
    .without_metrics();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    // A catch-up of three generations per volume (30 % of each batch) trips the batch fuse: this
    // is the acknowledged run (`ebs-gens sweep --apply --allow-bulk-delete`).
    let summary = sweep_with(&app, false, true, now, 3, |_| {}).await.unwrap();
    assert_eq!(
        summary.totals.deleted, f.deletes,
        "sweep deleted {} of {}",
        summary.totals.deleted, f.deletes
    );
    assert!(!summary.failed(), "{:?}", summary.totals.errors);
    assert!(
        summary.schedules_error.is_none(),
        "{:?}",
        summary.schedules_error
    );
    let mut ours = fake.calls();
    ours.insert("(runs to converge)", 1);

    let other = FakeAws::new(ACCOUNT);
    seed(&other, volumes, per);
    other.set_bucket("DeleteSnapshot", 1e12, 1e12);
    other.set_bucket("DescribeSnapshots", 1e12, 1e12);
    other.set_bucket("DescribeTags", 1e12, 1e12);
    other.set_bucket("CreateTags", 1e12, 1e12);
    let old = recipe(&other, &f).await;
    let lb = lower_bound(&f);

    let mut ops: Vec<&str> = ours
        .keys()
        .chain(lb.keys())
        .chain(old.keys())
        .copied()
        .collect();
    ops.sort();
    ops.dedup();
    let mut out = format!(
        "\n### {} volumes, {} snapshots ({} to delete, {} to adopt)\n\n| operation | ebs-gens | lower bound | 2017 recipe |\n|---|---:|---:|---:|\n",
        f.volumes, f.snapshots, f.deletes, f.adopt
    );
    let (mut t_ours, mut t_lb, mut t_old) = (0, 0, 0);
    for op in ops {
        let (a, b, c) = (
            ours.get(op).copied().unwrap_or(0),
            lb.get(op).copied().unwrap_or(0),
            old.get(op).copied().unwrap_or(0),
        );
        if !op.starts_with('(') {
            t_ours += a;
            t_lb += b;
            t_old += c;
        }
        out.push_str(&format!("| {op} | {a} | {b} | {c} |\n"));
    }
    out.push_str(&format!(
        "| **total** | **{t_ours}** | **{t_lb}** | **{t_old}** |\n\nebs-gens / lower bound = {:.3}\n",
        t_ours as f64 / t_lb as f64
    ));
    let ratio = t_ours as f64 / t_lb as f64;
    assert!(
        ratio <= 1.2,
        "{ratio:.3} × the lower bound is over the 1.2 target"
    );
    // DeleteSnapshot dominates the total: exactly one per planned delete, and every other call
    // bounded on its own, so a regression there cannot hide behind the deletes.
    let deletes = ours.get("DeleteSnapshot").copied().unwrap_or(0);
    assert_eq!(
        deletes, f.deletes as u64,
        "one DeleteSnapshot per planned delete"
    );
    let others = t_ours - deletes;
    let reachable = reachable_without_deletes(&f);
    assert!(
        others <= reachable,
        "{others} calls besides DeleteSnapshot, over the reachable {reachable}"
    );
    out.push_str(&format!(
        "calls besides DeleteSnapshot: {others} (reachable bound {reachable})\n"
    ));
    // The recipe column is the recipe's real run: it reaches the same end state (the same
    // deletes) and costs more.
    assert_eq!(
        old.get("DeleteSnapshot").copied(),
        Some(f.deletes as u64),
        "the recipe did not reach the same end state"
    );
    assert!(
        t_old > t_ours,
        "the recipe ({t_old}) is not costlier than ebs-gens ({t_ours})"
    );
    out
}

/// The fewest calls besides DeleteSnapshot one sweep of a fresh rules deployment can make as
/// ebs-gens is built: volume listings (ensure-schedules by 500, discovery pages of 250, one re-read
/// per prune batch of ≤ 100, the orphan scan's volumes by id, 200 a call), snapshot listings (at
/// least one per batch, then the orphan scan's pages of 1000), one instance-name lookup and one
/// CreateTags per volume with adoptions (each volume's adopted snapshots get their own tags), the
/// locks of each batch's planned deletions (one DescribeLockedSnapshots per batch), the Recycle
/// Bin's rules once per batch that deletes (rbin:ListRules), and the rule work (ListRules, one
/// PutRule and one PutTargets per rule).
fn reachable_without_deletes(f: &Fleet) -> u64 {
    let pages = f.volumes.div_ceil(PAGE_SIZE as usize);
    let batches: usize = (0..pages)
        .map(|p| {
            (f.volumes - p * PAGE_SIZE as usize)
                .min(PAGE_SIZE as usize)
                .div_ceil(100)
        })
        .sum();
    let volume_calls = f.volumes.div_ceil(500) + pages + batches + f.volumes.div_ceil(200);
    let snapshot_calls = batches.max(f.snapshots.div_ceil(1000)) + f.snapshots.div_ceil(1000);
    let adoption_calls = batches + f.adopt.min(f.volumes);
    let rule_calls = 1 + 2 * f.rules;
    let lock_calls = batches;
    let recycle_bin_calls = batches;
    (volume_calls + snapshot_calls + adoption_calls + rule_calls + lock_calls + recycle_bin_calls)
        as u64
}

/// Calls of one sweep, per operation.
type Calls = BTreeMap<&'static str, u64>;

/// A fresh deployment's first sweep and the next, no-change sweep, on one backend.
async fn fresh_and_steady(backend: &str, volumes: usize, per: usize) -> (Calls, Calls) {
    let fake = FakeAws::new(ACCOUNT);
    seed(&fake, volumes, per);
    fake.add_schedule_group("ebs-gens-prod");
    unmetered_control_planes(&fake);
    let app = App::new(
        settings(backend),
        &fake,
        &fake,
        ACCOUNT,
        "us-east-1",
        "efficiency",
    )
    .with_scheduler(&fake)
    .without_metrics();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    // Converge first (adopted snapshots are deleted by the run after their adoption).
    for _ in 0..2 {
        let s = sweep(&app, false, now, 3).await.unwrap();
        assert!(!s.failed(), "{:?} {:?}", s.totals.errors, s.schedules_error);
    }
    let fresh = fake.calls();
    fake.reset_calls();
    let s = sweep(&app, false, now, 3).await.unwrap();
    assert_eq!(
        (s.totals.deleted, s.schedule_changes),
        (0, 0),
        "{backend}: not a no-change sweep"
    );
    (fresh, fake.calls())
}

/// The two backends side by side: what a fresh deployment costs (two sweeps, to converge) and
/// what every later no-change sweep costs.
async fn backends(volumes: usize, per: usize) -> String {
    let (rf, rs) = fresh_and_steady("rules", volumes, per).await;
    let (sf, ss) = fresh_and_steady("scheduler", volumes, per).await;
    let mut ops: Vec<&str> = [&rf, &rs, &sf, &ss]
        .iter()
        .flat_map(|m| m.keys().copied())
        .collect();
    ops.sort();
    ops.dedup();
    let mut out = format!(
        "\n### Backends: {volumes} volumes, {} snapshots\n\n| operation | rules: first two sweeps | rules: no-change sweep | scheduler: first two sweeps | scheduler: no-change sweep |\n|---|---:|---:|---:|---:|\n",
        volumes * per
    );
    let total = |m: &Calls| m.values().sum::<u64>();
    for op in ops {
        let g = |m: &Calls| m.get(op).copied().unwrap_or(0);
        out.push_str(&format!(
            "| {op} | {} | {} | {} | {} |\n",
            g(&rf),
            g(&rs),
            g(&sf),
            g(&ss)
        ));
    }
    out.push_str(&format!(
        "| **total** | **{}** | **{}** | **{}** | **{}** |\n",
        total(&rf),
        total(&rs),
        total(&sf),
        total(&ss)
    ));
    // The scheduler's no-change sweep: volume listings (ensure-schedules in pages of 500, discovery
    // in pages of 250, one re-read per prune batch of ≤ 100 within a page), snapshot pages (at
    // least one per batch), schedule pages of 100, one ListRules (the migration check), and the
    // orphan scan.
    let pages = volumes.div_ceil(PAGE_SIZE as usize);
    let batches: usize = (0..pages)
        .map(|p| {
            (volumes - p * PAGE_SIZE as usize)
                .min(PAGE_SIZE as usize)
                .div_ceil(100)
        })
        .sum();
    // Then the orphan scan: our snapshots in pages of 1000, their volumes by id, 200 a call.
    let orphan_scan = (volumes * per).div_ceil(1000) + volumes.div_ceil(200);
    let bound = volumes.div_ceil(500)
        + pages
        + batches
        + batches.max((volumes * per).div_ceil(1000))
        + volumes.div_ceil(100)
        + 1
        + orphan_scan;
    assert!(
        total(&ss) <= bound as u64,
        "scheduler no-change sweep made {} calls, over {bound}: {ss:?}",
        total(&ss)
    );
    // The rules backend's no-change sweep: the same listings, but its rules (pages of 100, and
    // the targets of each of its rules) instead of schedule pages, and one ListSchedules (the
    // migration check).
    let rules = volumes.div_ceil(5);
    let rules_bound = bound - volumes.div_ceil(100) - 1 + rules.div_ceil(100) + 1 + rules + 1;
    assert!(
        total(&rs) <= rules_bound as u64,
        "rules no-change sweep made {} calls, over {rules_bound}",
        total(&rs)
    );
    for (name, m) in [("rules", &rs), ("scheduler", &ss)] {
        for op in fake::WRITES {
            assert!(!m.contains_key(op), "{name}: a no-change sweep made {op}");
        }
    }
    assert_eq!(
        sf.get("CreateSchedule").copied(),
        Some(volumes as u64),
        "one CreateSchedule per volume"
    );
    out
}

/// A first deployment of `volumes` volumes on the scheduler backend: one CreateSchedule each,
/// each Scheduler call taking `latency`, under Scheduler's request-rate bucket as the fake
/// models it (250 a second, the lowest regional default), ensure-schedules called again while it
/// reports `more` (the sweep's MoreSchedules loop), each call with the Lambda's 120 s deadline.
/// Virtual time (tokio's paused clock): the latency and every back-off wait count exactly.
async fn first_deployment(volumes: usize, latency: std::time::Duration) -> String {
    use ebs_gens::app::ensure_schedules::{self, EnsureInput};
    let fake = FakeAws::new(ACCOUNT);
    for i in 0..volumes {
        fake.add_volume(&format!("vol-{i:08x}"), None, &[("Daily_Gens", "7")]);
    }
    fake.add_schedule_group("ebs-gens-prod");
    fake.set_scheduler_latency(latency);
    let app = App::new(
        settings("scheduler"),
        &fake,
        &fake,
        ACCOUNT,
        "us-east-1",
        "efficiency",
    )
    .with_scheduler(&fake)
    .without_metrics();
    let timeout = ebs_gens::contract::FUNCTIONS
        .iter()
        .find(|f| f.name == "ensure-schedules")
        .expect("ensure-schedules in the contract")
        .timeout_seconds;
    let started = tokio::time::Instant::now();
    let mut invocations = Vec::new();
    loop {
        let t0 = tokio::time::Instant::now();
        let deadline = t0 + std::time::Duration::from_secs(timeout.into());
        let out = ensure_schedules::handle(&app, EnsureInput::default(), Some(deadline))
            .await
            .expect("ensure-schedules");
        let took = t0.elapsed();
        assert!(
            took < std::time::Duration::from_secs(timeout.into()),
            "an invocation ran {took:?}, past the {timeout} s timeout"
        );
        invocations.push((took, out.changes));
        if !out.more {
            break;
        }
        assert!(invocations.len() < 20, "no convergence");
    }
    let total = started.elapsed();
    let schedules = fake.schedules_in("ebs-gens-prod").len();
    assert_eq!(schedules, volumes, "every volume has its schedule");
    let calls = fake.calls();
    assert_eq!(
        calls.get("CreateSchedule").copied().unwrap_or(0) - fake.throttled("CreateSchedule"),
        volumes as u64,
        "one accepted CreateSchedule per volume"
    );
    let per: Vec<String> = invocations
        .iter()
        .map(|(t, n)| format!("{:.1} s / {n} changes", t.as_secs_f64()))
        .collect();
    format!(
        "\n### First deployment on the scheduler backend: {volumes} volumes\n\n{} ensure-schedules invocation(s) within one sweep ({}), {:.1} s in all, at {} ms per Scheduler call, {} volumes at once, CreateSchedule limited to 250 a second; {} CreateSchedule calls, {} throttled and waited out.\n",
        invocations.len(),
        per.join("; "),
        total.as_secs_f64(),
        latency.as_millis(),
        ebs_gens::aws::client::SCHEDULE_CONCURRENCY,
        calls.get("CreateSchedule").copied().unwrap_or(0),
        fake.throttled("CreateSchedule"),
    )
}

/// The sweep state machine's copy rounds: how many at most, and the wait before each
/// (statemachine/sweep.asl.json's MoreCopies and WaitForCopySlots, read so the two stay in step).
fn copy_rounds() -> (usize, std::time::Duration) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../statemachine/sweep.asl.json"
    );
    let asl: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = &asl["States"];
    let rounds = s["MoreCopies"]["Choices"][0]["And"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Variable"] == "$.pump.round")
        .and_then(|c| c["NumericLessThan"].as_u64())
        .unwrap();
    let wait = s["WaitForCopySlots"]["Seconds"].as_u64().unwrap();
    (rounds as usize, std::time::Duration::from_secs(wait))
}

/// A fleet copying `daily:us-west-2=7`: the source region, the destination, the jobs.
struct CopyFleet {
    east: FakeAws,
    west: FakeAws,
    jobs: Vec<ebs_gens::app::VolumeJob>,
}

/// `volumes` volumes (`Daily_Gens=7`), each with `history` daily snapshots; with `copied`, the
/// destination already holds a completed copy of each (a fleet in steady state).
fn copy_fleet(volumes: usize, history: i64, copied: bool) -> CopyFleet {
    use ebs_gens::copies::{TAG_COPY_OF, TAG_SOURCE_REGION, TAG_SOURCE_START};
    let (east, west) = (
        FakeAws::new(ACCOUNT),
        FakeAws::in_region(ACCOUNT, "us-west-2"),
    );
    let mut jobs = Vec::new();
    for i in 0..volumes {
        let vol = format!("vol-{i:08x}");
        east.add_volume(&vol, None, &[("Daily_Gens", "7")]);
        for d in 0..history {
            let at = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 30).unwrap() - Duration::days(d);
            let tags = [(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol.as_str())];
            let id = east.add_snapshot(&vol, at, SnapshotState::Completed, &tags);
            if copied {
                let start = at.to_rfc3339();
                let tags = [
                    (TAG_MANAGED_BY, "prod"),
                    (TAG_VOLUME, vol.as_str()),
                    (ebs_gens::snapshot::TAG_CLASS, "daily"),
                    (TAG_COPY_OF, id.as_str()),
                    (TAG_SOURCE_REGION, "us-east-1"),
                    (TAG_SOURCE_START, start.as_str()),
                ];
                west.add_snapshot(
                    "vol-ffffffff",
                    at + Duration::hours(1),
                    SnapshotState::Completed,
                    &tags,
                );
            }
        }
        jobs.push(ebs_gens::app::VolumeJob {
            volume_id: vol,
            policy: ebs_gens::VolumePolicy::new(vec![(ebs_gens::GenClass::Daily, 7)]).unwrap(),
            instance_id: None,
            volume_name: None,
            spec: None,
        });
    }
    CopyFleet { east, west, jobs }
}

/// What the hours of sweeps did: hours until done, prune runs, copies, the most in flight.
#[derive(Default)]
struct CopyHours {
    hours: usize,
    runs: usize,
    copied: usize,
    fullest: usize,
}

/// Hourly sweeps (prune batches of 100), each followed by the state machine's copy rounds while
/// copies are deferred, until `want` copies have started (at least one sweep); each copy takes
/// `took`.
async fn copy_until(
    f: &CopyFleet,
    want: usize,
    start: chrono::DateTime<Utc>,
    took: std::time::Duration,
) -> CopyHours {
    use ebs_gens::app::prune::{self, PruneInput};
    let mut s = settings("rules");
    s.copies = "daily:us-west-2=7".parse().unwrap();
    let app = App::new(s, &f.east, &f.east, ACCOUNT, "us-east-1", "efficiency")
        .with_destination("us-west-2", &f.west)
        .without_metrics();
    let (rounds, wait) = copy_rounds();
    let hour = std::time::Duration::from_secs(3600);
    let mut h = CopyHours::default();
    // Virtual time passes; copies started `took` ago complete.
    let pass = |d: std::time::Duration| {
        let west = &f.west;
        async move {
            tokio::time::advance(d).await;
            west.complete_copies_older_than(took);
        }
    };
    loop {
        let mut elapsed = std::time::Duration::ZERO;
        for round in 0..=rounds {
            if round > 0 {
                pass(wait).await;
                elapsed += wait;
            }
            let now =
                start + Duration::hours(h.hours as i64) + Duration::from_std(elapsed).unwrap();
            let mut deferred = 0;
            for batch in f.jobs.chunks(100) {
                let input = PruneInput {
                    volumes: batch.to_vec(),
                    ..Default::default()
                };
                let out = prune::handle(&app, input, now, None).await.expect("prune");
                assert_eq!(out.totals.copies_failed, 0);
                h.copied += out.totals.copied;
                deferred += out.totals.copies_deferred;
            }
            h.runs += 1;
            h.fullest = h.fullest.max(f.west.copies_in_flight());
            assert!(f.west.copies_in_flight() <= fake::MAX_COPIES_IN_FLIGHT);
            if deferred == 0 {
                break;
            }
        }
        pass(hour - elapsed).await;
        h.hours += 1;
        assert!(h.hours < 10_000, "the copies never drain");
        if h.copied >= want {
            return h;
        }
    }
}

/// Copies to another region, `daily:us-west-2=7`, each copy taking `took`: turning copies on for
/// `backlog_volumes` volumes (10 snapshots each: a backlog of 7 copies a volume), then one day of a
/// `steady_volumes` fleet whose destination already keeps 7 copies a volume (one new generation
/// each copied, the oldest copy deleted). Calls against the lower bound; copies in flight.
async fn copies(
    backlog_volumes: usize,
    steady_volumes: usize,
    took: std::time::Duration,
) -> String {
    let get = |c: &Calls, op: &str| c.get(op).copied().unwrap_or(0);
    let (rounds, wait) = copy_rounds();
    // Turning copies on: the backlog.
    let f = copy_fleet(backlog_volumes, 10, false);
    let backlog = backlog_volumes * 7;
    let start = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    let b = copy_until(&f, backlog, start, took).await;
    let drained = f.west.calls();
    // Steady state: a day's generations.
    let f = copy_fleet(steady_volumes, 7, true);
    for j in &f.jobs {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 30).unwrap();
        let tags = [(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, j.volume_id.as_str())];
        f.east
            .add_snapshot(&j.volume_id, at, SnapshotState::Completed, &tags);
    }
    let day = start + Duration::days(1);
    let d = copy_until(&f, steady_volumes, day, took).await;
    // The next sweep deletes what the destination no longer keeps.
    let after = copy_until(&f, 0, day + Duration::hours(d.hours as i64), took).await;
    let steady = f.west.calls();
    assert_eq!(
        f.west.snapshots().len(),
        steady_volumes * 7,
        "each destination keeps 7"
    );
    let per_hour = |h: &CopyHours| h.copied as f64 / h.hours.max(1) as f64;
    // Gates: every copy exactly once; a refused CopySnapshot (ResourceLimitExceeded: another
    // batch filled the 20) at most once per batch per run; the 20 in flight filled; the copy
    // rounds at least double the 20 an hour of the sweep alone.
    let refused = |calls: &Calls, h: &CopyHours| get(calls, "CopySnapshot") - h.copied as u64;
    let batches = |n: usize| n.div_ceil(100);
    let (rb, rd) = (refused(&drained, &b), refused(&steady, &d));
    assert_eq!(b.copied, backlog);
    assert_eq!(d.copied, steady_volumes);
    assert!(
        rb <= (b.runs * batches(backlog_volumes)) as u64,
        "{rb} refused copies"
    );
    assert!(
        rd <= (d.runs * batches(steady_volumes)) as u64,
        "{rd} refused copies"
    );
    assert_eq!(
        (b.fullest, d.fullest),
        (fake::MAX_COPIES_IN_FLIGHT, fake::MAX_COPIES_IN_FLIGHT)
    );
    assert!(
        per_hour(&b) >= 40.0 && per_hour(&d) >= 40.0,
        "the copy rounds add little"
    );
    format!(
        "\n### Copies to another region: `daily:us-west-2=7`, copies taking {} min\n\n\
Hourly sweeps (prune batches of 100), each followed by up to {rounds} copy rounds {} min apart while copies wait for a slot.\n\n\
| | turning copies on: {backlog_volumes} volumes, {backlog} copies | one day: {steady_volumes} volumes, {steady_volumes} new generations | lower bound |\n|---|---:|---:|---:|\n\
| hours until every copy started | {} | {} | {} / {} (20 in flight) |\n\
| copies started an hour | {:.0} | {:.0} | |\n\
| prune runs (sweeps and copy rounds) | {} | {} | |\n\
| CopySnapshot: started | {} | {} | {backlog} / {steady_volumes} |\n\
| CopySnapshot: refused (`ResourceLimitExceeded`, back-pressure; at most one per batch per run) | {rb} | {rd} | 0 |\n\
| DescribeSnapshots in the destination | {} | {} | one per prune batch per run |\n\
| DeleteSnapshot in the destination | {} | {} | 0 / {steady_volumes} |\n\
| most copies in flight | {} | {} | 20 |\n",
        took.as_secs() / 60,
        wait.as_secs() / 60,
        b.hours,
        d.hours,
        (backlog * took.as_secs() as usize).div_ceil(fake::MAX_COPIES_IN_FLIGHT * 3600),
        (steady_volumes * took.as_secs() as usize).div_ceil(fake::MAX_COPIES_IN_FLIGHT * 3600),
        per_hour(&b),
        per_hour(&d),
        b.runs,
        d.runs + after.runs,
        b.copied,
        d.copied,
        get(&drained, "DescribeSnapshots"),
        get(&steady, "DescribeSnapshots"),
        get(&drained, "DeleteSnapshot"),
        get(&steady, "DeleteSnapshot"),
        b.fullest,
        d.fullest,
    )
}

/// Instance sets: `instances` instances tagged `Daily_Gens=7`, `members` data volumes each (not
/// tagged themselves), `per` completed daily sets each — a catch-up sweep (deleting the surplus
/// sets whole), then a no-change sweep, next to the lower bound.
async fn sets(instances: usize, members: usize, per: usize) -> String {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group("ebs-gens-prod");
    unmetered_control_planes(&fake);
    let fire = Utc.with_ymd_and_hms(2026, 11, 25, 9, 30, 0).unwrap();
    for i in 0..instances {
        let inst = format!("i-{i:08x}");
        fake.add_instance(&inst, &[("Name", &format!("db{i}")), ("Daily_Gens", "7")]);
        let vols: Vec<String> = (0..members).map(|m| format!("vol-{i:07x}{m}")).collect();
        for v in &vols {
            fake.add_volume(v, Some(&inst), &[]);
        }
        for d in 0..per {
            let start = fire - Duration::days(d as i64);
            let set = format!("{inst}@{}", start.format("%Y-%m-%dT%H:%M:%SZ"));
            let size = members.to_string();
            for v in &vols {
                let name = format!("db{i}_Daily_{v}");
                let tags: [(&str, &str); 7] = [
                    (TAG_MANAGED_BY, "prod"),
                    (TAG_VOLUME, v),
                    (ebs_gens::snapshot::TAG_CLASS, "daily"),
                    (ebs_gens::snapshot::TAG_POLICY, "daily=7"),
                    (ebs_gens::sets::TAG_SET, &set),
                    (ebs_gens::sets::TAG_SET_SIZE, &size),
                    (ebs_gens::snapshot::TAG_NAME, &name),
                ];
                fake.add_snapshot(v, start, SnapshotState::Completed, &tags);
            }
        }
    }
    let mut s = settings("scheduler");
    s.sets = true;
    let app = App::new(s, &fake, &fake, ACCOUNT, "us-east-1", "efficiency")
        .with_scheduler(&fake)
        .without_metrics();
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
    // The first sweep creates one schedule per instance and deletes the surplus sets (30 % of
    // each batch: the acknowledged run, as for volumes).
    let first = sweep_with(&app, false, true, now, 3, |_| {}).await.unwrap();
    let surplus = instances * per.saturating_sub(KEEP) * members;
    assert_eq!(first.totals.deleted, surplus, "{:?}", first.totals);
    assert!(!first.failed(), "{:?}", first.totals.errors);
    let catch_up = fake.calls();
    fake.reset_calls();
    let steady = sweep(&app, false, now, 3).await.unwrap();
    assert_eq!((steady.totals.deleted, steady.schedule_changes), (0, 0));
    let steady_calls = fake.calls();
    for op in fake::WRITES {
        assert!(
            !steady_calls.contains_key(op),
            "a no-change sweep made {op}"
        );
    }
    assert_eq!(
        catch_up.get("CreateSchedule").copied(),
        Some(instances as u64)
    );
    // The lower bound of the catch-up: every instance listed once (DescribeInstances, 1000 a
    // page), every member snapshot listed once (1000 a page), one DeleteSnapshot per member of a
    // surplus set, their locks read and their deletion marked 1000 ids a call, the Recycle Bin's
    // rules once, one schedule per instance (and its listing).
    let snapshots = instances * per * members;
    let mut bound: BTreeMap<&str, u64> = BTreeMap::new();
    bound.insert("DescribeInstances", instances.div_ceil(1000) as u64);
    bound.insert("DescribeSnapshots", snapshots.div_ceil(1000) as u64);
    bound.insert("DeleteSnapshot", surplus as u64);
    bound.insert("DescribeLockedSnapshots", surplus.div_ceil(1000) as u64);
    bound.insert("CreateTags", surplus.div_ceil(1000) as u64);
    bound.insert("rbin:ListRules", 1);
    bound.insert("CreateSchedule", instances as u64);
    bound.insert("ListSchedules", 1);
    let mut ops: Vec<&str> = catch_up
        .keys()
        .chain(steady_calls.keys())
        .chain(bound.keys())
        .copied()
        .collect();
    ops.sort();
    ops.dedup();
    let mut out = format!(
        "\n### Instance sets: {instances} instances × {members} volumes, {per} daily sets each (Daily_Gens=7), {snapshots} snapshots\n\n| operation | catch-up sweep | lower bound | no-change sweep |\n|---|---:|---:|---:|\n"
    );
    let g = |m: &BTreeMap<&str, u64>, op: &str| m.get(op).copied().unwrap_or(0);
    for op in ops {
        out.push_str(&format!(
            "| {op} | {} | {} | {} |\n",
            g(&catch_up, op),
            g(&bound, op),
            g(&steady_calls, op)
        ));
    }
    let ours: u64 = catch_up.values().sum();
    let lower: u64 = bound.values().sum();
    assert!(
        ours as f64 <= lower as f64 * 1.02,
        "sets: {ours} calls, over 1.02 × the lower bound {lower}"
    );
    out.push_str(&format!(
        "| **total** | **{ours}** | **{lower}** | **{}** |\n\nebs-gens / lower bound = {:.3}\n",
        steady_calls.values().sum::<u64>(),
        ours as f64 / lower as f64
    ));
    out
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        println!("{}", case(1_000, 10).await);
        println!("{}", case(10_000, 10).await);
        println!("{}", backends(1_000, 10).await);
        println!("{}", sets(1_000, 3, 10).await);
        println!(
            "{}",
            first_deployment(10_000, std::time::Duration::from_millis(50)).await
        );
        println!(
            "{}",
            copies(100, 1_000, std::time::Duration::from_secs(15 * 60)).await
        );
    });
}
