//! prune-volumes: delete each volume's surplus snapshots.
use ebs_gens::app::{input, prune, runtime};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run("prune-volumes", |app, ev| async move {
        let deadline = runtime::deadline(&ev.context, "prune-volumes");
        prune::handle(app, input(ev.payload)?, chrono::Utc::now(), deadline).await
    })
    .await
}
