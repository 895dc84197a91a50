//! Lambda wiring shared by every binary: settings and SDK clients built once, JSON logs, and
//! errors reported under their stable names.

use std::future::Future;

use chrono::Utc;
use futures_util::FutureExt;
use lambda_runtime::{service_fn, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::aws::sdk::{load_config, SdkEc2, SdkEvents, SdkScheduler};
use crate::config::Settings;
use crate::error::Error;

use super::App;

/// The production [`App`]: SDK clients over one `aws_config` load.
pub type SdkApp = App<(SdkEc2, SdkEvents, SdkScheduler)>;

/// Reads settings and environment, loads the SDK configuration and builds the clients once.
///
/// Besides [`Settings`]: `EBS_GENS_ACCOUNT_ID` (required) and the SDK's own `AWS_REGION` /
/// `AWS_ENDPOINT_URL`. ensure-schedules also needs its backend's role: without it the function
/// fails at start-up, naming the variable, instead of at the first sweep.
pub async fn build(function: &'static str) -> Result<SdkApp, Error> {
    let settings = Settings::from_env().map_err(|e| Error::Internal(e.to_string()))?;
    check_start(function, &settings)?;
    let account = std::env::var("EBS_GENS_ACCOUNT_ID")
        .ok()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Error::Internal("EBS_GENS_ACCOUNT_ID must be the 12-digit account id".into())
        })?;
    let config = load_config().await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .ok_or_else(|| Error::Internal("no AWS region configured (AWS_REGION)".into()))?;
    check_region(&settings, &region)?;
    Ok(assemble(
        settings,
        &account,
        &region,
        function,
        &ClientConfigs::same(&config),
    ))
}

/// What the settings ask of the region the functions run in: copies go elsewhere, within the
/// partition.
pub fn check_region(settings: &Settings, region: &str) -> Result<(), Error> {
    let copies = settings.copies.check_source(region);
    copies.map_err(|why| Error::Internal(format!("configuration EBS_GENS_COPIES: {why}")))
}

/// What a function needs beyond valid settings before it takes its first event: ensure-schedules
/// its backend's role.
pub fn check_start(function: &str, settings: &Settings) -> Result<(), Error> {
    if function == super::ensure_schedules::FUNCTION {
        let role = settings.backend.require_role();
        role.map_err(|e| Error::Internal(e.to_string()))?;
    }
    Ok(())
}

/// Where each client's calls go: one SDK configuration for every service (the Lambdas), or one
/// per service (the operator's command, which resolves endpoints service by service).
pub struct ClientConfigs {
    pub ec2: aws_config::SdkConfig,
    pub events: aws_config::SdkConfig,
    pub scheduler: aws_config::SdkConfig,
}

impl ClientConfigs {
    pub fn same(config: &aws_config::SdkConfig) -> Self {
        ClientConfigs {
            ec2: config.clone(),
            events: config.clone(),
            scheduler: config.clone(),
        }
    }
}

/// The production [`App`] from settings, account and region: the Lambdas pass their own, the
/// operator's command the deployment's published ones — the same assembly either way.
pub fn assemble(
    settings: Settings,
    account: &str,
    region: &str,
    function: &'static str,
    configs: &ClientConfigs,
) -> SdkApp {
    let destinations: Vec<String> = settings
        .copies
        .regions()
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut app = App::new(
        settings,
        SdkEc2::new(&configs.ec2),
        SdkEvents::new(&configs.events),
        account,
        region,
        function,
    )
    .with_scheduler(SdkScheduler::new(&configs.scheduler));
    // One EC2 client per copy destination: the same credentials and endpoint, its own region.
    for r in destinations {
        let config = configs
            .ec2
            .to_builder()
            .region(aws_config::Region::new(r.clone()))
            .build();
        app = app.with_destination(&r, SdkEc2::new(&config));
    }
    app
}

/// Runs `handler` as a Lambda function. Start-up failures are logged and end the process
/// (Lambda reports them as init errors); handler errors go back under their stable names.
pub async fn run<F, Fut, O>(function: &'static str, handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(&'static SdkApp, LambdaEvent<Value>) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
    O: Serialize,
{
    lambda_runtime::tracing::init_default_subscriber();
    let app: &'static SdkApp = match build(function).await {
        Ok(app) => Box::leak(Box::new(app)),
        Err(e) => {
            tracing::error!(error = %e, function, "start-up failed");
            return Err(e.to_string().into());
        }
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let fut = Box::pin(handler(app, event));
        async move {
            let r = guarded(fut).await;
            if let Err(e) = &r {
                tracing::error!(error_type = e.name().as_str(), error = %e, "invocation failed");
            }
            r
        }
    }))
    .await
}

/// Runs a handler's future; a panic inside it becomes `Internal` (which every Catch handles
/// and no Retry repeats), so a panic never reaches Step Functions under a Rust type name.
pub async fn guarded<O>(fut: impl Future<Output = Result<O, Error>>) -> Result<O, Error> {
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(panic) => Err(Error::Internal(format!("panic: {}", panic_text(&*panic)))),
    }
}

/// The message of a panic payload (`panic!("…")` carries a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The Lambda deadline as a tokio instant (the context carries epoch milliseconds).
///
/// `cargo lambda watch` sends every invocation a deadline in 1970 (600,000 ms after the epoch):
/// a deadline already past falls back to now + the function's timeout from the contract, so
/// prune-volumes' deadline deferral works locally as in AWS (where the deadline is always ahead).
pub fn deadline(ctx: &lambda_runtime::Context, function: &str) -> Option<tokio::time::Instant> {
    let now_ms = Utc::now().timestamp_millis();
    let left = i64::try_from(ctx.deadline).ok()? - now_ms;
    if left > 0 {
        return Some(tokio::time::Instant::now() + std::time::Duration::from_millis(left as u64));
    }
    crate::contract::FUNCTIONS
        .iter()
        .find(|f| f.name == function)
        .map(|f| {
            tokio::time::Instant::now() + std::time::Duration::from_secs(f.timeout_seconds.into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_schedules_without_its_backends_role_fails_at_start() {
        let role = "arn:aws:iam::123456789012:role/r";
        for (backend, var) in [
            ("scheduler", "EBS_GENS_SCHEDULER_ROLE_ARN"),
            ("rules", "EBS_GENS_SNAPSHOT_ROLE_ARN"),
        ] {
            let bare = Settings::from_lookup(|k| (k == "EBS_GENS_BACKEND").then(|| backend.into()));
            let e = check_start("ensure-schedules", &bare.unwrap()).unwrap_err();
            assert!(e.to_string().contains(var), "{e}");
            // The other functions never use it.
            check_start("prune-volumes", &Settings::default()).unwrap();
            let with = Settings::from_lookup(|k| match k {
                "EBS_GENS_BACKEND" => Some(backend.into()),
                k if k == var => Some(role.into()),
                _ => None,
            });
            check_start("ensure-schedules", &with.unwrap()).unwrap();
        }
    }
}
