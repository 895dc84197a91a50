//! A deployed sweep (`ebs-gens sweep --remote`) or restore drill (`ebs-gens drill --apply`)
//! started and followed to its end: the operator's way to change a real account, through the
//! state machine and its functions' IAM.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws::{Execution, ExecutionsApi};
use crate::error::Error;

/// How often a followed execution is polled.
pub const POLL: StdDuration = StdDuration::from_secs(2);

/// What a remote sweep is asked to do: the sweep state machine's whole input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepRun {
    pub dry_run: bool,
    /// Release the deletions the bulk-deletion fuse holds (never in a dry run's name only:
    /// the state machine passes it to every prune batch).
    pub allow_bulk_delete: bool,
}

/// Starts the deployed sweep state machine and follows the execution until it ends.
pub async fn remote_sweep<X: ExecutionsApi>(
    api: &X,
    state_machine_arn: &str,
    run: SweepRun,
    now: DateTime<Utc>,
    poll: StdDuration,
    tick: impl Fn(&Execution),
) -> Result<Execution, Error> {
    let name = format!(
        "ebs-gens-cli-{}{}{}",
        now.format("%Y%m%dT%H%M%S"),
        if run.dry_run { "-dry-run" } else { "" },
        if run.allow_bulk_delete { "-bulk" } else { "" }
    );
    // Only what differs from the defaults: `{"dry_run":true}` as before, or with the flag.
    let input = if run.allow_bulk_delete {
        serde_json::json!({ "dry_run": run.dry_run, "allow_bulk_delete": true })
    } else {
        serde_json::json!({ "dry_run": run.dry_run })
    }
    .to_string();
    follow(api, state_machine_arn, &name, &input, poll, tick).await
}

/// Starts the deployed restore drill (`ebs-gens drill --apply`) and follows it to its end.
pub async fn remote_drill<X: ExecutionsApi>(
    api: &X,
    state_machine_arn: &str,
    now: DateTime<Utc>,
    poll: StdDuration,
    tick: impl Fn(&Execution),
) -> Result<Execution, Error> {
    let name = format!("ebs-gens-cli-drill-{}", now.format("%Y%m%dT%H%M%S"));
    let input = serde_json::json!({ "dry_run": false }).to_string();
    follow(api, state_machine_arn, &name, &input, poll, tick).await
}

/// StartExecution, then DescribeExecution every `poll` until the execution ends.
async fn follow<X: ExecutionsApi>(
    api: &X,
    state_machine_arn: &str,
    name: &str,
    input: &str,
    poll: StdDuration,
    tick: impl Fn(&Execution),
) -> Result<Execution, Error> {
    let arn = api.start_execution(state_machine_arn, name, input).await?;
    loop {
        let e = api.describe_execution(&arn).await?;
        tick(&e);
        if e.status != "RUNNING" && e.status != "PENDING_REDRIVE" {
            return Ok(e);
        }
        tokio::time::sleep(poll).await;
    }
}
