//! The backend: how a deployment's snapshots are born — EventBridge Scheduler schedules
//! (`schedules.rs`) or EventBridge rules with the built-in target (`rules.rs`). Pure.

/// How snapshots are born.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// EventBridge Scheduler, one schedule per volume, snapshots born tagged (default).
    #[default]
    Scheduler,
    /// EventBridge rules with the built-in create-snapshot target (untagged, then adopted).
    Rules,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Scheduler => "scheduler",
            Backend::Rules => "rules",
        })
    }
}
