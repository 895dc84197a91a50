//! Pagination, batching and pacing, written once over the page-level ports, so the SDK
//! implementation and the strict fake run exactly the same loops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::time::Instant;

use crate::backend::rules::{ExistingRule, RuleOp};
use crate::snapshot::Snapshot;

use super::pacer::Pacer;
use super::SchedulerApi;
use super::{
    AwsError, Deleted, Ec2Api, ErrorKind, EventsApi, Filter, Page, PageRequest, Volume,
    MAX_CREATE_TAGS_IDS, MAX_FILTER_VALUES, MAX_INSTANCES_PAGE, MAX_SNAPSHOTS_PAGE, MAX_TAGS_PAGE,
    MAX_VOLUMES_PAGE,
};

type R<T> = Result<T, AwsError>;

/// Follows `next_token` until the last page.
async fn all_pages<T, F, Fut>(mut call: F) -> R<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = R<Page<T>>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = call(token).await?;
        out.extend(page.items);
        match page.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}

/// DescribeSnapshots' `OwnerIds` in every listing: only snapshots this account owns (never
/// another account's shared with us, whatever its tags say).
pub const OWNED_BY_US: &str = "self";

/// Instance states whose volumes a set can take (not `shutting-down` or `terminated`).
pub const LIVE_INSTANCE_STATES: [&str; 4] = ["pending", "running", "stopping", "stopped"];

/// Snapshot ids per DescribeLockedSnapshots call (its MaxResults' maximum).
pub const MAX_LOCK_IDS: usize = 1000;

fn owned_by_us(mut req: PageRequest) -> PageRequest {
    req.owners = vec![OWNED_BY_US.to_string()];
    req
}

/// Every page of a describe call with fixed `filters`, `max_results` at a time.
async fn filtered<T, F, Fut>(filters: Vec<Filter>, max_results: i32, call: F) -> R<Vec<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: std::future::Future<Output = R<Page<T>>>,
{
    all_pages(|next_token| {
        call(PageRequest {
            filters: filters.clone(),
            ids: vec![],
            max_results: Some(max_results),
            next_token,
            owners: vec![],
        })
    })
    .await
}

/// Lists through a filter on `values` (at most [`MAX_FILTER_VALUES`] values per request,
/// counting the fixed `scope` filters' values), every page of each, `max_results` at a time.
async fn by_filter<T, F, Fut>(
    values: &[String],
    name: &str,
    scope: &[Filter],
    max_results: i32,
    call: F,
) -> R<Vec<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: std::future::Future<Output = R<Page<T>>>,
{
    // EC2 counts the values of every filter in a request together.
    let room = MAX_FILTER_VALUES - scope.iter().map(|f| f.values.len()).sum::<usize>();
    let mut out = Vec::new();
    for chunk in values.chunks(room) {
        let mut filters = scope.to_vec();
        filters.push(Filter::new(name, chunk.iter().cloned()));
        out.extend(filtered(filters, max_results, &call).await?);
    }
    Ok(out)
}

/// EC2 as ebs-gens uses it.
pub struct Ec2<A> {
    api: A,
    deletes: Pacer,
}

impl<A: Ec2Api> Ec2<A> {
    pub fn new(api: A, deletes: Pacer) -> Self {
        Ec2 { api, deletes }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    /// Volumes matching `filter` (server-side, pages of 500).
    pub async fn volumes_matching(&self, filter: Filter) -> R<Vec<Volume>> {
        filtered(vec![filter], MAX_VOLUMES_PAGE, |req| {
            self.api.describe_volumes(req)
        })
        .await
    }

    /// The given volumes (those that still exist), through a `volume-id` filter.
    pub async fn volumes_by_id(&self, ids: &[String]) -> R<Vec<Volume>> {
        by_filter(ids, "volume-id", &[], MAX_VOLUMES_PAGE, |req| {
            self.api.describe_volumes(req)
        })
        .await
    }

    /// Instances matching `filters` that are not terminated or going (pages of 1000), with
    /// their tags and attached volumes.
    pub async fn instances_matching(
        &self,
        mut filters: Vec<Filter>,
    ) -> R<Vec<crate::sets::Instance>> {
        filters.push(Filter::new("instance-state-name", LIVE_INSTANCE_STATES));
        filtered(filters, MAX_INSTANCES_PAGE, |req| {
            self.api.describe_instances(req)
        })
        .await
    }

    /// The given instances that still exist (terminated ones included), through an
    /// `instance-id` filter.
    pub async fn instances_by_id(&self, ids: &[String]) -> R<Vec<crate::sets::Instance>> {
        by_filter(ids, "instance-id", &[], MAX_INSTANCES_PAGE, |req| {
            self.api.describe_instances(req)
        })
        .await
    }

    /// Every self-owned snapshot in the sets of the given instances (`ebs-gens:set` is
    /// `<instance>@…`: a wildcard filter value per instance, pages of 1000).
    pub async fn sets_of(&self, instance_ids: &[String]) -> R<Vec<Snapshot>> {
        let patterns: Vec<String> = instance_ids.iter().map(|i| format!("{i}@*")).collect();
        let by_set = format!("tag:{}", crate::snapshot::TAG_SET);
        by_filter(&patterns, &by_set, &[], MAX_SNAPSHOTS_PAGE, |req| {
            self.api.describe_snapshots(owned_by_us(req))
        })
        .await
    }

    /// `Name` tags of the given instances (DescribeTags, pages of 1000).
    pub async fn instance_names(&self, instance_ids: &[String]) -> R<HashMap<String, String>> {
        let scope = [
            Filter::new("resource-type", ["instance"]),
            Filter::new("key", ["Name"]),
        ];
        let tags = by_filter(instance_ids, "resource-id", &scope, MAX_TAGS_PAGE, |req| {
            self.api.describe_tags(req)
        })
        .await?;
        Ok(tags.into_iter().map(|t| (t.resource_id, t.value)).collect())
    }

    /// Every self-owned snapshot of the given volumes (`volume-id` filter, pages of 1000).
    pub async fn snapshots_of(&self, volume_ids: &[String]) -> R<Vec<Snapshot>> {
        by_filter(volume_ids, "volume-id", &[], MAX_SNAPSHOTS_PAGE, |req| {
            self.api.describe_snapshots(owned_by_us(req))
        })
        .await
    }

    /// Every self-owned snapshot carrying `ebs-gens:managed-by=<deployment>` (pages of 1000):
    /// our whole estate in one listing, however many volumes it spans.
    pub async fn snapshots_managed_by(&self, deployment: &str) -> R<Vec<Snapshot>> {
        let filters = vec![Filter::new(
            &format!("tag:{}", crate::snapshot::TAG_MANAGED_BY),
            [deployment],
        )];
        filtered(filters, MAX_SNAPSHOTS_PAGE, |req| {
            self.api.describe_snapshots(owned_by_us(req))
        })
        .await
    }

    /// Our copies of the given source volumes in this (destination) region: self-owned
    /// snapshots tagged `ebs-gens:managed-by=<deployment>` and `ebs-gens:volume` one of them.
    pub async fn copies_of(&self, deployment: &str, volume_ids: &[String]) -> R<Vec<Snapshot>> {
        let ours = [Filter::new(
            &format!("tag:{}", crate::snapshot::TAG_MANAGED_BY),
            [deployment],
        )];
        let by_volume = format!("tag:{}", crate::snapshot::TAG_VOLUME);
        by_filter(volume_ids, &by_volume, &ours, MAX_SNAPSHOTS_PAGE, |req| {
            self.api.describe_snapshots(owned_by_us(req))
        })
        .await
    }

    /// One snapshot by id; `None` when it no longer exists.
    pub async fn snapshot(&self, id: &str) -> R<Option<Snapshot>> {
        let req = PageRequest {
            ids: vec![id.to_string()],
            ..Default::default()
        };
        match self.api.describe_snapshots(owned_by_us(req)).await {
            Ok(page) => Ok(page.items.into_iter().find(|s| s.id == id)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies `tags` to `ids`; a snapshot that vanished (`NotFound`) or that IAM refuses to
    /// let us tag (another deployment's, by our `aws:ResourceTag` conditions) is returned with
    /// its error instead of failing the others. EC2 fails a whole CreateTags call for one bad
    /// id, so a refused call of several ids is retried id by id. Any other error is returned.
    pub async fn tag_each(
        &self,
        ids: &[String],
        tags: &[(String, String)],
    ) -> R<Vec<(String, AwsError)>> {
        let per_id = |e: &AwsError| matches!(e.kind, ErrorKind::NotFound | ErrorKind::AccessDenied);
        let mut refused = Vec::new();
        for chunk in ids.chunks(MAX_CREATE_TAGS_IDS) {
            match self.api.create_tags(chunk, tags).await {
                Ok(()) => {}
                Err(e) if per_id(&e) && chunk.len() == 1 => refused.push((chunk[0].clone(), e)),
                Err(e) if per_id(&e) => {
                    for id in chunk {
                        match self.api.create_tags(std::slice::from_ref(id), tags).await {
                            Ok(()) => {}
                            Err(e) if per_id(&e) => refused.push((id.clone(), e)),
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(refused)
    }

    /// The locks of these snapshots (expired ones included), by id; DescribeLockedSnapshots
    /// [`MAX_LOCK_IDS`] ids at a time. An id without a lock is absent.
    pub async fn locks_of(
        &self,
        ids: &[String],
    ) -> R<std::collections::BTreeMap<String, crate::locks::Lock>> {
        let mut out = std::collections::BTreeMap::new();
        for chunk in ids.chunks(MAX_LOCK_IDS) {
            let page = all_pages(|t| self.api.describe_locked_snapshots(chunk, t)).await?;
            out.extend(page);
        }
        Ok(out)
    }

    /// Recycle Bin's retention rules for EBS snapshots in this region (ListRules, then GetRule
    /// for each: typically none or a few).
    pub async fn retention_rules(&self) -> R<Vec<crate::recycle_bin::RetentionRule>> {
        let ids: Vec<String> = all_pages(|t| self.api.list_retention_rules(t)).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.api.get_retention_rule(&id).await {
                Ok(r) => out.push(r),
                // Deleted between the two calls: it covers nothing any more.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// LockSnapshot.
    pub async fn lock(&self, id: &str, req: &crate::locks::LockRequest) -> R<()> {
        self.api.lock_snapshot(id, req).await
    }

    /// Deletes one snapshot, paced; an already-deleted snapshot counts as done.
    pub async fn delete(&self, id: &str) -> R<Deleted> {
        self.deletes.acquire().await;
        match self.api.delete_snapshot(id).await {
            Err(e) if e.kind == ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            other => other,
        }
    }
}

/// EventBridge as ebs-gens uses it.
pub struct Events<A> {
    api: A,
}

impl<A: EventsApi> Events<A> {
    pub fn new(api: A) -> Self {
        Events { api }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    /// Every rule whose name starts with `prefix`, with its targets.
    pub async fn rules_with_prefix(&self, prefix: &str) -> R<Vec<ExistingRule>> {
        let summaries = all_pages(|t| self.api.list_rules(prefix, t)).await?;
        let mut out = Vec::with_capacity(summaries.len());
        // NamePrefix also matches another deployment whose name extends ours (`prod` lists
        // `prod-eu`'s rules): only names of our own layout are read further, never touched.
        for r in summaries
            .into_iter()
            .filter(|r| crate::backend::rules::parse_rule_name(prefix, &r.name).is_some())
        {
            let targets = all_pages(|t| self.api.list_targets(&r.name, t)).await?;
            out.push(ExistingRule {
                name: r.name,
                schedule_expression: r.schedule_expression,
                state: r.state,
                targets,
            });
        }
        Ok(out)
    }

    /// Applies the layout's operations in order; stops at the first failure. Returns how many
    /// operations were applied.
    pub async fn apply(&self, ops: &[RuleOp]) -> Result<usize, (usize, AwsError)> {
        for (i, op) in ops.iter().enumerate() {
            let r = match op {
                RuleOp::PutRule {
                    rule,
                    schedule,
                    description,
                } => self.api.put_rule(rule, schedule, description).await,
                // The layout already batched these to EventBridge's limits: one op, one call.
                RuleOp::PutTargets { rule, targets } => self.api.put_targets(rule, targets).await,
                RuleOp::RemoveTargets { rule, ids } => self.api.remove_targets(rule, ids).await,
                RuleOp::DeleteRule { rule } => match self.api.delete_rule(rule).await {
                    Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
                    other => other,
                },
            };
            r.map_err(|e| (i, e))?;
        }
        Ok(ops.len())
    }
}

/// EventBridge Scheduler as ebs-gens uses it: one group, our schedules in it.
pub struct Scheduler<A> {
    api: A,
}

impl<A: SchedulerApi> Scheduler<A> {
    pub fn new(api: A) -> Self {
        Scheduler { api }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    /// Every schedule in `group` with its state (pages of 100).
    pub async fn listed(&self, group: &str) -> R<Vec<crate::backend::scheduler::ListedSchedule>> {
        all_pages(|t| self.api.list_schedules(group, t)).await
    }

    /// Applies `changes` volume by volume ([`ScheduleChanges::by_volume`]: a volume's new
    /// schedule before its old one goes), [`SCHEDULE_CONCURRENCY`] volumes at a time.
    /// Throttling is back-pressure: the call waits and is tried again. A name that already
    /// exists counts as created (a retried reconcile); one already gone as deleted. No volume
    /// is started within [`SCHEDULE_DEADLINE_MARGIN`] of `deadline`: what is left is counted
    /// in [`Applied::left`] for the next invocation. Stops starting volumes at the first other
    /// failure and returns it with how many changes were applied.
    ///
    /// [`ScheduleChanges::by_volume`]: crate::backend::scheduler::ScheduleChanges::by_volume
    pub async fn apply(
        &self,
        group: &str,
        changes: &crate::backend::scheduler::ScheduleChanges,
        deadline: Option<Instant>,
    ) -> Result<Applied, (usize, AwsError)> {
        use futures_util::StreamExt;
        let units = changes.by_volume();
        let stop = AtomicBool::new(false);
        let near = || {
            deadline.is_some_and(|d| {
                d.saturating_duration_since(Instant::now()) < SCHEDULE_DEADLINE_MARGIN
            })
        };
        let results: Vec<(usize, usize, Option<AwsError>)> = futures_util::stream::iter(&units)
            .map(|u| {
                let stop = &stop;
                async move {
                    if stop.load(Ordering::Relaxed) || near() {
                        return (0, u.count(), None);
                    }
                    let mut done = 0;
                    for s in &u.create {
                        match paced(near, || self.api.create_schedule(group, s)).await {
                            Ok(()) => {}
                            Err(e) if e.kind == ErrorKind::Conflict => {}
                            Err(e) => return fail(stop, u, done, e),
                        }
                        done += 1;
                    }
                    for s in &u.enable {
                        match paced(near, || self.api.update_schedule(group, s)).await {
                            Ok(()) => {}
                            Err(e) => return fail(stop, u, done, e),
                        }
                        done += 1;
                    }
                    for name in &u.delete {
                        match paced(near, || self.api.delete_schedule(group, name)).await {
                            Ok(()) => {}
                            Err(e) if e.kind == ErrorKind::NotFound => {}
                            Err(e) => return fail(stop, u, done, e),
                        }
                        done += 1;
                    }
                    (done, 0, None)
                }
            })
            .buffer_unordered(SCHEDULE_CONCURRENCY)
            .collect()
            .await;
        let applied = results.iter().map(|r| r.0).sum();
        let left = results.iter().map(|r| r.1).sum();
        // A deadline reached while throttled leaves the rest, as a deadline does.
        match results
            .into_iter()
            .find_map(|r| r.2.filter(|e| e.code != DEADLINE_CODE))
        {
            Some(e) => Err((applied, e)),
            None => Ok(Applied { applied, left }),
        }
    }
}

/// Volumes whose schedules are changed at once (each change is one to three calls).
pub const SCHEDULE_CONCURRENCY: usize = 16;
/// No volume's changes are started closer than this to the Lambda deadline.
pub const SCHEDULE_DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest wait after a throttled Scheduler call.
const MAX_THROTTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
const DEADLINE_CODE: &str = "DeadlineNear";

/// How an apply ended: changes applied, and changes left for the next invocation (the
/// deadline came first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub applied: usize,
    pub left: usize,
}

/// A unit that failed: stop starting others; what it did not apply is left.
fn fail(
    stop: &AtomicBool,
    u: &crate::backend::scheduler::VolumeScheduleChange<'_>,
    done: usize,
    e: AwsError,
) -> (usize, usize, Option<AwsError>) {
    if e.code != DEADLINE_CODE {
        stop.store(true, Ordering::Relaxed);
    }
    (done, u.count() - done, Some(e))
}

/// Calls `f` until it is not throttled, waiting 100 ms, 200 ms, … (at most
/// [`MAX_THROTTLE_WAIT`]) between tries; gives up when `near()` says the deadline is close.
async fn paced<F, Fut>(near: impl Fn() -> bool, mut f: F) -> R<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = R<()>>,
{
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match f().await {
            Err(e) if e.kind == ErrorKind::Throttled => {
                if near() {
                    return Err(AwsError::new(
                        &e.op,
                        ErrorKind::Throttled,
                        DEADLINE_CODE,
                        "throttled until the deadline was near",
                    ));
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_THROTTLE_WAIT);
            }
            other => return other,
        }
    }
}
