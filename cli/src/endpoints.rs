//! Where each AWS service the command calls is sent, resolved once and applied explicitly, so
//! the loopback check (an in-process apply only against the emulator) judges exactly the
//! endpoints the calls use.
//!
//! Precedence, the AWS SDKs' documented order ("Service-specific endpoints", AWS SDKs and Tools
//! Reference Guide): `AWS_ENDPOINT_URL_<SERVICE>` wins over the global endpoint (`--endpoint-url`,
//! else `AWS_ENDPOINT_URL`). Endpoints set only in a shared config profile are not resolved
//! here: such a service counts as not loopback, so the command refuses to change anything
//! in-process rather than guess where a profile sends it.

use std::net::IpAddr;

use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// A service the command calls: its name here and its `AWS_ENDPOINT_URL_<ID>` suffix (the
/// SDK's service id, upper case, spaces as underscores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Ec2,
    EventBridge,
    Scheduler,
    StepFunctions,
    Ssm,
}

impl Service {
    pub const ALL: [Service; 5] = [
        Service::Ec2,
        Service::EventBridge,
        Service::Scheduler,
        Service::StepFunctions,
        Service::Ssm,
    ];

    pub fn env_suffix(self) -> &'static str {
        match self {
            Service::Ec2 => "EC2",
            Service::EventBridge => "EVENTBRIDGE",
            Service::Scheduler => "SCHEDULER",
            Service::StepFunctions => "SFN",
            Service::Ssm => "SSM",
        }
    }
}

/// Each service's endpoint: `Some(url)` as resolved, `None` for AWS's own (or a profile's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints(Vec<(Service, Option<String>)>);

impl Endpoints {
    /// Resolves every service from `--endpoint-url` (clap already falls back to
    /// `AWS_ENDPOINT_URL`) and the environment. Pure: `env` is the lookup.
    pub fn resolve(global: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Self {
        let global = global.filter(|u| !u.is_empty()).map(str::to_string);
        Endpoints(
            Service::ALL
                .into_iter()
                .map(|s| {
                    let own = env(&format!("AWS_ENDPOINT_URL_{}", s.env_suffix()))
                        .filter(|u| !u.is_empty());
                    (s, own.or_else(|| global.clone()))
                })
                .collect(),
        )
    }

    pub fn get(&self, service: Service) -> Option<&str> {
        self.0
            .iter()
            .find(|(s, _)| *s == service)
            .and_then(|(_, u)| u.as_deref())
    }

    /// The services not sent to a loopback address (empty: every call stays on this machine).
    pub fn not_loopback(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, u)| !u.as_deref().is_some_and(is_loopback))
            .map(|(s, u)| {
                format!(
                    "{} ({})",
                    s.env_suffix(),
                    u.as_deref().unwrap_or("AWS's endpoint")
                )
            })
            .collect()
    }
}

/// `http(s)://` to `localhost`, 127.0.0.0/8 or `::1` (no name is looked up: any other host is
/// not loopback).
pub fn is_loopback(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, _)) => h,
            None => return false,
        }
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The SDK configuration for one service with its resolved endpoint set explicitly: the
/// service-specific variables and profile entries the SDK would otherwise consult are hidden,
/// so the call goes exactly where [`Endpoints`] says.
pub fn config_for(
    config: &aws_config::SdkConfig,
    endpoints: &Endpoints,
    service: Service,
) -> aws_config::SdkConfig {
    let Some(url) = endpoints.get(service) else {
        return config.clone();
    };
    let mut b = config.to_builder().endpoint_url(url);
    b.set_service_config(
        config
            .service_config()
            .map(|_| WithoutEndpoints(config.clone())),
    );
    b.build()
}

/// The SDK's service configuration, less its endpoint settings.
#[derive(Debug)]
struct WithoutEndpoints(aws_config::SdkConfig);

impl LoadServiceConfig for WithoutEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() == "AWS_ENDPOINT_URL" || key.profile() == "endpoint_url" {
            return None;
        }
        self.0.service_config()?.load_config(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_service_specific_endpoint_wins_over_the_global_one() {
        let e = Endpoints::resolve(
            Some("http://127.0.0.1:5000"),
            env(&[(
                "AWS_ENDPOINT_URL_EC2",
                "https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com",
            )]),
        );
        assert_eq!(
            e.get(Service::Ec2),
            Some("https://vpce-1.ec2.eu-west-1.vpce.amazonaws.com")
        );
        assert_eq!(e.get(Service::Ssm), Some("http://127.0.0.1:5000"));
        assert_eq!(e.not_loopback().len(), 1, "{:?}", e.not_loopback());
        assert!(e.not_loopback()[0].starts_with("EC2"));
    }

    #[test]
    fn every_service_must_resolve_to_loopback() {
        let all = Endpoints::resolve(Some("http://localhost:5000"), env(&[]));
        assert!(all.not_loopback().is_empty());
        // No endpoint at all: AWS's own, never loopback.
        let none = Endpoints::resolve(None, env(&[]));
        assert_eq!(none.not_loopback().len(), Service::ALL.len());
        // Only one service on the emulator: the others go to AWS.
        let one = Endpoints::resolve(None, env(&[("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:1")]));
        assert_eq!(one.not_loopback().len(), Service::ALL.len() - 1);
        // An operator's FIPS endpoint via AWS_ENDPOINT_URL (clap passes it as the global).
        let fips = Endpoints::resolve(Some("https://ec2-fips.us-east-1.amazonaws.com"), env(&[]));
        assert_eq!(fips.not_loopback().len(), Service::ALL.len());
    }

    #[test]
    fn loopback_is_judged_by_address_never_by_a_name_that_looks_like_one() {
        for yes in [
            "http://127.0.0.1:5000",
            "http://127.8.9.10",
            "https://localhost/",
            "http://LOCALHOST:1",
            "http://[::1]:5000/x",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "http://10.0.0.1:5000",
            "http://127.0.0.1.nip.io",
            "http://localhost.example.com",
            "http://user@127.0.0.1@evil.example.com",
            "ftp://127.0.0.1",
            "127.0.0.1:5000",
            "http://[::2]:1",
            "http://[::1",
            "",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
