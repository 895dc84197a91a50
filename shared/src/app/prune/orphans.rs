//! The orphan scan (the sweep's last step): every snapshot of ours in one listing, grouped by
//! volume; the volumes that are gone or carry no generation tag any more are orphans.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::aws::{Ports, Volume};
use crate::decision::{batch_fuse, fuse, Decision, VolumeFacts};
use crate::error::Error;
use crate::fuse::ACK_GONE;
use crate::health::Freshness;
use crate::orphans::{plan_orphans, Orphaned};
use crate::plan::group_by_volume;
use crate::snapshot::{Snapshot, TAG_ALLOW_BULK_DELETE, TAG_POLICY};

use super::super::{classify_volumes, Adopted, App};
use super::apply::apply_all;
use super::report::{flag, volume_report, PruneInput, PruneOutput, Totals};
use super::{finish, NO_VOLUME};

/// The orphan scan: every snapshot of ours in one listing, grouped by volume; the volumes
/// that are gone or carry no generation tag any more are orphans, planned under
/// `EBS_GENS_ORPHANS` (pins, pending, another deployment's: kept; the newest K: kept) and
/// weighed by the batch fuse. Misconfigured volumes are not orphans (their tag is a typo).
pub(super) async fn orphans<P: Ports>(
    app: &App<P>,
    input: PruneInput,
    now: DateTime<Utc>,
    deadline: Option<Instant>,
) -> Result<PruneOutput, Error> {
    if !input.volumes.is_empty() {
        return Err(Error::InvalidInput(
            "orphans: an orphan scan takes no volumes (volumes must be empty)".into(),
        ));
    }
    let dry_run = app.dry_run(input.dry_run);
    let settings = &app.settings;
    // Copies and imports carry the placeholder volume `vol-ffffffff`: no volume's orphans.
    let mut ours = group_by_volume(app.ec2.snapshots_managed_by(&settings.deployment).await?);
    ours.remove(NO_VOLUME);
    let ids: Vec<String> = ours.keys().cloned().collect();
    let read = if ids.is_empty() {
        vec![]
    } else {
        app.ec2.volumes_by_id(&ids).await?
    };
    let present: BTreeMap<String, Volume> =
        read.iter().map(|v| (v.id.clone(), v.clone())).collect();
    let (jobs, bad) = classify_volumes(settings, read);
    let tagged: BTreeSet<&str> = jobs
        .iter()
        .map(|j| j.volume_id.as_str())
        .chain(bad.iter().map(|m| m.volume_id.as_str()))
        .collect();
    let found: Vec<(&String, &Vec<Snapshot>, Orphaned)> = ours
        .iter()
        .filter(|(vol, _)| !tagged.contains(vol.as_str()))
        .map(|(vol, snaps)| {
            let why = if present.contains_key(vol.as_str()) {
                Orphaned::Untagged
            } else {
                Orphaned::VolumeGone
            };
            (vol, snaps, why)
        })
        .collect();
    let ctx = settings.plan_context(&app.account_id);
    let mut decisions: Vec<Decision<'_>> = found
        .iter()
        .map(|(vol, snaps, _)| {
            let mut d = Decision {
                plan: plan_orphans(vol, settings.orphans, &ctx, snaps, now),
                deferred: BTreeSet::new(),
                contested_by: vec![],
                freshness: Freshness {
                    newest: newest_of_ours(snaps, &settings.deployment),
                    allowed_seconds: 0,
                    stale: None,
                },
                coverage: vec![],
                strip: String::new(),
                held: None,
                ack: None,
            };
            // The volume fuse too: a tag removed by mistake must not become a bulk deletion
            // at the next sweep. An untagged volume can still carry the acknowledgement.
            let facts = VolumeFacts {
                created: None,
                ack_tag: present
                    .get(vol.as_str())
                    .and_then(|v| v.tags.get(TAG_ALLOW_BULK_DELETE).map(String::as_str)),
                allow_bulk_delete: input.allow_bulk_delete,
            };
            fuse(settings, &mut d, &facts, now);
            d
        })
        .collect();
    batch_fuse(settings, &mut decisions, now);
    for ((_, _, why), d) in found.iter().zip(decisions.iter_mut()) {
        if let (Orphaned::VolumeGone, Some(h)) = (why, &mut d.held) {
            h.acknowledge = ACK_GONE.to_string();
        }
    }

    let mut totals = Totals::default();
    let mut reports = Vec::with_capacity(found.len());
    let none = Adopted::default();
    for ((vol, snaps, why), d) in found.iter().zip(&decisions) {
        let policy = snaps
            .iter()
            .filter(|s| s.is_owned_by(&settings.deployment) && s.tag(TAG_POLICY).is_some())
            .max_by_key(|s| s.start_time)
            .and_then(|s| s.tag(TAG_POLICY))
            .map_or_else(|| "unknown".to_string(), |p| format!("was {p}"));
        let mut report = volume_report(vol, policy, d, &none);
        report.orphaned = Some(*why);
        flag(&mut totals, &report, &settings.deployment);
        totals.orphaned += snaps.len();
        totals.orphan_volumes += 1;
        reports.push(report);
    }
    let failed = apply_all(app, &decisions, &mut reports, deadline, dry_run).await;
    for report in &reports {
        totals.count(report);
        tracing::info!(volume_id = %report.volume_id, reason = ?report.orphaned, deleted = report.deleted.len(), orphans = %settings.orphans, dry_run, "orphaned snapshots");
    }
    totals.volumes = found.len();
    finish(
        app,
        reports,
        vec![],
        totals,
        failed,
        dry_run,
        input.full_report,
        now,
    )
}

fn newest_of_ours(snaps: &[Snapshot], deployment: &str) -> Option<DateTime<Utc>> {
    snaps
        .iter()
        .filter(|s| {
            s.is_owned_by(deployment) && s.state == crate::snapshot::SnapshotState::Completed
        })
        .map(|s| s.start_time)
        .max()
}
