//! Why the next run keeps, deletes, holds or adopts each snapshot of a volume (`ebs-gens plan`
//! and `explain`), or each of its copies in another region, read from that volume's dry-run
//! report. Pure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::copies::DestinationReport;
use super::prune::{self, VolumeReport};
use super::{status, App};
use crate::aws::Ports;
use crate::error::Error;

/// What the next run does with one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Keep,
    Delete,
    /// Planned for deletion, held by the fuse.
    Held,
    /// Planned for deletion, left for the next run.
    Deferred,
    /// Untagged: the next run makes it ours.
    Adopt,
    /// Planned for deletion, refused for good (AMI, AWS Backup, lock, IAM).
    Skipped,
    /// Not in the plan (not a snapshot of this volume, or gone).
    Unplanned,
}

/// One snapshot of a volume's dry-run report: what the next run does with it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRow {
    pub snapshot_id: String,
    pub action: Verdict,
    pub reasons: Vec<String>,
}

/// Every snapshot the next prune of this volume touches — kept, adopted, held, deferred,
/// deleted, refused — with its reasons: kept first (newest first), then what goes. Pure.
pub fn rows(report: &VolumeReport) -> Vec<PlanRow> {
    let adopted = |id: &str| report.adopted.iter().any(|a| a == id);
    let row = |action: Verdict, i: &prune::Item| PlanRow {
        snapshot_id: i.snapshot_id.clone(),
        action,
        reasons: i.reasons.clone(),
    };
    let mut out: Vec<PlanRow> = Vec::new();
    for i in &report.kept {
        let mut r = row(Verdict::Keep, i);
        if adopted(&i.snapshot_id) {
            r.action = Verdict::Adopt;
            r.reasons
                .insert(0, "untagged: adopted in the next run".into());
        }
        // The lock the run sets or extends on it (`locks`), with its mode and end.
        for l in report
            .locked
            .iter()
            .filter(|l| l.snapshot_id == i.snapshot_id)
        {
            r.reasons
                .extend(l.reasons.iter().map(|x| format!("locked: {x}")));
        }
        out.push(r);
    }
    for i in &report.held_back {
        let mut r = row(Verdict::Held, i);
        if let Some(h) = &report.held {
            r.reasons
                .push(format!("held: {}; to allow it: {}", h.why, h.acknowledge));
        }
        out.push(r);
    }
    for i in &report.deferred {
        let mut r = row(Verdict::Deferred, i);
        if adopted(&i.snapshot_id) {
            r.reasons
                .insert(0, "untagged: adopted in the next run".into());
        }
        out.push(r);
    }
    out.extend(report.deleted.iter().map(|i| row(Verdict::Delete, i)));
    out.extend(report.skipped.iter().map(|i| row(Verdict::Skipped, i)));
    out
}

/// Where a snapshot sits in its volume's dry-run report, with the reasons. Pure.
pub fn verdict(report: &VolumeReport, snapshot_id: &str) -> (Verdict, Vec<String>) {
    rows(report)
        .into_iter()
        .find(|r| r.snapshot_id == snapshot_id)
        .map_or((Verdict::Unplanned, vec![]), |r| (r.action, r.reasons))
}

/// Where a copy sits in its destination's part of the volume's dry-run report, with the
/// reasons: kept, deleted, held by the volume fuse, or left for the next run. Pure.
pub fn copy_verdict(dest: &DestinationReport, copy_id: &str) -> (Verdict, Vec<String>) {
    let here = format!("in {}", dest.region);
    if let Some(i) = dest.kept.iter().find(|i| i.snapshot_id == copy_id) {
        let mut reasons = i.reasons.clone();
        reasons.push(format!("kept {here}"));
        // The lock the run sets or extends on it there, as for a snapshot here.
        for l in dest.locked.iter().filter(|l| l.snapshot_id == copy_id) {
            reasons.extend(l.reasons.iter().map(|x| format!("locked: {x}")));
        }
        return (Verdict::Keep, reasons);
    }
    if let Some(i) = dest.deleted.iter().find(|i| i.snapshot_id == copy_id) {
        let mut reasons = i.reasons.clone();
        reasons.push(format!("no rule keeps it {here}"));
        return (Verdict::Delete, reasons);
    }
    if dest
        .deferred
        .iter()
        .any(|d| d == &format!("delete {copy_id}"))
    {
        return (
            Verdict::Deferred,
            vec![format!("to delete {here}, left for the next run")],
        );
    }
    if let Some(why) = &dest.held {
        return (Verdict::Held, vec![format!("held {here}: {why}")]);
    }
    if let Some(why) = &dest.error {
        return (
            Verdict::Keep,
            vec![format!("copies not planned {here}: {why}")],
        );
    }
    (Verdict::Unplanned, vec![])
}

/// What `explain` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    pub snapshot: crate::Snapshot,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    /// The volume's policy now (or `was …` for an orphan), and the policy the snapshot was
    /// made under (its `ebs-gens:policy` tag).
    pub volume_policy: String,
    pub made_under: Option<String>,
    pub orphaned: Option<crate::orphans::Orphaned>,
    /// For a copy in another region: that region (its volume is its `ebs-gens:volume` tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Why one snapshot — here, or a copy in one of the deployment's destinations — is kept, or
/// will be deleted: its volume's dry-run plan (or the orphan scan's), read by [`verdict`] or
/// [`copy_verdict`]. An id found nowhere is an error naming the regions looked in.
pub async fn explain<P: Ports>(
    app: &App<P>,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Explained, Error> {
    let Some(snap) = app.ec2.snapshot(id).await? else {
        // Not here: a copy in one of the deployment's destinations?
        for (region, dest) in &app.destinations {
            if let Some(copy) = dest.snapshot(id).await? {
                return explain_copy(app, region, copy, now).await;
            }
        }
        let regions: Vec<&str> = std::iter::once(app.region.as_str())
            .chain(app.destinations.keys().map(String::as_str))
            .collect();
        return Err(Error::InvalidInput(format!(
            "{id}: no such snapshot owned by this account in {}",
            regions.join(", ")
        )));
    };
    let made_under = snap.tag(crate::snapshot::TAG_POLICY).map(str::to_string);
    if let Some(instance) = crate::sets::set_instance(&snap).map(str::to_string) {
        return explain_member(app, snap, &instance, made_under, now).await;
    }
    let vol = snap.volume_id.clone();
    // Not managed (gone, untagged, misconfigured): no jobs, and the orphan scan answers. Any
    // other failure (throttling, access) is an error, never a verdict.
    let (jobs, _) = match status::volumes(app, std::slice::from_ref(&vol)).await {
        Ok(found) => found,
        Err(Error::InvalidInput(_)) => (vec![], vec![]),
        Err(e) => return Err(e),
    };
    // A managed volume: its dry-run prune. Otherwise: the orphan scan (the same code the
    // sweep runs), which also says why it is an orphan.
    let report = if jobs.is_empty() {
        status::orphans(app, now, &|_| {})
            .await?
            .into_iter()
            .find(|r| r.volume_id == vol)
    } else {
        status::plan(app, &status::batches(jobs), now, &|_| {})
            .await?
            .into_iter()
            .find(|r| r.volume_id == vol)
    };
    let Some(report) = report else {
        let why = if snap.is_owned_by(&app.settings.deployment) {
            format!("its volume {vol} is misconfigured: nothing is deleted for it")
        } else {
            format!(
                "not ours (deployment {}) and its volume {vol} is not managed: never touched",
                app.settings.deployment
            )
        };
        return Ok(Explained {
            snapshot: snap,
            verdict: Verdict::Keep,
            reasons: vec![why],
            volume_policy: "-".into(),
            made_under,
            orphaned: None,
            region: None,
        });
    };
    let (verdict, reasons) = verdict(&report, id);
    Ok(Explained {
        snapshot: snap,
        verdict,
        reasons,
        volume_policy: report.policy.clone(),
        made_under,
        orphaned: report.orphaned,
        region: None,
    })
}

/// `explain` for a member of an instance set: its set's verdict in the instance's dry-run plan
/// (a member is only ever kept or deleted with its set).
async fn explain_member<P: Ports>(
    app: &App<P>,
    snap: crate::Snapshot,
    instance: &str,
    made_under: Option<String>,
    now: DateTime<Utc>,
) -> Result<Explained, Error> {
    let explained = |verdict, reasons, volume_policy| Explained {
        snapshot: snap.clone(),
        verdict,
        reasons,
        volume_policy,
        made_under: made_under.clone(),
        orphaned: None,
        region: None,
    };
    let set = snap.tag(crate::sets::TAG_SET).unwrap_or_default();
    if !app.settings.sets {
        let why = format!(
            "member of set {set}; sets are off (EBS_GENS_SETS=off), so no set is planned: kept"
        );
        return Ok(explained(Verdict::Keep, vec![why], "-".into()));
    }
    let batch = [vec![instance.to_string()]];
    let (reports, bad) = status::plan_instances(app, &batch, now).await?;
    let Some(report) = reports.into_iter().find(|r| r.volume_id == instance) else {
        let why = bad
            .into_iter()
            .find(|m| m.volume_id == instance)
            .map_or_else(|| "its instance is not managed".to_string(), |m| m.error);
        let why = format!("member of set {set}; instance {instance}: {why}: its sets are kept");
        return Ok(explained(Verdict::Keep, vec![why], "-".into()));
    };
    let (verdict, reasons) = verdict(&report, &snap.id);
    Ok(explained(verdict, reasons, report.policy.clone()))
}

/// `explain` for a copy in another region: its volume's dry-run plan for that destination.
async fn explain_copy<P: Ports>(
    app: &App<P>,
    region: &str,
    copy: crate::Snapshot,
    now: DateTime<Utc>,
) -> Result<Explained, Error> {
    use crate::copies::{TAG_COPY_OF, TAG_SOURCE_REGION};
    let ours = copy.is_owned_by(&app.settings.deployment)
        && copy.tag(TAG_COPY_OF).is_some()
        && copy.tag(TAG_SOURCE_REGION) == Some(app.region.as_str());
    let vol = copy.tag(crate::snapshot::TAG_VOLUME).map(str::to_string);
    let explained = |verdict, reasons, policy: String| Explained {
        made_under: copy.tag(crate::snapshot::TAG_POLICY).map(str::to_string),
        snapshot: copy.clone(),
        verdict,
        reasons,
        volume_policy: policy,
        orphaned: None,
        region: Some(region.to_string()),
    };
    let (true, Some(vol)) = (ours, vol) else {
        let why = format!(
            "not a copy this deployment ({}) made from {}: never touched",
            app.settings.deployment, app.region
        );
        return Ok(explained(Verdict::Keep, vec![why], "-".into()));
    };
    let (jobs, _) = match status::volumes(app, std::slice::from_ref(&vol)).await {
        Ok(found) => found,
        Err(Error::InvalidInput(_)) => (vec![], vec![]),
        Err(e) => return Err(e),
    };
    if jobs.is_empty() {
        let why = format!(
            "its volume {vol} is gone or no longer managed: its copies are kept (orphaned copies are never deleted by ebs-gens)"
        );
        return Ok(explained(Verdict::Keep, vec![why], "-".into()));
    }
    let report = status::plan(app, &status::batches(jobs), now, &|_| {})
        .await?
        .into_iter()
        .find(|r| r.volume_id == vol)
        .ok_or_else(|| Error::Internal(format!("{vol}: managed, yet not in its own plan")))?;
    let Some(dest) = report.copies.iter().find(|d| d.region == region) else {
        let why = format!(
            "no copy rule of {vol} names {region} any more: its copies there are kept (never deleted by ebs-gens)"
        );
        return Ok(explained(Verdict::Keep, vec![why], report.policy.clone()));
    };
    let (verdict, reasons) = copy_verdict(dest, &copy.id);
    Ok(explained(verdict, reasons, report.policy.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, reason: &str) -> prune::Item {
        prune::Item {
            snapshot_id: id.into(),
            reasons: vec![reason.into()],
        }
    }

    #[test]
    fn a_copy_is_explained_from_its_destination_report() {
        let dest = DestinationReport {
            region: "us-west-2".into(),
            kept: vec![
                item("snap-k", "weekly 2026-W47"),
                item("snap-m", "most recent copy"),
            ],
            deleted: vec![item("snap-d", "beyond weekly=4")],
            deferred: vec!["snap-src".into(), "delete snap-late".into()],
            ..Default::default()
        };
        let cases = [
            ("snap-k", Verdict::Keep, "weekly 2026-W47"),
            ("snap-m", Verdict::Keep, "most recent copy"),
            ("snap-d", Verdict::Delete, "beyond weekly=4"),
            ("snap-late", Verdict::Deferred, "left for the next run"),
            // A deferred *source* (a copy not yet made) is not this id.
            ("snap-src", Verdict::Unplanned, ""),
            ("snap-other", Verdict::Unplanned, ""),
        ];
        for (id, verdict, why) in cases {
            let (v, reasons) = copy_verdict(&dest, id);
            assert_eq!(v, verdict, "{id}");
            assert!(reasons.join("; ").contains(why), "{id}: {reasons:?}");
            if v != Verdict::Unplanned {
                assert!(
                    reasons.join("; ").contains("us-west-2"),
                    "{id} names the region"
                );
            }
        }
    }

    #[test]
    fn a_kept_copy_says_the_lock_the_run_sets_on_it_there() {
        let dest = DestinationReport {
            region: "us-west-2".into(),
            kept: vec![
                item("snap-k", "weekly 2026-W47"),
                item("snap-m", "most recent copy"),
            ],
            locked: vec![item("snap-k", "compliance until 2027-01-10 00:00 UTC")],
            ..Default::default()
        };
        assert_eq!(
            copy_verdict(&dest, "snap-k").1,
            [
                "weekly 2026-W47",
                "kept in us-west-2",
                "locked: compliance until 2027-01-10 00:00 UTC"
            ]
        );
        assert_eq!(
            copy_verdict(&dest, "snap-m").1,
            ["most recent copy", "kept in us-west-2"]
        );
    }

    #[test]
    fn a_kept_snapshot_says_the_lock_the_run_sets_on_it() {
        let report = VolumeReport {
            volume_id: "vol-1".into(),
            kept: vec![
                item("snap-a", "last 7 daily"),
                item("snap-b", "last 7 daily"),
            ],
            locked: vec![item("snap-a", "governance until 2026-12-02 10:45 UTC")],
            ..Default::default()
        };
        let (v, reasons) = verdict(&report, "snap-a");
        assert_eq!(v, Verdict::Keep);
        assert_eq!(
            reasons,
            [
                "last 7 daily",
                "locked: governance until 2026-12-02 10:45 UTC"
            ]
        );
        assert_eq!(verdict(&report, "snap-b").1, ["last 7 daily"]);
    }

    #[test]
    fn a_held_or_unplanned_destination_deletes_nothing_it_explains() {
        let held = DestinationReport {
            region: "eu-west-1".into(),
            kept: vec![item("snap-k", "daily 2026-11-30")],
            held: Some("30 of 32 copies to delete".into()),
            held_back: 30,
            ..Default::default()
        };
        assert_eq!(copy_verdict(&held, "snap-k").0, Verdict::Keep);
        let (v, r) = copy_verdict(&held, "snap-x");
        assert_eq!(v, Verdict::Held);
        assert!(r[0].contains("30 of 32"));
        let bad = DestinationReport {
            region: "eu-west-1".into(),
            error: Some(
                "tag ebs-gens:copies: ap-south-1 is not one of this deployment's destinations"
                    .into(),
            ),
            ..Default::default()
        };
        let (v, r) = copy_verdict(&bad, "snap-x");
        assert_eq!(v, Verdict::Keep);
        assert!(r[0].contains("not planned"));
    }
}
