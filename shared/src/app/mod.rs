//! The Lambdas' logic, generic over the AWS ports so the same code runs against AWS, the
//! emulator and the strict fake. Each `functions/*` binary only builds an [`App`] and calls one
//! handler here.

pub mod copies;
pub mod discover;
pub mod drill;
pub mod ensure_schedules;
pub mod explain;
pub mod locks;
pub mod prune;
pub mod recycle_bin;
pub mod remote;
pub mod restore;
pub mod runtime;
pub mod status;
pub mod sweep;
pub mod tag;
pub mod totals;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aws::client::{Ec2, Events, Scheduler};
use crate::aws::pacer::Pacer;
use crate::aws::{Ec2Api, EventsApi, NoScheduler, Ports, SchedulerApi, Volume};
use crate::config::Settings;
use crate::error::Error;
use crate::policy::policy_from_tags;
pub use crate::policy::VolumeJob;
use crate::snapshot::TAG_NAME;

/// Everything a handler needs, built once per Lambda instance. `P` bundles the ports; the
/// Scheduler port is [`NoScheduler`] until [`App::with_scheduler`] gives one.
pub struct App<P: Ports> {
    pub settings: Settings,
    pub ec2: Ec2<P::Ec2>,
    pub events: Events<P::Events>,
    pub scheduler: Scheduler<P::Scheduler>,
    /// EC2 in each copy destination region (`EBS_GENS_COPIES`), its deletes paced apart.
    pub destinations: BTreeMap<String, Ec2<P::Ec2>>,
    /// The region the volumes and their snapshots are in.
    pub region: String,
    /// Our account id (adoption only takes snapshots this account owns).
    pub account_id: String,
    /// `arn:aws:events:REGION:ACCOUNT:target/create-snapshot`.
    pub target_arn: String,
    /// The AWS partition of the region (`aws`, `aws-cn`, `aws-us-gov`): ARNs are built in it.
    pub partition: &'static str,
    /// Function name for metrics.
    pub function: &'static str,
    /// Whether EMF metric lines are written to stdout (off for local reports).
    pub emit_metrics: bool,
}

impl<E: Ec2Api, V: EventsApi> App<(E, V, NoScheduler)> {
    pub fn new(
        settings: Settings,
        ec2: E,
        events: V,
        account_id: &str,
        region: &str,
        function: &'static str,
    ) -> Self {
        App {
            ec2: Ec2::new(
                ec2,
                Pacer::new(settings.delete_burst, settings.deletes_per_second),
            ),
            events: Events::new(events),
            target_arn: crate::backend::rules::create_snapshot_target_arn(
                partition(region),
                region,
                account_id,
            ),
            partition: partition(region),
            account_id: account_id.to_string(),
            scheduler: Scheduler::new(NoScheduler),
            destinations: BTreeMap::new(),
            region: region.to_string(),
            settings,
            function,
            emit_metrics: true,
        }
    }

    /// Gives the app a Scheduler port.
    pub fn with_scheduler<S: SchedulerApi>(self, api: S) -> App<(E, V, S)> {
        App {
            settings: self.settings,
            ec2: self.ec2,
            events: self.events,
            scheduler: Scheduler::new(api),
            destinations: self.destinations,
            region: self.region,
            account_id: self.account_id,
            target_arn: self.target_arn,
            partition: self.partition,
            function: self.function,
            emit_metrics: self.emit_metrics,
        }
    }
}

impl<P: Ports> App<P> {
    /// Stops writing EMF lines (for local tools whose stdout is a report).
    pub fn without_metrics(mut self) -> Self {
        self.emit_metrics = false;
        self
    }

    /// Gives the app EC2 in a copy destination region.
    pub fn with_destination(mut self, region: &str, api: P::Ec2) -> Self {
        let pacer = Pacer::new(self.settings.delete_burst, self.settings.deletes_per_second);
        self.destinations
            .insert(region.to_string(), Ec2::new(api, pacer));
        self
    }

    /// Whether the settings carry what ensure-schedules needs for its backend (the role the
    /// built-in target or Scheduler assumes). Local tools without one skip reconciling.
    pub fn can_reconcile(&self) -> bool {
        self.settings.backend.role_arn().is_some()
    }

    /// Whether this invocation changes nothing: asked for by the input, or forced by the
    /// deployment (`EBS_GENS_DRY_RUN=true`). The one place dry-run is decided.
    pub fn dry_run(&self, asked: bool) -> bool {
        asked || self.settings.force_dry_run
    }

    /// The `tag-key` filter that finds our volumes, and near misses of our keys.
    pub fn volume_filter(&self) -> crate::aws::Filter {
        crate::aws::Filter::new(
            "tag-key",
            crate::policy::discovery_key_patterns(&self.settings.tag_keys),
        )
    }

    pub fn publish(&self, counts: &crate::metrics::Counts, now: chrono::DateTime<chrono::Utc>) {
        if self.emit_metrics {
            crate::metrics::publish(&self.settings.deployment, self.function, counts, now);
        }
    }
}

/// The AWS partition of a region (one definition, in the core: a copy never crosses partitions).
pub use crate::copies::partition;

/// A volume whose tags could not be read as a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MisconfiguredVolume {
    pub volume_id: String,
    pub error: String,
}

/// Splits volumes into jobs (managed) and misconfigured ones; unmanaged volumes are dropped.
pub fn classify_volumes(
    settings: &Settings,
    volumes: Vec<Volume>,
) -> (Vec<VolumeJob>, Vec<MisconfiguredVolume>) {
    let mut jobs = Vec::new();
    let mut bad = Vec::new();
    for v in volumes {
        match policy_from_tags(
            &settings.tag_keys,
            v.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ) {
            Ok(Some(policy)) => jobs.push(VolumeJob {
                volume_id: v.id.clone(),
                policy,
                instance_id: v.instance_id.clone(),
                volume_name: v.tags.get(TAG_NAME).cloned(),
                spec: v.spec.clone(),
            }),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(volume_id = %v.id, error = %e, "volume misconfigured; nothing will be deleted for it");
                bad.push(MisconfiguredVolume {
                    volume_id: v.id.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    (jobs, bad)
}

/// Display names (instance `Name` tag, volume `Name`, instance id, `unattached`) for jobs.
pub async fn display_names<E: Ec2Api>(
    ec2: &Ec2<E>,
    jobs: &[&VolumeJob],
) -> Result<BTreeMap<String, String>, Error> {
    let mut instance_ids: Vec<String> = jobs.iter().filter_map(|j| j.instance_id.clone()).collect();
    instance_ids.sort();
    instance_ids.dedup();
    let names = if instance_ids.is_empty() {
        Default::default()
    } else {
        ec2.instance_names(&instance_ids).await?
    };
    Ok(jobs
        .iter()
        .map(|j| {
            let instance_name = j
                .instance_id
                .as_ref()
                .and_then(|i| names.get(i))
                .map(String::as_str);
            (
                j.volume_id.clone(),
                crate::ownership::display_name(
                    instance_name,
                    j.volume_name.as_deref(),
                    j.instance_id.as_deref(),
                ),
            )
        })
        .collect())
}

/// Reads a handler's JSON input, or explains what is wrong with it, naming the field by its
/// path: "volumes[0].policy.gens: a policy needs at least one class",
/// "dryRun: unknown field `dryRun`, expected `volumes` or `dry_run`".
pub fn input<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        Error::InvalidInput(if path == "." {
            format!("bad input: {inner}")
        } else {
            format!("bad input: {path}: {inner}")
        })
    })
}

/// Snapshot ids to adopt, by volume id.
pub type Adoptions = BTreeMap<String, Vec<String>>;

/// Snapshot ids made ours on one volume, and the tags written on them.
pub type Tagged = (Vec<String>, Vec<(String, String)>);

/// What [`adopt`] did.
#[derive(Debug, Default)]
pub struct Adopted {
    /// Volume id → the snapshots now ours (in a dry run: that would be) and the tags written.
    pub tagged: BTreeMap<String, Tagged>,
    /// `(volume, snapshot, why)` for snapshots EC2 would not let us tag: gone since listed, or
    /// refused by IAM (another deployment tagged it first). Skipped, never fatal to the batch.
    pub refused: Vec<(String, String, String)>,
}

impl Adopted {
    pub fn count(&self) -> usize {
        self.tagged.values().map(|(ids, _)| ids.len()).sum()
    }

    pub fn ids(&self, volume_id: &str) -> &[String] {
        self.tagged.get(volume_id).map_or(&[], |(ids, _)| ids)
    }
}

/// The adoption step tag-snapshot and prune-volumes share: writes our ownership tags (the
/// `Name` from the attached instance) on `wanted`, one CreateTags per volume, and logs each
/// adoption. A dry run decides and logs the same and writes nothing.
pub async fn adopt<P: Ports>(
    app: &App<P>,
    jobs: &BTreeMap<String, VolumeJob>,
    wanted: &Adoptions,
    reason: &str,
    dry_run: bool,
) -> Result<Adopted, Error> {
    let mut out = Adopted::default();
    if wanted.is_empty() {
        return Ok(out);
    }
    let need: Vec<&VolumeJob> = wanted.keys().filter_map(|v| jobs.get(v)).collect();
    let names = display_names(&app.ec2, &need).await?;
    for (vol, ids) in wanted {
        let (Some(job), Some(name)) = (jobs.get(vol), names.get(vol)) else {
            continue;
        };
        let tags = crate::ownership::ownership_tags(&app.settings.deployment, job, name);
        let refused = if dry_run {
            vec![]
        } else {
            app.ec2.tag_each(ids, &tags).await?
        };
        let mut ok = Vec::with_capacity(ids.len());
        for id in ids {
            match refused.iter().find(|(r, _)| r == id) {
                Some((_, e)) => {
                    let why = format!("not adopted: {}: {}", e.code, e.message);
                    tracing::warn!(volume_id = %vol, snapshot_id = %id, reason = %why, "adopt refused; skipped");
                    out.refused.push((vol.clone(), id.clone(), why));
                }
                None => {
                    tracing::info!(volume_id = %vol, snapshot_id = %id, reason, mode = %app.settings.adoption, dry_run, "adopt");
                    ok.push(id.clone());
                }
            }
        }
        out.tagged.insert(vol.clone(), (ok, tags));
    }
    Ok(out)
}
