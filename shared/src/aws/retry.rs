//! A port wrapper that retries throttling and 5xx exactly as production's SDK clients are
//! configured ([`super::SDK_MAX_ATTEMPTS`] attempts, standard mode: exponential backoff with full
//! jitter from 1 s, capped at 20 s). The SDK adapters get this from `aws_config`; the wrapper
//! gives the in-memory fake the same behaviour, so fault-storm tests and `make fault-budget`
//! model production, not a retry-less client.

use std::future::Future;

use tokio::time::Duration;

use crate::backend::rules::Target;
use crate::snapshot::Snapshot;

use super::{
    AwsError, CopySpec, Deleted, Ec2Api, EventsApi, Page, PageRequest, ResourceTag, RuleSummary,
    Volume,
};

type R<T> = Result<T, AwsError>;

/// Retries retryable errors up to `attempts` times in all.
#[derive(Debug, Clone)]
pub struct Retrying<A> {
    inner: A,
    attempts: u32,
    base: Duration,
}

impl<A> Retrying<A> {
    /// What production runs (see [`super::sdk::load_config`]).
    pub fn production(inner: A) -> Self {
        Retrying {
            inner,
            attempts: super::SDK_MAX_ATTEMPTS,
            base: Duration::from_secs_f64(super::SDK_INITIAL_BACKOFF_SECS),
        }
    }
}

/// A cheap deterministic jitter in [0, 1) from the attempt number and a per-call counter.
fn jitter(attempt: u32, salt: usize) -> f64 {
    let x = (attempt as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (salt as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The SDK's standard-mode backoff (full jitter, doubling from `base`, capped), through the
/// crate's one retry loop.
async fn retry<T, F, Fut>(attempts: u32, base: Duration, salt: usize, call: F) -> R<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = R<T>>,
{
    crate::retry::retry(
        attempts,
        AwsError::is_retryable,
        |n| {
            let cap = (base.as_secs_f64() * 2f64.powi(n as i32)).min(super::SDK_MAX_BACKOFF_SECS);
            Duration::from_secs_f64(cap * jitter(n, salt))
        },
        call,
    )
    .await
}

impl<A: Ec2Api> Ec2Api for Retrying<A> {
    async fn describe_volumes(&self, req: PageRequest) -> R<Page<Volume>> {
        retry(self.attempts, self.base, 1, || {
            self.inner.describe_volumes(req.clone())
        })
        .await
    }
    async fn describe_snapshots(&self, req: PageRequest) -> R<Page<Snapshot>> {
        retry(self.attempts, self.base, 2, || {
            self.inner.describe_snapshots(req.clone())
        })
        .await
    }
    async fn describe_tags(&self, req: PageRequest) -> R<Page<ResourceTag>> {
        retry(self.attempts, self.base, 3, || {
            self.inner.describe_tags(req.clone())
        })
        .await
    }
    async fn create_tags(&self, ids: &[String], tags: &[(String, String)]) -> R<()> {
        retry(self.attempts, self.base, ids.len(), || {
            self.inner.create_tags(ids, tags)
        })
        .await
    }
    async fn delete_snapshot(&self, id: &str) -> R<Deleted> {
        retry(self.attempts, self.base, id.len(), || {
            self.inner.delete_snapshot(id)
        })
        .await
    }
    /// Not retried here: a CopySnapshot whose answer was lost may have started a copy, and a
    /// second call would start another. The next run sees the first by its source tag.
    async fn copy_snapshot(&self, req: &CopySpec) -> R<String> {
        self.inner.copy_snapshot(req).await
    }
    async fn describe_locked_snapshots(
        &self,
        ids: &[String],
        next_token: Option<String>,
    ) -> R<Page<(String, crate::locks::Lock)>> {
        retry(self.attempts, self.base, ids.len(), || {
            self.inner
                .describe_locked_snapshots(ids, next_token.clone())
        })
        .await
    }
    /// Retried: the same expiration date twice is the same lock.
    async fn lock_snapshot(&self, id: &str, req: &crate::locks::LockRequest) -> R<()> {
        retry(self.attempts, self.base, id.len(), || {
            self.inner.lock_snapshot(id, req)
        })
        .await
    }
    async fn describe_snapshot_facts(&self, id: &str) -> R<Option<super::SnapshotFacts>> {
        retry(self.attempts, self.base, id.len(), || {
            self.inner.describe_snapshot_facts(id)
        })
        .await
    }
    async fn describe_zones(&self) -> R<Vec<String>> {
        retry(self.attempts, self.base, 6, || self.inner.describe_zones()).await
    }
    async fn describe_instance(&self, id: &str) -> R<Option<crate::sets::Instance>> {
        retry(self.attempts, self.base, id.len(), || {
            self.inner.describe_instance(id)
        })
        .await
    }
    async fn describe_instances(&self, req: PageRequest) -> R<Page<crate::sets::Instance>> {
        retry(self.attempts, self.base, 1, || {
            self.inner.describe_instances(req.clone())
        })
        .await
    }
    async fn create_volume(&self, req: &super::VolumeRequest) -> R<String> {
        retry(self.attempts, self.base, req.snapshot_id.len(), || {
            self.inner.create_volume(req)
        })
        .await
    }
    async fn attach_volume(&self, volume_id: &str, instance_id: &str, device: &str) -> R<()> {
        retry(self.attempts, self.base, volume_id.len(), || {
            self.inner.attach_volume(volume_id, instance_id, device)
        })
        .await
    }
    async fn delete_volume(&self, id: &str) -> R<()> {
        retry(self.attempts, self.base, id.len(), || {
            self.inner.delete_volume(id)
        })
        .await
    }
    async fn list_retention_rules(&self, next_token: Option<String>) -> R<Page<String>> {
        retry(self.attempts, self.base, 5, || {
            self.inner.list_retention_rules(next_token.clone())
        })
        .await
    }
    async fn get_retention_rule(&self, id: &str) -> R<crate::recycle_bin::RetentionRule> {
        retry(self.attempts, self.base, id.len(), || {
            self.inner.get_retention_rule(id)
        })
        .await
    }
}

impl<A: EventsApi> EventsApi for Retrying<A> {
    async fn list_rules(&self, prefix: &str, next_token: Option<String>) -> R<Page<RuleSummary>> {
        retry(self.attempts, self.base, 4, || {
            self.inner.list_rules(prefix, next_token.clone())
        })
        .await
    }
    async fn list_targets(&self, rule: &str, next_token: Option<String>) -> R<Page<Target>> {
        retry(self.attempts, self.base, rule.len(), || {
            self.inner.list_targets(rule, next_token.clone())
        })
        .await
    }
    async fn put_rule(&self, rule: &str, schedule: &str, description: &str) -> R<()> {
        retry(self.attempts, self.base, rule.len(), || {
            self.inner.put_rule(rule, schedule, description)
        })
        .await
    }
    async fn put_targets(&self, rule: &str, targets: &[Target]) -> R<()> {
        retry(self.attempts, self.base, targets.len(), || {
            self.inner.put_targets(rule, targets)
        })
        .await
    }
    async fn remove_targets(&self, rule: &str, ids: &[String]) -> R<()> {
        retry(self.attempts, self.base, ids.len(), || {
            self.inner.remove_targets(rule, ids)
        })
        .await
    }
    async fn delete_rule(&self, rule: &str) -> R<()> {
        retry(self.attempts, self.base, rule.len(), || {
            self.inner.delete_rule(rule)
        })
        .await
    }
}
