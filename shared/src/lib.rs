//! ebs-gens core library.
//!
//! The pure core (no I/O, no SDK types): [`policy`] (tags → what a volume asks for),
//! [`schedule`] (EventBridge cron/rate), [`ownership`] (names, tags, adoption), [`plan`]
//! (keep/delete with reasons), [`health`] (staleness, coverage, the deletion fuse, orphans), [`rules`] (EventBridge rule layout), [`schedules`] (Scheduler
//! schedules, hashed names, reconcile), [`events`] (typed EBS
//! events) and [`error`] (the stable error names Step Functions matches).

pub mod app;
pub mod aws;
pub mod backend;
pub mod config;
pub mod contract;
pub mod decision;
pub mod deployment;
pub mod error;
pub mod events;
pub mod fuse;
pub mod health;
pub mod metrics;
pub mod orphans;
pub mod ownership;
pub mod plan;
pub mod policy;
pub mod retry;
pub mod rules;
pub mod schedule;
pub mod schedules;
pub mod snapshot;

pub use config::Settings;
pub use error::{Error, ErrorName};
pub use plan::{plan, Plan, PlanContext, Reason};
pub use policy::{GenClass, VolumePolicy};
pub use schedule::Schedule;
pub use snapshot::{Snapshot, SnapshotState};
