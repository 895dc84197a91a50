//! The strict fake's EC2.

use super::*;

/// What a `tag-key` or `tag:<key>` filter sees on a resource (nothing for other filter names).
fn tag_filter_values(tags: &BTreeMap<String, String>, name: &str) -> Vec<String> {
    match name {
        "tag-key" => tags.keys().cloned().collect(),
        n => n
            .strip_prefix("tag:")
            .and_then(|k| tags.get(k).cloned())
            .into_iter()
            .collect(),
    }
}

fn matches(filters: &[Filter], lookup: impl Fn(&str) -> Vec<String>) -> bool {
    filters.iter().all(|f| {
        let have = lookup(&f.name);
        have.iter().any(|h| f.values.iter().any(|p| wildcard(p, h)))
    })
}

/// EC2 filter value matching: `*` any run of characters, `?` exactly one, case-sensitive.
fn wildcard(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < s.len() {
        if i < p.len() && (p[i] == '?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(st) = star {
            i = st + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

impl Ec2Api for FakeAws {
    async fn describe_volumes(&self, req: PageRequest) -> R<Page<Volume>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeVolumes")?;
        // The volumes this listing shows: by id or by the `volume-id` filter (else all).
        let listed: Vec<String> = req
            .ids
            .iter()
            .cloned()
            .chain(
                req.filters
                    .iter()
                    .filter(|f| f.name == "volume-id")
                    .flat_map(|f| f.values.iter().cloned()),
            )
            .collect();
        settle(&mut st, &listed);
        if !req.ids.is_empty() {
            if let Some(missing) = req.ids.iter().find(|id| !st.volumes.contains_key(*id)) {
                return Err(err(
                    "DescribeVolumes",
                    ErrorKind::NotFound,
                    "InvalidVolume.NotFound",
                    format!("The volume '{missing}' does not exist."),
                ));
            }
        }
        let items: Vec<Volume> = st
            .volumes
            .values()
            .filter(|v| req.ids.is_empty() || req.ids.contains(&v.id))
            .filter(|v| {
                matches(&req.filters, |name| match name {
                    "volume-id" => vec![v.id.clone()],
                    "attachment.instance-id" => v.instance_id.iter().cloned().collect(),
                    n => tag_filter_values(&v.tags, n),
                })
            })
            .cloned()
            .collect();
        self.page(
            &mut st,
            "DescribeVolumes",
            &req,
            &["tag-key", "volume-id", "attachment.instance-id", "tag:"],
            (5, 500),
            items,
        )
    }

    async fn describe_snapshots(&self, req: PageRequest) -> R<Page<Snapshot>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeSnapshots")?;
        if !req.ids.is_empty() {
            if let Some(missing) = req.ids.iter().find(|id| !st.snapshots.contains_key(*id)) {
                return Err(err(
                    "DescribeSnapshots",
                    ErrorKind::NotFound,
                    "InvalidSnapshot.NotFound",
                    format!("The snapshot '{missing}' does not exist."),
                ));
            }
        }
        let account = self.account.clone();
        // Narrow by the volume-id filter through the index; the filter itself still applies.
        let candidates: Vec<&FakeSnapshot> =
            match req.filters.iter().find(|f| f.name == "volume-id") {
                Some(f) => {
                    let mut ids: Vec<&String> = f
                        .values
                        .iter()
                        .filter_map(|v| st.by_volume.get(v))
                        .flatten()
                        .collect();
                    ids.sort();
                    ids.dedup();
                    ids.into_iter()
                        .filter_map(|id| st.snapshots.get(id))
                        .collect()
                }
                None => st.snapshots.values().collect(),
            };
        let items: Vec<Snapshot> = candidates
            .into_iter()
            .map(|s| &s.snap)
            // As EC2 answers: `self` (or our id) restricts to ours; no owners, every snapshot
            // we can see — ours and other accounts' shared with us.
            .filter(|s| {
                let visible = s.owner_id == account || st.shared_with_us.contains(&s.id);
                let asked = req.owners.is_empty()
                    || req
                        .owners
                        .iter()
                        .any(|o| (o == "self" && s.owner_id == account) || *o == s.owner_id);
                visible && asked
            })
            .filter(|s| req.ids.is_empty() || req.ids.contains(&s.id))
            .filter(|s| {
                matches(&req.filters, |name| match name {
                    "volume-id" => vec![s.volume_id.clone()],
                    "status" => vec![s.state.to_string()],
                    n => tag_filter_values(&s.tags, n),
                })
            })
            .cloned()
            .collect();
        self.page(
            &mut st,
            "DescribeSnapshots",
            &req,
            &["tag-key", "volume-id", "status", "tag:"],
            (5, 1000),
            items,
        )
    }

    async fn describe_tags(&self, req: PageRequest) -> R<Page<ResourceTag>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeTags")?;
        let mut all = Vec::new();
        let only: Option<&Vec<String>> = req
            .filters
            .iter()
            .find(|f| f.name == "resource-id")
            .map(|f| &f.values);
        let wanted = |id: &String| only.is_none_or(|ids| ids.contains(id));
        for (id, tags) in st.instances.iter().filter(|(id, _)| wanted(id)) {
            for (k, v) in tags {
                all.push((
                    "instance",
                    ResourceTag {
                        resource_id: id.clone(),
                        key: k.clone(),
                        value: v.clone(),
                    },
                ));
            }
        }
        for v in st.volumes.values().filter(|v| wanted(&v.id)) {
            for (k, val) in &v.tags {
                all.push((
                    "volume",
                    ResourceTag {
                        resource_id: v.id.clone(),
                        key: k.clone(),
                        value: val.clone(),
                    },
                ));
            }
        }
        let items: Vec<ResourceTag> = all
            .into_iter()
            .filter(|(ty, t)| {
                matches(&req.filters, |name| match name {
                    "resource-type" => vec![ty.to_string()],
                    "resource-id" => vec![t.resource_id.clone()],
                    "key" => vec![t.key.clone()],
                    "value" => vec![t.value.clone()],
                    _ => vec![],
                })
            })
            .map(|(_, t)| t)
            .collect();
        self.page(
            &mut st,
            "DescribeTags",
            &req,
            &["resource-type", "resource-id", "key", "value"],
            (5, 1000),
            items,
        )
    }

    async fn create_tags(&self, ids: &[String], tags: &[(String, String)]) -> R<()> {
        let op = "CreateTags";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if ids.is_empty() || ids.len() > MAX_CREATE_TAGS_IDS {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterValue",
                format!(
                    "CreateTags takes 1 to {MAX_CREATE_TAGS_IDS} resource ids, got {}",
                    ids.len()
                ),
            ));
        }
        for (k, v) in tags {
            if k.is_empty()
                || k.len() > 128
                || v.chars().count() > 256
                || k.to_ascii_lowercase().starts_with("aws:")
            {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    format!("invalid tag {k:?}={v:?}"),
                ));
            }
        }
        // All or nothing, as EC2: one missing or refused id fails the whole call.
        if let Some(missing) = ids
            .iter()
            .find(|id| !st.snapshots.contains_key(*id) && !st.volumes.contains_key(*id))
        {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "InvalidSnapshot.NotFound",
                format!("The snapshot '{missing}' does not exist."),
            ));
        }
        if ids
            .iter()
            .any(|id| st.snapshots.get(id).is_some_and(|s| s.deny_tags))
        {
            return Err(unauthorized(op));
        }
        for id in ids {
            if let Some(s) = st.snapshots.get_mut(id) {
                for (k, v) in tags {
                    s.snap.tags.insert(k.clone(), v.clone());
                }
                if s.snap.tags.len() > 50 {
                    return Err(err(
                        op,
                        ErrorKind::Invalid,
                        "TagLimitExceeded",
                        "more than 50 tags",
                    ));
                }
            } else if let Some(vol) = st.volumes.get_mut(id) {
                for (k, v) in tags {
                    vol.tags.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(())
    }

    async fn delete_snapshot(&self, id: &str) -> R<Deleted> {
        let op = "DeleteSnapshot";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if let Some(n) = st.fail_deletes.get_mut(id) {
            if *n > 0 {
                *n -= 1;
                return Err(err(
                    op,
                    ErrorKind::Transient,
                    "InternalError",
                    "An internal error has occurred (HTTP 500)",
                ));
            }
        }
        if st.snapshots.get(id).is_some_and(|s| s.vanishes) {
            if let Some(s) = st.snapshots.remove(id) {
                if let Some(set) = st.by_volume.get_mut(&s.snap.volume_id) {
                    set.remove(id);
                }
            }
        }
        let Some(s) = st.snapshots.get(id) else {
            return Err(snapshot_not_found(op, id));
        };
        if s.snap.owner_id != self.account {
            return Err(unauthorized(op));
        }
        if s.deny_delete {
            return Err(unauthorized(op));
        }
        let now = st.now.unwrap_or_else(Utc::now);
        if s.lock.as_ref().is_some_and(|l| l.seen(now).holds(now)) {
            st.locked_delete_attempts += 1;
            return Err(err(
                op,
                ErrorKind::Locked,
                "SnapshotLocked",
                format!("The snapshot '{id}' is locked and cannot be deleted."),
            ));
        }
        if let Some(ami) = &s.in_use_by {
            return Err(err(
                op,
                ErrorKind::InUse,
                "InvalidSnapshot.InUse",
                format!("The snapshot {id} is currently in use by {ami}"),
            ));
        }
        if s.backup_managed {
            return Err(err(op, ErrorKind::BackupManaged, "InvalidParameterValue", "This snapshot is managed by the AWS Backup service and cannot be deleted via EC2 APIs."));
        }
        if s.snap.state == SnapshotState::Pending {
            // AWS accepts the call and deletes when done; treat it as deleted here.
        }
        if let Some(s) = st.snapshots.remove(id) {
            if let Some(set) = st.by_volume.get_mut(&s.snap.volume_id) {
                set.remove(id);
            }
            // A retention rule that covers it keeps it in the Recycle Bin (still billed).
            if let Some(r) = crate::recycle_bin::covering(&st.retention_rules, &s.snap.tags) {
                let until = now + r.retention();
                st.recycle_bin.insert(id.to_string(), until);
            }
        }
        Ok(Deleted::Deleted)
    }

    async fn describe_snapshot_facts(&self, id: &str) -> R<Option<crate::aws::SnapshotFacts>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeSnapshots")?;
        Ok(st.snapshots.get(id).map(|s| crate::aws::SnapshotFacts {
            snapshot: s.snap.clone(),
            size_gib: s.size_gib,
            encrypted: false,
            kms_key_id: None,
        }))
    }

    async fn describe_zones(&self) -> R<Vec<String>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeAvailabilityZones")?;
        Ok(["a", "b", "c"]
            .iter()
            .map(|z| format!("{}{z}", self.region))
            .collect())
    }

    async fn describe_instance(&self, id: &str) -> R<Option<crate::sets::Instance>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeInstances")?;
        let known = super::instances::known(&st).iter().any(|k| k == id);
        Ok(known.then(|| super::instances::view(&st, &self.region, id)))
    }

    async fn describe_instances(&self, req: PageRequest) -> R<Page<crate::sets::Instance>> {
        let mut st = self.st();
        self.enter(&mut st, "DescribeInstances")?;
        let items: Vec<crate::sets::Instance> = super::instances::known(&st)
            .iter()
            .map(|id| super::instances::view(&st, &self.region, id))
            .filter(|i| {
                matches(&req.filters, |name| match name {
                    "instance-id" => vec![i.id.clone()],
                    "instance-state-name" => vec![i.state.clone()],
                    n => tag_filter_values(&i.tags, n),
                })
            })
            .collect();
        self.page(
            &mut st,
            "DescribeInstances",
            &req,
            &["tag-key", "instance-id", "instance-state-name", "tag:"],
            (5, 1000),
            items,
        )
    }

    /// As EC2: from a completed snapshot of this region, in one of its zones, at least the
    /// snapshot's size, IOPS and throughput only where the type takes them, within the
    /// region's storage quota (`VolumeLimitExceeded`); born `creating` with exactly the requested
    /// tags; a repeated client token returns the first call's volume.
    async fn create_volume(&self, req: &crate::aws::VolumeRequest) -> R<String> {
        let op = "CreateVolume";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if let Some(v) = st.volume_tokens.get(&req.client_token) {
            return Ok(v.clone());
        }
        let invalid = |m: String| err(op, ErrorKind::Invalid, "InvalidParameterValue", m);
        let Some(src) = st.snapshots.get(&req.snapshot_id) else {
            return Err(snapshot_not_found(op, &req.snapshot_id));
        };
        if src.snap.state != SnapshotState::Completed {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "IncorrectState",
                format!("Snapshot is in invalid state - {}", src.snap.state),
            ));
        }
        if !req.zone.starts_with(&self.region) || req.zone.len() != self.region.len() + 1 {
            return Err(invalid(format!(
                "Invalid availability zone: [{}]",
                req.zone
            )));
        }
        let size = req.spec.size_gib.unwrap_or(src.size_gib);
        if size < src.size_gib {
            return Err(invalid(format!(
                "Volume of {size}GiB is smaller than snapshot {}, expect size >= {}GiB",
                req.snapshot_id, src.size_gib
            )));
        }
        let t = req.spec.volume_type.as_str();
        if req.spec.iops.is_some() && !matches!(t, "gp3" | "io1" | "io2") {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterCombination",
                format!("The parameter iops is not supported for {t} volumes."),
            ));
        }
        if req.spec.throughput.is_some() && t != "gp3" {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterCombination",
                format!("The parameter throughput is not supported for {t} volumes."),
            ));
        }
        if matches!(t, "io1" | "io2") && req.spec.iops.is_none() {
            return Err(invalid(format!(
                "The parameter iops must be specified for {t} volumes."
            )));
        }
        if let Some(quota) = st.volume_quota_gib {
            let used: i64 = st
                .volumes
                .values()
                .filter_map(|v| v.spec.as_ref().and_then(|s| s.size_gib))
                .map(i64::from)
                .sum();
            if used + i64::from(size) > quota {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "VolumeLimitExceeded",
                    format!("You have exceeded your maximum gp3 storage limit of {quota} GiB in this region."),
                ));
            }
        }
        st.next_id += 1;
        let id = format!("vol-{:017x}", st.next_id);
        let now = st.now.unwrap_or_else(Utc::now);
        let mut spec = req.spec.clone();
        spec.size_gib = Some(size);
        st.volumes.insert(
            id.clone(),
            Volume {
                id: id.clone(),
                state: "creating".into(),
                tags: req.tags.iter().cloned().collect(),
                instance_id: None,
                create_time: Some(now),
                zone: Some(req.zone.clone()),
                spec: Some(spec),
            },
        );
        let describes = match st.new_volumes {
            super::NewVolumes::AvailableAfter(n) => n,
            super::NewVolumes::StayCreating => u32::MAX,
            super::NewVolumes::Fail => 1,
        };
        st.settling.insert(id.clone(), describes);
        st.volume_tokens
            .insert(req.client_token.clone(), id.clone());
        Ok(id)
    }

    /// As EC2: an `available` volume, a live instance in its zone, a free device name.
    async fn attach_volume(&self, volume_id: &str, instance_id: &str, device: &str) -> R<()> {
        let op = "AttachVolume";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        let Some(i) = st.instance_facts.get(instance_id).cloned() else {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "InvalidInstanceID.NotFound",
                format!("The instance ID '{instance_id}' does not exist"),
            ));
        };
        let Some(v) = st.volumes.get_mut(volume_id) else {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "InvalidVolume.NotFound",
                format!("The volume '{volume_id}' does not exist."),
            ));
        };
        if v.state != "available" {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "IncorrectState",
                format!("vol '{volume_id}' is not 'available'."),
            ));
        }
        if v.zone.as_deref() != Some(i.zone.as_str()) {
            return Err(err(op, ErrorKind::Invalid, "InvalidVolume.ZoneMismatch", format!("The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'")));
        }
        if i.devices.iter().any(|d| d == device) {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterValue",
                format!("Attachment point {device} is already in use"),
            ));
        }
        v.state = "in-use".into();
        v.instance_id = Some(instance_id.into());
        if let Some(i) = st.instance_facts.get_mut(instance_id) {
            i.devices.push(device.into());
        }
        Ok(())
    }

    /// As EC2: only a volume that is not attached (`VolumeInUse`).
    async fn delete_volume(&self, id: &str) -> R<()> {
        let op = "DeleteVolume";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        match st.volumes.get(id) {
            None => Err(err(
                op,
                ErrorKind::NotFound,
                "InvalidVolume.NotFound",
                format!("The volume '{id}' does not exist."),
            )),
            Some(v) if v.state == "in-use" => Err(err(
                op,
                ErrorKind::InUse,
                "VolumeInUse",
                format!("Volume {id} is currently attached"),
            )),
            Some(_) => {
                st.volumes.remove(id);
                st.settling.remove(id);
                Ok(())
            }
        }
    }

    /// As Recycle Bin's ListRules for EBS snapshots: the rules' ids, one page.
    async fn list_retention_rules(&self, next_token: Option<String>) -> R<Page<String>> {
        let op = "rbin:ListRules";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        one_page(op, &next_token, "ValidationException")?;
        Ok(Page {
            items: st.retention_rules.iter().map(|r| r.id.clone()).collect(),
            next_token: None,
        })
    }

    /// As Recycle Bin's GetRule.
    async fn get_retention_rule(&self, id: &str) -> R<crate::recycle_bin::RetentionRule> {
        let op = "rbin:GetRule";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        st.retention_rules
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| {
                err(
                    op,
                    ErrorKind::NotFound,
                    "ResourceNotFoundException",
                    format!("rule {id} not found"),
                )
            })
    }

    /// As EC2 in the destination region: the token bucket (50 / 5 per second), at most
    /// [`MAX_COPIES_IN_FLIGHT`] pending copies (`ResourceLimitExceeded`), never from this region
    /// itself, the copy born `pending` with exactly the requested tags on the placeholder volume
    /// `vol-ffffffff` (a copy's volume id is arbitrary), completed later (`complete_copies`).
    async fn copy_snapshot(&self, req: &CopySpec) -> R<String> {
        let op = "CopySnapshot";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if req.source_region == self.region {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterValue",
                "the source region is this region",
            ));
        }
        if !req.source_snapshot_id.starts_with("snap-") {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterValue",
                format!(
                    "Value ({}) for parameter snapshotId is invalid.",
                    req.source_snapshot_id
                ),
            ));
        }
        if let Some(k) = &req.kms_key_id {
            let in_region = k.split(':').nth(3) == Some(self.region.as_str());
            if !in_region {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    format!("the KMS key {k} is not in {}", self.region),
                ));
            }
        }
        if let Some(m) = req.completion_minutes {
            if !(15..=2880).contains(&m) || m % 15 != 0 {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    format!("CompletionDurationMinutes {m}: 15 to 2880, in 15-minute increments"),
                ));
            }
        }
        let in_flight = st
            .snapshots
            .values()
            .filter(|s| s.copy && s.snap.state == SnapshotState::Pending)
            .count();
        if in_flight >= MAX_COPIES_IN_FLIGHT {
            return Err(err(
                op,
                ErrorKind::Busy,
                "ResourceLimitExceeded",
                format!("You have reached the limit of {MAX_COPIES_IN_FLIGHT} concurrent snapshot copies."),
            ));
        }
        if req
            .tags
            .iter()
            .any(|(k, _)| k.is_empty() || k.starts_with("aws:"))
        {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterValue",
                "a tag key is empty or reserved",
            ));
        }
        drop(st);
        let tags: Vec<(&str, &str)> = req
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let id = self.add_snapshot("vol-ffffffff", Utc::now(), SnapshotState::Pending, &tags);
        let mut st = self.st();
        let copy = st.snapshots.get_mut(&id).expect("just added");
        copy.copy = true;
        copy.copy_started = Some(Instant::now());
        copy.completion_minutes = req.completion_minutes;
        Ok(id)
    }

    /// As EC2: the locks of the given snapshots (expired ones included), one page.
    async fn describe_locked_snapshots(
        &self,
        ids: &[String],
        next_token: Option<String>,
    ) -> R<Page<(String, crate::locks::Lock)>> {
        let op = "DescribeLockedSnapshots";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        one_page(op, &next_token, "InvalidParameterValue")?;
        let now = st.now.unwrap_or_else(Utc::now);
        let items = ids
            .iter()
            .filter_map(|id| {
                let l = st.snapshots.get(id)?.lock.as_ref()?;
                Some((id.clone(), l.seen(now)))
            })
            .collect();
        Ok(Page {
            items,
            next_token: None,
        })
    }

    /// As EC2: a governance lock or one in its cooling-off period may change in any way; a
    /// compliance lock past it may only be extended, never weakened; a cooling-off period only
    /// with compliance, 1..=72 hours; never an expiry in the past.
    async fn lock_snapshot(&self, id: &str, req: &crate::locks::LockRequest) -> R<()> {
        use crate::locks::{LockMode, LockState};
        let op = "LockSnapshot";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        let now = st.now.unwrap_or_else(Utc::now);
        let invalid = |m: String| err(op, ErrorKind::Invalid, "InvalidParameterCombination", m);
        let Some(s) = st.snapshots.get_mut(id) else {
            return Err(snapshot_not_found(op, id));
        };
        if s.snap.owner_id != self.account {
            return Err(unauthorized(op));
        }
        if req.until <= now {
            return Err(invalid("the expiration date is in the past".into()));
        }
        if let Some(h) = req.cool_off_hours {
            if req.mode != LockMode::Compliance || !(1..=72).contains(&h) {
                return Err(invalid(format!(
                    "CoolOffPeriod {h}: 1 to 72 hours, compliance mode only"
                )));
            }
        }
        let current = s.lock.as_ref().map(|l| (l.seen(now), l.cool_off_until));
        if let Some((seen, _)) = &current {
            if seen.state == LockState::Compliance {
                if req.mode != LockMode::Compliance {
                    return Err(invalid("a compliance lock cannot become governance".into()));
                }
                if seen.expires.is_some_and(|e| req.until < e) {
                    return Err(invalid(
                        "a compliance lock's duration can only be increased".into(),
                    ));
                }
            }
        }
        let kept_cool_off = current
            .filter(|(seen, _)| seen.state == LockState::ComplianceCooloff)
            .and_then(|(_, c)| c);
        s.lock = Some(FakeLock {
            mode: req.mode,
            expires: req.until,
            cool_off_until: req
                .cool_off_hours
                .map(|h| now + chrono::Duration::hours(h.into()))
                .or(kept_cool_off),
        });
        Ok(())
    }
}

/// EC2's answer for a snapshot id it does not know.
fn snapshot_not_found(op: &str, id: &str) -> AwsError {
    err(
        op,
        ErrorKind::NotFound,
        "InvalidSnapshot.NotFound",
        format!("The snapshot '{id}' does not exist."),
    )
}

/// EC2's answer when IAM refuses a call (or the snapshot is another account's).
fn unauthorized(op: &str) -> AwsError {
    err(
        op,
        ErrorKind::AccessDenied,
        "UnauthorizedOperation",
        "You are not authorized to perform this operation.",
    )
}

/// Volumes made by CreateVolume move on as DescribeVolumes lists them (`ids`, or all): shown
/// `creating` for their describes, then `available` — or `error`, or never, as told.
fn settle(st: &mut super::State, ids: &[String]) {
    let fail = st.new_volumes == super::NewVolumes::Fail;
    let due: Vec<String> = st
        .settling
        .iter_mut()
        .filter(|(id, _)| ids.is_empty() || ids.contains(id))
        .filter_map(|(id, left)| match *left {
            u32::MAX => None,
            0 => Some(id.clone()),
            _ => {
                *left -= 1;
                None
            }
        })
        .collect();
    for id in due {
        st.settling.remove(&id);
        if let Some(v) = st.volumes.get_mut(&id) {
            v.state = if fail { "error" } else { "available" }.into();
        }
    }
}

/// The fake answers these listings in one page: a NextToken is one it never gave.
fn one_page(op: &str, next_token: &Option<String>, code: &str) -> R<()> {
    match next_token {
        Some(_) => Err(err(op, ErrorKind::Invalid, code, "unknown NextToken")),
        None => Ok(()),
    }
}
