//! Orphaned copies, in the orphan scan: copies this deployment made from this region that no
//! rule plans any more — their volume is gone or untagged, or no copy rule of the volume names
//! that region (its `ebs-gens:copies` tag changed). They follow the orphan policy
//! ([`crate::copies::plan_orphaned_copies`]; `keep`, the default, deletes none), weighed by the
//! volume fuse, and are reported per volume and region. Copies in a region the deployment no
//! longer copies to are out of its reach (and its IAM): `ebs-gens status --copy-region R` lists
//! them.

use std::collections::BTreeMap;

use crate::aws::Ports;
use crate::copies::{plan_orphaned_copies, TAG_COPY_OF, TAG_SOURCE_REGION};
use crate::orphans::Orphaned;
use crate::snapshot::{Snapshot, TAG_ALLOW_BULK_DELETE, TAG_VOLUME};

use super::super::prune::VolumeReport;
use super::super::{classify_volumes, App};
use super::{apply_plan, hold_locked_copies, record_kept, volume_rules, DestinationReport, Terms};

/// Every destination's orphaned copies, one report per (volume, region): `orphaned` says why,
/// `copies` holds that region's plan and what was deleted. A listing that fails is one report
/// with the failure (counted as a failed copy step, so the sweep fails visibly).
pub async fn scan<P: Ports>(app: &App<P>, terms: &Terms) -> Vec<VolumeReport> {
    let mut out = Vec::new();
    for (region, dest) in &app.destinations {
        match find(app, region, dest, terms.now).await {
            Ok(found) => {
                for (vol, why, copies, ack) in found {
                    out.push(
                        plan_and_apply(app, region, dest, &vol, why, &copies, ack, terms).await,
                    );
                }
            }
            Err(e) => {
                tracing::error!(region, error = %e, "listing copies for the orphan scan failed");
                out.push(VolumeReport {
                    volume_id: "-".into(),
                    policy: "orphaned copies".into(),
                    copies: vec![DestinationReport {
                        region: region.clone(),
                        failed: vec![format!("listing copies in {region}: {e}")],
                        ..Default::default()
                    }],
                    ..Default::default()
                });
            }
        }
    }
    out
}

/// One region's orphaned copies: (volume, why, its copies there, the volume acknowledged bulk
/// deletion today).
type Found = Vec<(String, Orphaned, Vec<Snapshot>, bool)>;

async fn find<P: Ports>(
    app: &App<P>,
    region: &str,
    dest: &crate::aws::client::Ec2<P::Ec2>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Found, crate::Error> {
    let settings = &app.settings;
    // Ours from here: a deployment of the same name in that region owns everything else there.
    let listed = dest.snapshots_managed_by(&settings.deployment).await?;
    let mut by_volume: BTreeMap<String, Vec<Snapshot>> = BTreeMap::new();
    for c in listed.into_iter().filter(|c| {
        c.tag(TAG_COPY_OF).is_some() && c.tag(TAG_SOURCE_REGION) == Some(app.region.as_str())
    }) {
        if let Some(v) = c.tag(TAG_VOLUME) {
            by_volume.entry(v.to_string()).or_default().push(c);
        }
    }
    if by_volume.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<String> = by_volume.keys().cloned().collect();
    let read = app.ec2.volumes_by_id(&ids).await?;
    let present: BTreeMap<String, crate::aws::Volume> =
        read.iter().map(|v| (v.id.clone(), v.clone())).collect();
    let (jobs, bad) = classify_volumes(settings, read);
    let jobs: BTreeMap<String, _> = jobs.into_iter().map(|j| (j.volume_id.clone(), j)).collect();
    let rules = volume_rules(&settings.copies, &jobs, &present);
    let mut out = Vec::new();
    for (vol, copies) in by_volume {
        let why = if jobs.contains_key(&vol) {
            match rules.get(&vol) {
                Some(Ok(r)) if !r.regions().contains(region) => Orphaned::NoCopyRule,
                // Planned by the volume's own batch, or its tag is wrong (reported there,
                // nothing deleted).
                _ => continue,
            }
        } else if bad.iter().any(|m| m.volume_id == vol) {
            continue; // a typo in a tag is not an orphan
        } else if present.contains_key(&vol) {
            Orphaned::Untagged
        } else {
            Orphaned::VolumeGone
        };
        let ack = present
            .get(&vol)
            .and_then(|v| v.tags.get(TAG_ALLOW_BULK_DELETE))
            .is_some_and(|t| crate::fuse::acknowledged(Some(t), now, settings.tz));
        out.push((vol, why, copies, ack));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn plan_and_apply<P: Ports>(
    app: &App<P>,
    region: &str,
    dest: &crate::aws::client::Ec2<P::Ec2>,
    vol: &str,
    why: Orphaned,
    copies: &[Snapshot],
    acknowledged: bool,
    terms: &Terms,
) -> VolumeReport {
    let ctx = app.settings.plan_context(&app.account_id);
    let mut plan = plan_orphaned_copies(vol, app.settings.orphans, &ctx, copies, terms.now);
    let mut report = DestinationReport {
        region: region.into(),
        ..Default::default()
    };
    if hold_locked_copies(dest, region, &mut plan, terms.now, &mut report).await {
        record_kept(&plan, copies, &mut report);
        let allow = terms.allow_bulk_delete || acknowledged;
        apply_plan(app, region, dest, &plan, copies, allow, terms, &mut report).await;
    }
    tracing::info!(volume_id = %vol, region, reason = %why, kept = report.kept.len(), deleted = report.deleted.len(), orphans = %app.settings.orphans, dry_run = terms.dry_run, "orphaned copies");
    VolumeReport {
        volume_id: vol.to_string(),
        policy: format!("copies ({})", app.settings.orphans),
        orphaned: Some(why),
        copies: vec![report],
        ..Default::default()
    }
}
