//! CloudWatch Embedded Metric Format: one JSON line on stdout per flush, no API calls.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "ebs-gens";

/// Counts to publish, by metric name. Zero counts are published too, so alarms see data.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl Counts {
    pub fn add(&mut self, name: &'static str, n: u64) {
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v += n,
            None => self.0.push((name, n)),
        }
    }

    pub fn get(&self, name: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map_or(0, |(_, v)| *v)
    }
}

/// The EMF document for `counts`, with `Deployment` and `Function` dimensions.
pub fn emf(deployment: &str, function: &str, counts: &Counts, now: DateTime<Utc>) -> Value {
    let metrics: Vec<Value> = counts
        .0
        .iter()
        .map(|(n, _)| json!({"Name": n, "Unit": "Count"}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Deployment", "Function"]],
                "Metrics": metrics,
            }],
        }),
    );
    doc.insert("Deployment".into(), json!(deployment));
    doc.insert("Function".into(), json!(function));
    for (n, v) in &counts.0 {
        doc.insert((*n).to_string(), json!(v));
    }
    Value::Object(doc)
}

/// Writes the EMF line to stdout, where Lambda's log capture turns it into metrics.
pub fn publish(deployment: &str, function: &str, counts: &Counts, now: DateTime<Utc>) {
    println!("{}", emf(deployment, function, counts, now));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_shape() {
        let mut c = Counts::default();
        c.add("SnapshotsDeleted", 3);
        c.add("SnapshotsDeleted", 1);
        c.add("SnapshotsAdopted", 0);
        let v = emf(
            "prod",
            "prune-volumes",
            &c,
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        );
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "ebs-gens");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "SnapshotsDeleted"
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(v["SnapshotsDeleted"], 4);
        assert_eq!(v["SnapshotsAdopted"], 0);
        assert_eq!(v["Deployment"], "prod");
    }
}
