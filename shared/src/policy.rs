//! Volume policy from tags: which generation classes a volume asks for, and how many of each.
//!
//! Pure: no I/O, no SDK types. A tag value is an integer `1..=1000` in ASCII digits, surrounding
//! whitespace allowed. Anything else makes the volume *misconfigured*: a typed error naming the
//! tag and the value, never a silent default.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest generation count a tag may ask for.
pub const MAX_GENS: u32 = 1000;

/// A generation class, finest first. The order matters: the finest class present sets the
/// creation schedule and keeps the last N snapshots; coarser classes keep one per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenClass {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl GenClass {
    /// All classes, finest first.
    pub const ALL: [GenClass; 4] = [
        GenClass::Hourly,
        GenClass::Daily,
        GenClass::Weekly,
        GenClass::Monthly,
    ];

    /// Lower-case label used in names and reasons (`daily`).
    pub fn label(self) -> &'static str {
        match self {
            GenClass::Hourly => "hourly",
            GenClass::Daily => "daily",
            GenClass::Weekly => "weekly",
            GenClass::Monthly => "monthly",
        }
    }

    /// The default tag key for this class (`Daily_Gens`).
    pub const fn default_tag_key(self) -> &'static str {
        match self {
            GenClass::Hourly => "Hourly_Gens",
            GenClass::Daily => "Daily_Gens",
            GenClass::Weekly => "Weekly_Gens",
            GenClass::Monthly => "Monthly_Gens",
        }
    }

    /// The longest time between two periods of this class (a month: 31 days).
    pub fn nominal_period(self) -> chrono::Duration {
        match self {
            GenClass::Hourly => chrono::Duration::hours(1),
            GenClass::Daily => chrono::Duration::days(1),
            GenClass::Weekly => chrono::Duration::days(7),
            GenClass::Monthly => chrono::Duration::days(31),
        }
    }

    /// The default EventBridge schedule for this class.
    pub const fn default_cron(self) -> &'static str {
        match self {
            GenClass::Hourly => "cron(0 * * * ? *)",
            GenClass::Daily => "cron(30 9 * * ? *)",
            GenClass::Weekly => "cron(30 9 ? * SUN *)",
            GenClass::Monthly => "cron(30 9 1 * ? *)",
        }
    }
}

impl fmt::Display for GenClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The tag keys that carry generation counts, one per class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagKeys {
    keys: BTreeMap<GenClass, String>,
}

impl Default for TagKeys {
    fn default() -> Self {
        TagKeys {
            keys: GenClass::ALL
                .into_iter()
                .map(|c| (c, c.default_tag_key().to_string()))
                .collect(),
        }
    }
}

impl TagKeys {
    /// Overrides the key of one class (deployment config).
    pub fn with_key(mut self, class: GenClass, key: impl Into<String>) -> Self {
        self.keys.insert(class, key.into());
        self
    }

    pub fn key(&self, class: GenClass) -> &str {
        &self.keys[&class]
    }

    /// Every configured key, finest class first.
    pub fn iter(&self) -> impl Iterator<Item = (GenClass, &str)> {
        self.keys.iter().map(|(c, k)| (*c, k.as_str()))
    }
}

/// Why a tag value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("tag {key}={value:?} is not a generation count: {why}")]
pub struct BadTag {
    pub key: String,
    pub value: String,
    pub why: String,
}

/// Every bad `*_Gens` tag of a volume (a volume may carry several).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("misconfigured: {}", .bad.iter().map(|b| b.to_string()).collect::<Vec<_>>().join("; "))]
pub struct Misconfigured {
    pub bad: Vec<BadTag>,
}

/// What a volume asks for: at least one class, each with `1..=1000` generations.
///
/// Deserializing goes through [`VolumePolicy::new`], so a hand-made state input can never
/// carry a policy the tags could not (zero, over 1000, empty, repeated or unsorted classes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPolicy")]
pub struct VolumePolicy {
    /// Classes present, finest first; never empty.
    gens: Vec<(GenClass, u32)>,
}

/// The wire form of a policy, checked by [`VolumePolicy::new`] before it becomes one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    gens: Vec<(GenClass, u32)>,
}

impl TryFrom<RawPolicy> for VolumePolicy {
    type Error = String;
    fn try_from(raw: RawPolicy) -> Result<Self, String> {
        VolumePolicy::new(raw.gens).map_err(|why| format!("policy.gens: {why}"))
    }
}

impl VolumePolicy {
    /// Builds a policy; refuses an empty list, a zero or over-large count, or a repeated class.
    pub fn new(mut gens: Vec<(GenClass, u32)>) -> Result<Self, String> {
        if gens.is_empty() {
            return Err("a policy needs at least one class".into());
        }
        gens.sort_by_key(|(c, _)| *c);
        for w in gens.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(format!("class {} given twice", w[0].0));
            }
        }
        if let Some((c, n)) = gens.iter().find(|(_, n)| *n == 0 || *n > MAX_GENS) {
            return Err(format!("{c} count {n} is outside 1..={MAX_GENS}"));
        }
        Ok(VolumePolicy { gens })
    }

    /// The finest class present: it sets the creation schedule.
    pub fn finest(&self) -> GenClass {
        self.gens[0].0
    }

    /// How many generations the finest class keeps (the floor the plan never goes below).
    pub fn finest_count(&self) -> u32 {
        self.gens[0].1
    }

    pub fn gens(&self) -> &[(GenClass, u32)] {
        &self.gens
    }

    pub fn count(&self, class: GenClass) -> Option<u32> {
        self.gens.iter().find(|(c, _)| *c == class).map(|(_, n)| *n)
    }
}

impl fmt::Display for VolumePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.gens.iter().map(|(c, n)| format!("{c}={n}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses one tag value: ASCII digits only, surrounding whitespace allowed, `1..=1000`.
pub fn parse_gens_value(value: &str) -> Result<u32, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("empty value".into());
    }
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected ASCII digits only (1 to 1000)".into());
    }
    // Digits only, so the only parse failure left is overflow.
    let n: u64 = v.parse().map_err(|_| "number too large".to_string())?;
    if n == 0 {
        return Err("0 generations would keep nothing; remove the tag instead".into());
    }
    if n > u64::from(MAX_GENS) {
        return Err(format!("at most {MAX_GENS} generations"));
    }
    Ok(n as u32)
}

/// Reads a volume's tags. `Ok(None)`: no generation tag at all (not ours to manage).
/// `Ok(Some(policy))`: managed. `Err`: at least one generation tag is bad, so the volume is
/// misconfigured and nothing is deleted for it.
pub fn policy_from_tags<'a, I>(
    keys: &TagKeys,
    tags: I,
) -> Result<Option<VolumePolicy>, Misconfigured>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut gens = Vec::new();
    let mut bad = Vec::new();
    for (k, v) in tags {
        let Some((class, _)) = keys.iter().find(|(_, key)| *key == k) else {
            if let Some((_, key)) = keys.iter().find(|(_, key)| near_miss(k, key)) {
                bad.push(BadTag {
                    key: k.to_string(),
                    value: v.to_string(),
                    why: format!("tag keys are case-sensitive: did you mean `{key}`?"),
                });
            }
            continue;
        };
        match parse_gens_value(v) {
            Ok(n) => {
                if gens.iter().any(|(c, _)| *c == class) {
                    bad.push(BadTag {
                        key: k.to_string(),
                        value: v.to_string(),
                        why: "tag given twice".into(),
                    });
                } else {
                    gens.push((class, n));
                }
            }
            Err(why) => bad.push(BadTag {
                key: k.to_string(),
                value: v.to_string(),
                why,
            }),
        }
    }
    if !bad.is_empty() {
        bad.sort_by(|a, b| a.key.cmp(&b.key));
        return Err(Misconfigured { bad });
    }
    if gens.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        VolumePolicy::new(gens).expect("counts validated and classes unique"),
    ))
}

/// A key that differs from one of ours only in letter case or surrounding whitespace
/// (`daily_gens`, `Daily_Gens `): the user meant ours, so the volume is misconfigured rather
/// than silently unmanaged.
pub fn near_miss(key: &str, ours: &str) -> bool {
    key != ours && key.trim().eq_ignore_ascii_case(ours)
}

/// Values for a `tag-key` filter that find every volume carrying one of our keys *or a near
/// miss of one* (EC2 filter values take `*` and `?` wildcards; matching is case-sensitive):
/// for `Daily_Gens`, `*Daily_Gens*`, `*?aily_?ens*` and `*?AILY_?ENS*`. Extra matches
/// (`Old_Daily_Gens_x`) are listed and then ignored by [`policy_from_tags`]. A custom key with a
/// wildcard character in it is matched exactly (no near-miss search for it).
pub fn discovery_key_patterns(keys: &TagKeys) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, key) in keys.iter() {
        let mut patterns = vec![key.to_string()];
        if !key.contains(['*', '?', '\\']) {
            let shape = |upper: bool| -> String {
                let mut word_start = true;
                key.chars()
                    .map(|c| {
                        let out = if c.is_ascii_alphabetic() && word_start {
                            '?'
                        } else if upper {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        };
                        word_start = !c.is_ascii_alphanumeric();
                        out
                    })
                    .collect()
            };
            patterns = vec![
                format!("*{key}*"),
                format!("*{}*", shape(false)),
                format!("*{}*", shape(true)),
            ];
        }
        for p in patterns {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// A volume to prune, as discovery hands it on (a versioned contract between states).
/// prune-volumes re-reads the volume's tags before planning: `policy` here is what discovery
/// saw, never what a deletion is decided on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeJob {
    pub volume_id: String,
    pub policy: VolumePolicy,
    /// Attached instance, if any (its `Name` tag names adopted snapshots).
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The volume's own `Name` tag, the fallback name.
    #[serde(default)]
    pub volume_name: Option<String>,
    /// Its type, size, IOPS and throughput: recorded on each snapshot it is born with
    /// (`ebs-gens:volume-spec`), so a volume that is gone restores as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<crate::restore::VolumeSpec>,
}

impl VolumeJob {
    pub fn finest(&self) -> GenClass {
        self.policy.finest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tags: &[(&str, &str)]) -> Result<Option<VolumePolicy>, Misconfigured> {
        policy_from_tags(&TagKeys::default(), tags.iter().copied())
    }

    #[test]
    fn daily_seven_is_managed() {
        let p = check(&[("Name", "web"), ("Daily_Gens", "7")])
            .unwrap()
            .unwrap();
        assert_eq!(p.finest(), GenClass::Daily);
        assert_eq!(p.finest_count(), 7);
        assert_eq!(p.to_string(), "daily=7");
    }

    #[test]
    fn surrounding_whitespace_and_bounds_are_accepted() {
        assert_eq!(
            check(&[("Daily_Gens", " 1 ")])
                .unwrap()
                .unwrap()
                .finest_count(),
            1
        );
        assert_eq!(
            check(&[("Daily_Gens", "\t1000\n")])
                .unwrap()
                .unwrap()
                .finest_count(),
            1000
        );
        assert_eq!(
            check(&[("Daily_Gens", "007")])
                .unwrap()
                .unwrap()
                .finest_count(),
            7
        );
    }

    #[test]
    fn every_bad_value_is_a_typed_error_naming_tag_and_value() {
        for bad in [
            "abc",
            "0",
            "-1",
            "1001",
            "３",
            "1e3",
            "",
            "   ",
            "+5",
            "7.0",
            "7 days",
            "99999999999999999999999",
        ] {
            let err = check(&[("Daily_Gens", bad)]).expect_err(bad);
            assert_eq!(err.bad.len(), 1, "{bad:?}");
            assert_eq!(err.bad[0].key, "Daily_Gens");
            assert_eq!(err.bad[0].value, bad);
            let msg = err.to_string();
            assert!(msg.contains("Daily_Gens"), "{msg}");
        }
    }

    #[test]
    fn one_bad_tag_spoils_the_volume_even_beside_a_good_one() {
        let err = check(&[("Daily_Gens", "7"), ("Weekly_Gens", "abc")]).unwrap_err();
        assert_eq!(err.bad[0].key, "Weekly_Gens");
    }

    #[test]
    fn no_generation_tag_is_unmanaged() {
        assert_eq!(
            check(&[("Name", "x"), ("Old_Daily_Gens", "7")]).unwrap(),
            None
        );
        assert_eq!(check(&[]).unwrap(), None);
    }

    #[test]
    fn near_miss_keys_make_the_volume_misconfigured_with_a_suggestion() {
        for key in ["daily_gens", "Daily_Gens ", " DAILY_GENS", "daily_Gens"] {
            let err = check(&[(key, "7")]).expect_err(key);
            assert_eq!(err.bad[0].key, key);
            assert!(
                err.to_string().contains("did you mean `Daily_Gens`?"),
                "{err}"
            );
        }
        // Beside the right key, a near miss is still a mistake worth stopping for.
        assert!(check(&[("Daily_Gens", "7"), ("daily_gens", "3")]).is_err());
    }

    #[test]
    fn discovery_patterns_find_near_misses() {
        let p = discovery_key_patterns(&TagKeys::default());
        assert!(p.contains(&"*Daily_Gens*".to_string()), "{p:?}");
        assert!(p.contains(&"*?aily_?ens*".to_string()), "{p:?}");
        assert!(p.contains(&"*?AILY_?ENS*".to_string()), "{p:?}");
        assert_eq!(p.len(), 12);
        let custom = TagKeys::default().with_key(GenClass::Daily, "backup*daily");
        assert!(discovery_key_patterns(&custom).contains(&"backup*daily".to_string()));
    }

    #[test]
    fn policy_json_is_validated_like_the_constructor() {
        let parse = |j: &str| serde_json::from_str::<VolumePolicy>(j);
        for bad in [
            r#"{"gens":[["daily",0]]}"#,
            r#"{"gens":[]}"#,
            r#"{"gens":[["daily",1001]]}"#,
            r#"{"gens":[["daily",1],["daily",2]]}"#,
            r#"{"gens":[["daily",1]],"extra":1}"#,
            r#"{"gens":[["fortnightly",1]]}"#,
        ] {
            let e = parse(bad).expect_err(bad).to_string();
            assert!(
                e.contains("gens") || e.contains("extra") || e.contains("variant"),
                "{bad}: {e}"
            );
        }
        let p = parse(r#"{"gens":[["weekly",1],["daily",1]]}"#).unwrap();
        assert_eq!(p.finest(), GenClass::Daily, "order is normalized");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"gens":[["daily",1],["weekly",1]]}"#
        );
    }

    #[test]
    fn finest_class_leads_whatever_the_tag_order() {
        let p = check(&[
            ("Monthly_Gens", "12"),
            ("Weekly_Gens", "4"),
            ("Daily_Gens", "7"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(p.finest(), GenClass::Daily);
        assert_eq!(
            p.gens(),
            &[
                (GenClass::Daily, 7),
                (GenClass::Weekly, 4),
                (GenClass::Monthly, 12)
            ]
        );
    }

    #[test]
    fn custom_tag_keys() {
        let keys = TagKeys::default().with_key(GenClass::Daily, "backup:daily");
        let p = policy_from_tags(&keys, [("backup:daily", "3"), ("Daily_Gens", "abc")])
            .unwrap()
            .unwrap();
        assert_eq!(p.finest_count(), 3);
    }

    #[test]
    fn duplicate_key_is_misconfigured() {
        assert!(check(&[("Daily_Gens", "7"), ("Daily_Gens", "8")]).is_err());
    }

    #[test]
    fn constructor_rejects_nonsense() {
        assert!(VolumePolicy::new(vec![]).is_err());
        assert!(VolumePolicy::new(vec![(GenClass::Daily, 0)]).is_err());
        assert!(VolumePolicy::new(vec![(GenClass::Daily, 1001)]).is_err());
        assert!(VolumePolicy::new(vec![(GenClass::Daily, 1), (GenClass::Daily, 2)]).is_err());
    }
}
