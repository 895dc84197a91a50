//! Rule layout: scenarios, idempotence, and EventBridge's limits under random fleets.

use std::collections::BTreeMap;

use ebs_gens::backend::rules::{
    layout, parse_rule_name, schedule_hash, target_input, valid_rule_chars, DesiredVolume,
    ExistingRule, LayoutContext, RuleOp, RuleState, Target, MAX_RULE_NAME, MAX_TARGETS_PER_PUT,
    MAX_TARGETS_PER_RULE,
};
use ebs_gens::policy::GenClass;
use proptest::prelude::*;

const DAILY: &str = "cron(30 9 * * ? *)";
const WEEKLY: &str = "cron(30 9 ? * SUN *)";
const ARN: &str = "arn:aws:events:us-east-1:123456789012:target/create-snapshot";
const ROLE: &str = "arn:aws:iam::123456789012:role/ebs-gens-snapshot";

fn ctx() -> LayoutContext {
    LayoutContext {
        prefix: "ebs-gens-prod-".into(),
        target_arn: ARN.into(),
        role_arn: ROLE.into(),
        deployment: "prod".into(),
    }
}

fn vol(id: &str, class: GenClass, schedule: &str) -> DesiredVolume {
    DesiredVolume {
        volume_id: id.into(),
        class,
        schedule: schedule.into(),
    }
}

fn daily(n: usize) -> Vec<DesiredVolume> {
    (0..n)
        .map(|i| vol(&format!("vol-{i:03}"), GenClass::Daily, DAILY))
        .collect()
}

/// A strict EventBridge stand-in: applies ops, enforcing the quotas the layout must respect.
fn apply(rules: &mut Vec<ExistingRule>, ops: &[RuleOp]) {
    for op in ops {
        match op {
            RuleOp::PutRule {
                rule,
                schedule,
                description,
            } => {
                assert!(
                    rule.len() <= MAX_RULE_NAME && valid_rule_chars(rule),
                    "bad rule name {rule}"
                );
                assert!(description.len() <= 512);
                match rules.iter_mut().find(|r| &r.name == rule) {
                    Some(r) => {
                        r.schedule_expression = Some(schedule.clone());
                        r.state = RuleState::Enabled;
                    }
                    None => rules.push(ExistingRule {
                        name: rule.clone(),
                        schedule_expression: Some(schedule.clone()),
                        state: RuleState::Enabled,
                        targets: vec![],
                    }),
                }
            }
            RuleOp::PutTargets { rule, targets } => {
                assert!(
                    targets.len() <= MAX_TARGETS_PER_PUT,
                    "PutTargets with {}",
                    targets.len()
                );
                let r = rules
                    .iter_mut()
                    .find(|r| &r.name == rule)
                    .expect("PutTargets on a missing rule");
                for t in targets {
                    r.targets.retain(|x| x.id != t.id);
                    r.targets.push(t.clone());
                }
                assert!(
                    r.targets.len() <= MAX_TARGETS_PER_RULE,
                    "{rule} has {} targets",
                    r.targets.len()
                );
            }
            RuleOp::RemoveTargets { rule, ids } => {
                let r = rules
                    .iter_mut()
                    .find(|r| &r.name == rule)
                    .expect("RemoveTargets on a missing rule");
                r.targets.retain(|t| !ids.contains(&t.id));
            }
            RuleOp::DeleteRule { rule } => {
                let i = rules
                    .iter()
                    .position(|r| &r.name == rule)
                    .expect("DeleteRule on a missing rule");
                assert!(
                    rules[i].targets.is_empty(),
                    "DeleteRule on {rule} while it has targets"
                );
                rules.remove(i);
            }
        }
    }
}

fn converge(desired: &[DesiredVolume], rules: &mut Vec<ExistingRule>) -> Vec<RuleOp> {
    let l = layout(desired, rules, &ctx());
    apply(rules, &l.ops);
    l.ops
}

/// Volume id → rule name, for our rules.
fn placement(rules: &[ExistingRule]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for r in rules {
        if parse_rule_name("ebs-gens-prod-", &r.name).is_some() {
            for t in r.targets.iter().filter(|t| t.arn == ARN) {
                assert!(
                    out.insert(t.id.clone(), r.name.clone()).is_none(),
                    "{} placed twice",
                    t.id
                );
            }
        }
    }
    out
}

#[test]
fn seven_volumes_on_one_instance_need_two_rules() {
    let mut rules = vec![];
    let ops = converge(&daily(7), &mut rules);
    assert_eq!(rules.len(), 2);
    let counts: Vec<usize> = rules.iter().map(|r| r.targets.len()).collect();
    assert_eq!(counts, vec![5, 2]);
    let h = schedule_hash(DAILY);
    assert_eq!(rules[0].name, format!("ebs-gens-prod-daily-{h}-01"));
    assert_eq!(rules[1].name, format!("ebs-gens-prod-daily-{h}-02"));
    let t = &rules[0].targets[0];
    assert_eq!(t.arn, ARN);
    assert_eq!(t.role_arn.as_deref(), Some(ROLE));
    assert_eq!(t.input.as_deref(), Some("\"vol-000\""));
    assert_eq!(target_input("vol-000"), "\"vol-000\"");
    assert!(rules.iter().all(|r| r.state == RuleState::Enabled));
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, RuleOp::PutRule { .. }))
            .count(),
        2
    );
}

#[test]
fn nothing_changed_means_no_operations() {
    let mut rules = vec![];
    converge(&daily(12), &mut rules);
    let before = placement(&rules);
    let l = layout(&daily(12), &rules, &ctx());
    assert!(l.ops.is_empty(), "{:?}", l.ops);
    assert_eq!(l.rules.values().map(Vec::len).sum::<usize>(), 12);
    // Removing one volume touches only its own rule; no other volume moves.
    let mut fewer = daily(12);
    fewer.remove(3);
    let ops = converge(&fewer, &mut rules);
    assert_eq!(
        ops,
        vec![RuleOp::RemoveTargets {
            rule: before["vol-003"].clone(),
            ids: vec!["vol-003".into()]
        }]
    );
    let after = placement(&rules);
    for (v, r) in &after {
        assert_eq!(&before[v], r, "{v} moved");
    }
    // A new volume fills the hole instead of creating a rule.
    let mut more = fewer.clone();
    more.push(vol("vol-new", GenClass::Daily, DAILY));
    converge(&more, &mut rules);
    assert_eq!(placement(&rules)["vol-new"], before["vol-003"]);
    assert_eq!(rules.len(), 3);
}

#[test]
fn untagged_or_deleted_volumes_lose_targets_and_empty_rules_go() {
    let mut rules = vec![];
    converge(&daily(7), &mut rules);
    let ops = converge(&daily(2), &mut rules);
    assert_eq!(rules.len(), 1);
    assert!(ops.iter().any(|o| matches!(o, RuleOp::DeleteRule { .. })));
    // Removes come before the delete.
    let first_delete = ops
        .iter()
        .position(|o| matches!(o, RuleOp::DeleteRule { .. }))
        .unwrap();
    let last_remove = ops
        .iter()
        .rposition(|o| matches!(o, RuleOp::RemoveTargets { .. }))
        .unwrap();
    assert!(last_remove < first_delete);
    converge(&[], &mut rules);
    assert!(rules.is_empty());
}

#[test]
fn foreign_rules_and_targets_are_never_touched() {
    let foreign_target = Target {
        id: "alarm".into(),
        arn: "arn:aws:sns:us-east-1:123456789012:t".into(),
        input: None,
        role_arn: None,
    };
    let h = schedule_hash(DAILY);
    let mut rules = vec![
        // Someone else's rule that happens to start like ours.
        ExistingRule {
            name: "ebs-gens-prod-eu-daily-abcdef-01".into(),
            schedule_expression: Some(DAILY.into()),
            state: RuleState::Disabled,
            targets: vec![Target {
                id: "vol-000".into(),
                arn: ARN.into(),
                input: Some("\"vol-000\"".into()),
                role_arn: None,
            }],
        },
        ExistingRule {
            name: "my-own-rule".into(),
            schedule_expression: Some(DAILY.into()),
            state: RuleState::Enabled,
            targets: vec![],
        },
        // Our rule with a foreign target on it: the target stays, and holds a slot.
        ExistingRule {
            name: format!("ebs-gens-prod-daily-{h}-01"),
            schedule_expression: Some(DAILY.into()),
            state: RuleState::Enabled,
            targets: vec![foreign_target.clone()],
        },
    ];
    let snapshot = rules[..2].to_vec();
    converge(&daily(6), &mut rules);
    assert_eq!(&rules[..2], &snapshot[..]);
    assert!(rules[2].targets.contains(&foreign_target));
    assert_eq!(rules[2].targets.len(), 5);
    // With no volumes left, our rule keeps the foreign target and is not deleted.
    converge(&[], &mut rules);
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[2].targets, vec![foreign_target]);
}

#[test]
fn drift_is_repaired_disabled_rules_reenabled_wrong_roles_fixed() {
    let mut rules = vec![];
    converge(&daily(3), &mut rules);
    rules[0].state = RuleState::Disabled;
    rules[0].targets[1].role_arn = Some("arn:aws:iam::123456789012:role/wrong".into());
    let ops = converge(&daily(3), &mut rules);
    assert_eq!(ops.len(), 2, "{ops:?}");
    assert!(matches!(&ops[0], RuleOp::PutRule { .. }));
    assert!(matches!(&ops[1], RuleOp::PutTargets { targets, .. } if targets.len() == 1));
    assert!(layout(&daily(3), &rules, &ctx()).ops.is_empty());
}

#[test]
fn schedule_or_class_change_moves_volumes_to_matching_rules() {
    let mut rules = vec![];
    converge(&daily(3), &mut rules);
    let moved: Vec<DesiredVolume> = (0..3)
        .map(|i| vol(&format!("vol-{i:03}"), GenClass::Weekly, WEEKLY))
        .collect();
    converge(&moved, &mut rules);
    assert_eq!(rules.len(), 1);
    assert!(rules[0].name.starts_with("ebs-gens-prod-weekly-"));
    assert_eq!(rules[0].schedule_expression.as_deref(), Some(WEEKLY));
}

#[test]
fn rule_names_stay_valid_whatever_the_schedule_and_prefix() {
    let c = LayoutContext {
        prefix: "x".repeat(ebs_gens::backend::rules::MAX_PREFIX),
        ..ctx()
    };
    let desired: Vec<DesiredVolume> = (0..600)
        .map(|i| {
            vol(
                &format!("vol-{i:05}"),
                GenClass::Monthly,
                "cron(0 0 1 JAN,FEB,MAR,APR ? 2026-2199)",
            )
        })
        .collect();
    let l = layout(&desired, &[], &c);
    assert_eq!(l.rules.len(), 120);
    for name in l.rules.keys() {
        assert!(
            name.len() <= MAX_RULE_NAME && valid_rule_chars(name),
            "{name}"
        );
        assert!(parse_rule_name(&c.prefix, name).is_some(), "{name}");
    }
    assert!(ebs_gens::backend::rules::validate_prefix(
        &"x".repeat(ebs_gens::backend::rules::MAX_PREFIX + 1)
    )
    .is_err());
    assert!(ebs_gens::backend::rules::validate_prefix("web server (prod)").is_err());
}

fn arb_desired() -> impl Strategy<Value = Vec<DesiredVolume>> {
    prop::collection::btree_map(0u32..40, 0usize..3, 0..30).prop_map(|m| {
        m.into_iter()
            .map(|(v, k)| {
                let (class, s) = [
                    (GenClass::Daily, DAILY),
                    (GenClass::Weekly, WEEKLY),
                    (GenClass::Daily, "cron(0 3 * * ? *)"),
                ][k];
                vol(&format!("vol-{v:03}"), class, s)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_sequence_of_fleets_converges_within_limits(steps in prop::collection::vec(arb_desired(), 1..5)) {
        let mut rules = vec![];
        for desired in &steps {
            converge(desired, &mut rules);
            let placed = placement(&rules);
            // Every desired volume is placed once, in a rule of its class and schedule.
            prop_assert_eq!(placed.len(), desired.len());
            for d in desired {
                let r = rules.iter().find(|r| r.name == placed[&d.volume_id]).unwrap();
                let (class, hash, _) = parse_rule_name("ebs-gens-prod-", &r.name).unwrap();
                prop_assert_eq!(class, d.class);
                prop_assert_eq!(hash, schedule_hash(&d.schedule));
                prop_assert_eq!(r.schedule_expression.as_deref(), Some(d.schedule.as_str()));
                prop_assert_eq!(r.state, RuleState::Enabled);
            }
            // No empty rules are left, and a second pass changes nothing.
            prop_assert!(rules.iter().all(|r| !r.targets.is_empty()));
            prop_assert!(layout(desired, &rules, &ctx()).ops.is_empty());
        }
    }
}

#[tokio::test]
async fn the_fake_refuses_remove_targets_over_eventbridges_limit_of_10_ids_saying_so() {
    use ebs_gens::aws::EventsApi;
    let fake = ebs_gens::aws::fake::FakeAws::new("123456789012");
    let ids: Vec<String> = (0..11).map(|i| format!("vol-{i}")).collect();
    let e = fake.remove_targets("any-rule", &ids).await.unwrap_err();
    assert!(e.message.contains("1 to 10 ids"), "{}", e.message);
}
