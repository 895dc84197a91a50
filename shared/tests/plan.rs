//! Table tests and invariants for the generation rules.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use ebs_gens::plan::{plan, Plan, PlanContext};
use ebs_gens::policy::{GenClass, VolumePolicy};
use ebs_gens::snapshot::{Snapshot, SnapshotState, TAG_KEEP, TAG_MANAGED_BY, TAG_VOLUME};
use proptest::prelude::*;

const DEP: &str = "prod";
const VOL: &str = "vol-1";
const ACCOUNT: &str = "123456789012";

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
}

fn ours(id: &str, t: DateTime<Utc>) -> Snapshot {
    Snapshot {
        id: id.into(),
        volume_id: VOL.into(),
        start_time: t,
        state: SnapshotState::Completed,
        owner_id: "123456789012".into(),
        tags: [
            (TAG_MANAGED_BY.to_string(), DEP.to_string()),
            (TAG_VOLUME.to_string(), VOL.to_string()),
        ]
        .into(),
    }
}

fn with_state(mut s: Snapshot, st: SnapshotState) -> Snapshot {
    s.state = st;
    s
}

fn with_tag(mut s: Snapshot, k: &str, v: &str) -> Snapshot {
    s.tags.insert(k.into(), v.into());
    s
}

fn policy(gens: &[(GenClass, u32)]) -> VolumePolicy {
    VolumePolicy::new(gens.to_vec()).unwrap()
}

fn ctx(tz: Tz) -> PlanContext<'static> {
    PlanContext {
        deployment: DEP,
        account_id: ACCOUNT,
        tz,
    }
}

/// Daily snapshots at 09:30 UTC for `n` days ending 2026-11-25, ids `d<yyyymmdd>`.
fn daily_series(n: i64) -> Vec<Snapshot> {
    (0..n)
        .map(|i| {
            let t = utc(2026, 11, 25, 9, 30) - Duration::days(i);
            ours(&format!("d{}", t.format("%Y%m%d")), t)
        })
        .collect()
}

fn now() -> DateTime<Utc> {
    utc(2026, 11, 25, 12, 0)
}

/// Checks the invariants every plan must hold, then returns "id: reasons" lines for keep and delete.
fn check(p: &VolumePolicy, tz: Tz, snaps: &[Snapshot]) -> (Vec<String>, Vec<String>) {
    let out = plan(VOL, p, &ctx(tz), snaps, now());
    invariants(p, snaps, &out);
    let lines = |es: &Vec<ebs_gens::plan::Entry>| {
        es.iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.snapshot_id,
                    e.reasons
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
    };
    (lines(&out.keep), lines(&out.delete))
}

/// Ours: our tag on a snapshot our account owns.
fn mine(s: &Snapshot) -> bool {
    s.is_owned_by(DEP) && s.owner_id == ACCOUNT
}

fn invariants(p: &VolumePolicy, snaps: &[Snapshot], out: &Plan) {
    let input: BTreeSet<&str> = snaps.iter().map(|s| s.id.as_str()).collect();
    let keep: BTreeSet<&str> = out.keep.iter().map(|e| e.snapshot_id).collect();
    let delete: BTreeSet<&str> = out.delete.iter().map(|e| e.snapshot_id).collect();
    assert_eq!(keep.len(), out.keep.len(), "keep has duplicates");
    assert_eq!(delete.len(), out.delete.len(), "delete has duplicates");
    assert!(keep.is_disjoint(&delete), "keep and delete overlap");
    if input.len() == snaps.len() {
        let union: BTreeSet<&str> = keep.union(&delete).copied().collect();
        assert_eq!(union, input, "keep ∪ delete != input");
    }
    let by_id: BTreeMap<&str, &Snapshot> = snaps.iter().map(|s| (s.id.as_str(), s)).collect();
    for id in &delete {
        let s = by_id[id];
        assert!(mine(s), "{id} deleted but not ours");
        assert!(!s.is_pinned(), "{id} deleted but pinned");
        assert!(
            matches!(s.state, SnapshotState::Completed | SnapshotState::Error),
            "{id} deleted in state {}",
            s.state
        );
    }
    for e in out.keep.iter().chain(&out.delete) {
        assert!(!e.reasons.is_empty(), "{} has no reason", e.snapshot_id);
    }
    let countable = |ids: &BTreeSet<&str>| {
        ids.iter()
            .filter(|id| {
                let s = by_id[*id];
                mine(s) && !s.is_pinned() && s.state == SnapshotState::Completed
            })
            .count()
    };
    let completed_owned = countable(&input);
    let kept = countable(&keep);
    assert!(
        kept >= completed_owned.min(p.finest_count() as usize),
        "went below N: kept {kept} of {completed_owned}"
    );
    // The newest completed snapshot of ours is always kept.
    if let Some(newest) = snaps
        .iter()
        .filter(|s| mine(s) && !s.is_pinned() && s.state == SnapshotState::Completed)
        .max_by(|a, b| {
            a.start_time
                .cmp(&b.start_time)
                .then_with(|| a.id.cmp(&b.id))
        })
    {
        assert!(
            keep.contains(newest.id.as_str()),
            "newest {} not kept",
            newest.id
        );
    }
    // Never keeps more than the policy's sum (plus what is not counted) — unless the input is
    // doubtful, when everything is kept and nothing deleted.
    let budget: u32 = p.gens().iter().map(|(_, n)| n).sum();
    if out.doubtful.is_some() {
        assert!(out.delete.is_empty(), "doubtful input, yet deletes");
    } else {
        assert!(kept <= budget as usize, "kept {kept} > budget {budget}");
    }
}

#[test]
fn empty_input_deletes_nothing() {
    let (k, d) = check(&policy(&[(GenClass::Daily, 7)]), Tz::UTC, &[]);
    assert!(k.is_empty() && d.is_empty());
}

#[test]
fn daily_seven_keeps_the_seven_newest_like_the_recipe() {
    let (k, d) = check(&policy(&[(GenClass::Daily, 7)]), Tz::UTC, &daily_series(10));
    assert_eq!(
        k,
        vec![
            "d20261125: last 7 daily",
            "d20261124: last 7 daily",
            "d20261123: last 7 daily",
            "d20261122: last 7 daily",
            "d20261121: last 7 daily",
            "d20261120: last 7 daily",
            "d20261119: last 7 daily",
        ]
    );
    assert_eq!(
        d,
        vec![
            "d20261118: surplus",
            "d20261117: surplus",
            "d20261116: surplus"
        ]
    );
}

#[test]
fn keep_more_than_exist_deletes_nothing() {
    let (k, d) = check(&policy(&[(GenClass::Daily, 30)]), Tz::UTC, &daily_series(5));
    assert_eq!(k.len(), 5);
    assert!(d.is_empty());
}

#[test]
fn deletes_every_surplus_in_one_run_not_one_per_run() {
    let (k, d) = check(&policy(&[(GenClass::Daily, 2)]), Tz::UTC, &daily_series(40));
    assert_eq!(k.len(), 2);
    assert_eq!(d.len(), 38);
}

#[test]
fn daily_plus_weekly_keeps_newest_of_each_iso_week() {
    // 2026-11-25 is Wednesday of ISO week 48.
    let (k, d) = check(
        &policy(&[(GenClass::Daily, 3), (GenClass::Weekly, 3)]),
        Tz::UTC,
        &daily_series(21),
    );
    assert_eq!(
        k,
        vec![
            "d20261125: last 3 daily, newest of week 2026-W48",
            "d20261124: last 3 daily",
            "d20261123: last 3 daily",
            "d20261122: newest of week 2026-W47",
            "d20261115: newest of week 2026-W46",
        ]
    );
    assert_eq!(d.len(), 16);
}

#[test]
fn monthly_counts_only_months_that_hold_snapshots() {
    // One snapshot in each of Nov, Sep, Jun: a gap is not a period.
    let snaps = vec![
        ours("nov", utc(2026, 11, 20, 9, 30)),
        ours("nov-early", utc(2026, 11, 2, 9, 30)),
        ours("sep", utc(2026, 9, 10, 9, 30)),
        ours("jun", utc(2026, 6, 1, 9, 30)),
        ours("jan", utc(2026, 1, 1, 9, 30)),
    ];
    let (k, d) = check(
        &policy(&[(GenClass::Daily, 1), (GenClass::Monthly, 3)]),
        Tz::UTC,
        &snaps,
    );
    assert_eq!(
        k,
        vec![
            "nov: last 1 daily, newest of month 2026-11",
            "sep: newest of month 2026-09",
            "jun: newest of month 2026-06"
        ]
    );
    assert_eq!(d, vec!["nov-early: surplus", "jan: surplus"]);
}

#[test]
fn hourly_is_last_n_and_daily_is_newest_per_day() {
    let snaps: Vec<Snapshot> = (0..50)
        .map(|i| {
            let t = utc(2026, 11, 25, 11, 0) - Duration::hours(i);
            ours(&format!("h{i:02}"), t)
        })
        .collect();
    let (k, _) = check(
        &policy(&[(GenClass::Hourly, 4), (GenClass::Daily, 2)]),
        Tz::UTC,
        &snaps,
    );
    assert_eq!(
        k,
        vec![
            "h00: last 4 hourly, newest of day 2026-11-25",
            "h01: last 4 hourly",
            "h02: last 4 hourly",
            "h03: last 4 hourly",
            "h12: newest of day 2026-11-24",
        ]
    );
}

#[test]
fn days_are_counted_in_the_configured_time_zone() {
    // 2026-11-24 20:00 UTC is 2026-11-25 05:00 in Tokyo: same Tokyo day as 2026-11-25 09:30 UTC.
    let snaps = vec![
        ours("a", utc(2026, 11, 25, 9, 30)),
        ours("b", utc(2026, 11, 24, 20, 0)),
        ours("c", utc(2026, 11, 24, 9, 30)),
    ];
    let p = policy(&[(GenClass::Hourly, 1), (GenClass::Daily, 2)]);
    let (k_utc, _) = check(&p, Tz::UTC, &snaps);
    assert_eq!(
        k_utc,
        vec![
            "a: last 1 hourly, newest of day 2026-11-25",
            "b: newest of day 2026-11-24"
        ]
    );
    let (k_tokyo, _) = check(&p, chrono_tz::Asia::Tokyo, &snaps);
    assert_eq!(
        k_tokyo,
        vec![
            "a: last 1 hourly, newest of day 2026-11-25",
            "c: newest of day 2026-11-24"
        ]
    );
}

#[test]
fn dst_change_in_a_non_utc_zone_neither_splits_nor_merges_days() {
    // Europe/Berlin leaves summer time on 2026-10-25 at 03:00 CEST (01:00 UTC): that day has 25 hours.
    // Hourly snapshots from 2026-10-24 22:00 UTC (2026-10-25 00:00 CEST) through the change.
    let berlin = chrono_tz::Europe::Berlin;
    let snaps: Vec<Snapshot> = (0..30)
        .map(|i| {
            ours(
                &format!("h{i:02}"),
                utc(2026, 10, 24, 22, 0) + Duration::hours(i),
            )
        })
        .collect();
    let (k, _) = check(
        &policy(&[(GenClass::Hourly, 1), (GenClass::Daily, 3)]),
        berlin,
        &snaps,
    );
    // h00..h24 are the 25 hours of 2026-10-25 local; h25.. are 2026-10-26 local.
    assert_eq!(
        k,
        vec![
            "h29: last 1 hourly, newest of day 2026-10-26",
            "h24: newest of day 2026-10-25"
        ]
    );
    // And spring forward (2026-03-29, 23-hour day) in New York (2026-03-08).
    let ny = chrono_tz::America::New_York;
    let snaps: Vec<Snapshot> = (0..30)
        .map(|i| {
            ours(
                &format!("s{i:02}"),
                utc(2026, 3, 8, 5, 0) + Duration::hours(i),
            )
        })
        .collect();
    let (k, _) = check(
        &policy(&[(GenClass::Hourly, 1), (GenClass::Daily, 3)]),
        ny,
        &snaps,
    );
    // 2026-03-08 local runs 05:00 UTC to 04:00 UTC next day (23 hours): s00..s22.
    assert_eq!(
        k,
        vec![
            "s29: last 1 hourly, newest of day 2026-03-09",
            "s22: newest of day 2026-03-08"
        ]
    );
}

#[test]
fn iso_week_53_and_year_boundaries() {
    // 2020 has 53 ISO weeks: 2020-12-31 (Thu) is 2020-W53, 2021-01-03 (Sun) too; 2021-01-04 is
    // 2021-W01. 2019-12-30 (Mon) is already 2020-W01.
    let snaps = vec![
        ours("w01-2021", utc(2021, 1, 4, 9, 30)),
        ours("w53-sun", utc(2021, 1, 3, 9, 30)),
        ours("w53-thu", utc(2020, 12, 31, 9, 30)),
        ours("w52", utc(2020, 12, 27, 9, 30)),
        ours("w01-2020", utc(2019, 12, 30, 9, 30)),
        ours("w52-2019", utc(2019, 12, 29, 9, 30)),
    ];
    let (k, d) = check(
        &policy(&[(GenClass::Daily, 1), (GenClass::Weekly, 10)]),
        Tz::UTC,
        &snaps,
    );
    assert_eq!(
        k,
        vec![
            "w01-2021: last 1 daily, newest of week 2021-W01",
            "w53-sun: newest of week 2020-W53",
            "w52: newest of week 2020-W52",
            "w01-2020: newest of week 2020-W01",
            "w52-2019: newest of week 2019-W52",
        ]
    );
    assert_eq!(d, vec!["w53-thu: surplus"]);
    // Monthly across the year boundary.
    let (k, _) = check(
        &policy(&[(GenClass::Daily, 1), (GenClass::Monthly, 2)]),
        Tz::UTC,
        &snaps,
    );
    assert_eq!(
        k,
        vec![
            "w01-2021: last 1 daily, newest of month 2021-01",
            "w53-thu: newest of month 2020-12"
        ]
    );
}

#[test]
fn pinned_pending_unknown_and_foreign_are_kept_and_not_counted() {
    let mut snaps = daily_series(4);
    snaps.push(with_tag(
        ours("pinned", utc(2026, 11, 25, 10, 0)),
        TAG_KEEP,
        "yes",
    ));
    snaps.push(with_tag(
        ours("unpinned", utc(2026, 10, 1, 10, 0)),
        TAG_KEEP,
        "false",
    ));
    snaps.push(with_state(
        ours("pending", utc(2026, 11, 25, 11, 0)),
        SnapshotState::Pending,
    ));
    snaps.push(with_state(
        ours("recycled", utc(2026, 11, 1, 11, 0)),
        SnapshotState::Other("recoverable".into()),
    ));
    let mut foreign = ours("foreign", utc(2026, 1, 1, 0, 0));
    foreign.tags = [(TAG_MANAGED_BY.to_string(), "staging".to_string())].into();
    snaps.push(foreign);
    let mut untagged = ours("untagged", utc(2026, 1, 2, 0, 0));
    untagged.tags.clear();
    snaps.push(untagged);
    let (k, d) = check(&policy(&[(GenClass::Daily, 2)]), Tz::UTC, &snaps);
    assert_eq!(
        k,
        vec![
            "pending: pending",
            "pinned: pinned",
            "d20261125: last 2 daily",
            "d20261124: last 2 daily",
            "recycled: state recoverable",
            "untagged: not ours",
            "foreign: not ours",
        ]
    );
    assert_eq!(
        d,
        vec![
            "d20261123: surplus",
            "d20261122: surplus",
            "unpinned: surplus"
        ]
    );
}

#[test]
fn error_state_snapshots_of_ours_are_deleted_and_not_counted() {
    let mut snaps = daily_series(2);
    snaps.push(with_state(
        ours("broken", utc(2026, 11, 25, 10, 0)),
        SnapshotState::Error,
    ));
    let (k, d) = check(&policy(&[(GenClass::Daily, 2)]), Tz::UTC, &snaps);
    assert_eq!(k.len(), 2);
    assert_eq!(d, vec!["broken: error state"]);
}

#[test]
fn ties_break_by_start_time_then_id() {
    let t = utc(2026, 11, 25, 9, 30);
    let snaps = vec![ours("snap-a", t), ours("snap-c", t), ours("snap-b", t)];
    let (k, d) = check(&policy(&[(GenClass::Daily, 2)]), Tz::UTC, &snaps);
    assert_eq!(k, vec!["snap-c: last 2 daily", "snap-b: last 2 daily"]);
    assert_eq!(d, vec!["snap-a: surplus"]);
}

#[test]
fn doubtful_input_deletes_nothing() {
    let p = policy(&[(GenClass::Daily, 1)]);
    let cases: Vec<(&str, Vec<Snapshot>)> = vec![
        ("another volume", {
            let mut s = daily_series(3);
            s[2].volume_id = "vol-2".into();
            s
        }),
        ("listed twice", {
            let mut s = daily_series(3);
            s.push(s[2].clone());
            s
        }),
        ("tag names another volume", {
            let mut s = daily_series(3);
            s[1].tags.insert(TAG_VOLUME.into(), "vol-9".into());
            s
        }),
        ("future", {
            let mut s = daily_series(3);
            s.push(ours("future", now() + Duration::days(2)));
            s
        }),
    ];
    for (name, snaps) in cases {
        let out = plan(VOL, &p, &ctx(Tz::UTC), &snaps, now());
        assert!(out.delete.is_empty(), "{name}: deleted {:?}", out.delete);
        assert_eq!(out.keep.len(), snaps.len(), "{name}");
        assert!(
            out.keep[0].reasons[0]
                .to_string()
                .starts_with("doubtful input"),
            "{name}"
        );
    }
}

#[test]
fn plan_serializes_reasons_as_text() {
    let snaps = daily_series(2);
    let out = plan(
        VOL,
        &policy(&[(GenClass::Daily, 1)]),
        &ctx(Tz::UTC),
        &snaps,
        now(),
    );
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["keep"][0]["reasons"][0], "last 1 daily");
    assert_eq!(v["delete"][0]["reasons"][0], "surplus");
    assert_eq!(v["volume_id"], VOL);
}

// ---- property test over random fleets ----

fn arb_snapshot(i: usize) -> impl Strategy<Value = Snapshot> {
    (
        0i64..(400 * 24), // hours back
        0u8..10,          // ownership/pin/state selector
        prop::sample::select(vec![
            "completed",
            "completed",
            "completed",
            "pending",
            "error",
            "recoverable",
        ]),
    )
        .prop_map(move |(hours, sel, state)| {
            let mut s = ours(
                &format!("snap-{i:04}"),
                utc(2026, 11, 25, 9, 0) - Duration::hours(hours),
            );
            s.state = SnapshotState::parse(state);
            match sel {
                0 => s.tags = [(TAG_MANAGED_BY.to_string(), "other".to_string())].into(),
                1 => s.tags.clear(),
                2 => {
                    s.tags.insert(TAG_KEEP.into(), "true".into());
                }
                _ => {}
            }
            s
        })
}

fn arb_fleet() -> impl Strategy<Value = Vec<Snapshot>> {
    (0usize..60).prop_flat_map(|n| (0..n).map(arb_snapshot).collect::<Vec<_>>())
}

fn arb_policy() -> impl Strategy<Value = VolumePolicy> {
    (
        prop::option::of(1u32..30),
        prop::option::of(1u32..10),
        prop::option::of(1u32..8),
        prop::option::of(1u32..6),
    )
        .prop_filter_map("at least one class", |(h, d, w, m)| {
            let gens: Vec<(GenClass, u32)> = [
                (GenClass::Hourly, h),
                (GenClass::Daily, d),
                (GenClass::Weekly, w),
                (GenClass::Monthly, m),
            ]
            .into_iter()
            .filter_map(|(c, n)| n.map(|n| (c, n)))
            .collect();
            VolumePolicy::new(gens).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn random_fleets_hold_every_invariant(
        p in arb_policy(),
        snaps in arb_fleet(),
        tz in prop::sample::select(vec![Tz::UTC, chrono_tz::Asia::Tokyo, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe]),
    ) {
        let a = plan(VOL, &p, &ctx(tz), &snaps, now());
        invariants(&p, &snaps, &a);
        // Deterministic, whatever the input order.
        let mut rev = snaps.clone();
        rev.reverse();
        let b = plan(VOL, &p, &ctx(tz), &rev, now());
        prop_assert_eq!(a, b);
    }
}

#[test]
fn weekly_alone_keeps_the_last_n_snapshots_as_the_readme_says() {
    // The finest class keeps its last N snapshots, whatever their weeks: three snapshots in
    // one week (e.g. two adopted by hand) and Weekly_Gens=2 keep the two newest, not one per week.
    let snaps = vec![
        ours("w1", utc(2026, 11, 25, 9, 30)),
        ours("w2", utc(2026, 11, 24, 9, 30)),
        ours("w3", utc(2026, 11, 23, 9, 30)),
        ours("w4", utc(2026, 11, 16, 9, 30)),
    ];
    let (k, d) = check(&policy(&[(GenClass::Weekly, 2)]), Tz::UTC, &snaps);
    assert_eq!(k, ["w1: last 2 weekly", "w2: last 2 weekly"]);
    assert_eq!(d, ["w3: surplus", "w4: surplus"]);
}

#[test]
fn doubtful_input_is_named_in_the_plan() {
    let mut snaps = daily_series(5);
    snaps[2] = with_tag(snaps[2].clone(), TAG_VOLUME, "vol-other");
    let out = plan(
        VOL,
        &policy(&[(GenClass::Daily, 1)]),
        &ctx(Tz::UTC),
        &snaps,
        now(),
    );
    assert!(out.delete.is_empty());
    assert!(
        out.doubtful.as_deref().unwrap().contains("vol-other"),
        "{:?}",
        out.doubtful
    );
    let fine = daily_series(3);
    let out = plan(
        VOL,
        &policy(&[(GenClass::Daily, 1)]),
        &ctx(Tz::UTC),
        &fine,
        now(),
    );
    assert_eq!(out.doubtful, None);
}

#[test]
fn a_snapshot_another_account_owns_is_never_ours_whatever_its_tags_say() {
    // Shared with us by another account, tags copied: the newest of all, and surplus.
    let mut snaps = daily_series(5);
    let mut theirs = ours("shared-1", utc(2026, 11, 25, 10, 0));
    theirs.owner_id = "999999999999".into();
    let mut old = ours("shared-2", utc(2026, 10, 1, 9, 30));
    old.owner_id = "999999999999".into();
    snaps.push(theirs);
    snaps.push(old);
    let p = policy(&[(GenClass::Daily, 2)]);
    let (keep, delete) = check(&p, Tz::UTC, &snaps);
    assert!(keep.contains(&"shared-1: not ours".to_string()), "{keep:?}");
    assert!(keep.contains(&"shared-2: not ours".to_string()), "{keep:?}");
    assert!(
        delete.iter().all(|d| !d.starts_with("shared")),
        "{delete:?}"
    );
    // And they do not count toward N: the two newest of ours are kept, three deleted.
    assert_eq!(delete.len(), 3, "{delete:?}");
}

// ---- the generation rule against a small reference model ----

/// What the planner must keep and delete, written independently of it: candidates are the
/// completed, unpinned snapshots our account owns and our tag marks, newest first (ties by id);
/// the finest class keeps its first N; each coarser class keeps the newest candidate of each of
/// its N newest periods (hours, days, ISO weeks, months in `tz`); the rest of the candidates go,
/// and so do our failed snapshots. Everything else stays.
fn reference(p: &VolumePolicy, tz: Tz, snaps: &[Snapshot]) -> BTreeSet<String> {
    use chrono::{Datelike, Timelike};
    let pinned = |s: &Snapshot| {
        s.tags
            .get(TAG_KEEP)
            .is_some_and(|v| !v.trim().eq_ignore_ascii_case("false"))
    };
    let mut candidates: Vec<&Snapshot> = snaps
        .iter()
        .filter(|s| mine(s) && !pinned(s) && s.state == SnapshotState::Completed)
        .collect();
    candidates.sort_by(|a, b| {
        b.start_time
            .cmp(&a.start_time)
            .then_with(|| b.id.cmp(&a.id))
    });
    let finest = p.gens()[0].0;
    let mut keep: BTreeSet<&str> = BTreeSet::new();
    for &(class, n) in p.gens() {
        if class == finest {
            keep.extend(candidates.iter().take(n as usize).map(|s| s.id.as_str()));
            continue;
        }
        let mut periods: Vec<(i32, u32, u32)> = Vec::new();
        for s in &candidates {
            if periods.len() == n as usize {
                break;
            }
            let t = s.start_time.with_timezone(&tz);
            let period = match class {
                GenClass::Hourly => (t.year(), t.ordinal(), t.hour()),
                GenClass::Daily => (t.year(), t.ordinal(), 0),
                GenClass::Weekly => (t.iso_week().year(), t.iso_week().week(), 0),
                GenClass::Monthly => (t.year(), t.month(), 0),
            };
            if !periods.contains(&period) {
                periods.push(period);
                keep.insert(&s.id);
            }
        }
    }
    let mut delete: BTreeSet<String> = candidates
        .iter()
        .filter(|s| !keep.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect();
    delete.extend(
        snaps
            .iter()
            .filter(|s| mine(s) && !pinned(s) && s.state == SnapshotState::Error)
            .map(|s| s.id.clone()),
    );
    delete
}

/// Snapshots built to hit the planner's edges on purpose: equal start times (ties), other
/// accounts with our tags, pin values other than `true`, failed and unknown states, and, now
/// and then, doubtful input (another volume's snapshot, a start in the future).
fn arb_edgy_snapshot(i: usize) -> impl Strategy<Value = Snapshot> {
    (
        prop_oneof![
            // A few shared instants: ties between snapshots, and many in one period.
            3 => prop::sample::select(vec![0i64, 1, 24, 24 * 7, 24 * 31]),
            7 => 0i64..(400 * 24),
        ],
        0u8..16,
        prop::sample::select(vec![
            "completed",
            "completed",
            "completed",
            "pending",
            "error",
            "recoverable",
        ]),
    )
        .prop_map(move |(hours, sel, state)| {
            let mut s = ours(
                &format!("snap-{i:04}"),
                utc(2026, 11, 25, 9, 0) - Duration::hours(hours),
            );
            s.state = SnapshotState::parse(state);
            match sel {
                0 => s.tags = [(TAG_MANAGED_BY.to_string(), "other".to_string())].into(),
                1 => s.tags.clear(),
                2 => s.owner_id = "999999999999".into(),
                3 => {
                    s.tags.insert(TAG_KEEP.into(), "true".into());
                }
                4 => {
                    s.tags.insert(TAG_KEEP.into(), " FALSE ".into());
                }
                5 => {
                    s.tags.insert(TAG_KEEP.into(), "audit 2026".into());
                }
                6 => {
                    s.tags.insert(TAG_KEEP.into(), String::new());
                }
                _ => {}
            }
            s
        })
}

fn arb_edgy_fleet() -> impl Strategy<Value = Vec<Snapshot>> {
    (0usize..60, 0u8..20).prop_flat_map(|(n, doubt)| {
        (0..n)
            .map(arb_edgy_snapshot)
            .collect::<Vec<_>>()
            .prop_map(move |mut snaps| {
                // One fleet in twenty is doubtful on purpose.
                match (doubt, snaps.first_mut()) {
                    (0, Some(s)) => s.volume_id = "vol-other".into(),
                    (1, Some(s)) => s.start_time = utc(2026, 12, 25, 0, 0),
                    _ => {}
                }
                snaps
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn the_planner_deletes_exactly_what_the_reference_model_deletes(
        p in arb_policy(),
        snaps in arb_edgy_fleet(),
        tz in prop::sample::select(vec![Tz::UTC, chrono_tz::Asia::Tokyo, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe, chrono_tz::Pacific::Pago_Pago]),
    ) {
        let out = plan(VOL, &p, &ctx(tz), &snaps, now());
        invariants(&p, &snaps, &out);
        let deleted: BTreeSet<String> = out.delete.iter().map(|e| e.snapshot_id.to_string()).collect();
        if out.doubtful.is_some() {
            prop_assert!(deleted.is_empty(), "doubtful input, yet deletes: {:?}", deleted);
        } else {
            prop_assert_eq!(deleted, reference(&p, tz, &snaps));
        }
    }
}

// ---- the fuse, orphan planning and adoption, over the same edgy fleets ----

fn fuse_settings() -> ebs_gens::config::Settings {
    ebs_gens::config::Settings::from_lookup(|k| match k {
        "EBS_GENS_DEPLOYMENT" => Some(DEP.to_string()),
        "EBS_GENS_BACKEND" => Some("rules".to_string()),
        _ => None,
    })
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The volume fuse: a run whose surplus trips it deletes nothing unless acknowledged; one
    /// that does not trip it deletes exactly the plan's deletes.
    #[test]
    fn the_volume_fuse_holds_every_bulk_deletion_it_is_not_told_to_allow(
        p in arb_policy(),
        snaps in arb_edgy_fleet(),
        acknowledged in any::<bool>(),
    ) {
        use ebs_gens::decision::{decide, VolumeFacts};
        let settings = fuse_settings();
        let job = ebs_gens::app::VolumeJob {
            volume_id: VOL.into(),
            policy: p,
            instance_id: None,
            volume_name: None,
            spec: None,
        };
        let facts = VolumeFacts { created: None, ack_tag: None, allow_bulk_delete: acknowledged };
        let d = decide(&settings, ACCOUNT, &job, &snaps, &[], &facts, &Default::default(), now());
        let (deletes, completed) = ebs_gens::fuse::bulk(&d.plan);
        let going: Vec<&str> = d.deletes().map(|e| e.snapshot_id).collect();
        if settings.fuse_volume.trips(deletes, completed) && !acknowledged {
            prop_assert!(going.is_empty(), "tripped ({deletes} of {completed}) yet deletes {:?}", going);
            prop_assert!(d.held.is_some());
        } else {
            let planned: Vec<&str> = d.plan.delete.iter().map(|e| e.snapshot_id).collect();
            prop_assert_eq!(going, planned);
        }
    }

    /// Orphans: `keep` deletes nothing, not even failed ones; `keep-last=K,older-than=D` deletes
    /// only ours, never one of the K newest completed, never a completed one younger than D days.
    #[test]
    fn orphan_planning_keeps_the_newest_the_young_and_everything_under_keep(
        snaps in arb_edgy_fleet(),
        keep in 0u32..5,
        days in 0u32..60,
    ) {
        use ebs_gens::orphans::{plan_orphans, OrphanPolicy};
        let c = ctx(Tz::UTC);
        prop_assert!(plan_orphans(VOL, OrphanPolicy::Keep, &c, &snaps, now()).delete.is_empty());
        let out = plan_orphans(VOL, OrphanPolicy::KeepLast { keep, older_than_days: days }, &c, &snaps, now());
        let pinned = |s: &Snapshot| s.tags.get(TAG_KEEP).is_some_and(|v| !v.trim().eq_ignore_ascii_case("false"));
        let mut completed: Vec<&Snapshot> = snaps.iter().filter(|s| mine(s) && !pinned(s) && s.state == SnapshotState::Completed).collect();
        completed.sort_by(|a, b| b.start_time.cmp(&a.start_time).then_with(|| b.id.cmp(&a.id)));
        let newest: BTreeSet<&str> = completed.iter().take(keep as usize).map(|s| s.id.as_str()).collect();
        for e in &out.delete {
            let s = snaps.iter().find(|s| s.id == e.snapshot_id).unwrap();
            prop_assert!(mine(s) && !pinned(s), "{} deleted: not ours or pinned", s.id);
            if s.state == SnapshotState::Completed {
                prop_assert!(!newest.contains(s.id.as_str()), "{} is one of the {keep} newest", s.id);
                prop_assert!(now() - s.start_time > Duration::days(days.into()), "{} is younger than {days} days", s.id);
            } else {
                prop_assert_eq!(&s.state, &SnapshotState::Error);
            }
        }
    }

    /// Adoption never takes a snapshot that is tagged, not completed, another account's, of an
    /// unmanaged volume, or outside what the mode allows.
    #[test]
    fn adoption_takes_only_untagged_completed_own_snapshots_the_mode_allows(
        snaps in arb_edgy_fleet(),
        mode in prop::sample::select(vec!["schedule-window", "any-untagged", "never"]),
        managed in any::<bool>(),
        tz in prop::sample::select(vec![Tz::UTC, chrono_tz::Pacific::Pago_Pago]),
    ) {
        use ebs_gens::ownership::{decide_adoption, Adoption, AdoptionMode, AdoptionRule};
        let mode: AdoptionMode = mode.parse().unwrap();
        let schedule = ebs_gens::Cron::parse("cron(30 9 * * ? *)").unwrap();
        let window = Duration::minutes(30);
        let rule = AdoptionRule { mode, window, tz, deployment: DEP, account_id: ACCOUNT };
        for s in &snaps {
            let got = decide_adoption(&rule, s, managed.then_some(&schedule));
            if matches!(got, Adoption::Adopt) {
                prop_assert!(s.tags.is_empty(), "{} is tagged", s.id);
                prop_assert_eq!(&s.state, &SnapshotState::Completed);
                prop_assert_eq!(s.owner_id.as_str(), ACCOUNT);
                prop_assert!(managed, "{} of an unmanaged volume", s.id);
                prop_assert!(mode != AdoptionMode::Never);
                if mode == AdoptionMode::ScheduleWindow {
                    prop_assert_eq!(schedule.fired_within(tz, s.start_time, window), Some(true));
                }
            }
        }
    }
}
