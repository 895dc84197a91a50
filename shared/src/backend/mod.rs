//! The backend: how a deployment's snapshots are born — EventBridge Scheduler schedules
//! ([`scheduler`]) or EventBridge rules with the built-in target ([`rules`]). Pure.
//!
//! [`Backend`] is what `Settings` parses: the kind with what that kind needs to create
//! snapshots (Scheduler's flexible window, the role a schedule runs as and its dead-letter
//! queue; or the role the built-in target assumes). Where each kind keeps its schedules or rules
//! (`Settings::schedule_group`, `Settings::rule_prefix`) is known to both, because every
//! reconcile also removes what the other kind left behind after a switch.

pub mod rules;
pub mod scheduler;

use crate::config::ConfigError;

/// Which backend a deployment uses (on the wire: `"scheduler"` or `"rules"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// EventBridge Scheduler, one schedule per volume, snapshots born tagged (default).
    #[default]
    Scheduler,
    /// EventBridge rules with the built-in create-snapshot target (untagged, then adopted).
    Rules,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Scheduler => "scheduler",
            BackendKind::Rules => "rules",
        })
    }
}

/// The configured backend with what it needs to create snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Scheduler {
        /// Scheduler's flexible time window (0: off): spreads a fleet's fires over this many
        /// minutes, so 10,000 volumes on one cron stay under EC2's CreateSnapshot bucket.
        flexible_window_minutes: u32,
        /// The role a schedule's target runs as (`EBS_GENS_SCHEDULER_ROLE_ARN`).
        role_arn: Option<String>,
        /// Where Scheduler sends a firing it could not deliver (`EBS_GENS_SCHEDULE_DLQ_ARN`).
        dead_letter_arn: Option<String>,
    },
    Rules {
        /// The role the built-in create-snapshot target assumes (`EBS_GENS_SNAPSHOT_ROLE_ARN`).
        snapshot_role_arn: Option<String>,
    },
}

impl Default for Backend {
    fn default() -> Self {
        Backend::Scheduler {
            flexible_window_minutes: 60,
            role_arn: None,
            dead_letter_arn: None,
        }
    }
}

impl Backend {
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::Scheduler { .. } => BackendKind::Scheduler,
            Backend::Rules { .. } => BackendKind::Rules,
        }
    }

    /// Scheduler's flexible window (zero on the rules backend: rules fire on time).
    pub fn flexible_window_minutes(&self) -> u32 {
        match self {
            Backend::Scheduler {
                flexible_window_minutes,
                ..
            } => *flexible_window_minutes,
            Backend::Rules { .. } => 0,
        }
    }

    /// The role the backend's snapshot-creating target assumes, when configured.
    pub fn role_arn(&self) -> Option<&str> {
        match self {
            Backend::Scheduler { role_arn, .. } => role_arn.as_deref(),
            Backend::Rules { snapshot_role_arn } => snapshot_role_arn.as_deref(),
        }
    }

    /// Scheduler's dead-letter queue (none on the rules backend).
    pub fn dead_letter_arn(&self) -> Option<&str> {
        match self {
            Backend::Scheduler {
                dead_letter_arn, ..
            } => dead_letter_arn.as_deref(),
            Backend::Rules { .. } => None,
        }
    }

    /// What creating snapshots needs: the role. Checked when ensure-schedules starts (and by
    /// every tool before it reconciles), so a deployment without it fails at once, by name.
    pub fn require_role(&self) -> Result<&str, ConfigError> {
        self.role_arn().ok_or_else(|| ConfigError {
            var: self.role_variable().into(),
            why: format!("is not set (needed by EBS_GENS_BACKEND={})", self.kind()),
        })
    }

    /// The variable that names the backend's role.
    pub fn role_variable(&self) -> &'static str {
        match self {
            Backend::Scheduler { .. } => "EBS_GENS_SCHEDULER_ROLE_ARN",
            Backend::Rules { .. } => "EBS_GENS_SNAPSHOT_ROLE_ARN",
        }
    }
}

/// An IAM role ARN as the stack writes it: `arn:<partition>:iam::<12 digits>:role/<path+name>`.
pub fn valid_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", p, "iam", "", acct, res]
        if !p.is_empty() && acct.len() == 12 && acct.bytes().all(|b| b.is_ascii_digit())
            && res.strip_prefix("role/").is_some_and(|n| !n.is_empty()))
}

/// An SQS queue ARN: `arn:<partition>:sqs:<region>:<12 digits>:<name>`.
pub fn valid_queue_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", p, "sqs", r, acct, name]
        if !p.is_empty() && !r.is_empty() && acct.len() == 12
            && acct.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_checked_by_shape() {
        assert!(valid_role_arn(
            "arn:aws:iam::123456789012:role/ebs-gens-sched"
        ));
        assert!(valid_role_arn("arn:aws-cn:iam::123456789012:role/path/x"));
        for bad in [
            "",
            "role/x",
            "arn:aws:iam::12345:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:sts::123456789012:role/x",
        ] {
            assert!(!valid_role_arn(bad), "{bad}");
        }
        assert!(valid_queue_arn("arn:aws:sqs:eu-west-1:123456789012:dlq"));
        assert!(!valid_queue_arn("arn:aws:sqs::123456789012:dlq"));
        assert!(!valid_queue_arn(
            "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"
        ));
    }

    #[test]
    fn a_missing_role_is_named() {
        let e = Backend::default().require_role().unwrap_err();
        assert_eq!(e.var, "EBS_GENS_SCHEDULER_ROLE_ARN");
        let rules = Backend::Rules {
            snapshot_role_arn: None,
        };
        assert_eq!(
            rules.require_role().unwrap_err().var,
            "EBS_GENS_SNAPSHOT_ROLE_ARN"
        );
        let rules = Backend::Rules {
            snapshot_role_arn: Some("arn:aws:iam::123456789012:role/r".into()),
        };
        assert_eq!(
            rules.require_role().unwrap(),
            "arn:aws:iam::123456789012:role/r"
        );
    }
}
