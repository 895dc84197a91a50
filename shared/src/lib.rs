//! ebs-gens core library.
//!
//! The pure core (no I/O, no SDK types): [`policy`] (tags → what a volume asks for), [`cron`]
//! (the cron/rate grammar), [`ownership`] (names, tags, adoption), [`plan`] (keep/delete with
//! reasons), [`decision`] (a volume's plan with its guards), [`fuse`] (the bulk-deletion fuse),
//! [`health`] (staleness, coverage), [`orphans`] (the orphan policy), [`copies`] (copies in
//! other regions), [`locks`] (snapshot locks as long as a generation is kept), [`backend`] (how snapshots
//! are born: Scheduler schedules or EventBridge rules), [`events`] (typed EBS events) and
//! [`error`] (the stable error names Step Functions matches). I/O lives in [`aws`] (ports, SDK
//! adapters, the strict fake) and [`app`] (the handlers).

pub mod app;
pub mod aws;
pub mod backend;
pub mod config;
pub mod contract;
pub mod copies;
pub mod cron;
pub mod decision;
pub mod deployment;
pub mod drill;
pub mod error;
pub mod events;
pub mod fuse;
pub mod health;
pub mod locks;
pub mod metrics;
pub mod orphans;
pub mod ownership;
pub mod plan;
pub mod policy;
pub mod recycle_bin;
pub mod restore;
pub mod retry;
pub mod sets;
pub mod snapshot;

pub use config::Settings;
pub use cron::Cron;
pub use error::{Error, ErrorName};
pub use plan::{plan, Plan, PlanContext, Reason};
pub use policy::{GenClass, VolumePolicy};
pub use snapshot::{Snapshot, SnapshotState};
