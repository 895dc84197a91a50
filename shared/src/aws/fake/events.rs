//! The strict fake's EventBridge (rules and targets).

use super::*;

impl EventsApi for FakeAws {
    async fn list_rules(&self, prefix: &str, next_token: Option<String>) -> R<Page<RuleSummary>> {
        let mut st = self.st();
        self.enter(&mut st, "ListRules")?;
        let items: Vec<RuleSummary> = st
            .rules
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, r)| RuleSummary {
                name: n.clone(),
                schedule_expression: Some(r.schedule.clone()),
                state: r.state,
            })
            .collect();
        let req = PageRequest {
            filters: vec![Filter::new("prefix", [prefix])],
            ids: vec![],
            max_results: Some(MAX_EVENTS_PAGE),
            next_token,
            owners: vec![],
        };
        self.page(&mut st, "ListRules", &req, &["prefix"], (1, 100), items)
    }

    async fn list_targets(&self, rule: &str, next_token: Option<String>) -> R<Page<Target>> {
        let mut st = self.st();
        self.enter(&mut st, "ListTargetsByRule")?;
        let Some(r) = st.rules.get(rule) else {
            return Err(err(
                "ListTargetsByRule",
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("Rule {rule} does not exist."),
            ));
        };
        let items = r.targets.clone();
        let req = PageRequest {
            filters: vec![Filter::new("rule", [rule])],
            ids: vec![],
            max_results: Some(MAX_EVENTS_PAGE),
            next_token,
            owners: vec![],
        };
        self.page(
            &mut st,
            "ListTargetsByRule",
            &req,
            &["rule"],
            (1, 100),
            items,
        )
    }

    async fn put_rule(&self, rule: &str, schedule: &str, description: &str) -> R<()> {
        let op = "PutRule";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if rule.is_empty() || rule.len() > MAX_RULE_NAME || !valid_rule_chars(rule) {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "ValidationException",
                format!("invalid rule name {rule:?}"),
            ));
        }
        if let Err(e) = Cron::parse(schedule) {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "ValidationException",
                format!("Parameter ScheduleExpression is not valid: {e}"),
            ));
        }
        if description.len() > 512 {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "ValidationException",
                "description longer than 512",
            ));
        }
        let r = st
            .rules
            .entry(rule.to_string())
            .or_insert_with(|| FakeRule {
                schedule: String::new(),
                state: RuleState::Enabled,
                description: String::new(),
                targets: vec![],
            });
        r.schedule = schedule.into();
        r.state = RuleState::Enabled;
        r.description = description.into();
        Ok(())
    }

    async fn put_targets(&self, rule: &str, targets: &[Target]) -> R<()> {
        let op = "PutTargets";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if targets.is_empty() || targets.len() > MAX_TARGETS_PER_PUT {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "ValidationException",
                format!(
                    "PutTargets takes 1 to {MAX_TARGETS_PER_PUT} targets, got {}",
                    targets.len()
                ),
            ));
        }
        let Some(r) = st.rules.get_mut(rule) else {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("Rule {rule} does not exist."),
            ));
        };
        let mut next = r.targets.clone();
        for t in targets {
            if t.arn.contains(":target/create-snapshot") && t.role_arn.is_none() {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "ValidationException",
                    "RoleArn is required for target create-snapshot",
                ));
            }
            next.retain(|x| x.id != t.id);
            next.push(t.clone());
        }
        if next.len() > MAX_TARGETS_PER_RULE {
            return Err(err(op, ErrorKind::Invalid, "LimitExceededException", format!("The requested resource exceeds the maximum number allowed ({MAX_TARGETS_PER_RULE} targets per rule).")));
        }
        r.targets = next;
        Ok(())
    }

    async fn remove_targets(&self, rule: &str, ids: &[String]) -> R<()> {
        let op = "RemoveTargets";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        if ids.is_empty() || ids.len() > MAX_IDS_PER_REMOVE {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "ValidationException",
                format!("RemoveTargets takes 1 to {MAX_IDS_PER_REMOVE} ids"),
            ));
        }
        let Some(r) = st.rules.get_mut(rule) else {
            return Err(err(
                op,
                ErrorKind::NotFound,
                "ResourceNotFoundException",
                format!("Rule {rule} does not exist."),
            ));
        };
        r.targets.retain(|t| !ids.contains(&t.id));
        Ok(())
    }

    async fn delete_rule(&self, rule: &str) -> R<()> {
        let op = "DeleteRule";
        let mut st = self.st();
        self.enter(&mut st, op)?;
        match st.rules.get(rule) {
            None => Ok(()),
            Some(r) if !r.targets.is_empty() => Err(err(
                op,
                ErrorKind::Invalid,
                "ValidationException",
                "Rule can't be deleted since it has targets.",
            )),
            Some(_) => {
                st.rules.remove(rule);
                Ok(())
            }
        }
    }
}
