//! After a prune's deletes: which of them a Recycle Bin retention rule keeps
//! ([`crate::recycle_bin`]). Each such delete is reported "kept by the Recycle Bin: into rule …,
//! billed until …" and counted in `recycle_bin` — the snapshot stays billed for the rule's
//! period, and no report calls it freed. Read-only (ListRules and GetRule, only when the batch
//! deleted something); rules that cannot be read are said on every delete, never hidden.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::aws::client::Ec2;
use crate::aws::Ec2Api;
use crate::recycle_bin::{billed_until, covering};
use crate::snapshot::Snapshot;

use super::prune::VolumeReport;

/// Adds to each deleted item of `reports` whether a retention rule keeps it, and until when.
pub async fn annotate<E: Ec2Api>(
    ec2: &Ec2<E>,
    snapshots: &BTreeMap<String, Vec<Snapshot>>,
    reports: &mut [VolumeReport],
    now: DateTime<Utc>,
) {
    if reports.iter().all(|r| r.deleted.is_empty()) {
        return;
    }
    let rules = match ec2.retention_rules().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "Recycle Bin rules unreadable: deletes may stay billed");
            let why =
                format!("Recycle Bin rules unreadable ({e}): it may keep this delete, billed");
            for i in reports.iter_mut().flat_map(|r| r.deleted.iter_mut()) {
                i.reasons.push(why.clone());
            }
            return;
        }
    };
    if rules.is_empty() {
        return;
    }
    for r in reports.iter_mut() {
        let tags: BTreeMap<&str, &BTreeMap<String, String>> = snapshots
            .get(&r.volume_id)
            .into_iter()
            .flatten()
            .map(|s| (s.id.as_str(), &s.tags))
            .collect();
        for i in &mut r.deleted {
            let Some(t) = tags.get(i.snapshot_id.as_str()) else {
                continue;
            };
            if let Some(rule) = covering(&rules, t) {
                let note = billed_until(rule, now);
                tracing::info!(volume_id = %r.volume_id, snapshot_id = %i.snapshot_id, rule = %rule.id, days = rule.days, "deleted into the Recycle Bin: still billed");
                i.reasons.push(note);
            }
        }
    }
}
