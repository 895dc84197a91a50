//! Recycle Bin: a DeleteSnapshot that a retention rule covers does not free the snapshot — it
//! goes to the Recycle Bin and stays billed for the rule's retention period. ebs-gens cannot
//! (and must not) bypass that; it says so: a delete a rule covers is reported as "billed until
//! …", never as storage freed, and `status` names the rules that cover our snapshots. Read-only:
//! nothing here changes a rule. Pure.
//!
//! The rules' shape (GetRule, Recycle Bin API reference,
//! <https://docs.aws.amazon.com/recyclebin/latest/APIReference/API_GetRule.html>):
//! - a **tag-level** rule lists `ResourceTags`; it covers a snapshot with at least one of those
//!   key/value pairs (a pair without a value: the key with any value);
//! - a **Region-level** rule lists none; it covers every snapshot in the region except those with
//!   one of its `ExcludeResourceTags`;
//! - only a rule whose `Status` is `available` applies; its retention is in days (1-365);
//! - a snapshot several rules cover is kept for the longest of their periods.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One retention rule for EBS snapshots, as GetRule describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRule {
    pub id: String,
    /// The retention period, in days.
    pub days: u32,
    /// A tag-level rule's tags (key, value; `None` matches any value); empty: Region-level.
    pub resource_tags: Vec<(String, Option<String>)>,
    /// A Region-level rule's exclusion tags.
    pub exclude_tags: Vec<(String, Option<String>)>,
    /// `Status` = `available` (a `pending` rule does not retain anything yet).
    pub available: bool,
    /// `LockState` = `locked` (nobody can change or delete the rule until it is unlocked and its
    /// unlock delay has passed).
    pub locked: bool,
}

fn matches(pairs: &[(String, Option<String>)], tags: &BTreeMap<String, String>) -> bool {
    pairs.iter().any(|(k, v)| match (tags.get(k), v) {
        (Some(_), None) => true,
        (Some(have), Some(want)) => have == want,
        (None, _) => false,
    })
}

impl RetentionRule {
    /// Whether a snapshot with these tags goes to the Recycle Bin under this rule when deleted.
    pub fn covers(&self, tags: &BTreeMap<String, String>) -> bool {
        if !self.available {
            return false;
        }
        if self.resource_tags.is_empty() {
            !matches(&self.exclude_tags, tags)
        } else {
            matches(&self.resource_tags, tags)
        }
    }

    pub fn retention(&self) -> Duration {
        Duration::days(self.days.into())
    }
}

impl fmt::Display for RetentionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = if self.resource_tags.is_empty() {
            "Region-level"
        } else {
            "tag-level"
        };
        write!(
            f,
            "Recycle Bin rule {} ({scope}, {} days",
            self.id, self.days
        )?;
        if self.locked {
            f.write_str(", locked")?;
        }
        f.write_str(")")
    }
}

/// The rule that keeps a deleted snapshot with these tags longest, if any covers it.
pub fn covering<'a>(
    rules: &'a [RetentionRule],
    tags: &BTreeMap<String, String>,
) -> Option<&'a RetentionRule> {
    rules
        .iter()
        .filter(|r| r.covers(tags))
        .max_by(|a, b| a.days.cmp(&b.days).then_with(|| b.id.cmp(&a.id)))
}

/// What a report says of a delete a rule covers: where it went and until when it is billed.
pub fn billed_until(rule: &RetentionRule, deleted_at: DateTime<Utc>) -> String {
    format!(
        "{BILLED}: into {rule}, billed until {}",
        (deleted_at + rule.retention()).format("%Y-%m-%d %H:%M UTC")
    )
}

/// What a rule means for this deployment's snapshots, for `status`: `None` when it retains none
/// of them (pending, or a Region-level rule that excludes our `managed-by` tag).
pub fn covers_ours(rule: &RetentionRule, managed_by: (&str, &str)) -> Option<String> {
    if !rule.available {
        return None;
    }
    let pairs = |p: &[(String, Option<String>)]| {
        p.iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("*")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ours = BTreeMap::from([(managed_by.0.to_string(), managed_by.1.to_string())]);
    let what = if rule.resource_tags.is_empty() {
        if matches(&rule.exclude_tags, &ours) {
            return None;
        }
        match rule.exclude_tags.is_empty() {
            true => "every deleted snapshot of ours".to_string(),
            false => format!(
                "every deleted snapshot of ours not tagged {}",
                pairs(&rule.exclude_tags)
            ),
        }
    } else if rule.covers(&ours) {
        "every deleted snapshot of ours".to_string()
    } else {
        format!(
            "deleted snapshots of ours tagged {}",
            pairs(&rule.resource_tags)
        )
    };
    Some(format!(
        "{rule} keeps {what} for {} days, billed: deletes free no storage until then",
        rule.days
    ))
}

/// The prefix of a deleted item's reason when a Recycle Bin rule keeps it (counted apart from
/// the deletes that free storage).
pub const BILLED: &str = "kept by the Recycle Bin";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rule(
        id: &str,
        days: u32,
        tags: &[(&str, Option<&str>)],
        exclude: &[(&str, Option<&str>)],
    ) -> RetentionRule {
        let pairs = |p: &[(&str, Option<&str>)]| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect()
        };
        RetentionRule {
            id: id.into(),
            days,
            resource_tags: pairs(tags),
            exclude_tags: pairs(exclude),
            available: true,
            locked: false,
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn which_rule_covers_which_snapshot() {
        let ours = tags(&[("ebs-gens:managed-by", "prod"), ("Name", "db01")]);
        let cases: &[(RetentionRule, bool)] = &[
            (rule("region", 7, &[], &[]), true),
            (
                rule("excluded", 7, &[], &[("ebs-gens:managed-by", Some("prod"))]),
                false,
            ),
            (
                rule(
                    "other-exclusion",
                    7,
                    &[],
                    &[("ebs-gens:managed-by", Some("test"))],
                ),
                true,
            ),
            (rule("any-value-excluded", 7, &[], &[("Name", None)]), false),
            (rule("tag", 7, &[("Name", Some("db01"))], &[]), true),
            (rule("tag-other", 7, &[("Name", Some("web"))], &[]), false),
            (
                rule("tag-any-value", 7, &[("ebs-gens:managed-by", None)], &[]),
                true,
            ),
            (
                rule(
                    "one-of-two",
                    7,
                    &[("x", Some("1")), ("Name", Some("db01"))],
                    &[],
                ),
                true,
            ),
            (
                RetentionRule {
                    available: false,
                    ..rule("pending", 7, &[], &[])
                },
                false,
            ),
        ];
        for (r, want) in cases {
            assert_eq!(r.covers(&ours), *want, "{}", r.id);
        }
    }

    #[test]
    fn status_says_which_rules_keep_our_deletes() {
        let ours = ("ebs-gens:managed-by", "prod");
        let say = |r: RetentionRule| covers_ours(&r, ours);
        assert!(say(rule("r", 7, &[], &[]))
            .unwrap()
            .contains("every deleted snapshot of ours for 7 days"));
        assert_eq!(
            say(rule("r", 7, &[], &[("ebs-gens:managed-by", Some("prod"))])),
            None
        );
        assert!(say(rule("r", 7, &[], &[("Name", Some("scratch"))]))
            .unwrap()
            .contains("not tagged Name=scratch"));
        assert!(say(rule("r", 7, &[("ebs-gens:managed-by", None)], &[]))
            .unwrap()
            .contains("every deleted snapshot of ours"));
        assert!(say(rule("r", 7, &[("Name", Some("db01"))], &[]))
            .unwrap()
            .contains("tagged Name=db01"));
        let pending = RetentionRule {
            available: false,
            ..rule("r", 7, &[], &[])
        };
        assert_eq!(say(pending), None);
    }

    #[test]
    fn the_longest_covering_rule_wins_and_the_report_says_until_when_it_is_billed() {
        let rules = vec![
            rule("short", 7, &[], &[]),
            rule("long", 30, &[("Name", Some("db01"))], &[]),
            rule("other", 365, &[("Name", Some("web"))], &[]),
        ];
        let t = tags(&[("Name", "db01")]);
        let r = covering(&rules, &t).unwrap();
        assert_eq!(r.id, "long");
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap();
        assert_eq!(
            billed_until(r, at),
            "kept by the Recycle Bin: into Recycle Bin rule long (tag-level, 30 days), billed until 2027-01-05 10:00 UTC"
        );
        assert!(covering(&rules, &tags(&[("Name", "web")])).is_some_and(|r| r.id == "other"));
        assert!(covering(&rules[1..2], &tags(&[])).is_none());
        assert!(covering(&[], &t).is_none());
    }
}
