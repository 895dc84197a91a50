//! `ebs-gens restore`: fetch (the source volume if it still exists, its generations here or its
//! copies in a destination, the chosen snapshot's size and encryption, the target region's
//! zones, the instance to attach to) → decide ([`crate::restore`]: which generation, what
//! volume, which zone, whether the attachment can work) → apply (CreateVolume born tagged, wait
//! until `available`, attach) → report, with how to undo it. Nothing is created until every
//! check has passed; nothing is ever deleted. The CLI's one direct write: the operator asks
//! for it by name, with the operator's credentials (docs/restore.md).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::client::Ec2;
use crate::aws::{Ec2Api, Ports, VolumeRequest};
use crate::error::Error;
use crate::restore::{
    check_attach, check_named, choose, restored_tags, volume_spec, zone, Chosen, SpecSource,
    VolumeSpec, TAG_VOLUME_SPEC,
};
use crate::snapshot::TAG_NAME;

use super::App;

/// What the operator asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub volume_id: String,
    /// Restore the newest generation at or before this time (default: now).
    pub at: Option<DateTime<Utc>>,
    /// Or exactly this snapshot (ours, completed).
    pub snapshot_id: Option<String>,
    /// Restore a copy in this destination region instead of a snapshot here.
    pub from_region: Option<String>,
    pub az: Option<String>,
    /// Attach the new volume to this instance as this device.
    pub attach: Option<(String, String)>,
}

/// The volume a restore creates, and why: shown before anything is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePlan {
    pub source_volume: String,
    /// Where the volume is created (the deployment's region, or the copy's).
    pub region: String,
    pub chosen: Chosen,
    pub zone: String,
    pub spec: VolumeSpec,
    pub spec_from: SpecSource,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub attach: Option<(String, String)>,
    /// What the operator should know (gp3 defaults used, the source volume gone, …).
    pub notes: Vec<String>,
}

/// What a restore created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Restored {
    pub plan: RestorePlan,
    pub volume_id: String,
    /// `available` (or `in-use` once attached).
    pub state: String,
    /// From CreateVolume to `available`.
    pub seconds_to_available: f64,
    pub attached: bool,
    /// The commands that undo it.
    pub undo: Vec<String>,
}

/// How long and how often a restore waits for `available`.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub every: Duration,
    pub at_most: Duration,
}

impl Wait {
    pub const DEFAULT: Wait = Wait {
        every: Duration::from_secs(5),
        at_most: Duration::from_secs(30 * 60),
    };
}

fn input(why: String) -> Error {
    Error::InvalidInput(why)
}

/// The EC2 client of the region the restore reads from and creates in.
pub fn region_client<'a, P: Ports>(
    app: &'a App<P>,
    from_region: Option<&str>,
) -> Result<(&'a Ec2<P::Ec2>, String), Error> {
    match from_region {
        None => Ok((&app.ec2, app.region.clone())),
        Some(r) if r == app.region => Ok((&app.ec2, app.region.clone())),
        Some(r) => app.destinations.get(r).map(|c| (c, r.to_string())).ok_or_else(|| {
            input(format!(
                "--from-region {r}: not one of this deployment's copy destinations ({}); give --copy-region {r} to look there anyway",
                if app.destinations.is_empty() {
                    "it has none".to_string()
                } else {
                    app.destinations.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ))
        }),
    }
}

/// Fetch and decide: the restore's plan, or a clear error naming what is wrong (nothing
/// created either way).
pub async fn plan<P: Ports>(
    app: &App<P>,
    req: &RestoreRequest,
    now: DateTime<Utc>,
) -> Result<RestorePlan, Error> {
    let (ec2, region) = region_client(app, req.from_region.as_deref())?;
    let of_copy = region != app.region;
    let dep = &app.settings.deployment;
    // The source volume, when it still exists (in the deployment's region).
    let source = app
        .ec2
        .volumes_by_id(std::slice::from_ref(&req.volume_id))
        .await
        .or_else(|e| match e.kind {
            crate::aws::ErrorKind::NotFound => Ok(vec![]),
            _ => Err(e),
        })?
        .into_iter()
        .next();
    let chosen = match &req.snapshot_id {
        Some(id) => {
            let facts = ec2.api().describe_snapshot_facts(id).await?;
            let c = check_named(
                facts.as_ref().map(|f| &f.snapshot),
                id,
                dep,
                &app.account_id,
            )
            .map_err(input)?;
            let of = facts
                .as_ref()
                .and_then(|f| {
                    f.snapshot
                        .tag(crate::snapshot::TAG_VOLUME)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| {
                    facts
                        .as_ref()
                        .map(|f| f.snapshot.volume_id.clone())
                        .unwrap_or_default()
                });
            if of != req.volume_id {
                return Err(input(format!(
                    "--snapshot {id} is a generation of {of}, not of {}",
                    req.volume_id
                )));
            }
            c
        }
        None => {
            let ids = std::slice::from_ref(&req.volume_id);
            let listed = match of_copy {
                true => ec2.copies_of(dep, ids).await?,
                false => ec2.snapshots_of(ids).await?,
            };
            let at = req.at.unwrap_or(now);
            choose(&listed, &req.volume_id, dep, &app.account_id, at).map_err(input)?
        }
    };
    let facts = ec2
        .api()
        .describe_snapshot_facts(&chosen.snapshot_id)
        .await?
        .ok_or_else(|| input(format!("{}: gone since it was listed", chosen.snapshot_id)))?;
    let recorded = facts.snapshot.tag(TAG_VOLUME_SPEC);
    let (spec, spec_from, note) = volume_spec(
        source.as_ref().and_then(|v| v.spec.as_ref()),
        recorded,
        facts.size_gib,
    );
    let mut notes: Vec<String> = note.into_iter().collect();
    if source.is_none() {
        notes.push(format!(
            "the source volume {} no longer exists",
            req.volume_id
        ));
    }
    let zones = ec2.api().describe_zones().await?;
    let zone = zone(
        req.az.as_deref(),
        source.as_ref().and_then(|v| v.zone.as_deref()),
        &region,
        &zones,
        of_copy,
    )
    .map_err(input)?;
    if let Some((instance, device)) = &req.attach {
        let i = ec2.api().describe_instance(instance).await?;
        check_attach(i.as_ref(), instance, device, &zone).map_err(input)?;
    }
    let name = source
        .as_ref()
        .and_then(|v| v.tags.get(TAG_NAME).cloned())
        .or_else(|| facts.snapshot.tag(TAG_NAME).map(str::to_string));
    Ok(RestorePlan {
        source_volume: req.volume_id.clone(),
        region,
        tags: restored_tags(dep, &req.volume_id, &chosen, name.as_deref()),
        chosen,
        zone,
        spec,
        spec_from,
        encrypted: facts.encrypted,
        kms_key_id: facts.kms_key_id,
        attach: req.attach.clone(),
        notes,
    })
}

/// Apply: create the volume (idempotent by `client_token`), wait until it is `available`
/// (`progress` hears each state seen), attach it if asked. A volume that ends in `error`, or is
/// not available in time, is an error that names it — it is left for the operator to inspect,
/// and the undo command is in the message.
pub async fn apply<E: Ec2Api>(
    ec2: &Ec2<E>,
    plan: &RestorePlan,
    client_token: &str,
    wait: Wait,
    progress: impl Fn(&str, &str),
) -> Result<Restored, Error> {
    let req = VolumeRequest {
        snapshot_id: plan.chosen.snapshot_id.clone(),
        zone: plan.zone.clone(),
        spec: plan.spec.clone(),
        encrypted: plan.encrypted,
        kms_key_id: plan.kms_key_id.clone(),
        tags: plan
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        client_token: client_token.to_string(),
    };
    let started = tokio::time::Instant::now();
    let id = ec2.api().create_volume(&req).await?;
    tracing::info!(volume_id = %id, snapshot_id = %plan.chosen.snapshot_id, zone = %plan.zone, "volume created from snapshot");
    let mut undo = vec![format!(
        "aws ec2 delete-volume --region {} --volume-id {id}",
        plan.region
    )];
    let state = loop {
        let state = ec2
            .volumes_by_id(std::slice::from_ref(&id))
            .await?
            .into_iter()
            .next()
            .map(|v| v.state)
            .unwrap_or_else(|| "gone".into());
        progress(&id, &state);
        match state.as_str() {
            "available" => break state,
            "creating" if started.elapsed() < wait.at_most => {
                tokio::time::sleep(wait.every).await;
            }
            "creating" => {
                return Err(Error::Internal(format!(
                    "restore: {id} still creating after {} s; left as is (undo: {})",
                    wait.at_most.as_secs(),
                    undo[0]
                )))
            }
            other => {
                return Err(Error::Internal(format!(
                    "restore: {id} ended {other}; left for inspection (undo: {})",
                    undo[0]
                )))
            }
        }
    };
    let seconds_to_available = started.elapsed().as_secs_f64();
    let mut attached = false;
    let mut state = state;
    if let Some((instance, device)) = &plan.attach {
        ec2.api().attach_volume(&id, instance, device).await?;
        tracing::info!(volume_id = %id, instance_id = %instance, device = %device, "volume attached");
        attached = true;
        state = "in-use".into();
        undo.insert(
            0,
            format!(
                "aws ec2 detach-volume --region {} --volume-id {id}   (after unmounting it on {instance})",
                plan.region
            ),
        );
    }
    Ok(Restored {
        plan: plan.clone(),
        volume_id: id,
        state,
        seconds_to_available,
        attached,
        undo,
    })
}

/// A whole-instance restore: the set chosen, and one volume plan per member, all in one zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRestorePlan {
    pub instance: String,
    pub chosen: crate::restore::ChosenSet,
    pub zone: String,
    /// Each member's volume, in the member volumes' order; `device` is where the source was
    /// attached (when the instance still shows it), to attach the restored set alike.
    pub volumes: Vec<RestorePlan>,
    pub devices: BTreeMap<String, String>,
}

/// `restore --instance ID [--at TIME] [--az AZ]`: the newest whole set at or before the time,
/// each member planned as a single restore (the same checks) into the instance's zone (or
/// `--az`, required when the instance is gone). Nothing is attached: a restored set is
/// attached by the operator (the plan says where each source volume was).
pub async fn plan_set<P: Ports>(
    app: &App<P>,
    instance: &str,
    at: Option<DateTime<Utc>>,
    az: Option<&str>,
    now: DateTime<Utc>,
) -> Result<SetRestorePlan, Error> {
    let dep = &app.settings.deployment;
    let listed = app.ec2.sets_of(&[instance.to_string()]).await?;
    let chosen =
        crate::restore::choose_set(&listed, instance, dep, &app.account_id, at.unwrap_or(now))
            .map_err(input)?;
    let found = app.ec2.api().describe_instance(instance).await?;
    let live = found
        .as_ref()
        .filter(|i| !matches!(i.state.as_str(), "terminated" | "shutting-down"));
    let zones = app.ec2.api().describe_zones().await?;
    let zone = zone(
        az,
        live.map(|i| i.zone.as_str()),
        &app.region,
        &zones,
        false,
    )
    .map_err(|e| input(e.replace("the source volume", "the instance")))?;
    let mut volumes = Vec::new();
    for (snapshot, volume) in &chosen.members {
        let req = RestoreRequest {
            volume_id: volume.clone(),
            snapshot_id: Some(snapshot.clone()),
            az: Some(zone.clone()),
            ..Default::default()
        };
        volumes.push(plan(app, &req, now).await?);
    }
    let devices = found
        .map(|i| {
            i.volumes
                .into_iter()
                .filter(|(_, v)| chosen.members.iter().any(|(_, m)| m == v))
                .map(|(d, v)| (v, d))
                .collect()
        })
        .unwrap_or_default();
    Ok(SetRestorePlan {
        instance: instance.to_string(),
        chosen,
        zone,
        volumes,
        devices,
    })
}

/// Applies a set's restore: each member's volume created and waited for in turn. A member that
/// fails stops the restore with an error naming the volumes already created (never deleted:
/// the operator decides), each with its undo command.
pub async fn apply_set<E: Ec2Api>(
    ec2: &Ec2<E>,
    plan: &SetRestorePlan,
    token: &str,
    wait: Wait,
    progress: impl Fn(&str, &str),
) -> Result<Vec<Restored>, Error> {
    let mut done: Vec<Restored> = Vec::new();
    for (i, p) in plan.volumes.iter().enumerate() {
        match apply(ec2, p, &format!("{token}-{i}"), wait, &progress).await {
            Ok(r) => done.push(r),
            Err(e) => {
                let made: Vec<String> = done
                    .iter()
                    .map(|r| format!("{} (undo: {})", r.volume_id, r.undo.join("; ")))
                    .collect();
                return Err(Error::Internal(format!(
                    "restore of set {}: {e}; volumes created before it: {}",
                    plan.chosen.set,
                    if made.is_empty() {
                        "none".into()
                    } else {
                        made.join(", ")
                    }
                )));
            }
        }
    }
    Ok(done)
}
