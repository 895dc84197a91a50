//! discover-volumes: one page of managed volumes, in batches for the sweep's Map.
use ebs_gens::app::{discover, input, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run("discover-volumes", |app, ev| async move {
        discover::handle(app, input(ev.payload)?).await
    })
    .await
}
