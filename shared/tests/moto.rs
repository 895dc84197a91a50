//! The real handlers against a real `moto_server` (EC2 + EventBridge emulator), started and
//! stopped by this harness on 127.0.0.1 from the project venv (`scripts/venv.sh`, which
//! `make test` runs first). Each test gets its own server on its own port.
//!
//! These tests never skip: without the venv they fail and say how to make it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use ebs_gens::app::sweep::sweep;
use ebs_gens::app::tag::TagAction;
use ebs_gens::app::{tag, App};
use ebs_gens::aws::client::Ec2;
use ebs_gens::aws::pacer::Pacer;
use ebs_gens::aws::sdk::{SdkEc2, SdkEvents};
use ebs_gens::aws::NoScheduler;
use ebs_gens::aws::{Deleted, Ec2Api, ErrorKind, EventsApi};
use ebs_gens::backend::rules::RuleState;
use ebs_gens::config::Settings;
use ebs_gens::snapshot::{TAG_KEEP, TAG_MANAGED_BY, TAG_NAME, TAG_VOLUME};

const ACCOUNT: &str = "123456789012"; // moto's default account
const ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-snapshot";

mod common;
use common::event;

fn settings(extra: &[(&str, &str)]) -> Settings {
    let mut vars = vec![
        // moto's snapshots start "now": a schedule firing every minute makes them adoptable.
        ("EBS_GENS_CRON_DAILY", "cron(0/1 * * * ? *)"),
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "100"),
        ("EBS_GENS_SNAPSHOT_ROLE_ARN", ROLE),
    ];
    vars.extend_from_slice(extra);
    common::settings(&vars)
}

struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start() -> Moto {
        Moto::start_with(&[])
    }

    /// moto_server with extra environment (e.g. `EBS_GENS_MOTO_SHORT_PAGES=1`).
    fn start_with(env: &[(&str, &str)]) -> Moto {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = root.join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `bash scripts/venv.sh` (make test does)",
            python.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // local/moto_server.py is moto_server with its multi-value tag-key filter made AWS-like.
        let child = Command::new(&python)
            .arg(root.join("local/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let t0 = Instant::now();
        while !moto.ready(port) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    fn ready(&self, port: u16) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
    }

    async fn config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tags(resource: ResourceType, kv: &[(&str, &str)]) -> TagSpecification {
    let mut b = TagSpecification::builder().resource_type(resource);
    for (k, v) in kv {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
}

struct Fleet {
    web: Vec<String>,
    db: String,
    loose: String,
    bad: String,
    pinned: String,
    staging: String,
    ami_snapshot: String,
}

async fn instance(ec2: &aws_sdk_ec2::Client, name: Option<&str>) -> String {
    let mut req = ec2
        .run_instances()
        .image_id("ami-12345678")
        .min_count(1)
        .max_count(1)
        .instance_type("t3.micro".into());
    // The first tag is not Name: the 2017 recipe read tags[0].
    let mut kv = vec![("CostCenter", "42")];
    kv.extend(name.map(|n| ("Name", n)));
    req = req.tag_specifications(tags(ResourceType::Instance, &kv));
    req.send().await.unwrap().instances()[0]
        .instance_id()
        .unwrap()
        .to_string()
}

async fn volume(
    ec2: &aws_sdk_ec2::Client,
    kv: &[(&str, &str)],
    attach: Option<(&str, &str)>,
) -> String {
    let mut req = ec2.create_volume().availability_zone("us-east-1a").size(8);
    if !kv.is_empty() {
        req = req.tag_specifications(tags(ResourceType::Volume, kv));
    }
    let id = req.send().await.unwrap().volume_id().unwrap().to_string();
    if let Some((instance, device)) = attach {
        ec2.attach_volume()
            .volume_id(&id)
            .instance_id(instance)
            .device(device)
            .send()
            .await
            .unwrap();
    }
    id
}

async fn snapshot(ec2: &aws_sdk_ec2::Client, vol: &str, kv: &[(&str, &str)]) -> String {
    let mut req = ec2.create_snapshot().volume_id(vol);
    if !kv.is_empty() {
        req = req.tag_specifications(tags(ResourceType::Snapshot, kv));
    }
    req.send().await.unwrap().snapshot_id().unwrap().to_string()
}

/// Registers an AMI from `instance` (moto's `create_image`) and returns its snapshot, which
/// DeleteSnapshot then refuses with `InvalidSnapshot.InUse`.
async fn ami_snapshot(ec2: &aws_sdk_ec2::Client, instance: &str, name: &str) -> String {
    let image = ec2
        .create_image()
        .instance_id(instance)
        .name(name)
        .send()
        .await
        .unwrap();
    let described = ec2
        .describe_images()
        .image_ids(image.image_id().unwrap())
        .send()
        .await
        .unwrap();
    described.images()[0].block_device_mappings()[0]
        .ebs()
        .unwrap()
        .snapshot_id()
        .unwrap()
        .to_string()
}

/// Two instances (7 volumes on the named one, one on the unnamed), an unattached volume, a
/// misconfigured one, history of ours, a pinned snapshot, someone else's, and an AMI's snapshot.
async fn seed(ec2: &aws_sdk_ec2::Client) -> Fleet {
    let web01 = instance(ec2, Some("web01")).await;
    let nameless = instance(ec2, None).await;
    let mut web = Vec::new();
    for i in 0..7 {
        let dev = format!("/dev/sd{}", (b'f' + i) as char);
        let v = volume(
            ec2,
            &[("Daily_Gens", "2"), ("Name", "web-data")],
            Some((&web01, &dev)),
        )
        .await;
        for _ in 0..4 {
            snapshot(ec2, &v, &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &v)]).await;
        }
        web.push(v);
    }
    let db = volume(
        ec2,
        &[("Daily_Gens", "1"), ("Name", "db-data")],
        Some((&nameless, "/dev/sdf")),
    )
    .await;
    snapshot(ec2, &db, &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &db)]).await;
    // moto stamps start times to the second: make the untagged one (from the schedule, its
    // event missed) strictly newer, as it would be on AWS.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    snapshot(ec2, &db, &[]).await;
    let loose = volume(ec2, &[("Daily_Gens", " 3 ")], None).await;
    for _ in 0..5 {
        snapshot(
            ec2,
            &loose,
            &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &loose)],
        )
        .await;
    }
    let pinned = snapshot(
        ec2,
        &loose,
        &[
            (TAG_MANAGED_BY, "prod"),
            (TAG_VOLUME, &loose),
            (TAG_KEEP, "legal hold"),
        ],
    )
    .await;
    let staging = snapshot(ec2, &loose, &[(TAG_MANAGED_BY, "staging")]).await;
    let bad = volume(ec2, &[("Daily_Gens", "abc")], None).await;
    for _ in 0..3 {
        snapshot(ec2, &bad, &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &bad)]).await;
    }
    let ami_snapshot = ami_snapshot(ec2, &web01, "web01-golden").await;
    Fleet {
        web,
        db,
        loose,
        bad,
        pinned,
        staging,
        ami_snapshot,
    }
}

fn app(config: &aws_config::SdkConfig, s: Settings) -> App<(SdkEc2, SdkEvents, NoScheduler)> {
    App::new(
        s,
        SdkEc2::new(config),
        SdkEvents::new(config),
        ACCOUNT,
        "us-east-1",
        "moto-test",
    )
}

async fn snapshots_of(ec2: &aws_sdk_ec2::Client, vol: &str) -> Vec<aws_sdk_ec2::types::Snapshot> {
    ec2.describe_snapshots()
        .owner_ids("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("volume-id")
                .values(vol)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .snapshots()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_against_moto_keeps_generations_and_creates_enabled_rules() {
    let moto = Moto::start();
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let fleet = seed(&ec2).await;
    let app = app(&config, settings(&[]));
    let now = chrono::Utc::now();

    // A dry run first: the plan, no change.
    let dry = sweep(&app, true, now, 1).await.unwrap();
    assert_eq!(dry.totals.deleted, 7 * 2 + 1 + 2);
    assert_eq!(snapshots_of(&ec2, &fleet.web[0]).await.len(), 4);

    let summary = sweep(&app, false, now, 1).await.unwrap();
    assert_eq!(summary.totals.volumes, 9, "7 web + db + loose");
    assert_eq!(summary.totals.misconfigured, 1);
    assert!(
        !summary.failed() && summary.schedules_error.is_none(),
        "{summary:?}"
    );
    assert_eq!(summary.totals.adopted, 1);
    assert_eq!(summary.totals.deleted, 7 * 2 + 1 + 2);

    for v in &fleet.web {
        assert_eq!(
            snapshots_of(&ec2, v).await.len(),
            2,
            "{v} keeps Daily_Gens=2"
        );
    }
    // db: the adopted snapshot is the newest; the older one of ours went. Its instance has no
    // Name tag, so the volume's Name names it.
    let db = snapshots_of(&ec2, &fleet.db).await;
    assert_eq!(db.len(), 1);
    let name = db[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some(TAG_NAME))
        .unwrap()
        .value()
        .unwrap()
        .to_string();
    assert_eq!(name, format!("db-data_Daily_{}", fleet.db));
    // loose: 3 kept + pinned + staging's.
    let loose: Vec<String> = snapshots_of(&ec2, &fleet.loose)
        .await
        .iter()
        .map(|s| s.snapshot_id().unwrap().to_string())
        .collect();
    assert_eq!(loose.len(), 5);
    assert!(loose.contains(&fleet.pinned) && loose.contains(&fleet.staging));
    // Misconfigured: nothing deleted.
    assert_eq!(snapshots_of(&ec2, &fleet.bad).await.len(), 3);
    // The AMI's snapshot is not ours and stays.
    let all = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    assert!(all
        .snapshots()
        .iter()
        .any(|s| s.snapshot_id() == Some(fleet.ami_snapshot.as_str())));

    // Rules: enabled, ≤ 5 targets each, every managed volume targeted once with RoleArn and Input.
    let events = SdkEvents::new(&config);
    let rules = ebs_gens::aws::client::Events::new(&events)
        .rules_with_prefix("ebs-gens-prod-")
        .await
        .unwrap();
    assert_eq!(rules.len(), 2, "9 daily volumes need two rules");
    let mut targeted = Vec::new();
    for r in &rules {
        assert_eq!(r.state, RuleState::Enabled);
        assert_eq!(
            r.schedule_expression.as_deref(),
            Some("cron(0/1 * * * ? *)")
        );
        assert!(r.targets.len() <= 5);
        for t in &r.targets {
            assert_eq!(
                t.arn,
                "arn:aws:events:us-east-1:123456789012:target/create-snapshot"
            );
            assert_eq!(t.role_arn.as_deref(), Some(ROLE));
            assert_eq!(t.input.as_deref(), Some(format!("\"{}\"", t.id).as_str()));
            targeted.push(t.id.clone());
        }
    }
    targeted.sort();
    let mut expected: Vec<String> = fleet
        .web
        .iter()
        .cloned()
        .chain([fleet.db.clone(), fleet.loose.clone()])
        .collect();
    expected.sort();
    assert_eq!(targeted, expected);

    // Converged: a second sweep changes nothing.
    let again = sweep(&app, false, now, 1).await.unwrap();
    assert_eq!(
        (
            again.totals.deleted,
            again.totals.adopted,
            again.schedule_changes
        ),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_snapshot_events_against_moto() {
    let moto = Moto::start();
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let web01 = instance(&ec2, Some("web01")).await;
    let vol = volume(&ec2, &[("Daily_Gens", "7")], Some((&web01, "/dev/sdf"))).await;
    let snap = snapshot(&ec2, &vol, &[]).await;
    let app = app(&config, settings(&[]));

    let out = tag::handle(&app, event(&snap, &vol, "succeeded"))
        .await
        .unwrap();
    assert_eq!(
        out.results[0].action,
        TagAction::Adopted,
        "{:?}",
        out.results
    );
    assert_eq!(out.volumes[0].volume_id, vol);
    let s = &snapshots_of(&ec2, &vol).await[0];
    let get = |k: &str| {
        s.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(get(TAG_NAME), Some(format!("web01_Daily_{vol}")));
    assert_eq!(get(TAG_MANAGED_BY).as_deref(), Some("prod"));
    assert_eq!(get(TAG_VOLUME), Some(vol.clone()));

    // A duplicate delivery changes nothing.
    let again = tag::handle(&app, event(&snap, &vol, "succeeded"))
        .await
        .unwrap();
    assert_eq!(again.results[0].action, TagAction::AlreadyOurs);

    // A failed snapshot is reported, never tagged.
    let other = snapshot(&ec2, &vol, &[]).await;
    let failed = tag::handle(&app, event(&other, &vol, "failed"))
        .await
        .unwrap();
    assert_eq!(failed.failed.len(), 1);
    assert!(failed.volumes.is_empty());
    let s = snapshots_of(&ec2, &vol)
        .await
        .into_iter()
        .find(|s| s.snapshot_id() == Some(other.as_str()))
        .unwrap();
    assert!(s.tags().is_empty());

    // With adoption off, a completed snapshot stays untagged.
    let never = app_with(&config, &[("EBS_GENS_ADOPTION", "never")]);
    let out = tag::handle(&never, event(&other, &vol, "succeeded"))
        .await
        .unwrap();
    assert_eq!(out.results[0].action, TagAction::Skipped);
}

fn app_with(
    config: &aws_config::SdkConfig,
    extra: &[(&str, &str)],
) -> App<(SdkEc2, SdkEvents, NoScheduler)> {
    app(config, settings(extra))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_adapter_classifies_moto_errors() {
    let moto = Moto::start();
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let web01 = instance(&ec2, Some("web01")).await;
    let ami_snapshot = ami_snapshot(&ec2, &web01, "golden-image").await;

    let client = Ec2::new(SdkEc2::new(&config), Pacer::unlimited());
    let err = client.delete(&ami_snapshot).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InUse, "{err}");
    assert_eq!(err.code, "InvalidSnapshot.InUse");

    let vol = volume(&ec2, &[], None).await;
    let snap = snapshot(&ec2, &vol, &[]).await;
    assert_eq!(client.delete(&snap).await.unwrap(), Deleted::Deleted);
    assert_eq!(
        client.delete(&snap).await.unwrap(),
        Deleted::AlreadyGone,
        "NotFound on a second delete is done"
    );
    assert_eq!(client.snapshot(&snap).await.unwrap(), None);

    // EventBridge: a rule with targets cannot be deleted (as on AWS).
    let events = SdkEvents::new(&config);
    events
        .put_rule(
            "ebs-gens-prod-daily-abcdef-01",
            "cron(30 9 * * ? *)",
            "test",
        )
        .await
        .unwrap();
    let t = ebs_gens::backend::rules::Target {
        id: vol.clone(),
        arn: "arn:aws:events:us-east-1:123456789012:target/create-snapshot".into(),
        input: Some(format!("\"{vol}\"")),
        role_arn: Some(ROLE.into()),
    };
    events
        .put_targets("ebs-gens-prod-daily-abcdef-01", &[t])
        .await
        .unwrap();
    assert!(events
        .delete_rule("ebs-gens-prod-daily-abcdef-01")
        .await
        .is_err());
    // Our raw page call against moto, and the DescribeVolumes filter on tag keys.
    let page = SdkEc2::new(&config)
        .describe_volumes(ebs_gens::aws::PageRequest {
            filters: vec![ebs_gens::aws::Filter::new("tag-key", ["Daily_Gens"])],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

/// `n` daily schedules of deployment `prod`, one per volume.
fn schedule_specs(n: usize) -> Vec<ebs_gens::backend::scheduler::ScheduleSpec> {
    use ebs_gens::backend::scheduler::{spec, ScheduleContext, ScheduleVolume};
    use ebs_gens::policy::GenClass;
    let ctx = ScheduleContext {
        deployment: "prod".into(),
        time_zone: "Asia/Tokyo".into(),
        flexible_window_minutes: 60,
        role_arn: "arn:aws:iam::123456789012:role/ebs-gens-prod-scheduler".into(),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:dlq".into()),
        partition: "aws".into(),
    };
    (0..n)
        .map(|i| {
            spec(
                &ScheduleVolume {
                    volume_id: format!("vol-{i:017x}"),
                    class: GenClass::Daily,
                    expression: "cron(30 9 * * ? *)".into(),
                    tags: vec![("ebs-gens:managed-by".into(), "prod".into())],
                    identity: String::new(),
                },
                &ctx,
            )
        })
        .collect()
}

/// EC2 may answer a page with fewer items than MaxResults, even none, and a NextToken; so may
/// Scheduler. The SDK adapters and the paging loop follow the token to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_and_empty_pages_with_a_next_token_are_followed_to_the_end() {
    use ebs_gens::aws::sdk::SdkScheduler;
    use ebs_gens::aws::SchedulerApi;
    let moto = Moto::start_with(&[("EBS_GENS_MOTO_SHORT_PAGES", "1")]);
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vol = volume(&ec2, &[("Daily_Gens", "3")], None).await;
    for _ in 0..25 {
        snapshot(&ec2, &vol, &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, &vol)]).await;
    }
    let raw = ec2
        .describe_snapshots()
        .owner_ids("self")
        .max_results(10)
        .send()
        .await
        .unwrap();
    assert!(
        raw.snapshots().is_empty() && raw.next_token().is_some(),
        "{raw:?}"
    );
    let client = Ec2::new(SdkEc2::new(&config), Pacer::unlimited());
    assert_eq!(
        client
            .snapshots_of(std::slice::from_ref(&vol))
            .await
            .unwrap()
            .len(),
        25
    );
    assert_eq!(client.snapshots_managed_by("prod").await.unwrap().len(), 25);

    let scheduler = aws_sdk_scheduler::Client::new(&config);
    scheduler
        .create_schedule_group()
        .name("ebs-gens-prod")
        .send()
        .await
        .unwrap();
    let api = SdkScheduler::from_client(scheduler.clone());
    let specs = schedule_specs(130);
    for s in &specs {
        api.create_schedule("ebs-gens-prod", s).await.unwrap();
    }
    let first = scheduler
        .list_schedules()
        .group_name("ebs-gens-prod")
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert!(first.schedules().is_empty() && first.next_token().is_some());
    let listed = ebs_gens::aws::client::Scheduler::new(&api)
        .listed("ebs-gens-prod")
        .await
        .unwrap();
    assert_eq!(listed.len(), 130);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_adapter_against_moto_pages_conflicts_and_not_found() {
    use ebs_gens::aws::sdk::SdkScheduler;
    use ebs_gens::aws::SchedulerApi;

    let moto = Moto::start();
    let config = moto.config().await;
    let client = aws_sdk_scheduler::Client::new(&config);
    client
        .create_schedule_group()
        .name("ebs-gens-prod")
        .send()
        .await
        .unwrap();
    let api = SdkScheduler::from_client(client.clone());
    let specs = schedule_specs(130);
    for s in &specs {
        api.create_schedule("ebs-gens-prod", s).await.unwrap();
    }
    // The emulator pages as Scheduler does (local/moto_server.py): 100, then 30.
    let first = client
        .list_schedules()
        .group_name("ebs-gens-prod")
        .max_results(100)
        .send()
        .await
        .unwrap();
    assert_eq!(first.schedules().len(), 100);
    assert!(first.next_token().is_some());
    // Every page followed: 130 names in pages of at most 100.
    let client_side = ebs_gens::aws::client::Scheduler::new(&api);
    let listed = client_side.listed("ebs-gens-prod").await.unwrap();
    assert!(listed.iter().all(|l| l.enabled));
    let mut names: Vec<String> = listed.into_iter().map(|l| l.name).collect();
    names.sort();
    let mut want: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    want.sort();
    assert_eq!(names, want);
    // What Scheduler stored is what we sent: zone, window, target input with our tags.
    let got = client
        .get_schedule()
        .group_name("ebs-gens-prod")
        .name(&specs[0].name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.schedule_expression_timezone(), Some("Asia/Tokyo"));
    let target = got.target().unwrap();
    assert_eq!(
        target.arn(),
        "arn:aws:scheduler:::aws-sdk:ec2:createSnapshot"
    );
    let input: serde_json::Value = serde_json::from_str(target.input().unwrap()).unwrap();
    assert_eq!(input["TagSpecifications"][0]["Tags"][0]["Value"], "prod");
    // A duplicate name is a Conflict (a retried reconcile treats it as done), a missing one NotFound.
    let dup = api
        .create_schedule("ebs-gens-prod", &specs[0])
        .await
        .unwrap_err();
    assert_eq!(dup.kind, ErrorKind::Conflict, "{dup}");
    let gone = api
        .delete_schedule("ebs-gens-prod", "vol-0.daily.000000000000")
        .await
        .unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound, "{gone}");
    api.delete_schedule("ebs-gens-prod", &specs[0].name)
        .await
        .unwrap();
    assert_eq!(
        client_side.listed("ebs-gens-prod").await.unwrap().len(),
        129
    );

    // Someone disables a schedule (the console's UpdateSchedule with State DISABLED): the
    // listing says so, and our UpdateSchedule enables it again with its whole definition.
    let off = &specs[1];
    client
        .update_schedule()
        .group_name("ebs-gens-prod")
        .name(&off.name)
        .schedule_expression(&off.expression)
        .flexible_time_window(
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(
            aws_sdk_scheduler::types::Target::builder()
                .arn(&off.target_arn)
                .role_arn(&off.role_arn)
                .build()
                .unwrap(),
        )
        .state(aws_sdk_scheduler::types::ScheduleState::Disabled)
        .send()
        .await
        .unwrap();
    let state = |listed: &[ebs_gens::backend::scheduler::ListedSchedule]| {
        listed
            .iter()
            .find(|l| l.name == off.name)
            .map(|l| l.enabled)
    };
    assert_eq!(
        state(&client_side.listed("ebs-gens-prod").await.unwrap()),
        Some(false)
    );
    api.update_schedule("ebs-gens-prod", off).await.unwrap();
    assert_eq!(
        state(&client_side.listed("ebs-gens-prod").await.unwrap()),
        Some(true)
    );
    let got = client
        .get_schedule()
        .group_name("ebs-gens-prod")
        .name(&off.name)
        .send()
        .await
        .unwrap();
    assert_eq!(got.schedule_expression_timezone(), Some("Asia/Tokyo"));
    assert_eq!(got.target().unwrap().input(), Some(off.input.as_str()));
    let missing = api
        .update_schedule(
            "ebs-gens-prod",
            &ebs_gens::backend::scheduler::ScheduleSpec {
                name: "vol-0.daily.000000000000".into(),
                ..off.clone()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
}

/// Copies through the SDK adapter on moto, two regions: CopySnapshot called on the
/// destination's client, the copy born with our tags, found again by them (moto's preloaded
/// snapshots in the destination are never touched), copied once, and pruned there to N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_another_region_against_moto() {
    use ebs_gens::app::prune::{self, PruneInput};
    use ebs_gens::copies::{TAG_COPY_OF, TAG_SOURCE_REGION};

    let moto = Moto::start();
    let config = moto.config().await;
    let west = config
        .to_builder()
        .region(aws_config::Region::new("us-west-2"))
        .build();
    let (ec2, ec2_west) = (
        aws_sdk_ec2::Client::new(&config),
        aws_sdk_ec2::Client::new(&west),
    );
    let before_west = ec2_west
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap()
        .snapshots()
        .len();
    let vol = ec2
        .create_volume()
        .availability_zone("us-east-1a")
        .size(1)
        .tag_specifications(tags(ResourceType::Volume, &[("Daily_Gens", "3")]))
        .send()
        .await
        .unwrap()
        .volume_id()
        .unwrap()
        .to_string();
    // moto starts snapshots "now": a second apart, so newest-first is well defined.
    let snap = |_: usize| async {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        ec2.create_snapshot()
            .volume_id(&vol)
            .tag_specifications(tags(
                ResourceType::Snapshot,
                &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol.as_str())],
            ))
            .send()
            .await
            .unwrap()
            .snapshot_id()
            .unwrap()
            .to_string()
    };
    let mut sources = Vec::new();
    for i in 0..3 {
        sources.push(snap(i).await);
    }
    let app = app(
        &config,
        settings(&[("EBS_GENS_COPIES", "daily:us-west-2=2")]),
    )
    .with_destination("us-west-2", SdkEc2::new(&west));
    let job = ebs_gens::app::VolumeJob {
        volume_id: vol.clone(),
        policy: ebs_gens::VolumePolicy::new(vec![(ebs_gens::GenClass::Daily, 3)]).unwrap(),
        instance_id: None,
        volume_name: None,
        spec: None,
    };
    let run = || async {
        let input = PruneInput {
            volumes: vec![job.clone()],
            ..Default::default()
        };
        prune::handle(&app, input, chrono::Utc::now(), None)
            .await
            .unwrap()
    };
    let ours_west = || async {
        ec2_west
            .describe_snapshots()
            .owner_ids("self")
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name(format!("tag:{TAG_VOLUME}"))
                    .values(&vol)
                    .build(),
            )
            .send()
            .await
            .unwrap()
            .snapshots()
            .to_vec()
    };
    let first = run().await;
    assert_eq!(first.totals.copied, 2, "{:?}", first.volumes[0].copies);
    let copies = ours_west().await;
    assert_eq!(copies.len(), 2);
    let tag = |s: &aws_sdk_ec2::types::Snapshot, k: &str| {
        s.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    for c in &copies {
        assert_eq!(tag(c, TAG_MANAGED_BY).as_deref(), Some("prod"));
        assert_eq!(tag(c, TAG_SOURCE_REGION).as_deref(), Some("us-east-1"));
        assert!(sources.contains(&tag(c, TAG_COPY_OF).unwrap()));
    }
    // Nothing twice.
    let again = run().await;
    assert_eq!((again.totals.copied, again.totals.copies_deleted), (0, 0));
    // A new generation: copied; the destination keeps its 2 (the oldest copy goes).
    let newest = snap(3).await;
    let next = run().await;
    assert_eq!((next.totals.copied, next.totals.copies_failed), (1, 0));
    let last = run().await;
    assert_eq!(
        last.totals.copies_deleted, 1,
        "{:?}",
        last.volumes[0].copies
    );
    let left: Vec<String> = ours_west()
        .await
        .iter()
        .filter_map(|c| tag(c, TAG_COPY_OF))
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&newest));
    // moto's own snapshots in the destination: untouched.
    let after_west = ec2_west
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap()
        .snapshots()
        .len();
    assert_eq!(after_west, before_west + 2);
}

/// Snapshot locks end to end on the emulator (the project's moto wrapper adds LockSnapshot,
/// DescribeLockedSnapshots and UnlockSnapshot, and refuses to delete a locked snapshot): the kept
/// generations are locked as long as they are kept, a lowered tag leaves the surplus held by its
/// locks — never attempted, never a failure — and a second run changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_against_moto_last_as_long_as_the_generations_and_hold_the_surplus() {
    use chrono::{Duration as CDuration, Utc};
    use ebs_gens::app::prune::{self, PruneInput};
    let moto = Moto::start();
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vol = volume(&ec2, &[("Daily_Gens", "3")], None).await;
    let now = Utc::now();
    let mut ids = Vec::new();
    for d in 1..=4 {
        let at = (now - CDuration::days(d)).format("%Y-%m-%dT%H:%M:%SZ");
        let id = ec2
            .create_snapshot()
            .volume_id(&vol)
            .description(format!("[backdate {at}] daily"))
            .tag_specifications(tags(
                ResourceType::Snapshot,
                &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol.as_str())],
            ))
            .send()
            .await
            .unwrap()
            .snapshot_id()
            .unwrap()
            .to_string();
        ids.push(id);
    }
    let s = settings(&[("EBS_GENS_LOCKS", "daily=governance")]);
    let a = app(&config, s);
    let run = |volume_tag: &'static str| {
        let a = &a;
        let vol = vol.clone();
        async move {
            let job = serde_json::json!({"volumes": [{"volume_id": vol, "policy": {"gens": [["daily", volume_tag.parse::<u32>().unwrap()]]}}]});
            let input: PruneInput = serde_json::from_value(job).unwrap();
            prune::handle(a, input, Utc::now(), None).await.unwrap()
        }
    };
    let first = run("3").await;
    assert_eq!(first.totals.deleted, 1, "{:?}", first.volumes);
    assert_eq!(first.totals.snapshots_locked, 3, "{:?}", first.volumes);
    assert_eq!(first.totals.locks_failed, 0);
    let locked = ec2
        .describe_locked_snapshots()
        .set_snapshot_ids(Some(ids.clone()))
        .send()
        .await
        .unwrap();
    let mut seen: Vec<(String, String)> = locked
        .snapshots()
        .iter()
        .map(|l| {
            let expires = l.lock_expires_on().unwrap().secs();
            let id = l.snapshot_id().unwrap().to_string();
            let i = ids.iter().position(|x| x == &id).unwrap() as i64;
            // Kept for 3 days from its start (days ago: i + 1), plus the margin.
            let start = (now - CDuration::days(i + 1)).timestamp();
            assert!(expires >= start + 3 * 86_400, "{id} locked too briefly");
            assert!(
                expires <= start + 3 * 86_400 + 3 * 3600,
                "{id} locked too long"
            );
            (id, l.lock_state().unwrap().as_str().to_string())
        })
        .collect();
    seen.sort();
    let mut want: Vec<(String, String)> = ids[..3]
        .iter()
        .map(|i| (i.clone(), "governance".into()))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    // The tag lowered to 1: two generations become surplus, held by their locks.
    ec2.create_tags()
        .resources(&vol)
        .tags(Tag::builder().key("Daily_Gens").value("1").build())
        .send()
        .await
        .unwrap();
    let lowered = run("1").await;
    let t = &lowered.totals;
    assert_eq!(
        (t.deleted, t.skipped, t.failed, t.held_by_lock),
        (0, 0, 0, 2),
        "{:?}",
        lowered.volumes
    );
    let r = &lowered.volumes[0];
    assert!(
        r.kept
            .iter()
            .any(|k| k.reasons.iter().any(|x| x.contains("locked until"))),
        "{r:?}"
    );
    assert_eq!(snapshots_of(&ec2, &vol).await.len(), 3);
    // Nothing changes on a second run at the same tags.
    let again = run("1").await;
    assert_eq!(
        (
            again.totals.snapshots_locked,
            again.totals.locks_extended,
            again.totals.deleted
        ),
        (0, 0, 0)
    );
    // The wrapper refuses to delete a locked snapshot, as EC2 does.
    assert!(ec2
        .delete_snapshot()
        .snapshot_id(&ids[1])
        .send()
        .await
        .is_err());
}

/// Recycle Bin end to end (the project's moto wrapper adds CreateRule, GetRule, ListRules and
/// DeleteRule): prune reads the region's retention rules through the SDK and reports a delete a
/// Region-level rule covers as kept by the Recycle Bin, billed until its period ends; a rule
/// that excludes our snapshots changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recycle_bin_rule_against_moto_is_read_and_its_deletes_reported_billed() {
    use aws_sdk_rbin::types::{
        ResourceTag, ResourceType as Rt, RetentionPeriod, RetentionPeriodUnit,
    };
    use chrono::{Duration as CDuration, Utc};
    use ebs_gens::app::prune::{self, PruneInput};
    let moto = Moto::start();
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rbin = aws_sdk_rbin::Client::new(&config);
    let period = |days| {
        RetentionPeriod::builder()
            .retention_period_value(days)
            .retention_period_unit(RetentionPeriodUnit::Days)
            .build()
            .unwrap()
    };
    let exclude_ours = ResourceTag::builder()
        .resource_tag_key(TAG_MANAGED_BY)
        .resource_tag_value("prod")
        .build()
        .unwrap();
    rbin.create_rule()
        .resource_type(Rt::EbsSnapshot)
        .retention_period(period(30))
        .exclude_resource_tags(exclude_ours)
        .send()
        .await
        .unwrap();
    let vol = volume(&ec2, &[("Daily_Gens", "2")], None).await;
    let now = Utc::now();
    for d in 1..=4 {
        let at = (now - CDuration::days(d)).format("%Y-%m-%dT%H:%M:%SZ");
        ec2.create_snapshot()
            .volume_id(&vol)
            .description(format!("[backdate {at}] daily"))
            .tag_specifications(tags(
                ResourceType::Snapshot,
                &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, vol.as_str())],
            ))
            .send()
            .await
            .unwrap();
    }
    let a = app(&config, settings(&[]));
    let run = |n: u32| {
        let a = &a;
        let vol = vol.clone();
        async move {
            let job = serde_json::json!({"volumes": [{"volume_id": vol, "policy": {"gens": [["daily", n]]}}]});
            let input: PruneInput = serde_json::from_value(job).unwrap();
            prune::handle(a, input, Utc::now(), None).await.unwrap()
        }
    };
    ec2.create_tags()
        .resources(&vol)
        .tags(Tag::builder().key("Daily_Gens").value("3").build())
        .send()
        .await
        .unwrap();
    let first = run(3).await;
    assert_eq!(
        (first.totals.deleted, first.totals.recycle_bin),
        (1, 0),
        "{:?}",
        first.volumes
    );
    rbin.create_rule()
        .resource_type(Rt::EbsSnapshot)
        .retention_period(period(7))
        .send()
        .await
        .unwrap();
    ec2.create_tags()
        .resources(&vol)
        .tags(Tag::builder().key("Daily_Gens").value("2").build())
        .send()
        .await
        .unwrap();
    let second = run(2).await;
    assert_eq!(
        (second.totals.deleted, second.totals.recycle_bin),
        (1, 1),
        "{:?}",
        second.volumes
    );
    let note = second.volumes[0].deleted[0].reasons.join("; ");
    assert!(
        note.contains("Region-level, 7 days") && note.contains("billed until"),
        "{note}"
    );
}

/// What Scheduler does when an instance's schedule fires: CreateSnapshots with the schedule's
/// input, `<aws.scheduler.scheduled-time>` replaced by the firing time.
async fn fire_set(ec2: &aws_sdk_ec2::Client, input: &str, at: &str) -> Vec<String> {
    let input = input.replace(ebs_gens::backend::scheduler::SCHEDULED_TIME, at);
    let v: serde_json::Value = serde_json::from_str(&input).unwrap();
    let spec = &v["InstanceSpecification"];
    let kv: Vec<(String, String)> = v["TagSpecifications"][0]["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().to_string(),
                t["Value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = kv.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = ec2
        .create_snapshots()
        .instance_specification(
            aws_sdk_ec2::types::InstanceSpecification::builder()
                .instance_id(spec["InstanceId"].as_str().unwrap())
                .exclude_boot_volume(spec["ExcludeBootVolume"].as_bool().unwrap())
                .build(),
        )
        .tag_specifications(tags(ResourceType::Snapshot, &refs))
        .send()
        .await
        .unwrap();
    out.snapshots()
        .iter()
        .map(|s| s.snapshot_id().unwrap().to_string())
        .collect()
}

/// The multi-volume completion event of `members` (all completed).
fn set_event(members: &[(String, String)]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/create-snapshots-multi.json"
    ))
    .unwrap();
    v["detail"]["snapshots"] = members
        .iter()
        .map(|(snap, vol)| {
            serde_json::json!({
                "snapshot_id": format!("arn:aws:ec2::us-east-1:snapshot/{snap}"),
                "source": format!("arn:aws:ec2::us-east-1:volume/{vol}"),
                "status": "completed",
            })
        })
        .collect::<Vec<_>>()
        .into();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_sets_against_moto_one_schedule_tagged_members_whole_sets_kept() {
    use ebs_gens::app::ensure_schedules::{self, EnsureInput};
    use ebs_gens::app::prune::{self, PruneInput};
    use ebs_gens::aws::sdk::SdkScheduler;
    use ebs_gens::sets::{TAG_EXCLUDE_BOOT, TAG_SET, TAG_SET_SIZE};

    let moto = Moto::start();
    let config = moto.config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let scheduler = aws_sdk_scheduler::Client::new(&config);
    scheduler
        .create_schedule_group()
        .name("ebs-gens-prod")
        .send()
        .await
        .unwrap();
    let db = ec2
        .run_instances()
        .image_id("ami-12345678")
        .min_count(1)
        .max_count(1)
        .instance_type("t3.micro".into())
        .tag_specifications(tags(
            ResourceType::Instance,
            &[
                ("Name", "db01"),
                ("Daily_Gens", "2"),
                (TAG_EXCLUDE_BOOT, "true"),
            ],
        ))
        .send()
        .await
        .unwrap()
        .instances()[0]
        .instance_id()
        .unwrap()
        .to_string();
    let data = volume(&ec2, &[("Daily_Gens", "7")], Some((&db, "/dev/sdf"))).await;
    let log = volume(&ec2, &[], Some((&db, "/dev/sdg"))).await;
    let web = volume(&ec2, &[("Daily_Gens", "2")], None).await;
    let s = common::settings(&[
        ("EBS_GENS_BACKEND", "scheduler"),
        ("EBS_GENS_SETS", "on"),
        ("EBS_GENS_DELETE_BURST", "100"),
        ("EBS_GENS_DELETES_PER_SECOND", "100"),
    ]);
    let app = App::new(
        s,
        SdkEc2::new(&config),
        SdkEvents::new(&config),
        ACCOUNT,
        "us-east-1",
        "moto-test",
    )
    .with_scheduler(SdkScheduler::from_client(scheduler.clone()));

    // One schedule for the instance (CreateSnapshots), the single volume's own; the self-tagged
    // member's own schedule is not made.
    let out = ensure_schedules::handle(&app, EnsureInput::default(), None)
        .await
        .unwrap();
    assert_eq!(out.sets.instances, 1, "{:?}", out.sets);
    assert_eq!(out.sets.in_sets.get(&data), Some(&db));
    let listed = scheduler
        .list_schedules()
        .group_name("ebs-gens-prod")
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = listed.schedules().iter().filter_map(|s| s.name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().any(|n| n.starts_with(&format!("{db}."))));
    assert!(names.iter().any(|n| n.starts_with(&format!("{web}."))));
    let name = names.iter().find(|n| n.starts_with("i-")).unwrap();
    let got = scheduler
        .get_schedule()
        .group_name("ebs-gens-prod")
        .name(*name)
        .send()
        .await
        .unwrap();
    let target = got.target().unwrap();
    assert!(target.arn().ends_with("aws-sdk:ec2:createSnapshots"));
    let input = target.input().unwrap().to_string();

    // Three firings a second apart (moto stamps start times to the second): each a set of the
    // two data volumes (the boot volume left out), tagged by its event, the instance pruned.
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let at = format!("2026-11-2{}T02:30:00Z", 3 + i);
        let made = fire_set(&ec2, &input, &at).await;
        assert_eq!(made.len(), 2, "two data volumes, not the boot volume");
        let described = ec2
            .describe_snapshots()
            .set_snapshot_ids(Some(made.clone()))
            .send()
            .await
            .unwrap();
        let members: Vec<(String, String)> = described
            .snapshots()
            .iter()
            .map(|s| {
                (
                    s.snapshot_id().unwrap().to_string(),
                    s.volume_id().unwrap().to_string(),
                )
            })
            .collect();
        let tagged = tag::handle(&app, set_event(&members)).await.unwrap();
        assert_eq!(tagged.instances, std::slice::from_ref(&db));
        let input = PruneInput {
            instances: tagged.instances,
            ..Default::default()
        };
        prune::handle(&app, input, chrono::Utc::now(), None)
            .await
            .unwrap();
    }
    let mut ours = snapshots_of(&ec2, &data).await;
    ours.extend(snapshots_of(&ec2, &log).await);
    assert_eq!(ours.len(), 4, "Daily_Gens=2 on the instance: 2 sets of 2");
    let get = |s: &aws_sdk_ec2::types::Snapshot, k: &str| {
        s.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    for s in &ours {
        let vol = s.volume_id().unwrap();
        assert_eq!(get(s, TAG_VOLUME).as_deref(), Some(vol));
        assert_eq!(get(s, TAG_NAME), Some(format!("db01_Daily_{vol}")));
        assert_eq!(get(s, TAG_SET_SIZE).as_deref(), Some("2"));
        assert!(get(s, TAG_SET)
            .unwrap()
            .starts_with(&format!("{db}@2026-11-2")));
        assert!(!get(s, TAG_SET).unwrap().contains("aws.scheduler"));
    }
    let set_tags: std::collections::BTreeSet<String> =
        ours.iter().filter_map(|s| get(s, TAG_SET)).collect();
    assert_eq!(set_tags.len(), 2, "whole sets: {set_tags:?}");
    assert!(
        !set_tags.iter().any(|t| t.contains("2026-11-23")),
        "the oldest set went"
    );
}
