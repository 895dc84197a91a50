//! The ports implemented with the AWS SDK for Rust. Clients are built once, in each Lambda's
//! `main`, from one `aws_config` load; the endpoint comes from the standard `AWS_ENDPOINT_URL`,
//! so the same binary talks to AWS or to an emulator.

use std::collections::BTreeMap;

use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types as ec2t;
use aws_sdk_eventbridge::types as evt;
use chrono::{DateTime, Utc};

use crate::backend::rules::{RuleState, Target};
use crate::snapshot::{Snapshot, SnapshotState};

use super::{
    classify, AwsError, CopySpec, Deleted, Ec2Api, ErrorKind, EventsApi, Page, PageRequest,
    ResourceTag, RuleSummary, Volume, MAX_EVENTS_PAGE,
};

type R<T> = Result<T, AwsError>;

/// Loads the shared SDK configuration once (region, credentials, `AWS_ENDPOINT_URL`, retries):
/// standard retry mode, [`super::SDK_MAX_ATTEMPTS`] attempts, 1 s initial and 20 s maximum
/// backoff (see there for why not adaptive).
pub async fn load_config() -> aws_config::SdkConfig {
    load_config_with(None, None, None).await
}

/// [`load_config`] with an operator's overrides (the CLI's `--region`, `--profile`,
/// `--endpoint-url`); `None` keeps the standard credential and region chain.
pub async fn load_config_with(
    region: Option<String>,
    profile: Option<String>,
    endpoint_url: Option<String>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r));
    }
    if let Some(p) = profile {
        loader = loader.profile_name(p);
    }
    if let Some(u) = endpoint_url {
        loader = loader.endpoint_url(u);
    }
    loader
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(super::SDK_MAX_ATTEMPTS)
                .with_initial_backoff(std::time::Duration::from_secs_f64(
                    super::SDK_INITIAL_BACKOFF_SECS,
                ))
                .with_max_backoff(std::time::Duration::from_secs_f64(
                    super::SDK_MAX_BACKOFF_SECS,
                )),
        )
        .load()
        .await
}

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    e: SdkError<E, aws_smithy_runtime_api_http::HttpResponse>,
) -> AwsError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_string();
    let message = match e.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&e).to_string(),
    };
    let kind = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => ErrorKind::Transient,
        SdkError::ConstructionFailure(_) => ErrorKind::Invalid,
        _ => classify(&code, &message, status),
    };
    AwsError::new(
        op,
        kind,
        if code.is_empty() {
            "Unknown".to_string()
        } else {
            code
        },
        message,
    )
}

mod aws_smithy_runtime_api_http {
    pub use aws_sdk_ec2::config::http::HttpResponse;
}

fn time(t: Option<&aws_sdk_ec2::primitives::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn filters(req: &PageRequest) -> Option<Vec<ec2t::Filter>> {
    if req.filters.is_empty() {
        return None;
    }
    Some(
        req.filters
            .iter()
            .map(|f| {
                ec2t::Filter::builder()
                    .name(&f.name)
                    .set_values(Some(f.values.clone()))
                    .build()
            })
            .collect(),
    )
}

fn tag_map(tags: &[ec2t::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The tags a resource is born with (TagSpecifications).
fn tag_spec(resource: ec2t::ResourceType, tags: &[(String, String)]) -> ec2t::TagSpecification {
    ec2t::TagSpecification::builder()
        .resource_type(resource)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| ec2t::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

/// A describe of one resource by id: `None` when EC2 says it does not exist.
fn found<T>(r: Result<T, AwsError>) -> R<Option<T>> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A described instance as ours (`None` without an id).
fn instance_of(i: &ec2t::Instance) -> Option<crate::sets::Instance> {
    let mappings = i.block_device_mappings();
    Some(crate::sets::Instance {
        id: i.instance_id()?.to_string(),
        state: i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default(),
        zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .unwrap_or_default()
            .to_string(),
        devices: mappings
            .iter()
            .filter_map(|m| m.device_name().map(str::to_string))
            .collect(),
        tags: tag_map(i.tags()),
        root_device: i.root_device_name().map(str::to_string),
        volumes: mappings
            .iter()
            .filter_map(|m| {
                let vol = m.ebs()?.volume_id()?;
                Some((m.device_name()?.to_string(), vol.to_string()))
            })
            .collect(),
    })
}

/// A described snapshot as ours (`None` without an id or a start time).
fn snapshot_of(s: &ec2t::Snapshot) -> Option<Snapshot> {
    Some(Snapshot {
        id: s.snapshot_id()?.to_string(),
        volume_id: s.volume_id().unwrap_or_default().to_string(),
        start_time: time(s.start_time())?,
        state: SnapshotState::parse(s.state().map(|s| s.as_str()).unwrap_or("unknown")),
        owner_id: s.owner_id().unwrap_or_default().to_string(),
        tags: tag_map(s.tags()),
    })
}

/// EC2 through `aws-sdk-ec2`, and the Recycle Bin rules that decide what its deletes free
/// through `aws-sdk-rbin` (same region, same credentials and endpoint).
#[derive(Clone)]
pub struct SdkEc2 {
    client: aws_sdk_ec2::Client,
    rbin: aws_sdk_rbin::Client,
}

impl SdkEc2 {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkEc2 {
            client: aws_sdk_ec2::Client::new(config),
            rbin: aws_sdk_rbin::Client::new(config),
        }
    }
}

/// A GetRule answer as ours: retention in days (the only unit Recycle Bin has).
fn retention_rule(
    id: &str,
    out: &aws_sdk_rbin::operation::get_rule::GetRuleOutput,
) -> R<crate::recycle_bin::RetentionRule> {
    use aws_sdk_rbin::types::{LockState, ResourceTag, RetentionPeriodUnit, RuleStatus};
    let period = out.retention_period();
    let days = match period.map(|p| (p.retention_period_unit(), p.retention_period_value())) {
        Some((RetentionPeriodUnit::Days, v)) if v > 0 => v as u32,
        other => {
            return Err(AwsError::new(
                "GetRule",
                ErrorKind::Other,
                "UnexpectedRetentionPeriod",
                format!("rule {id}: retention period {other:?}"),
            ))
        }
    };
    let pairs = |tags: &[ResourceTag]| {
        tags.iter()
            .map(|t| {
                (
                    t.resource_tag_key().to_string(),
                    t.resource_tag_value()
                        .filter(|v| !v.is_empty())
                        .map(str::to_string),
                )
            })
            .collect()
    };
    Ok(crate::recycle_bin::RetentionRule {
        id: id.to_string(),
        days,
        resource_tags: pairs(out.resource_tags()),
        exclude_tags: pairs(out.exclude_resource_tags()),
        available: out.status() == Some(&RuleStatus::Available),
        locked: out.lock_state() == Some(&LockState::Locked),
    })
}

impl Ec2Api for SdkEc2 {
    async fn describe_volumes(&self, req: PageRequest) -> R<Page<Volume>> {
        let out = self
            .client
            .describe_volumes()
            .set_filters(filters(&req))
            .set_volume_ids((!req.ids.is_empty()).then(|| req.ids.clone()))
            .set_max_results(req.max_results)
            .set_next_token(req.next_token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeVolumes", e))?;
        let items = out
            .volumes()
            .iter()
            .filter_map(|v| {
                Some(Volume {
                    id: v.volume_id()?.to_string(),
                    state: v
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    tags: tag_map(v.tags()),
                    instance_id: v
                        .attachments()
                        .iter()
                        .find_map(|a| a.instance_id().map(str::to_string)),
                    create_time: v
                        .create_time()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                    zone: v.availability_zone().map(str::to_string),
                    spec: v.volume_type().map(|t| crate::restore::VolumeSpec {
                        volume_type: t.as_str().to_string(),
                        size_gib: v.size(),
                        iops: v.iops(),
                        throughput: v.throughput(),
                    }),
                })
            })
            .collect();
        Ok(Page {
            items,
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn describe_snapshots(&self, req: PageRequest) -> R<Page<Snapshot>> {
        let out = self
            .client
            .describe_snapshots()
            .set_owner_ids((!req.owners.is_empty()).then(|| req.owners.clone()))
            .set_filters(filters(&req))
            .set_snapshot_ids((!req.ids.is_empty()).then(|| req.ids.clone()))
            .set_max_results(req.max_results)
            .set_next_token(req.next_token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeSnapshots", e))?;
        let items = out.snapshots().iter().filter_map(snapshot_of).collect();
        Ok(Page {
            items,
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn describe_tags(&self, req: PageRequest) -> R<Page<ResourceTag>> {
        let out = self
            .client
            .describe_tags()
            .set_filters(filters(&req))
            .set_max_results(req.max_results)
            .set_next_token(req.next_token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTags", e))?;
        let items = out
            .tags()
            .iter()
            .filter_map(|t| {
                Some(ResourceTag {
                    resource_id: t.resource_id()?.to_string(),
                    key: t.key()?.to_string(),
                    value: t.value().unwrap_or_default().to_string(),
                })
            })
            .collect();
        Ok(Page {
            items,
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn create_tags(&self, ids: &[String], tags: &[(String, String)]) -> R<()> {
        self.client
            .create_tags()
            .set_resources(Some(ids.to_vec()))
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| ec2t::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| sdk_error("CreateTags", e))?;
        Ok(())
    }

    async fn delete_snapshot(&self, id: &str) -> R<Deleted> {
        self.client
            .delete_snapshot()
            .snapshot_id(id)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteSnapshot", e))?;
        Ok(Deleted::Deleted)
    }

    async fn describe_locked_snapshots(
        &self,
        ids: &[String],
        next_token: Option<String>,
    ) -> R<Page<(String, crate::locks::Lock)>> {
        let out = self
            .client
            .describe_locked_snapshots()
            .set_snapshot_ids(Some(ids.to_vec()))
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeLockedSnapshots", e))?;
        let items = out
            .snapshots()
            .iter()
            .filter_map(|s| {
                let lock = crate::locks::Lock {
                    state: crate::locks::LockState::parse(
                        s.lock_state().map_or("", |st| st.as_str()),
                    ),
                    expires: s
                        .lock_expires_on()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                };
                Some((s.snapshot_id()?.to_string(), lock))
            })
            .collect();
        Ok(Page {
            items,
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn lock_snapshot(&self, id: &str, req: &crate::locks::LockRequest) -> R<()> {
        let mode = match req.mode {
            crate::locks::LockMode::Governance => ec2t::LockMode::Governance,
            crate::locks::LockMode::Compliance => ec2t::LockMode::Compliance,
        };
        self.client
            .lock_snapshot()
            .snapshot_id(id)
            .lock_mode(mode)
            .expiration_date(aws_sdk_ec2::primitives::DateTime::from_secs(
                req.until.timestamp(),
            ))
            .set_cool_off_period(req.cool_off_hours.map(|h| h as i32))
            .send()
            .await
            .map_err(|e| sdk_error("LockSnapshot", e))?;
        Ok(())
    }

    async fn describe_snapshot_facts(&self, id: &str) -> R<Option<super::SnapshotFacts>> {
        let sent = self
            .client
            .describe_snapshots()
            .snapshot_ids(id)
            .send()
            .await;
        let Some(out) = found(sent.map_err(|e| sdk_error("DescribeSnapshots", e)))? else {
            return Ok(None);
        };
        Ok(out.snapshots().first().and_then(|s| {
            Some(super::SnapshotFacts {
                snapshot: snapshot_of(s)?,
                size_gib: s.volume_size().unwrap_or(0),
                encrypted: s.encrypted().unwrap_or(false),
                kms_key_id: s.kms_key_id().map(str::to_string),
            })
        }))
    }

    async fn describe_zones(&self) -> R<Vec<String>> {
        let out = self
            .client
            .describe_availability_zones()
            .send()
            .await
            .map_err(|e| sdk_error("DescribeAvailabilityZones", e))?;
        Ok(out
            .availability_zones()
            .iter()
            .filter(|z| z.state().is_none_or(|s| s.as_str() == "available"))
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect())
    }

    async fn describe_instance(&self, id: &str) -> R<Option<crate::sets::Instance>> {
        let sent = self
            .client
            .describe_instances()
            .instance_ids(id)
            .send()
            .await;
        let Some(out) = found(sent.map_err(|e| sdk_error("DescribeInstances", e)))? else {
            return Ok(None);
        };
        let found = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(id));
        Ok(found.and_then(instance_of))
    }

    async fn describe_instances(&self, req: PageRequest) -> R<Page<crate::sets::Instance>> {
        let out = self
            .client
            .describe_instances()
            .set_filters(filters(&req))
            .set_max_results(req.max_results)
            .set_next_token(req.next_token.clone())
            .send()
            .await
            .map_err(|e| sdk_error("DescribeInstances", e))?;
        Ok(Page {
            items: out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(instance_of)
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn create_volume(&self, req: &super::VolumeRequest) -> R<String> {
        let tags = tag_spec(ec2t::ResourceType::Volume, &req.tags);
        let out = self
            .client
            .create_volume()
            .snapshot_id(&req.snapshot_id)
            .availability_zone(&req.zone)
            .volume_type(ec2t::VolumeType::from(req.spec.volume_type.as_str()))
            .set_size(req.spec.size_gib)
            .set_iops(req.spec.iops)
            .set_throughput(req.spec.throughput)
            .set_encrypted(req.encrypted.then_some(true))
            .set_kms_key_id(req.kms_key_id.clone())
            .tag_specifications(tags)
            .client_token(&req.client_token)
            .send()
            .await
            .map_err(|e| sdk_error("CreateVolume", e))?;
        out.volume_id().map(str::to_string).ok_or_else(|| {
            AwsError::new(
                "CreateVolume",
                ErrorKind::Other,
                "NoVolumeId",
                "CreateVolume returned no volume id",
            )
        })
    }

    async fn attach_volume(&self, volume_id: &str, instance_id: &str, device: &str) -> R<()> {
        self.client
            .attach_volume()
            .volume_id(volume_id)
            .instance_id(instance_id)
            .device(device)
            .send()
            .await
            .map_err(|e| sdk_error("AttachVolume", e))?;
        Ok(())
    }

    async fn delete_volume(&self, id: &str) -> R<()> {
        self.client
            .delete_volume()
            .volume_id(id)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteVolume", e))?;
        Ok(())
    }

    async fn list_retention_rules(&self, next_token: Option<String>) -> R<Page<String>> {
        let out = self
            .rbin
            .list_rules()
            .resource_type(aws_sdk_rbin::types::ResourceType::EbsSnapshot)
            .max_results(100)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| sdk_error("ListRules", e))?;
        Ok(Page {
            items: out
                .rules()
                .iter()
                .filter_map(|r| r.identifier().map(str::to_string))
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn get_retention_rule(&self, id: &str) -> R<crate::recycle_bin::RetentionRule> {
        let out = self
            .rbin
            .get_rule()
            .identifier(id)
            .send()
            .await
            .map_err(|e| sdk_error("GetRule", e))?;
        retention_rule(id, &out)
    }

    async fn copy_snapshot(&self, req: &CopySpec) -> R<String> {
        let tags = tag_spec(ec2t::ResourceType::Snapshot, &req.tags);
        let out = self
            .client
            .copy_snapshot()
            .source_region(&req.source_region)
            .source_snapshot_id(&req.source_snapshot_id)
            .description(&req.description)
            .tag_specifications(tags)
            .set_kms_key_id(req.kms_key_id.clone())
            .set_encrypted(req.kms_key_id.is_some().then_some(true))
            .set_completion_duration_minutes(req.completion_minutes.map(|m| m as i32))
            // One attempt: CopySnapshot takes no client token, so a retry after a lost answer
            // could start a second copy. A failed call is left to the next run, which finds a
            // copy that did start by its `ebs-gens:copy-of` tag.
            .customize()
            .config_override(
                aws_sdk_ec2::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| sdk_error("CopySnapshot", e))?;
        out.snapshot_id().map(str::to_string).ok_or_else(|| {
            AwsError::new(
                "CopySnapshot",
                ErrorKind::Other,
                "NoSnapshotId",
                "CopySnapshot returned no snapshot id",
            )
        })
    }
}

/// EventBridge through `aws-sdk-eventbridge`.
#[derive(Clone)]
pub struct SdkEvents {
    client: aws_sdk_eventbridge::Client,
}

impl SdkEvents {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkEvents {
            client: aws_sdk_eventbridge::Client::new(config),
        }
    }
}

fn failed_entries(
    op: &str,
    entries: impl Iterator<Item = (Option<String>, Option<String>, Option<String>)>,
) -> R<()> {
    let failed: Vec<String> = entries
        .map(|(id, code, msg)| {
            format!(
                "{}: {}: {}",
                id.unwrap_or_default(),
                code.unwrap_or_default(),
                msg.unwrap_or_default()
            )
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(AwsError::new(
        op,
        ErrorKind::Transient,
        "FailedEntries",
        failed.join("; "),
    ))
}

impl EventsApi for SdkEvents {
    async fn list_rules(&self, prefix: &str, next_token: Option<String>) -> R<Page<RuleSummary>> {
        let out = self
            .client
            .list_rules()
            .name_prefix(prefix)
            .limit(MAX_EVENTS_PAGE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| sdk_error("ListRules", e))?;
        let items = out
            .rules()
            .iter()
            .filter_map(|r| {
                Some(RuleSummary {
                    name: r.name()?.to_string(),
                    schedule_expression: r.schedule_expression().map(str::to_string),
                    state: match r.state() {
                        Some(evt::RuleState::Enabled) => RuleState::Enabled,
                        Some(evt::RuleState::Disabled) => RuleState::Disabled,
                        _ => RuleState::Other,
                    },
                })
            })
            .collect();
        Ok(Page {
            items,
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn list_targets(&self, rule: &str, next_token: Option<String>) -> R<Page<Target>> {
        let out = self
            .client
            .list_targets_by_rule()
            .rule(rule)
            .limit(MAX_EVENTS_PAGE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| sdk_error("ListTargetsByRule", e))?;
        let items = out
            .targets()
            .iter()
            .map(|t| Target {
                id: t.id().to_string(),
                arn: t.arn().to_string(),
                input: t.input().map(str::to_string),
                role_arn: t.role_arn().map(str::to_string),
            })
            .collect();
        Ok(Page {
            items,
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn put_rule(&self, rule: &str, schedule: &str, description: &str) -> R<()> {
        self.client
            .put_rule()
            .name(rule)
            .schedule_expression(schedule)
            .state(evt::RuleState::Enabled)
            .description(description)
            .send()
            .await
            .map_err(|e| sdk_error("PutRule", e))?;
        Ok(())
    }

    async fn put_targets(&self, rule: &str, targets: &[Target]) -> R<()> {
        let ts = targets
            .iter()
            .map(|t| {
                evt::Target::builder()
                    .id(&t.id)
                    .arn(&t.arn)
                    .set_input(t.input.clone())
                    .set_role_arn(t.role_arn.clone())
                    .build()
                    .map_err(|e| {
                        AwsError::new(
                            "PutTargets",
                            ErrorKind::Invalid,
                            "BuildError",
                            e.to_string(),
                        )
                    })
            })
            .collect::<R<Vec<_>>>()?;
        let out = self
            .client
            .put_targets()
            .rule(rule)
            .set_targets(Some(ts))
            .send()
            .await
            .map_err(|e| sdk_error("PutTargets", e))?;
        failed_entries(
            "PutTargets",
            out.failed_entries().iter().map(|f| {
                (
                    f.target_id().map(str::to_string),
                    f.error_code().map(str::to_string),
                    f.error_message().map(str::to_string),
                )
            }),
        )
    }

    async fn remove_targets(&self, rule: &str, ids: &[String]) -> R<()> {
        let out = self
            .client
            .remove_targets()
            .rule(rule)
            .set_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| sdk_error("RemoveTargets", e))?;
        failed_entries(
            "RemoveTargets",
            out.failed_entries().iter().map(|f| {
                (
                    f.target_id().map(str::to_string),
                    f.error_code().map(str::to_string),
                    f.error_message().map(str::to_string),
                )
            }),
        )
    }

    async fn delete_rule(&self, rule: &str) -> R<()> {
        self.client
            .delete_rule()
            .name(rule)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteRule", e))?;
        Ok(())
    }
}

#[cfg(feature = "sfn")]
use super::{Execution, ExecutionsApi};

/// EventBridge Scheduler through `aws-sdk-scheduler`.
#[derive(Clone)]
pub struct SdkScheduler {
    client: aws_sdk_scheduler::Client,
}

impl SdkScheduler {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkScheduler {
            client: aws_sdk_scheduler::Client::new(config),
        }
    }

    pub fn from_client(client: aws_sdk_scheduler::Client) -> Self {
        SdkScheduler { client }
    }
}

fn build_error(op: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::new(op, ErrorKind::Invalid, "BuildError", e.to_string())
}

/// The parts of a schedule's definition CreateSchedule and UpdateSchedule both take.
fn schedule_parts(
    op: &str,
    spec: &crate::backend::scheduler::ScheduleSpec,
) -> R<(
    aws_sdk_scheduler::types::FlexibleTimeWindow,
    aws_sdk_scheduler::types::Target,
)> {
    use aws_sdk_scheduler::types::{
        DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, RetryPolicy, Target,
    };
    let window = if spec.flexible_window_minutes == 0 {
        FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off)
    } else {
        FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(spec.flexible_window_minutes as i32)
    }
    .build()
    .map_err(|e| build_error(op, e))?;
    let target = Target::builder()
        .arn(&spec.target_arn)
        .role_arn(&spec.role_arn)
        .input(&spec.input)
        .retry_policy(
            RetryPolicy::builder()
                .maximum_retry_attempts(spec.retry_attempts as i32)
                .maximum_event_age_in_seconds(spec.max_event_age_seconds as i32)
                .build(),
        )
        .set_dead_letter_config(
            spec.dead_letter_arn
                .as_ref()
                .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
        )
        .build()
        .map_err(|e| build_error(op, e))?;
    Ok((window, target))
}

fn schedule_description(spec: &crate::backend::scheduler::ScheduleSpec) -> String {
    format!("ebs-gens: {} snapshots of {}", spec.class, spec.volume_id)
}

impl super::SchedulerApi for SdkScheduler {
    async fn list_schedules(
        &self,
        group: &str,
        next_token: Option<String>,
    ) -> R<Page<crate::backend::scheduler::ListedSchedule>> {
        use aws_sdk_scheduler::types::ScheduleState;
        let out = self
            .client
            .list_schedules()
            .group_name(group)
            .max_results(crate::backend::scheduler::MAX_SCHEDULES_PAGE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| sdk_error("ListSchedules", e))?;
        Ok(Page {
            items: out
                .schedules()
                .iter()
                .filter_map(|s| {
                    Some(crate::backend::scheduler::ListedSchedule {
                        name: s.name()?.to_string(),
                        // Only an explicit DISABLED is off: a summary without a state is
                        // taken as enabled, so nothing is re-written on a guess.
                        enabled: s.state() != Some(&ScheduleState::Disabled),
                    })
                })
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn create_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> R<()> {
        let op = "CreateSchedule";
        let (window, target) = schedule_parts(op, spec)?;
        self.client
            .create_schedule()
            .name(&spec.name)
            .group_name(group)
            .schedule_expression(&spec.expression)
            .schedule_expression_timezone(&spec.time_zone)
            .flexible_time_window(window)
            .target(target)
            .state(aws_sdk_scheduler::types::ScheduleState::Enabled)
            .description(schedule_description(spec))
            .send()
            .await
            .map_err(|e| sdk_error(op, e))?;
        Ok(())
    }

    async fn update_schedule(
        &self,
        group: &str,
        spec: &crate::backend::scheduler::ScheduleSpec,
    ) -> R<()> {
        let op = "UpdateSchedule";
        let (window, target) = schedule_parts(op, spec)?;
        self.client
            .update_schedule()
            .name(&spec.name)
            .group_name(group)
            .schedule_expression(&spec.expression)
            .schedule_expression_timezone(&spec.time_zone)
            .flexible_time_window(window)
            .target(target)
            .state(aws_sdk_scheduler::types::ScheduleState::Enabled)
            .description(schedule_description(spec))
            .send()
            .await
            .map_err(|e| sdk_error(op, e))?;
        Ok(())
    }

    async fn delete_schedule(&self, group: &str, name: &str) -> R<()> {
        self.client
            .delete_schedule()
            .name(name)
            .group_name(group)
            .send()
            .await
            .map_err(|e| sdk_error("DeleteSchedule", e))?;
        Ok(())
    }
}

/// Step Functions through `aws-sdk-sfn`: the operator's tooling starts the deployed sweep and
/// follows it (feature `sfn`; no Lambda needs it, so none compiles `aws-sdk-sfn`).
#[cfg(feature = "sfn")]
#[derive(Clone)]
pub struct SdkExecutions {
    client: aws_sdk_sfn::Client,
}

#[cfg(feature = "sfn")]
impl SdkExecutions {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        SdkExecutions {
            client: aws_sdk_sfn::Client::new(config),
        }
    }
}

#[cfg(feature = "sfn")]
impl ExecutionsApi for SdkExecutions {
    async fn start_execution(&self, state_machine_arn: &str, name: &str, input: &str) -> R<String> {
        let out = self
            .client
            .start_execution()
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| sdk_error("StartExecution", e))?;
        Ok(out.execution_arn().to_string())
    }

    async fn describe_execution(&self, execution_arn: &str) -> R<Execution> {
        let out = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeExecution", e))?;
        Ok(Execution {
            arn: out.execution_arn().to_string(),
            status: out.status().as_str().to_string(),
            output: out.output().map(str::to_string),
            error: out.error().map(str::to_string),
            cause: out.cause().map(str::to_string),
        })
    }
}
