//! One shape of counts for a prune batch, the orphan scan and the whole sweep: each batch's
//! `totals` and the sweep's running `summary` are [`Totals`], and the sweep's [`fold`] adds
//! batches into the summary. Pure.

use serde::{Deserialize, Serialize};

use crate::error::FailedDelete;

/// Volumes needing attention kept in the sweep summary (the rest are only counted).
pub const MAX_SUMMARY_ATTENTION: usize = 50;

/// What one Map iteration of the sweep reports back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchResult {
    #[serde(default)]
    pub totals: Option<Totals>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// A volume that needs an operator's eye, as listed in totals and the sweep summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attention {
    pub volume_id: String,
    /// `stale`, `held`, `doubtful`, `contested` or `not-pruned`.
    pub state: String,
    pub reason: String,
}

/// Counts of one prune batch, one orphan scan, or (folded) a whole sweep (`{}` is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Totals {
    /// Managed volumes: a batch's, or in the sweep every page's (counted by discovery).
    pub volumes: usize,
    /// Volumes whose tags are wrong (counted by discovery; nothing is deleted for them).
    pub misconfigured: usize,
    /// Instances with sets (counted by discovery).
    pub instances: usize,
    pub adopted: usize,
    pub kept: usize,
    pub deleted: usize,
    pub skipped: usize,
    /// Of `skipped`: refused by IAM.
    pub denied: usize,
    pub deferred: usize,
    pub already_gone: usize,
    /// Deletes that still failed after their retries (the batch then counts as failed).
    pub failed: usize,
    pub doubtful: usize,
    pub contested: usize,
    /// Volumes in a batch whose tags no longer make them managed (removed, broken) or that
    /// no longer exist: nothing was deleted for them.
    pub not_pruned: usize,
    /// Volumes whose newest completed snapshot is older than their schedule allows.
    pub stale: usize,
    /// Volumes whose deletions the fuse held, and how many deletions that is.
    pub held: usize,
    pub deletions_held: usize,
    /// Orphan scan: snapshots of ours whose volume is gone or untagged, and those volumes.
    pub orphaned: usize,
    pub orphan_volumes: usize,
    /// The volumes behind `stale`, `held`, `doubtful`, `contested`, `not_pruned` (up to
    /// `prune::MAX_ATTENTION` a batch, [`MAX_SUMMARY_ATTENTION`] a sweep).
    pub attention: Vec<Attention>,
    /// Up to `prune::MAX_ATTENTION` of the `failed` deletes, with EC2's error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailedDelete>,
    /// Copies started in other regions, left for a later run (20 in flight), deleted there,
    /// and refused (a copy or delete AWS refused, or a volume whose copies could not be planned).
    pub copied: usize,
    pub copies_deferred: usize,
    pub copies_deleted: usize,
    pub copies_failed: usize,
    /// Destinations (per volume) whose recovery point lags (`CopiesStale`).
    pub copies_stale: usize,
    /// Time-based copies still pending after their completion duration (`CopiesLate`).
    pub copies_late: usize,
    /// Snapshots locked by this run, locks extended, and lock refusals (or volumes whose locks
    /// could not be planned: nothing of them deleted).
    pub snapshots_locked: usize,
    pub locks_extended: usize,
    pub locks_failed: usize,
    /// Surplus snapshots kept only because their lock still holds (never a failure).
    pub held_by_lock: usize,
    /// Deletes a Recycle Bin retention rule keeps, still billed for its period (counted in
    /// `deleted` too: ebs-gens deleted them; they free no storage until the rule lets go).
    pub recycle_bin: usize,
    /// Orphan scan: copies of ours no rule plans any more (volume gone or untagged, or no copy
    /// rule names their region), kept or deleted under the orphan policy.
    pub orphaned_copies: usize,
    /// Sweep only: batches that failed after every retry, or finished with failed deletes.
    pub failed_batches: usize,
    /// Sweep only: those batches' errors (at most [`MAX_ERRORS`], to bound the state size).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<serde_json::Value>,
}

/// Errors of failed batches kept in the sweep summary.
pub const MAX_ERRORS: usize = 10;

impl Totals {
    /// Adds a batch's counts (not its `volumes` and `misconfigured`: discovery counts those per
    /// page). A batch with failed deletes is a failed batch, its deletions counted all the same.
    fn add_batch(&mut self, t: &Totals) {
        self.adopted += t.adopted;
        self.kept += t.kept;
        self.deleted += t.deleted;
        self.skipped += t.skipped;
        self.denied += t.denied;
        self.deferred += t.deferred;
        self.already_gone += t.already_gone;
        self.failed += t.failed;
        self.doubtful += t.doubtful;
        self.contested += t.contested;
        self.not_pruned += t.not_pruned;
        self.stale += t.stale;
        self.held += t.held;
        self.deletions_held += t.deletions_held;
        self.orphaned += t.orphaned;
        self.orphan_volumes += t.orphan_volumes;
        self.copied += t.copied;
        self.copies_deferred += t.copies_deferred;
        self.copies_deleted += t.copies_deleted;
        self.copies_failed += t.copies_failed;
        self.copies_stale += t.copies_stale;
        self.copies_late += t.copies_late;
        self.snapshots_locked += t.snapshots_locked;
        self.locks_extended += t.locks_extended;
        self.locks_failed += t.locks_failed;
        self.held_by_lock += t.held_by_lock;
        self.recycle_bin += t.recycle_bin;
        self.orphaned_copies += t.orphaned_copies;
        let room = MAX_SUMMARY_ATTENTION.saturating_sub(self.attention.len());
        self.attention
            .extend(t.attention.iter().take(room).cloned());
        if t.locks_failed > 0 {
            self.batch_failed(serde_json::json!({
                "Error": crate::ErrorName::LockFailed.as_str(),
                "Cause": format!("{} lock(s) refused or not planned; see the batch's volume reports", t.locks_failed),
            }));
        }
        if t.copies_failed > 0 {
            self.batch_failed(serde_json::json!({
                "Error": crate::ErrorName::CopyFailed.as_str(),
                "Cause": format!("{} copy step(s) failed; see the batch's volume reports", t.copies_failed),
            }));
        }
        if t.failed > 0 {
            self.batch_failed(serde_json::json!({
                "Error": crate::ErrorName::DeleteFailed.as_str(),
                "Cause": format!(
                    "{} snapshot(s) could not be deleted: {}",
                    t.failed,
                    crate::error::describe_failed(&t.failures)
                ),
            }));
        }
    }

    fn batch_failed(&mut self, error: serde_json::Value) {
        self.failed_batches += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error);
        }
    }
}

/// Folds one page's Map results into the running summary. Pure.
pub fn fold(mut summary: Totals, results: &[BatchResult]) -> Totals {
    for r in results {
        match (&r.totals, &r.error) {
            (Some(t), None) => summary.add_batch(t),
            // Always an object with an Error: the sweep's Fail state ends with the first one's name.
            (_, error) => summary.batch_failed(error.clone().unwrap_or_else(|| {
                serde_json::json!({
                    "Error": crate::ErrorName::Internal.as_str(),
                    "Cause": "a prune batch returned neither totals nor an error",
                })
            })),
        }
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_adds_totals_and_counts_failed_batches() {
        let ok = |d| BatchResult {
            totals: Some(Totals {
                deleted: d,
                kept: 1,
                volumes: 7,
                ..Totals::default()
            }),
            error: None,
        };
        let bad = BatchResult {
            totals: None,
            error: Some(serde_json::json!({"Error": "States.Timeout", "Cause": "x"})),
        };
        let s = fold(Totals::default(), &[ok(2), ok(3), bad]);
        assert_eq!((s.deleted, s.kept, s.failed_batches), (5, 2, 1));
        assert_eq!(s.errors[0]["Error"], "States.Timeout");
        // Discovery counts volumes; folding batches does not count them again.
        assert_eq!(s.volumes, 0);
        let s = fold(s, &[ok(1)]);
        assert_eq!(s.deleted, 6);
    }

    #[test]
    fn a_batch_with_failed_deletes_is_a_failed_batch_its_deletions_counted() {
        let t = Totals {
            deleted: 4,
            failed: 2,
            ..Totals::default()
        };
        let s = fold(
            Totals::default(),
            &[BatchResult {
                totals: Some(t),
                error: None,
            }],
        );
        assert_eq!((s.deleted, s.failed, s.failed_batches), (4, 2, 1));
        assert_eq!(s.errors[0]["Error"], "DeleteFailed");
        let many: Vec<BatchResult> = (0..MAX_ERRORS + 3)
            .map(|_| BatchResult {
                totals: None,
                error: None,
            })
            .collect();
        let s = fold(s, &many);
        assert_eq!(
            (s.failed_batches, s.errors.len()),
            (MAX_ERRORS + 4, MAX_ERRORS)
        );
        // Every error names itself: the sweep's Fail state reads errors[0].Error.
        assert!(
            s.errors.iter().all(|e| e["Error"].is_string()),
            "{:?}",
            s.errors
        );
    }

    #[test]
    fn an_empty_summary_is_the_empty_object_and_old_summaries_still_parse() {
        let empty: Totals = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Totals::default());
        // A summary written before batch and sweep totals were one shape.
        let old: Totals = serde_json::from_str(
            r#"{"volumes":3,"misconfigured":1,"deleted":2,"attention":[],"failed_batches":0,"errors":[]}"#,
        )
        .unwrap();
        assert_eq!((old.volumes, old.misconfigured, old.deleted), (3, 1, 2));
    }
}
