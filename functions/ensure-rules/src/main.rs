//! ensure-rules: reconcile the snapshot schedules (EventBridge Scheduler, or rules with the
//! built-in target) with the managed volumes.
use ebs_gens::app::{ensure_rules, input, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run("ensure-rules", |app, ev| async move {
        let deadline = runtime::deadline(&ev.context, "ensure-rules");
        ensure_rules::handle(app, input(ev.payload)?, deadline).await
    })
    .await
}
