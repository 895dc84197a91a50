//! The bulk-deletion fuse on the strict fake: a fat-fingered tag held, an acknowledged run
//! deleting exactly the plan, the batch fuse across volumes.

use ebs_gens::app::prune::PruneInput;
use ebs_gens::aws::fake::FakeAws;
use ebs_gens::snapshot::TAG_ALLOW_BULK_DELETE;

mod common;
use common::fleet::*;

#[tokio::test(start_paused = true)]
async fn a_fat_fingered_tag_change_is_held_and_an_acknowledged_run_deletes_exactly_the_plan() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-a", "3", 30, 0); // Daily_Gens 30 → 3: 27 of 30 would go.
    volume(&fake, "vol-b", "7", 8, 0); // 8 → 7: one goes.
    let app = app(&fake, &[]);

    let out = prune_with(&app, &["vol-a", "vol-b"], PruneInput::default()).await;
    let a = &out.volumes[0];
    let held = a.held.as_ref().expect("vol-a held");
    assert_eq!((held.would_delete, held.completed), (27, 30));
    assert_eq!(
        held.acknowledge,
        format!("tag the volume {TAG_ALLOW_BULK_DELETE}=2026-11-25")
    );
    assert!(a.deleted.is_empty());
    assert_eq!(a.held_back.len(), 27);
    assert_eq!(left(&fake, "vol-a"), 30, "nothing deleted while held");
    let b = &out.volumes[1];
    assert!(b.held.is_none());
    assert_eq!(b.deleted.len(), 1, "8 → 7 deletes one");
    assert_eq!(left(&fake, "vol-b"), 7);
    assert_eq!((out.totals.held, out.totals.deletions_held), (1, 27));
    assert_eq!(out.totals.attention[0].state, "held");

    // Yesterday's acknowledgement is not today's.
    fake.set_volume_tag("vol-a", TAG_ALLOW_BULK_DELETE, "2026-11-24");
    let again = prune_with(&app, &["vol-a"], PruneInput::default()).await;
    assert!(again.volumes[0].held.is_some());
    assert_eq!(left(&fake, "vol-a"), 30);

    // Today's: exactly the planned set goes, and the report says how it was allowed.
    fake.set_volume_tag("vol-a", TAG_ALLOW_BULK_DELETE, "2026-11-25");
    let acked = prune_with(&app, &["vol-a"], PruneInput::default()).await;
    let v = &acked.volumes[0];
    assert!(v.held.is_none());
    let planned: Vec<&String> = a.held_back.iter().map(|i| &i.snapshot_id).collect();
    let deleted: Vec<&String> = v.deleted.iter().map(|i| &i.snapshot_id).collect();
    assert_eq!(deleted, planned);
    assert_eq!(
        v.bulk_allowed.as_deref(),
        Some("tag ebs-gens:allow-bulk-delete=2026-11-25")
    );
    assert_eq!(left(&fake, "vol-a"), 3);
}

#[tokio::test(start_paused = true)]
async fn allow_bulk_delete_input_and_a_dry_run_never_delete_more_than_planned() {
    let fake = FakeAws::new(ACCOUNT);
    volume(&fake, "vol-a", "3", 30, 0);
    let app = app(&fake, &[]);
    let dry = prune_with(
        &app,
        &["vol-a"],
        PruneInput {
            dry_run: true,
            allow_bulk_delete: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(dry.volumes[0].deleted.len(), 27, "what would go");
    assert_eq!(left(&fake, "vol-a"), 30, "a dry run deletes nothing");
    let run = prune_with(
        &app,
        &["vol-a"],
        PruneInput {
            allow_bulk_delete: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(run.volumes[0].deleted, dry.volumes[0].deleted);
    assert_eq!(left(&fake, "vol-a"), 3);
}

#[tokio::test(start_paused = true)]
async fn the_batch_fuse_holds_every_volume_when_together_they_delete_too_much() {
    let fake = FakeAws::new(ACCOUNT);
    // 12 volumes, each deleting 10 of 25 (40 %: under the volume fuse's 50 %), 120 of 300
    // together: over the batch fuse (more than 25 % and more than 100).
    let vols = fleet(&fake, 12, "15", 25);
    let ids: Vec<&str> = vols.iter().map(String::as_str).collect();
    let app = app(&fake, &[]);
    let out = prune_with(&app, &ids, PruneInput::default()).await;
    assert_eq!(out.totals.held, 12);
    assert_eq!(out.totals.deletions_held, 120);
    assert!(out.volumes[0]
        .held
        .as_ref()
        .unwrap()
        .why
        .contains("batch fuse"));
    assert_eq!(fake.snapshots().len(), 300);
    // A higher threshold lets the same batch go.
    let loose = self::app(&fake, &[("EBS_GENS_FUSE_BATCH_PERCENT", "50")]);
    let out = prune_with(&loose, &ids, PruneInput::default()).await;
    assert_eq!((out.totals.held, out.totals.deleted), (0, 120));
}
