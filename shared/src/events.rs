//! EBS snapshot completion events from EventBridge, typed.
//!
//! - `EBS Snapshot Notification` with `detail.event = createSnapshot` (one snapshot);
//! - `EBS Multi-Volume Snapshots Completion Status` with `detail.event = createSnapshots`.
//!
//! Ids are taken from the part after `snapshot/` / `volume/`: AWS's own examples put odd
//! values in the ARN's region field, so splitting the ARN on colons is wrong.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const SOURCE_EC2: &str = "aws.ec2";
pub const DETAIL_SNAPSHOT: &str = "EBS Snapshot Notification";
pub const DETAIL_MULTI: &str = "EBS Multi-Volume Snapshots Completion Status";

/// A malformed or unknown event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid EBS snapshot event: {0}")]
pub struct EventError(pub String);

/// `detail` of `EBS Snapshot Notification`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSnapshotDetail {
    pub event: String,
    pub result: String,
    #[serde(default)]
    pub cause: String,
    #[serde(rename = "request-id", default)]
    pub request_id: String,
    pub snapshot_id: String,
    pub source: String,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
}

/// One entry of `detail.snapshots` in the multi-volume event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiSnapshotEntry {
    pub snapshot_id: String,
    pub source: String,
    pub status: String,
}

/// `detail` of `EBS Multi-Volume Snapshots Completion Status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSnapshotsDetail {
    pub event: String,
    pub result: String,
    #[serde(default)]
    pub cause: String,
    #[serde(rename = "request-id", default)]
    pub request_id: String,
    #[serde(rename = "startTime", default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(rename = "endTime", default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub snapshots: Vec<MultiSnapshotEntry>,
}

/// Did EBS finish the snapshot?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// One snapshot's completion, whichever event carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub snapshot_id: String,
    pub volume_id: String,
    pub outcome: Outcome,
    /// EBS's explanation of a failure (empty on success).
    pub cause: String,
    pub end_time: Option<DateTime<Utc>>,
}

/// The id after `snapshot/` or `volume/` in an ARN (or the bare id itself).
pub fn id_after(arn: &str, kind: &str) -> Result<String, EventError> {
    let marker = format!("{kind}/");
    let id = match arn.rfind(&marker) {
        Some(i) => &arn[i + marker.len()..],
        None => arn,
    };
    let prefix = match kind {
        "snapshot" => "snap-",
        "volume" => "vol-",
        _ => return Err(EventError(format!("unknown resource kind {kind}"))),
    };
    let ok = id.strip_prefix(prefix).is_some_and(|hex| {
        !hex.is_empty() && hex.len() <= 32 && hex.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if !ok {
        return Err(EventError(format!("{arn:?} does not name a {kind}")));
    }
    Ok(id.to_string())
}

fn outcome(result: &str) -> Result<Outcome, EventError> {
    match result {
        "succeeded" => Ok(Outcome::Succeeded),
        "failed" => Ok(Outcome::Failed),
        other => Err(EventError(format!("unknown result {other:?}"))),
    }
}

fn time(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn typed<T: serde::de::DeserializeOwned + Serialize>(
    value: serde_json::Value,
) -> Result<EventBridgeEvent<T>, EventError> {
    serde_json::from_value(value).map_err(|e| EventError(e.to_string()))
}

/// Parses an EventBridge event into the completions it reports.
pub fn parse_completion(value: serde_json::Value) -> Result<Vec<Completion>, EventError> {
    let source = value
        .get("source")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    if source != SOURCE_EC2 {
        return Err(EventError(format!("source {source:?} is not {SOURCE_EC2}")));
    }
    let detail_type = value
        .get("detail-type")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    match detail_type.as_str() {
        DETAIL_SNAPSHOT => {
            let ev: EventBridgeEvent<CreateSnapshotDetail> = typed(value)?;
            let d = ev.detail;
            if d.event != "createSnapshot" {
                return Err(EventError(format!(
                    "event {:?} is not createSnapshot",
                    d.event
                )));
            }
            Ok(vec![Completion {
                snapshot_id: id_after(&d.snapshot_id, "snapshot")?,
                volume_id: id_after(&d.source, "volume")?,
                outcome: outcome(&d.result)?,
                cause: d.cause.clone(),
                end_time: time(&d.end_time),
            }])
        }
        DETAIL_MULTI => {
            let ev: EventBridgeEvent<CreateSnapshotsDetail> = typed(value)?;
            let d = ev.detail;
            if d.event != "createSnapshots" {
                return Err(EventError(format!(
                    "event {:?} is not createSnapshots",
                    d.event
                )));
            }
            outcome(&d.result)?;
            if d.snapshots.is_empty() {
                return Err(EventError("createSnapshots lists no snapshots".into()));
            }
            // Only `completed` is a success: AWS documents `error` besides `failed`, and any
            // other status is treated as a failure too (counted and alarmed, never adopted).
            d.snapshots
                .iter()
                .map(|s| {
                    let (outcome, cause) = match s.status.as_str() {
                        "completed" => (Outcome::Succeeded, d.cause.clone()),
                        other if d.cause.is_empty() => {
                            (Outcome::Failed, format!("status {other:?}"))
                        }
                        other => (Outcome::Failed, format!("status {other:?}: {}", d.cause)),
                    };
                    Ok(Completion {
                        snapshot_id: id_after(&s.snapshot_id, "snapshot")?,
                        volume_id: id_after(&s.source, "volume")?,
                        outcome,
                        cause,
                        end_time: time(&d.end_time),
                    })
                })
                .collect()
        }
        other => Err(EventError(format!(
            "detail-type {other:?} is not an EBS snapshot completion"
        ))),
    }
}
