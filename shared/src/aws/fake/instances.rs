//! Instances as DescribeInstances shows them (their attached volumes from the fake's volumes),
//! and the snapshot calls Scheduler's targets make — CreateSnapshot and CreateSnapshots — with
//! EC2's limits: the CreateSnapshots bucket and the pending snapshots per volume.

use chrono::{DateTime, Utc};

use super::{err, pending_limit, FakeAws, State, ROOT_DEVICE};
use crate::aws::{AwsError, ErrorKind};
use crate::sets::Instance;
use crate::snapshot::SnapshotState;

type R<T> = Result<T, AwsError>;

/// Instances the fake knows: seeded with tags ([`FakeAws::add_instance`]) or facts
/// ([`FakeAws::add_instance_at`]), or named by an attached volume.
pub(super) fn known(st: &State) -> Vec<String> {
    let mut ids: Vec<String> = st
        .instances
        .keys()
        .chain(st.instance_facts.keys())
        .cloned()
        .chain(st.volumes.values().filter_map(|v| v.instance_id.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// One instance as DescribeInstances reports it: running in the region's first zone unless
/// seeded otherwise; its attached volumes on their devices (the boot volume on `/dev/xvda`,
/// the others `/dev/sdf`, `/dev/sdg`, … in id order unless set).
pub(super) fn view(st: &State, region: &str, id: &str) -> Instance {
    let mut i = st.instance_facts.get(id).cloned().unwrap_or(Instance {
        id: id.into(),
        state: "running".into(),
        zone: format!("{region}a"),
        ..Instance::default()
    });
    i.tags = st.instances.get(id).cloned().unwrap_or_default();
    i.root_device = Some(ROOT_DEVICE.into());
    let mut next = b'f';
    for v in st
        .volumes
        .values()
        .filter(|v| v.instance_id.as_deref() == Some(id))
    {
        let device = match st.devices.get(&v.id) {
            Some(d) => d.clone(),
            None if st.boot_volumes.contains(&v.id) => ROOT_DEVICE.into(),
            None => {
                next += 1;
                format!("/dev/sd{}", (next - 1) as char)
            }
        };
        if !i.devices.contains(&device) {
            i.devices.push(device.clone());
        }
        i.volumes.insert(device, v.id.clone());
    }
    i
}

impl FakeAws {
    /// CreateSnapshot as Scheduler's target calls it.
    pub(super) fn create_snapshot(
        &self,
        volume_id: &str,
        at: DateTime<Utc>,
        tags: &[(String, String)],
    ) -> R<String> {
        let op = "CreateSnapshot";
        {
            let mut st = self.st();
            self.enter(&mut st, op)?;
            check_pending(&st, op, &[volume_id.to_string()])?;
        }
        let refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Ok(self.add_snapshot(volume_id, at, SnapshotState::Pending, &refs))
    }

    /// CreateSnapshots for an instance (EC2 API reference, CreateSnapshots): one snapshot of
    /// each attached volume but the boot volume (`ExcludeBootVolume`) and the excluded data
    /// volumes (at most 40), all sharing one start time and the request's tags; refused whole
    /// when the instance is gone, more than 40 are excluded, or a volume has its pending
    /// snapshots' limit. Its bucket: 100, refilled 5 a second (shared with the account).
    pub(super) fn create_snapshots(
        &self,
        spec: &serde_json::Map<String, serde_json::Value>,
        at: DateTime<Utc>,
        tags: &[(String, String)],
    ) -> R<Vec<String>> {
        let op = "CreateSnapshots";
        let members = {
            let mut st = self.st();
            self.enter(&mut st, op)?;
            let id = spec["InstanceId"].as_str().unwrap_or_default();
            let i = view(&st, &self.region, id);
            let gone = matches!(i.state.as_str(), "terminated" | "shutting-down");
            if !super::instances::known(&st).iter().any(|k| k == id) || gone {
                return Err(err(
                    op,
                    ErrorKind::NotFound,
                    "InvalidInstanceID.NotFound",
                    format!("The instance ID '{id}' does not exist"),
                ));
            }
            let boot = spec
                .get("ExcludeBootVolume")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            let excluded: Vec<&str> = spec
                .get("ExcludeDataVolumeIds")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .collect();
            if excluded.len() > crate::sets::MAX_EXCLUDED_DATA_VOLUMES {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    "ExcludeDataVolumeIds: at most 40 volumes",
                ));
            }
            let members: Vec<String> = i
                .volumes
                .iter()
                .filter(|(device, _)| !(boot && i.root_device.as_deref() == Some(device.as_str())))
                .filter(|(_, v)| !excluded.contains(&v.as_str()))
                .map(|(_, v)| v.clone())
                .collect();
            if members.is_empty() {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    format!("The instance '{id}' has no volumes to snapshot"),
                ));
            }
            check_pending(&st, op, &members)?;
            members
        };
        let refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Ok(members
            .iter()
            .map(|v| self.add_snapshot(v, at, SnapshotState::Pending, &refs))
            .collect())
    }
}

/// `ConcurrentSnapshotLimitExceeded` when one of `volumes` already has its limit of pending
/// snapshots.
fn check_pending(st: &State, op: &str, volumes: &[String]) -> R<()> {
    for v in volumes {
        let kind = st
            .volumes
            .get(v)
            .and_then(|x| x.spec.as_ref())
            .map_or("gp3", |s| s.volume_type.as_str());
        let pending = st.by_volume.get(v).map_or(0, |ids| {
            ids.iter()
                .filter(|id| {
                    st.snapshots
                        .get(*id)
                        .is_some_and(|s| s.snap.state == SnapshotState::Pending)
                })
                .count()
        });
        if pending >= pending_limit(kind) {
            return Err(err(
                op,
                ErrorKind::Throttled,
                "ConcurrentSnapshotLimitExceeded",
                format!(
                    "Maximum allowed in-progress snapshots for a single volume ({v}) exceeded."
                ),
            ));
        }
    }
    Ok(())
}
