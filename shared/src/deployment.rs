//! The deployment's published configuration (`/ebs-gens/<deployment>/config`, an SSM String
//! parameter the stack writes): what the operator's command builds its settings from, so it
//! never acts on an operator's own `EBS_GENS_*` variables. Pure: the CLI fetches the text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::contract::{CONFIG_PARAMETER, CONFIG_SCHEMA};
use crate::error::Error;

/// The state machines a deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateMachines {
    pub sweep: String,
    pub snapshot_completed: String,
    /// The restore drill (`None`: published by a stack older than drills; redeploy it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_drill: Option<String>,
}

/// The configuration as published (cdk/lib/ebs-gens-stack.ts `deploymentConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    pub schema: u32,
    pub deployment: String,
    pub region: String,
    pub account_id: String,
    /// Every `EBS_GENS_*` variable the functions run with, exactly as given.
    pub environment: BTreeMap<String, String>,
    pub state_machines: StateMachines,
}

/// Local variables the command itself reads (which deployment, which account): not settings.
pub const COMMAND_VARIABLES: [&str; 2] = ["EBS_GENS_DEPLOYMENT", "EBS_GENS_ACCOUNT_ID"];

/// The parameter that holds a deployment's configuration.
pub fn parameter_name(deployment: &str) -> String {
    CONFIG_PARAMETER.replace("{deployment}", deployment)
}

/// Why a deployment has no configuration the command can use: published by an older stack.
pub fn missing(deployment: &str) -> Error {
    Error::InvalidInput(format!(
        "deployment {deployment:?} publishes no configuration ({} not found in this account and region): \
         redeploy it with this version of ebs-gens (or check --deployment, --region and the account)",
        parameter_name(deployment)
    ))
}

impl DeploymentConfig {
    /// Reads the parameter's value; `deployment` is the name it was looked up by.
    pub fn parse(deployment: &str, text: &str) -> Result<Self, Error> {
        let name = parameter_name(deployment);
        let bad = |why: String| Error::InvalidInput(format!("{name}: {why}"));
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        match raw.get("schema").and_then(serde_json::Value::as_u64) {
            Some(s) if s == u64::from(CONFIG_SCHEMA) => {}
            Some(s) if s > u64::from(CONFIG_SCHEMA) => {
                return Err(bad(format!(
                "schema {s} is newer than this command reads ({CONFIG_SCHEMA}): upgrade ebs-gens"
            )))
            }
            Some(s) => {
                return Err(bad(format!(
                "schema {s} is older than this command reads ({CONFIG_SCHEMA}): redeploy the stack"
            )))
            }
            None => return Err(bad("no schema number".into())),
        }
        let c: DeploymentConfig =
            serde_json::from_value(raw).map_err(|e| bad(format!("unreadable: {e}")))?;
        if c.deployment != deployment {
            return Err(bad(format!(
                "published for deployment {:?}, not {deployment:?}",
                c.deployment
            )));
        }
        if c.environment.get("EBS_GENS_DEPLOYMENT").map(String::as_str) != Some(deployment) {
            return Err(bad(format!(
                "its environment's EBS_GENS_DEPLOYMENT is not {deployment:?}"
            )));
        }
        Ok(c)
    }

    /// One of the deployment's variables (e.g. a role ARN), when set.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.environment
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The settings the deployment runs with, built from its environment alone. `local` is
    /// every `EBS_GENS_*` variable set where the command runs: one that names a setting and
    /// says otherwise than the deployment (or sets what the deployment leaves at its
    /// default) is refused by name — the command never acts on settings the deployment
    /// does not have.
    pub fn settings(&self, local: &[(String, String)]) -> Result<Settings, Error> {
        let contradictions = self.contradictions(local);
        if !contradictions.is_empty() {
            return Err(Error::InvalidInput(format!(
                "local settings contradict deployment {:?}'s published configuration ({}): {}. \
                 Unset them: the command uses the deployment's settings",
                self.deployment,
                parameter_name(&self.deployment),
                contradictions.join("; ")
            )));
        }
        Settings::from_lookup(|k| self.environment.get(k).cloned())
            .map_err(|e| Error::InvalidInput(format!("the published configuration: {e}")))
    }

    /// Each local `EBS_GENS_*` setting that differs from the deployment's, described.
    pub fn contradictions(&self, local: &[(String, String)]) -> Vec<String> {
        local
            .iter()
            .filter(|(k, _)| k.starts_with("EBS_GENS_") && !COMMAND_VARIABLES.contains(&k.as_str()))
            .filter_map(|(k, v)| match self.environment.get(k) {
                Some(theirs) if theirs == v => None,
                Some(theirs) => Some(format!("{k}={v:?} here, {theirs:?} in the deployment")),
                None => Some(format!(
                    "{k}={v:?} here, not set in the deployment (its default applies)"
                )),
            })
            .collect()
    }

    /// Checks the command reaches the deployment where it was published: the same account
    /// and region (an ARN with unresolved tokens never gets here: CloudFormation resolves them).
    pub fn check_place(&self, account: Option<&str>, region: &str) -> Result<(), Error> {
        if self.region != region {
            return Err(Error::InvalidInput(format!(
                "deployment {:?} runs in {}, not {region}: give --region {}",
                self.deployment, self.region, self.region
            )));
        }
        if let Some(a) = account.filter(|a| *a != self.account_id) {
            return Err(Error::InvalidInput(format!(
                "deployment {:?} runs in account {}, not {a} (--account-id / EBS_GENS_ACCOUNT_ID)",
                self.deployment, self.account_id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(env: &[(&str, &str)]) -> String {
        let mut environment: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        environment.insert("EBS_GENS_DEPLOYMENT".into(), "prod".into());
        serde_json::to_string(&DeploymentConfig {
            schema: CONFIG_SCHEMA,
            deployment: "prod".into(),
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
            environment,
            state_machines: StateMachines {
                sweep: "arn:aws:states:eu-west-1:123456789012:stateMachine:ebs-gens-prod-sweep"
                    .into(),
                snapshot_completed:
                    "arn:aws:states:eu-west-1:123456789012:stateMachine:ebs-gens-prod-snapshot-completed"
                        .into(),
                restore_drill: None,
            },
        })
        .unwrap()
    }

    fn local(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_come_from_the_deployment_alone() {
        let c = DeploymentConfig::parse(
            "prod",
            &published(&[
                ("EBS_GENS_TIME_ZONE", "Asia/Tokyo"),
                ("EBS_GENS_TAG_KEY_DAILY", "Backup_Daily"),
                ("EBS_GENS_BACKEND", "scheduler"),
            ]),
        )
        .unwrap();
        // The command's own variables and a setting that agrees are fine.
        let s = c
            .settings(&local(&[
                ("EBS_GENS_DEPLOYMENT", "prod"),
                ("EBS_GENS_ACCOUNT_ID", "123456789012"),
                ("EBS_GENS_TIME_ZONE", "Asia/Tokyo"),
                ("AWS_REGION", "eu-west-1"),
            ]))
            .unwrap();
        assert_eq!(s.deployment, "prod");
        assert_eq!(s.tz.name(), "Asia/Tokyo");
        assert_eq!(c.var("EBS_GENS_TIME_ZONE"), Some("Asia/Tokyo"));
    }

    #[test]
    fn a_local_setting_that_contradicts_the_deployment_is_refused_by_name() {
        let c =
            DeploymentConfig::parse("prod", &published(&[("EBS_GENS_TIME_ZONE", "Asia/Tokyo")]))
                .unwrap();
        for (vars, named) in [
            (&[("EBS_GENS_TIME_ZONE", "UTC")][..], "EBS_GENS_TIME_ZONE"),
            // Set here, left at its default by the deployment.
            (
                &[("EBS_GENS_CRON_DAILY", "cron(0 3 * * ? *)")][..],
                "EBS_GENS_CRON_DAILY",
            ),
            (
                &[("EBS_GENS_TAG_KEY_DAILY", "Daily")][..],
                "EBS_GENS_TAG_KEY_DAILY",
            ),
        ] {
            let e = c.settings(&local(vars)).unwrap_err().to_string();
            assert!(e.contains(named), "{e}");
            assert!(e.contains("contradict"), "{e}");
        }
    }

    #[test]
    fn a_missing_older_newer_or_foreign_configuration_is_a_clear_error() {
        assert!(missing("prod").to_string().contains("redeploy"));
        let newer = published(&[]).replace(
            &format!("\"schema\":{CONFIG_SCHEMA}"),
            &format!("\"schema\":{}", CONFIG_SCHEMA + 1),
        );
        let e = DeploymentConfig::parse("prod", &newer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("upgrade ebs-gens"), "{e}");
        let older = published(&[]).replace(&format!("\"schema\":{CONFIG_SCHEMA}"), "\"schema\":0");
        let e = DeploymentConfig::parse("prod", &older)
            .unwrap_err()
            .to_string();
        assert!(e.contains("redeploy"), "{e}");
        let e = DeploymentConfig::parse("staging", &published(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not \"staging\""), "{e}");
        for text in ["", "{}", "[1]", "{\"schema\":1}"] {
            assert!(DeploymentConfig::parse("prod", text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_command_must_reach_the_deployments_account_and_region() {
        let c = DeploymentConfig::parse("prod", &published(&[])).unwrap();
        assert!(c.check_place(None, "eu-west-1").is_ok());
        assert!(c.check_place(Some("123456789012"), "eu-west-1").is_ok());
        assert!(c
            .check_place(None, "us-east-1")
            .unwrap_err()
            .to_string()
            .contains("--region eu-west-1"));
        assert!(c.check_place(Some("210987654321"), "eu-west-1").is_err());
    }
}
