//! `ebs-gens`: the operator's command. Every answer comes from the same handlers the Lambdas
//! run (discovery, prune-volumes in a dry run, the orphan scan), through the same AWS ports, so
//! it never disagrees with the deployment. See the README's "Operating ebs-gens".
//!
//! Exit codes: 0 all ok, 1 warning, 2 critical (`status`, `sweep`), 3 could not run (bad
//! arguments, settings or AWS errors) — usable from cron or a monitoring system.

mod render;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use ebs_gens::app::runtime::SdkApp;
use ebs_gens::app::status::{self, Severity, Step};
use ebs_gens::app::sweep::{sweep_with, Progress};
use ebs_gens::app::App;
use ebs_gens::aws::sdk::{load_config_with, SdkEc2, SdkEvents, SdkExecutions, SdkScheduler};
use ebs_gens::Settings;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Parser, Debug)]
#[command(name = "ebs-gens", version, about = "Tag-driven EBS snapshot generations: see and steer a deployment", long_about = None)]
struct Cli {
    /// AWS region (default: the standard chain, e.g. AWS_REGION or the profile's region).
    #[arg(long, global = true)]
    region: Option<String>,
    /// Named profile from ~/.aws/config.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Send every AWS call here (e.g. the local emulator, http://127.0.0.1:5000).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// The deployment whose snapshots are ours (its `ebs-gens:managed-by` value).
    #[arg(long, global = true, env = "EBS_GENS_DEPLOYMENT")]
    deployment: Option<String>,
    /// The account id (default: asked of STS).
    #[arg(long, global = true, env = "EBS_GENS_ACCOUNT_ID")]
    account_id: Option<String>,
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Every managed volume's health (stale, misconfigured, held, doubtful, contested) and the
    /// orphaned snapshots. Exit 0 all ok, 1 warning, 2 critical.
    Status,
    /// What the next prune would keep, delete and adopt, with the reasons.
    Plan {
        /// Only these volumes (default: every managed volume).
        #[arg(long = "volume", value_name = "VOLUME_ID")]
        volumes: Vec<String>,
    },
    /// Why one snapshot is kept, or will be deleted.
    Explain {
        #[arg(value_name = "SNAPSHOT_ID")]
        snapshot_id: String,
    },
    /// Run a sweep: in this process (a dry run unless --apply), or start the deployed state
    /// machine with --remote and follow it to its summary.
    Sweep {
        /// Change things (delete, adopt, reconcile schedules). Without it nothing changes.
        #[arg(long)]
        apply: bool,
        /// Let this run delete more than the bulk-deletion fuse allows (with --apply).
        #[arg(long, requires = "apply")]
        allow_bulk_delete: bool,
        /// Start the deployed sweep state machine instead of sweeping here.
        #[arg(long)]
        remote: bool,
        /// The sweep state machine (the stack's `SweepStateMachineArn` output).
        #[arg(long, env = "EBS_GENS_SWEEP_STATE_MACHINE_ARN", requires = "remote")]
        state_machine_arn: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ebs-gens: {e:#}");
            ExitCode::from(3)
        }
    }
}

/// A spinner on stderr for listings that take more than a second (never with --output json
/// or when stderr is not a terminal).
struct Spinner {
    bar: ProgressBar,
    started: Instant,
    show: bool,
}

impl Spinner {
    fn new(output: Output) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("template"),
        );
        Spinner {
            bar,
            started: Instant::now(),
            show: output == Output::Table && std::io::stderr().is_terminal(),
        }
    }

    fn say(&self, msg: String) {
        if self.show && self.bar.is_hidden() && self.started.elapsed().as_secs() >= 1 {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(120));
        }
        self.bar.set_message(msg);
    }

    fn step(&self, s: Step) {
        self.say(match s {
            Step::Discovered(n) => format!("discovered {n} managed volumes"),
            Step::Planned(n) => format!("planned {n} volumes"),
            Step::Orphans => "scanned for orphaned snapshots".into(),
        });
    }

    fn done(&self) {
        self.bar.finish_and_clear();
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    // Never the silent `default`: adopting into the wrong deployment would be a write.
    let deployment = Some(cli.deployment.clone().filter(|d| !d.is_empty()).context(
        "give --deployment (or EBS_GENS_DEPLOYMENT): the deployment's name, its ebs-gens:managed-by value",
    )?);
    let settings = Settings::from_lookup(|k| match (k, &deployment) {
        ("EBS_GENS_DEPLOYMENT", Some(d)) => Some(d.clone()),
        _ => std::env::var(k).ok(),
    })
    .context("settings")?;
    let config = load_config_with(
        cli.region.clone(),
        cli.profile.clone(),
        cli.endpoint_url.clone(),
    )
    .await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .context("no AWS region: give --region or set AWS_REGION")?;
    let account = match cli.account_id.clone().filter(|a| !a.is_empty()) {
        Some(a) => a,
        None => aws_sdk_sts::Client::new(&config)
            .get_caller_identity()
            .send()
            .await
            .context("asking STS for the account id (or give --account-id)")?
            .account()
            .map(str::to_string)
            .context("STS returned no account id")?,
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        bail!("--account-id {account:?} is not a 12-digit account id");
    }
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let app: SdkApp = App::new(
        settings,
        SdkEc2::new(&config),
        SdkEvents::new(&config),
        &account,
        &region,
        "cli",
    )
    .with_snapshot_role(var("EBS_GENS_SNAPSHOT_ROLE_ARN"))
    .with_scheduler(
        SdkScheduler::new(&config),
        var("EBS_GENS_SCHEDULER_ROLE_ARN"),
        var("EBS_GENS_SCHEDULE_DLQ_ARN"),
    )
    .without_metrics();
    let now = Utc::now();
    let spin = Spinner::new(cli.output);
    let progress = |s: Step| spin.step(s);
    let code = match cli.command {
        Command::Status => {
            let st = status::status(&app, now, &progress).await?;
            spin.done();
            match cli.output {
                Output::Json => render::json(&st)?,
                Output::Table => print!("{}", render::status(&st, now)),
            }
            st.severity as u8
        }
        Command::Plan { volumes } => {
            let (batches, bad) = if volumes.is_empty() {
                status::discover_all(&app, &progress).await?
            } else {
                let (jobs, bad) = status::volumes(&app, &volumes).await?;
                (status::batches(jobs), bad)
            };
            let reports = status::plan(&app, &batches, now, &progress).await?;
            spin.done();
            match cli.output {
                Output::Json => render::json(&serde_json::json!({
                    "volumes": reports,
                    "misconfigured": bad,
                }))?,
                Output::Table => print!("{}", render::plan(&reports, &bad)),
            }
            0
        }
        Command::Explain { snapshot_id } => {
            let e = explain(&app, &snapshot_id, now).await?;
            spin.done();
            match cli.output {
                Output::Json => render::json(&e)?,
                Output::Table => print!("{}", render::explain(&e)),
            }
            0
        }
        Command::Sweep {
            apply,
            allow_bulk_delete,
            remote: true,
            state_machine_arn,
        } => {
            if allow_bulk_delete {
                bail!("--allow-bulk-delete applies to in-process sweeps; for the deployed sweep tag each volume {}=<today>", ebs_gens::snapshot::TAG_ALLOW_BULK_DELETE);
            }
            let arn = state_machine_arn.context(
                "--remote needs --state-machine-arn (the stack's SweepStateMachineArn output)",
            )?;
            let api = SdkExecutions::new(&config);
            let e = status::remote_sweep(&api, &arn, !apply, now, status::POLL, |e| {
                spin.say(format!("{}: {}", e.arn, e.status))
            })
            .await?;
            spin.done();
            match cli.output {
                Output::Json => render::json(&e)?,
                Output::Table => print!("{}", render::execution(&e)),
            }
            if e.status == "SUCCEEDED" {
                0
            } else {
                Severity::Critical as u8
            }
        }
        Command::Sweep {
            apply,
            allow_bulk_delete,
            ..
        } => {
            if apply && !app.can_reconcile() {
                eprintln!("note: schedules are not reconciled (set EBS_GENS_SCHEDULER_ROLE_ARN, or EBS_GENS_SNAPSHOT_ROLE_ARN for the rules backend)");
            }
            let s = sweep_with(&app, !apply, allow_bulk_delete, now, 3, |p| {
                spin.say(match p {
                    Progress::Reconciled => "schedules reconciled".into(),
                    Progress::Page(n) => format!("discovered a page of {n} volumes"),
                    Progress::Batch(n) => format!("pruned a batch of {n} volumes"),
                    Progress::Orphans => "scanned for orphaned snapshots".into(),
                })
            })
            .await?;
            spin.done();
            match cli.output {
                Output::Json => render::json(&s)?,
                Output::Table => print!("{}", render::sweep(&s)),
            }
            status::sweep_severity(&s) as u8
        }
    };
    Ok(code)
}

/// What `explain` shows.
#[derive(Debug, serde::Serialize)]
pub struct Explained {
    pub snapshot: ebs_gens::Snapshot,
    pub verdict: status::Verdict,
    pub reasons: Vec<String>,
    /// The volume's policy now (or `was …` for an orphan), and the policy the snapshot was
    /// made under (its `ebs-gens:policy` tag).
    pub volume_policy: String,
    pub made_under: Option<String>,
    pub orphaned: Option<ebs_gens::health::Orphaned>,
}

async fn explain(app: &SdkApp, id: &str, now: chrono::DateTime<Utc>) -> anyhow::Result<Explained> {
    let snap = app
        .ec2
        .snapshot(id)
        .await?
        .with_context(|| format!("{id}: no such snapshot owned by this account"))?;
    let made_under = snap.tag(ebs_gens::snapshot::TAG_POLICY).map(str::to_string);
    let vol = snap.volume_id.clone();
    // Not managed (gone, untagged, misconfigured): no jobs, and the orphan scan answers. Any
    // other failure (throttling, access) is an error, never a verdict.
    let (jobs, _) = match status::volumes(app, std::slice::from_ref(&vol)).await {
        Ok(found) => found,
        Err(ebs_gens::Error::InvalidInput(_)) => (vec![], vec![]),
        Err(e) => return Err(e.into()),
    };
    // A managed volume: its dry-run prune. Otherwise: the orphan scan (the same code the
    // sweep runs), which also says why it is an orphan.
    let report = if jobs.is_empty() {
        status::orphans(app, now, &|_| {})
            .await?
            .into_iter()
            .find(|r| r.volume_id == vol)
    } else {
        status::plan(app, &status::batches(jobs), now, &|_| {})
            .await?
            .into_iter()
            .find(|r| r.volume_id == vol)
    };
    let Some(report) = report else {
        let why = if snap.is_owned_by(&app.settings.deployment) {
            format!("its volume {vol} is misconfigured: nothing is deleted for it")
        } else {
            format!(
                "not ours (deployment {}) and its volume {vol} is not managed: never touched",
                app.settings.deployment
            )
        };
        return Ok(Explained {
            snapshot: snap,
            verdict: status::Verdict::Keep,
            reasons: vec![why],
            volume_policy: "-".into(),
            made_under,
            orphaned: None,
        });
    };
    let (verdict, reasons) = status::verdict(&report, id);
    Ok(Explained {
        snapshot: snap,
        verdict,
        reasons,
        volume_policy: report.policy.clone(),
        made_under,
        orphaned: report.orphaned,
    })
}
