//! `ebs-gens`: the operator's command. Every answer comes from the same handlers the Lambdas
//! run (discovery, prune-volumes in a dry run, the orphan scan), through the same AWS ports, so
//! it never disagrees with the deployment. See the README's "Operating ebs-gens".
//!
//! Exit codes: 0 all ok, 1 warning, 2 critical (`status`, `sweep`), 3 could not run (bad
//! arguments, settings or AWS errors) — usable from cron or a monitoring system.

mod endpoints;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use ebs_gens::app::explain::{self};
use ebs_gens::app::remote::{self};
use ebs_gens::app::restore::{self};
use ebs_gens::app::runtime::{self, ClientConfigs, SdkApp};
use ebs_gens::app::status::{self, Severity, Step};
use ebs_gens::app::sweep::{sweep_with, Progress};
use ebs_gens::aws::sdk::{load_config_with, SdkExecutions};
use ebs_gens::deployment::{self, DeploymentConfig};
use endpoints::{config_for, Endpoints, Service};
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
    /// Send AWS calls here (e.g. the local emulator, http://127.0.0.1:5000); a service's own
    /// AWS_ENDPOINT_URL_<SERVICE> wins.
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// The deployment (its `ebs-gens:managed-by` value): its settings come from the
    /// configuration it publishes (/ebs-gens/<deployment>/config).
    #[arg(long, global = true, env = "EBS_GENS_DEPLOYMENT")]
    deployment: Option<String>,
    /// The account the deployment must be in (default: the one it publishes).
    #[arg(long, global = true, env = "EBS_GENS_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Also look for this deployment's copies in REGION (repeatable), a region its settings no
    /// longer copy to: `status` lists the copies there as orphaned, `explain` finds them.
    #[arg(long = "copy-region", global = true, value_name = "REGION")]
    copy_regions: Vec<String>,
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
    /// Restore a volume as of a time (or from a named snapshot) into a new volume with the
    /// source's type, size, IOPS, throughput and encryption. Shows the plan and creates nothing
    /// unless --apply is given. The command's one direct write, with your credentials: it
    /// creates (and optionally attaches) a volume; it deletes nothing.
    Restore {
        #[arg(value_name = "VOLUME_ID", required_unless_present = "instance")]
        volume_id: Option<String>,
        /// Restore an instance's whole set instead (its volumes snapshotted together): one new
        /// volume per member, in the instance's zone (or --az), not attached.
        #[arg(
            long,
            value_name = "INSTANCE_ID",
            conflicts_with_all = ["volume_id", "snapshot", "from_region", "attach", "device"]
        )]
        instance: Option<String>,
        /// The point in time: RFC 3339 (2026-12-05T09:30:00Z), or a local time in the
        /// deployment's time zone (2026-12-05 09:30). Default: now (the newest generation).
        #[arg(long, conflicts_with = "snapshot")]
        at: Option<String>,
        /// Restore exactly this snapshot (a completed generation of the volume, ours).
        #[arg(long, value_name = "SNAPSHOT_ID")]
        snapshot: Option<String>,
        /// Restore the volume's copy in this destination region (needs --az). Named apart from
        /// the global --region, which names the deployment's region.
        #[arg(long, value_name = "REGION")]
        from_region: Option<String>,
        /// The availability zone to create the volume in (default: the source volume's).
        #[arg(long)]
        az: Option<String>,
        /// Attach the new volume to this instance (same zone), as --device.
        #[arg(long, value_name = "INSTANCE_ID", requires = "device")]
        attach: Option<String>,
        /// The device name to attach as (e.g. /dev/sdf).
        #[arg(long, value_name = "NAME", requires = "attach")]
        device: Option<String>,
        /// Create the volume (and attach it). Without it nothing is created.
        #[arg(long)]
        apply: bool,
    },
    /// A restore drill: without --apply, what the next drill would restore (and which leftover
    /// drill volumes it would delete), read in this process; with --apply, start the deployed
    /// drill state machine and follow it (never an in-process drill against a real account).
    Drill {
        /// Start the deployed drill state machine.
        #[arg(long)]
        apply: bool,
    },
    /// Run a sweep: a dry run in this process, or start the deployed sweep state machine
    /// with --remote and follow it to its summary. Changes (--apply) run only through the
    /// deployment, under its roles — in this process only against an emulator on loopback.
    Sweep {
        /// Change things (delete, adopt, reconcile schedules). Without it nothing changes.
        #[arg(long)]
        apply: bool,
        /// Let this run delete more than the bulk-deletion fuse allows (with --apply).
        #[arg(long, requires = "apply")]
        allow_bulk_delete: bool,
        /// Start the deployed sweep state machine (the one the deployment publishes).
        #[arg(long)]
        remote: bool,
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

/// Variables the command once read that the published configuration now answers.
const RETIRED: [(&str, &str); 1] = [(
    "EBS_GENS_SWEEP_STATE_MACHINE_ARN",
    "the sweep state machine comes from the published configuration",
)];

/// What every command works with: the App (built like the Lambdas', from the deployment's
/// published settings), the deployment's configuration, where each service's calls go.
struct Ctx {
    app: SdkApp,
    published: DeploymentConfig,
    config: aws_config::SdkConfig,
    endpoints: Endpoints,
    output: Output,
    spin: Spinner,
    now: chrono::DateTime<Utc>,
}

impl Ctx {
    /// Prints `value` as JSON, or as the table `table` draws.
    fn emit<T: serde::Serialize>(
        &self,
        value: &T,
        table: impl FnOnce(&T) -> String,
    ) -> anyhow::Result<()> {
        self.spin.done();
        match self.output {
            Output::Json => render::json(value),
            Output::Table => {
                print!("{}", table(value));
                Ok(())
            }
        }
    }

    /// Step Functions, where this command's calls to it go.
    fn executions(&self) -> SdkExecutions {
        SdkExecutions::new(&config_for(
            &self.config,
            &self.endpoints,
            Service::StepFunctions,
        ))
    }

    /// A followed execution printed; exit 0 when it succeeded, 2 otherwise.
    fn ended(&self, e: &ebs_gens::aws::Execution) -> anyhow::Result<u8> {
        self.emit(e, render::execution)?;
        Ok(if e.status == "SUCCEEDED" {
            0
        } else {
            Severity::Critical as u8
        })
    }

    fn progress(&self) -> impl Fn(Step) + '_ {
        |s| self.spin.step(s)
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let ctx = connect(&cli).await?;
    match cli.command {
        Command::Status => status_cmd(&ctx).await,
        Command::Plan { volumes } => plan_cmd(&ctx, &volumes).await,
        Command::Explain { snapshot_id } => explain_cmd(&ctx, &snapshot_id).await,
        Command::Restore {
            volume_id,
            instance,
            at,
            snapshot,
            from_region,
            az,
            attach,
            device,
            apply,
        } => {
            let at = at
                .map(|t| ebs_gens::restore::parse_time(&t, ctx.app.settings.tz))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            if let Some(instance) = instance {
                return restore_set_cmd(&ctx, &instance, at, az.as_deref(), apply).await;
            }
            let req = restore::RestoreRequest {
                volume_id: volume_id.unwrap_or_default(),
                at,
                snapshot_id: snapshot,
                from_region,
                az,
                attach: attach.zip(device),
            };
            restore_cmd(&ctx, &req, apply).await
        }
        Command::Drill { apply } => drill_cmd(&ctx, apply).await,
        Command::Sweep {
            apply,
            allow_bulk_delete,
            remote: true,
        } => remote_sweep_cmd(&ctx, apply, allow_bulk_delete).await,
        Command::Sweep {
            apply,
            allow_bulk_delete,
            remote: false,
        } => sweep_cmd(&ctx, apply, allow_bulk_delete).await,
    }
}

/// Everything a command needs: the refusals that come before any call, then the deployment's
/// published configuration and the app built from it, as the Lambdas build theirs.
async fn connect(cli: &Cli) -> anyhow::Result<Ctx> {
    // Never the silent `default`: the deployment names the configuration to act on.
    let deployment = cli.deployment.clone().filter(|d| !d.is_empty()).context(
        "give --deployment (or EBS_GENS_DEPLOYMENT): the deployment's name, its ebs-gens:managed-by value",
    )?;
    let endpoints = Endpoints::resolve(cli.endpoint_url.as_deref(), |k| std::env::var(k).ok());
    refuse_in_process_apply_away_from_loopback(&cli.command, &endpoints)?;
    let local: Vec<(String, String)> = std::env::vars()
        .filter(|(k, v)| k.starts_with("EBS_GENS_") && !v.is_empty())
        .collect();
    for (k, why) in RETIRED {
        if local.iter().any(|(n, _)| n == k) {
            bail!("{k} is no longer read ({why}): unset it");
        }
    }
    let config = load_config_with(cli.region.clone(), cli.profile.clone(), None).await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .context("no AWS region: give --region or set AWS_REGION")?;
    let published = published(&config_for(&config, &endpoints, Service::Ssm), &deployment).await?;
    published.check_place(cli.account_id.as_deref(), &region)?;
    let settings = published.settings(&local)?;
    runtime::check_region(&settings, &region)?;
    let ec2_config = config_for(&config, &endpoints, Service::Ec2);
    let mut app = runtime::assemble(
        settings,
        &published.account_id,
        &region,
        "cli",
        &ClientConfigs {
            ec2: ec2_config.clone(),
            events: config_for(&config, &endpoints, Service::EventBridge),
            scheduler: config_for(&config, &endpoints, Service::Scheduler),
        },
    )
    .without_metrics();
    for r in &cli.copy_regions {
        if !ebs_gens::copies::KNOWN_REGIONS.contains(&r.as_str()) || r == &region {
            bail!("--copy-region {r}: not a region ebs-gens knows, or the deployment's own region ({region})");
        }
        if !app.destinations.contains_key(r) {
            let c = ec2_config
                .to_builder()
                .region(aws_config::Region::new(r.clone()))
                .build();
            app = app.with_destination(r, ebs_gens::aws::sdk::SdkEc2::new(&c));
        }
    }
    Ok(Ctx {
        app,
        published,
        config,
        endpoints,
        output: cli.output,
        spin: Spinner::new(cli.output),
        now: Utc::now(),
    })
}

/// Checked before any call: a change in a real account runs only under the deployment's roles
/// (its state machine), never with the operator's credentials.
fn refuse_in_process_apply_away_from_loopback(
    command: &Command,
    endpoints: &Endpoints,
) -> anyhow::Result<()> {
    if let Command::Sweep {
        apply: true,
        remote: false,
        ..
    } = command
    {
        let away = endpoints.not_loopback();
        if !away.is_empty() {
            bail!(
                "sweep --apply changes a real account only through the deployed state machine: \
                 use `ebs-gens sweep --remote --apply`. (In this process only against an emulator \
                 on loopback; these services are not: {})",
                away.join(", ")
            );
        }
    }
    Ok(())
}

/// `status`: exit 0 all ok, 1 warning, 2 critical.
async fn status_cmd(ctx: &Ctx) -> anyhow::Result<u8> {
    let st = status::status(&ctx.app, ctx.now, &ctx.progress()).await?;
    ctx.emit(&st, |st| render::status(st, ctx.now))?;
    Ok(st.severity as u8)
}

/// `plan`: every snapshot the next prune touches, with its reasons.
async fn plan_cmd(ctx: &Ctx, volumes: &[String]) -> anyhow::Result<u8> {
    let progress = ctx.progress();
    let found = if volumes.is_empty() {
        status::discover_all(&ctx.app, &progress).await?
    } else {
        let (jobs, bad) = status::volumes(&ctx.app, volumes).await?;
        status::Discovered {
            batches: status::batches(jobs),
            instances: vec![],
            misconfigured: bad,
        }
    };
    let mut reports = status::plan(&ctx.app, &found.batches, ctx.now, &progress).await?;
    let (sets, mut bad) = status::plan_instances(&ctx.app, &found.instances, ctx.now).await?;
    reports.extend(sets);
    bad.extend(found.misconfigured);
    let planned = serde_json::json!({
        "volumes": render::planned(&reports),
        "misconfigured": bad,
    });
    ctx.emit(&planned, |_| render::plan(&reports, &bad))?;
    Ok(0)
}

/// `explain`: why one snapshot is kept, or will be deleted.
async fn explain_cmd(ctx: &Ctx, snapshot_id: &str) -> anyhow::Result<u8> {
    let e = explain::explain(&ctx.app, snapshot_id, ctx.now).await?;
    ctx.emit(&e, render::explain)?;
    Ok(0)
}

/// `restore`: the plan, and with --apply the volume created, waited for and attached.
async fn restore_cmd(ctx: &Ctx, req: &restore::RestoreRequest, apply: bool) -> anyhow::Result<u8> {
    let plan = restore::plan(&ctx.app, req, ctx.now).await?;
    if !apply {
        ctx.emit(&plan, render::restore_plan)?;
        return Ok(0);
    }
    let (ec2, _) = restore::region_client(&ctx.app, req.from_region.as_deref())?;
    let token = format!(
        "ebs-gens-restore-{}-{}",
        plan.chosen.snapshot_id,
        ctx.now.timestamp()
    );
    let restored = restore::apply(ec2, &plan, &token, restore::Wait::DEFAULT, |id, state| {
        ctx.spin.say(format!("{id}: {state}"))
    })
    .await?;
    ctx.emit(&restored, render::restored)?;
    Ok(0)
}

/// `restore --instance`: the set's plan, and with --apply each member's volume created.
async fn restore_set_cmd(
    ctx: &Ctx,
    instance: &str,
    at: Option<chrono::DateTime<chrono::Utc>>,
    az: Option<&str>,
    apply: bool,
) -> anyhow::Result<u8> {
    let plan = restore::plan_set(&ctx.app, instance, at, az, ctx.now).await?;
    if !apply {
        ctx.emit(&plan, render::restore_set_plan)?;
        return Ok(0);
    }
    let token = format!("ebs-gens-restore-{}-{}", instance, ctx.now.timestamp());
    let restored = restore::apply_set(
        &ctx.app.ec2,
        &plan,
        &token,
        restore::Wait::DEFAULT,
        |id, state| ctx.spin.say(format!("{id}: {state}")),
    )
    .await?;
    ctx.emit(&restored, |r| {
        r.iter()
            .map(render::restored)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    Ok(0)
}

/// `drill`: the next drill's sample (a dry run here), or the deployed drill, followed.
async fn drill_cmd(ctx: &Ctx, apply: bool) -> anyhow::Result<u8> {
    if !apply {
        let input = ebs_gens::app::drill::DrillInput {
            dry_run: true,
            state: None,
        };
        let plan = ebs_gens::app::drill::handle(&ctx.app, input, ctx.now).await?;
        ctx.emit(&plan, render::drill_plan)?;
        return Ok(0);
    }
    let arn = ctx
        .published
        .state_machines
        .restore_drill
        .as_deref()
        .context(
        "this deployment publishes no restore drill state machine: redeploy it with this version",
    )?;
    let e = remote::remote_drill(&ctx.executions(), arn, ctx.now, remote::POLL, |e| {
        ctx.spin.say(format!("{}: {}", e.arn, e.status))
    })
    .await?;
    ctx.ended(&e)
}

/// `sweep --remote`: the deployment's sweep state machine, followed to its end.
async fn remote_sweep_cmd(ctx: &Ctx, apply: bool, allow_bulk_delete: bool) -> anyhow::Result<u8> {
    let run = remote::SweepRun {
        dry_run: !apply,
        allow_bulk_delete,
    };
    let arn = &ctx.published.state_machines.sweep;
    let e = remote::remote_sweep(&ctx.executions(), arn, run, ctx.now, remote::POLL, |e| {
        ctx.spin.say(format!("{}: {}", e.arn, e.status))
    })
    .await?;
    ctx.ended(&e)
}

/// `sweep` in this process: a dry run, or (emulator only) an applied one.
async fn sweep_cmd(ctx: &Ctx, apply: bool, allow_bulk_delete: bool) -> anyhow::Result<u8> {
    if apply && !ctx.app.can_reconcile() {
        eprintln!("note: schedules are not reconciled (the published configuration has no EBS_GENS_SCHEDULER_ROLE_ARN, or EBS_GENS_SNAPSHOT_ROLE_ARN for the rules backend)");
    }
    let s = sweep_with(&ctx.app, !apply, allow_bulk_delete, ctx.now, 3, |p| {
        ctx.spin.say(match p {
            Progress::Reconciled => "schedules reconciled".into(),
            Progress::Page(n) => format!("discovered a page of {n} volumes"),
            Progress::Batch(n) => format!("pruned a batch of {n} volumes"),
            Progress::Orphans => "scanned for orphaned snapshots".into(),
        })
    })
    .await?;
    ctx.emit(&s, render::sweep)?;
    Ok(status::sweep_severity(&s) as u8)
}

/// The deployment's published configuration (ssm:GetParameter): a deployment without one is
/// older than this command and must be redeployed; the local environment never stands in.
async fn published(
    config: &aws_config::SdkConfig,
    deployment: &str,
) -> anyhow::Result<DeploymentConfig> {
    let name = deployment::parameter_name(deployment);
    let got = aws_sdk_ssm::Client::new(config)
        .get_parameter()
        .name(&name)
        .send()
        .await;
    let text = match got {
        Ok(out) => out
            .parameter
            .and_then(|p| p.value)
            .with_context(|| format!("{name}: the parameter has no value"))?,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_parameter_not_found()) =>
        {
            return Err(deployment::missing(deployment).into())
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "reading {name} (the operator needs ssm:GetParameter on it)"
            )))
        }
    };
    Ok(DeploymentConfig::parse(deployment, &text)?)
}
