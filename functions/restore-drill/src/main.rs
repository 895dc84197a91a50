//! restore-drill: restore a sample of the newest generations, then settle each drill volume.
use ebs_gens::app::{drill, input, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run("restore-drill", |app, ev| async move {
        drill::handle(app, input(ev.payload)?, chrono::Utc::now()).await
    })
    .await
}
