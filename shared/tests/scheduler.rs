//! The EventBridge Scheduler backend on the strict fake: one schedule per volume, reconciled from
//! the group's listing alone, snapshots born tagged, and a switch between backends that never
//! leaves a volume snapshotted twice or not at all.

use chrono::{DateTime, Duration, TimeZone, Utc};
use ebs_gens::app::ensure_schedules::{self, EnsureInput, EnsureOutput};
use ebs_gens::app::sweep::sweep;
use ebs_gens::app::tag::{self, TagAction};
use ebs_gens::app::{App, VolumeJob};
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::backend::scheduler::parse_schedule_name;
use ebs_gens::config::{BackendKind, Settings};
use ebs_gens::snapshot::{TAG_CLASS, TAG_MANAGED_BY, TAG_NAME, TAG_VOLUME};

mod common;

const ACCOUNT: &str = "123456789012";
const GROUP: &str = "ebs-gens-prod";
const SCHED_ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler";
const RULE_ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-prod-snapshot";
const DLQ: &str = "arn:aws:sqs:us-east-1:123456789012:ebs-gens-prod-dlq";

type SchedApp<'a> = App<(&'a FakeAws, &'a FakeAws, &'a FakeAws)>;

fn settings(backend: &str) -> Settings {
    common::settings(&[
        ("EBS_GENS_BACKEND", backend),
        ("EBS_GENS_TIME_ZONE", "Asia/Tokyo"),
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "5"),
        ("EBS_GENS_SNAPSHOT_ROLE_ARN", RULE_ROLE),
        ("EBS_GENS_SCHEDULER_ROLE_ARN", SCHED_ROLE),
        ("EBS_GENS_SCHEDULE_DLQ_ARN", DLQ),
    ])
}

fn app<'a>(fake: &'a FakeAws, backend: &str) -> SchedApp<'a> {
    App::new(settings(backend), fake, fake, ACCOUNT, "us-east-1", "test").with_scheduler(fake)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn fleet(n: usize) -> FakeAws {
    let fake = FakeAws::new(ACCOUNT);
    fake.add_schedule_group(GROUP);
    fake.add_instance("i-1", &[("Name", "web01")]);
    for i in 0..n {
        fake.add_volume(&format!("vol-{i:04}"), Some("i-1"), &[("Daily_Gens", "3")]);
    }
    fake
}

async fn ensure(app: &SchedApp<'_>) -> EnsureOutput {
    ensure_schedules::handle(app, EnsureInput::default(), None)
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_fresh_deployment_creates_one_schedule_per_volume_with_our_tags_and_zone() {
    let fake = fleet(12);
    let out = ensure(&app(&fake, "scheduler")).await;
    assert_eq!(out.backend, BackendKind::Scheduler);
    assert_eq!(out.schedules.created.len(), 12);
    assert_eq!(fake.calls()["CreateSchedule"], 12);
    assert_eq!(
        fake.calls()["DescribeTags"],
        1,
        "instance names for the new schedules only"
    );
    let all = fake.schedules_in(GROUP);
    let s = all.values().next().unwrap();
    assert_eq!(parse_schedule_name(&s.name).unwrap().0, s.volume_id);
    assert_eq!(s.expression, "cron(30 9 * * ? *)");
    assert_eq!(s.time_zone, "Asia/Tokyo");
    assert_eq!(s.flexible_window_minutes, 60);
    assert_eq!((s.retry_attempts, s.max_event_age_seconds), (3, 3600));
    assert_eq!(s.dead_letter_arn.as_deref(), Some(DLQ));
    assert_eq!(s.role_arn, SCHED_ROLE);
    let input: serde_json::Value = serde_json::from_str(&s.input).unwrap();
    let tags = &input["TagSpecifications"][0]["Tags"];
    let tag = |k: &str| {
        tags.as_array()
            .unwrap()
            .iter()
            .find(|t| t["Key"] == k)
            .map(|t| t["Value"].as_str().unwrap().to_string())
    };
    assert_eq!(tag(TAG_MANAGED_BY).as_deref(), Some("prod"));
    assert_eq!(tag(TAG_VOLUME).as_deref(), Some(s.volume_id.as_str()));
    assert_eq!(tag(TAG_CLASS).as_deref(), Some("daily"));
    assert_eq!(tag(TAG_NAME), Some(format!("web01_Daily_{}", s.volume_id)));
    assert!(fake.rules().is_empty(), "no rules on the scheduler backend");
}

#[tokio::test(start_paused = true)]
async fn a_no_change_reconcile_reads_the_listing_only_and_writes_nothing() {
    let fake = fleet(250);
    ensure(&app(&fake, "scheduler")).await;
    fake.reset_calls();
    let out = ensure(&app(&fake, "scheduler")).await;
    assert_eq!(out.changes, 0);
    assert_eq!(out.schedules.unchanged, 250);
    let calls = fake.calls();
    assert_eq!(calls["ListSchedules"], 3, "250 names in pages of 100");
    assert_eq!(calls["DescribeVolumes"], 1);
    assert!(!calls.contains_key("DescribeTags"));
    assert!(!calls.contains_key("CreateSchedule") && !calls.contains_key("DeleteSchedule"));
}

#[tokio::test(start_paused = true)]
async fn tag_changes_replace_remove_or_keep_schedules() {
    let fake = fleet(4);
    ensure(&app(&fake, "scheduler")).await;
    let before = fake.schedules_in(GROUP);
    fake.add_volume("vol-0000", Some("i-1"), &[("Hourly_Gens", "24")]);
    fake.add_volume("vol-0001", Some("i-1"), &[("Name", "no longer tagged")]);
    fake.add_volume("vol-0002", Some("i-1"), &[("Daily_Gens", "abc")]);
    let out = ensure(&app(&fake, "scheduler")).await;
    assert_eq!(out.schedules.created.len(), 1, "{:?}", out.schedules);
    assert_eq!(out.schedules.deleted.len(), 2, "{:?}", out.schedules);
    let after = fake.schedules_in(GROUP);
    let of = |vol: &str| {
        after
            .values()
            .filter(|s| s.volume_id == vol)
            .map(|s| s.expression.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("vol-0000"),
        ["cron(0 * * * ? *)"],
        "replaced, hourly now"
    );
    assert!(
        of("vol-0001").is_empty(),
        "untagged volume loses its schedule"
    );
    assert_eq!(
        of("vol-0002"),
        ["cron(30 9 * * ? *)"],
        "a misconfigured volume keeps its schedule"
    );
    assert_eq!(after.len(), before.len() - 1);
}

#[tokio::test(start_paused = true)]
async fn switching_backends_moves_every_volume_in_one_reconcile() {
    let fake = fleet(7);
    let rules = ensure(&app(&fake, "rules")).await;
    assert_eq!(rules.rule_count, 2);
    assert!(fake.schedules_in(GROUP).is_empty());
    let sched = ensure(&app(&fake, "scheduler")).await;
    assert_eq!(sched.schedules.created.len(), 7);
    assert!(fake.rules().is_empty(), "the old backend's rules are gone");
    let back = ensure(&app(&fake, "rules")).await;
    assert_eq!(back.rule_count, 2);
    assert_eq!(back.schedules.deleted.len(), 7);
    assert!(
        fake.schedules_in(GROUP).is_empty(),
        "the old backend's schedules are gone"
    );
}

#[tokio::test(start_paused = true)]
async fn born_tagged_snapshots_need_no_adoption_and_are_pruned_to_n() {
    let fake = fleet(3);
    let app = app(&fake, "scheduler");
    ensure(&app).await;
    for d in 0..5 {
        for id in fake.fire_schedules(GROUP, now() - Duration::days(d)) {
            fake.complete(&id);
        }
    }
    let snaps = fake.snapshots();
    assert_eq!(snaps.len(), 15);
    assert!(snaps.iter().all(|s| s.is_owned_by("prod")));
    fake.reset_calls();
    let newest = snaps.iter().max_by_key(|s| s.start_time).unwrap();
    let out = tag::handle(
        &app,
        common::event(&newest.id, &newest.volume_id, "succeeded"),
    )
    .await
    .unwrap();
    assert_eq!(out.results[0].action, TagAction::AlreadyOurs);
    let calls = fake.calls();
    assert!(!calls.contains_key("CreateTags") && !calls.contains_key("DescribeTags"));
    let jobs: Vec<VolumeJob> = out.volumes;
    let pruned = common::prune(&app, jobs, now()).await.unwrap();
    assert_eq!((pruned.totals.adopted, pruned.totals.deleted), (0, 2));
    let summary = sweep(&app, false, now(), 3).await.unwrap();
    assert_eq!(summary.totals.deleted, 4);
    assert_eq!(fake.snapshots().len(), 9, "3 volumes × Daily_Gens=3");
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_creates_no_schedule() {
    let fake = fleet(3);
    let out = ensure_schedules::handle(
        &app(&fake, "scheduler"),
        EnsureInput { dry_run: true },
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.schedules.created.len(), 3);
    assert!(fake.schedules_in(GROUP).is_empty());
    assert!(!fake.calls().contains_key("CreateSchedule"));
}

#[tokio::test(start_paused = true)]
async fn without_a_scheduler_role_the_scheduler_backend_fails_loudly() {
    let fake = fleet(1);
    let mut settings = settings("scheduler");
    settings.backend = ebs_gens::config::Backend::Scheduler {
        flexible_window_minutes: 60,
        role_arn: None,
        dead_letter_arn: None,
    };
    let app = App::new(settings, &fake, &fake, ACCOUNT, "us-east-1", "t").with_scheduler(&fake);
    let e = ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("EBS_GENS_SCHEDULER_ROLE_ARN"), "{e}");
    assert!(fake.schedules_in(GROUP).is_empty());
}

/// Pacing is the point here: the fake's CreateSchedule bucket is Scheduler's lowest regional
/// quota (250 requests/s), not lifted. A first deployment of 1,000 volumes is reconciled in one
/// invocation within ensure-schedules' deadline, throttling answered as back-pressure.
#[tokio::test(start_paused = true)]
async fn a_first_deployment_of_1000_volumes_fits_one_invocation_at_schedulers_real_rate() {
    let fake = fleet(1000);
    let started = tokio::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(120);
    let out = ensure_schedules::handle(
        &app(&fake, "scheduler"),
        EnsureInput::default(),
        Some(deadline),
    )
    .await
    .unwrap();
    assert!(!out.more, "{:?}", out.schedules);
    assert_eq!(out.schedules.created.len(), 1000);
    assert_eq!(fake.schedules_in(GROUP).len(), 1000);
    // 1,000 creates at 250/s after a burst of 250: at least 3 s, far inside the deadline.
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(3),
        "{took:?}: the rate was not applied"
    );
    assert!(took < std::time::Duration::from_secs(60), "{took:?}");
}

/// AWS may page short, even empty with a NextToken: the reconcile must follow every token,
/// or it would miss schedules (re-creating them) and volumes (deleting theirs).
#[tokio::test(start_paused = true)]
async fn a_reconcile_over_short_and_empty_pages_sees_every_volume_and_schedule() {
    let fake = fleet(250);
    fake.short_pages();
    let out = ensure(&app(&fake, "scheduler")).await;
    assert_eq!(out.schedules.created.len(), 250);
    let again = ensure(&app(&fake, "scheduler")).await;
    assert_eq!((again.changes, again.schedules.unchanged), (0, 250));
}

// ---- the schedule reconcile, over random listings ----

mod reconcile_properties {
    use std::collections::{BTreeMap, BTreeSet};

    use ebs_gens::backend::scheduler::{
        parse_schedule_name, reconcile, spec, ListedSchedule, ScheduleContext, ScheduleSpec,
        ScheduleVolume,
    };
    use ebs_gens::policy::GenClass;
    use proptest::prelude::*;

    fn ctx(zone: &str) -> ScheduleContext {
        ScheduleContext {
            deployment: "prod".into(),
            time_zone: zone.into(),
            flexible_window_minutes: 60,
            role_arn: "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler".into(),
            dead_letter_arn: None,
            partition: "aws".into(),
        }
    }

    fn daily(vol: u8, zone: &str) -> ScheduleSpec {
        spec(
            &ScheduleVolume {
                volume_id: format!("vol-{vol:017x}"),
                class: GenClass::Daily,
                expression: "cron(30 9 * * ? *)".into(),
                tags: vec![("ebs-gens:managed-by".into(), "prod".into())],
                identity: String::new(),
            },
            &ctx(zone),
        )
    }

    /// Per volume 0..12: wanted or not; what is listed for it (nothing, the current schedule
    /// enabled or disabled, an outdated one from another zone); whether it is misconfigured
    /// (its schedules kept); plus names we never made.
    fn arb_case(
    ) -> impl Strategy<Value = (Vec<ScheduleSpec>, Vec<ListedSchedule>, BTreeSet<String>)> {
        (
            prop::collection::vec((any::<bool>(), 0u8..4, any::<bool>(), any::<bool>()), 12),
            prop::collection::vec("[a-z-]{1,20}", 0..4),
        )
            .prop_map(|(vols, foreign)| {
                let (mut desired, mut listed, mut keep) = (vec![], vec![], BTreeSet::new());
                for (i, (wanted, listing, enabled, misconfigured)) in vols.into_iter().enumerate() {
                    let current = daily(i as u8, "Asia/Tokyo");
                    if wanted {
                        desired.push(current.clone());
                    }
                    match listing {
                        1 => listed.push(ListedSchedule {
                            name: current.name.clone(),
                            enabled,
                        }),
                        2 => listed.push(ListedSchedule {
                            name: daily(i as u8, "UTC").name,
                            enabled,
                        }),
                        3 => {
                            listed.push(ListedSchedule {
                                name: current.name.clone(),
                                enabled,
                            });
                            listed.push(ListedSchedule {
                                name: daily(i as u8, "UTC").name,
                                enabled: true,
                            });
                        }
                        _ => {}
                    }
                    if misconfigured && !wanted {
                        keep.insert(current.volume_id.clone());
                    }
                }
                for name in foreign {
                    listed.push(ListedSchedule {
                        name,
                        enabled: true,
                    });
                }
                (desired, listed, keep)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn after_the_changes_every_wanted_schedule_exists_enabled_and_nothing_else_of_ours_remains(
            (desired, listed, keep) in arb_case()
        ) {
            let c = reconcile(&desired, &listed, &keep);
            let listed_state: BTreeMap<&str, bool> = listed.iter().map(|l| (l.name.as_str(), l.enabled)).collect();
            let wanted: BTreeSet<&str> = desired.iter().map(|s| s.name.as_str()).collect();
            // Each wanted schedule: created when absent, enabled when disabled, else unchanged.
            for s in &desired {
                let created = c.create.iter().any(|x| x.name == s.name);
                let enabled = c.enable.iter().any(|x| x.name == s.name);
                match listed_state.get(s.name.as_str()) {
                    None => prop_assert!(created && !enabled, "{} not created", s.name),
                    Some(false) => prop_assert!(enabled && !created, "{} not enabled", s.name),
                    Some(true) => prop_assert!(!created && !enabled, "{} touched", s.name),
                }
            }
            let unchanged = desired.iter().filter(|s| listed_state.get(s.name.as_str()) == Some(&true)).count();
            prop_assert_eq!(c.unchanged, unchanged);
            // Deletes: only listed names of ours, never a wanted one, never a kept volume's.
            for name in &c.delete {
                prop_assert!(listed_state.contains_key(name.as_str()), "{} deleted but not listed", name);
                prop_assert!(!wanted.contains(name.as_str()), "{} wanted, yet deleted", name);
                let (vol, _) = parse_schedule_name(name).expect("only our names are deleted");
                prop_assert!(!keep.contains(&vol), "{} of a kept volume deleted", name);
            }
            // After the changes: ours are exactly the wanted ones plus the kept volumes'.
            let after: BTreeSet<&str> = listed_state
                .keys()
                .copied()
                .filter(|n| !c.delete.iter().any(|d| d == n))
                .chain(c.create.iter().map(|s| s.name.as_str()))
                .filter(|n| parse_schedule_name(n).is_some())
                .collect();
            for n in &after {
                let (vol, _) = parse_schedule_name(n).unwrap();
                prop_assert!(wanted.contains(n) || keep.contains(&vol), "{} remains", n);
            }
            for n in &wanted {
                prop_assert!(after.contains(n), "{} missing after the changes", n);
            }
        }
    }
}
