//! ensure-schedules: reconcile the snapshot schedules (EventBridge Scheduler, or rules with the
//! built-in target) with the managed volumes.
use ebs_gens::app::{ensure_schedules, input, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run(ensure_schedules::FUNCTION, |app, ev| async move {
        let deadline = runtime::deadline(&ev.context, ensure_schedules::FUNCTION);
        ensure_schedules::handle(app, input(ev.payload)?, deadline).await
    })
    .await
}
