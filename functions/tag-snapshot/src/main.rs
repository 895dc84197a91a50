//! tag-snapshot: adopt the snapshot an EBS `createSnapshot` event reports.
use ebs_gens::app::{runtime, tag};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    runtime::run("tag-snapshot", |app, ev| async move {
        tag::handle(app, ev.payload).await
    })
    .await
}
