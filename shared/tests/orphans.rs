//! Orphaned snapshots on the strict fake: one listing finds them, `keep` keeps them, a policy
//! prunes them under the volume fuse, the sweep sums them.

use chrono::Duration;
use ebs_gens::app::prune::{self, PruneInput};
use ebs_gens::app::sweep::sweep;
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::snapshot::{TAG_ALLOW_BULK_DELETE, TAG_KEEP, TAG_MANAGED_BY, TAG_VOLUME};
use ebs_gens::SnapshotState;

mod common;
use common::fleet::*;

#[tokio::test(start_paused = true)]
async fn orphans_are_found_by_one_listing_kept_by_default_and_pruned_when_asked() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-live", "2", 3, 0);
    let gone = volume(&fake, "vol-gone", "2", 5, 35);
    fake.add_snapshot(
        "vol-gone",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[
            (TAG_MANAGED_BY, "prod"),
            (TAG_VOLUME, "vol-gone"),
            (TAG_KEEP, "audit"),
        ],
    );
    fake.add_snapshot(
        "vol-gone",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "staging")],
    );
    fake.remove_volume("vol-gone");
    volume(&fake, "vol-untagged", "2", 2, 40);
    fake.remove_volume_tag("vol-untagged", "Daily_Gens");
    fake.add_volume("vol-typo", None, &[("Daily_Gens", "two")]);
    fake.add_snapshot(
        "vol-typo",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-typo")],
    );
    let scan = PruneInput {
        orphans: true,
        ..Default::default()
    };

    let keep = prune::handle(&app(&fake, &[]), scan.clone(), now(), None)
        .await
        .unwrap();
    let ids: Vec<(&str, String)> = keep
        .volumes
        .iter()
        .map(|r| (r.volume_id.as_str(), r.orphaned.unwrap().to_string()))
        .collect();
    assert_eq!(
        ids,
        [
            ("vol-gone", "volume deleted".to_string()),
            ("vol-untagged", "volume has no generation tag".to_string())
        ],
        "a misconfigured volume is not an orphan; a live one is not either"
    );
    assert_eq!((keep.totals.orphaned, keep.totals.orphan_volumes), (8, 2));
    assert_eq!(
        keep.totals.deleted, 0,
        "EBS_GENS_ORPHANS=keep deletes nothing"
    );
    assert_eq!(keep.volumes[0].policy, "was daily=2");

    let app = app(&fake, &[("EBS_GENS_ORPHANS", "keep-last=2,older-than=30")]);
    let out = prune::handle(&app, scan.clone(), now(), None)
        .await
        .unwrap();
    let g = &out.volumes[0];
    let deleted: Vec<&String> = g.deleted.iter().map(|i| &i.snapshot_id).collect();
    assert_eq!(
        deleted,
        [&gone[2], &gone[3], &gone[4]],
        "all but the newest two"
    );
    assert!(g.kept.iter().any(|k| k.reasons == ["pinned"]));
    // Another deployment's snapshot is not even listed (the scan lists ours by tag).
    assert!(fake
        .snapshots()
        .iter()
        .any(|s| s.tag(TAG_MANAGED_BY) == Some("staging")));
    assert_eq!(g.kept.len() + g.deleted.len(), 6);
    assert_eq!(out.volumes[1].deleted.len(), 0, "its newest two are kept");
    assert_eq!(fake.calls()["DescribeSnapshots"], 2, "one listing per scan");
    // Orphans with their volumes in the input are refused.
    let bad = PruneInput {
        volumes: vec![job("vol-live", 2)],
        orphans: true,
        ..Default::default()
    };
    let e = prune::handle(&app, bad, now(), None).await.unwrap_err();
    assert!(
        e.to_string().contains("orphan scan takes no volumes"),
        "{e}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_sweep_runs_the_orphan_scan_and_sums_health_into_its_summary() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-stale", "3", 3, 3);
    volume(&fake, "vol-held", "3", 30, 0);
    volume(&fake, "vol-gone", "3", 4, 0);
    fake.remove_volume("vol-gone");
    let app = app(&fake, &[]);
    let s = sweep(&app, false, now(), 1).await.unwrap();
    let t = &s.totals;
    assert_eq!(
        (t.volumes, t.stale, t.held, t.deletions_held),
        (2, 1, 1, 27)
    );
    assert_eq!((t.orphaned, t.orphan_volumes), (4, 1));
    assert!(!s.failed());
    let states: Vec<&str> = t.attention.iter().map(|a| a.state.as_str()).collect();
    assert!(
        states.contains(&"stale") && states.contains(&"held"),
        "{states:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn orphans_get_the_volume_fuse_and_keep_means_keep() {
    let fake = FakeAws::new(ACCOUNT);
    // A tag removed by mistake: 30 snapshots of an existing volume become orphans at once.
    volume(&fake, "vol-untagged", "30", 30, 10);
    fake.remove_volume_tag("vol-untagged", "Daily_Gens");
    // A deleted volume, with a failed snapshot among its orphans.
    volume(&fake, "vol-gone", "3", 8, 40);
    fake.add_snapshot(
        "vol-gone",
        now() - Duration::days(60),
        SnapshotState::Error,
        &[(TAG_MANAGED_BY, "prod"), (TAG_VOLUME, "vol-gone")],
    );
    fake.remove_volume("vol-gone");
    // A copy (EC2 gives it vol-ffffffff): nobody's orphan.
    fake.add_snapshot(
        "vol-ffffffff",
        now() - Duration::days(90),
        SnapshotState::Completed,
        &[(TAG_MANAGED_BY, "prod")],
    );
    let scan = PruneInput {
        orphans: true,
        ..Default::default()
    };
    let keep = prune::handle(&app(&fake, &[]), scan.clone(), now(), None)
        .await
        .unwrap();
    assert_eq!(
        keep.totals.deleted, 0,
        "keep deletes nothing, not even a failed one"
    );
    assert_eq!((keep.totals.orphan_volumes, keep.totals.orphaned), (2, 39));

    let app = app(&fake, &[("EBS_GENS_ORPHANS", "keep-last=1,older-than=7")]);
    let out = prune::handle(&app, scan.clone(), now(), None)
        .await
        .unwrap();
    let by = |v: &str| out.volumes.iter().find(|r| r.volume_id == v).unwrap();
    let u = by("vol-untagged").held.as_ref().expect("29 of 30 is held");
    assert_eq!(
        u.acknowledge,
        "tag the volume ebs-gens:allow-bulk-delete=2026-11-25"
    );
    let g = by("vol-gone").held.as_ref().expect("7 of 8 is held");
    assert!(
        g.acknowledge.contains("--allow-bulk-delete"),
        "{}",
        g.acknowledge
    );
    assert_eq!(out.totals.deleted, 0);
    // The untagged volume's acknowledgement lets it go; the gone one needs the run's.
    fake.set_volume_tag("vol-untagged", TAG_ALLOW_BULK_DELETE, "2026-11-25");
    let out = prune::handle(&app, scan.clone(), now(), None)
        .await
        .unwrap();
    assert_eq!(out.totals.deleted, 29);
    assert_eq!(left(&fake, "vol-untagged"), 1);
    let all = PruneInput {
        allow_bulk_delete: true,
        ..scan
    };
    let out = prune::handle(&app, all, now(), None).await.unwrap();
    assert_eq!(out.totals.deleted, 8, "7 old completed + the failed one");
    assert_eq!(left(&fake, "vol-gone"), 1, "the newest stays");
    assert_eq!(left(&fake, "vol-ffffffff"), 1, "a copy is never an orphan");
}
