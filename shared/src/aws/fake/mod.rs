//! A strict in-memory AWS: the limits moto ignores are enforced here, so tests can show that
//! ebs-gens respects them. Page sizes and tokens, CreateTags ≤ 1000 ids, 5 targets per rule,
//! 10 per PutTargets, `pending` snapshots, `InvalidSnapshot.InUse` for AMI-backed snapshots,
//! AWS Backup's refusal, per-operation token buckets (DeleteSnapshot 100 burst / 5 per second),
//! injectable throttling / 5xx at a given rate, and a per-operation call counter.

//!
//! One file per service: `ec2`, `events`, `scheduler`, `sfn` (each the port's implementation);
//! this one holds the state, the knobs tests turn, and the machinery every call goes through
//! (call counts, injected faults, token buckets, paging).

mod ec2;
mod events;
mod instances;
mod scheduler;
mod sfn;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::backend::rules::{
    valid_rule_chars, RuleState, Target, MAX_IDS_PER_REMOVE, MAX_RULE_NAME, MAX_TARGETS_PER_PUT,
    MAX_TARGETS_PER_RULE,
};
use crate::cron::Cron;
use crate::snapshot::{Snapshot, SnapshotState};

use super::{
    AwsError, CopySpec, Deleted, Ec2Api, ErrorKind, EventsApi, Execution, ExecutionsApi, Filter,
    Page, PageRequest, ResourceTag, RuleSummary, Volume, MAX_CREATE_TAGS_IDS, MAX_EVENTS_PAGE,
    MAX_FILTER_VALUES,
};

/// Every call the fake serves that changes the account.
pub const WRITES: [&str; 12] = [
    "CreateTags",
    "CopySnapshot",
    "LockSnapshot",
    "DeleteSnapshot",
    "PutRule",
    "PutTargets",
    "RemoveTargets",
    "DeleteRule",
    "CreateSchedule",
    "UpdateSchedule",
    "DeleteSchedule",
    "StartExecution",
];

type R<T> = Result<T, AwsError>;

/// A token bucket like EC2's per-account API buckets.
#[derive(Debug, Clone)]
struct Bucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: f64, per_second: f64) -> Self {
        Bucket {
            burst,
            per_second,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.per_second)
            .min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
struct FakeSnapshot {
    snap: Snapshot,
    in_use_by: Option<String>,
    backup_managed: bool,
    /// EBS snapshot lock: DeleteSnapshot is refused.
    /// An EBS snapshot lock (LockSnapshot), its state derived from the fake's clock.
    lock: Option<FakeLock>,
    /// IAM refuses our CreateTags / DeleteSnapshot on it (e.g. another deployment's snapshot).
    deny_tags: bool,
    deny_delete: bool,
    /// Someone else deletes it just before our DeleteSnapshot arrives.
    vanishes: bool,
    /// Its VolumeSize, GiB.
    size_gib: i32,
    /// Made by CopySnapshot in this region (a copy in flight while `pending`), and when (the
    /// fake's clock: virtual under `tokio::time::pause`).
    copy: bool,
    copy_started: Option<Instant>,
    /// A time-based copy's requested completion duration.
    completion_minutes: Option<u32>,
}

#[derive(Debug, Clone)]
struct FakeRule {
    schedule: String,
    state: RuleState,
    description: String,
    targets: Vec<Target>,
}

#[derive(Debug, Clone)]
struct Cursor {
    op: &'static str,
    fingerprint: String,
    offset: usize,
}

#[derive(Debug, Default)]
struct State {
    volumes: BTreeMap<String, Volume>,
    instances: BTreeMap<String, BTreeMap<String, String>>,
    snapshots: BTreeMap<String, FakeSnapshot>,
    /// Snapshot ids by volume id (so volume-id filters stay fast on large fleets).
    by_volume: HashMap<String, std::collections::BTreeSet<String>>,
    rules: BTreeMap<String, FakeRule>,
    executions: BTreeMap<String, (String, Execution)>,
    calls: BTreeMap<&'static str, u64>,
    /// Calls refused by their operation's token bucket.
    throttled: BTreeMap<&'static str, u64>,
    faults: Option<(f64, u64)>,
    buckets: HashMap<&'static str, Bucket>,
    cursors: HashMap<String, Cursor>,
    next_id: u64,
    fail_deletes: BTreeMap<String, u32>,
    injected: u64,
    /// Scheduler: groups, and schedules by (group, name).
    schedule_groups: std::collections::BTreeSet<String>,
    schedules: BTreeMap<(String, String), crate::backend::scheduler::ScheduleSpec>,
    /// Schedules someone disabled (by (group, name)): listed as DISABLED, never fired.
    disabled_schedules: std::collections::BTreeSet<(String, String)>,
    /// How long each Scheduler call takes (virtual time under `tokio::time::pause`).
    scheduler_latency: std::time::Duration,
    /// Other accounts' snapshots shared with us.
    shared_with_us: BTreeSet<String>,
    /// Answer paged listings with short pages (see `page`).
    short_pages: bool,
    /// The clock lock states are judged by (`None`: the real one).
    now: Option<DateTime<Utc>>,
    /// DeleteSnapshot calls refused because a lock held.
    locked_delete_attempts: u64,
    /// Recycle Bin: its retention rules, and the deleted snapshots one kept (until when).
    retention_rules: Vec<crate::recycle_bin::RetentionRule>,
    recycle_bin: BTreeMap<String, DateTime<Utc>>,
    /// Instances as DescribeInstances reports them (state, zone, devices in use).
    instance_facts: BTreeMap<String, crate::sets::Instance>,
    /// How volumes made by CreateVolume settle, and those still settling (describes left).
    new_volumes: NewVolumes,
    settling: BTreeMap<String, u32>,
    /// CreateVolume's idempotency: client token → the volume it made.
    volume_tokens: BTreeMap<String, String>,
    /// The region's EBS storage quota, GiB (`VolumeLimitExceeded` past it); `None`: none.
    volume_quota_gib: Option<i64>,
    /// Device names of attached volumes (unset: `/dev/sdf`, `/dev/sdg`, … in id order), and
    /// the boot volumes (on the instance's root device, `/dev/xvda`).
    devices: BTreeMap<String, String>,
    boot_volumes: BTreeSet<String>,
    /// Scheduler firings whose target call failed after its retries (the dead-letter queue):
    /// (schedule, error code).
    dead_letters: Vec<(String, String)>,
}

/// The root device name the fake's instances boot from.
pub const ROOT_DEVICE: &str = "/dev/xvda";

/// Pending snapshots one volume may have (EBS: 5; 1 for st1 and sc1): past it, CreateSnapshot
/// and CreateSnapshots answer `ConcurrentSnapshotLimitExceeded`.
pub fn pending_limit(volume_type: &str) -> usize {
    match volume_type {
        "st1" | "sc1" => 1,
        _ => 5,
    }
}

/// How a volume CreateVolume makes settles (AWS: `creating`, then `available` or `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewVolumes {
    /// `creating` for this many DescribeVolumes that list it, then `available`.
    AvailableAfter(u32),
    /// `creating` for ever (a stuck restore).
    StayCreating,
    /// `creating` for one describe, then `error`.
    Fail,
}

impl Default for NewVolumes {
    fn default() -> Self {
        NewVolumes::AvailableAfter(1)
    }
}

/// A snapshot lock as EC2 keeps it.
#[derive(Debug, Clone)]
pub(crate) struct FakeLock {
    pub(crate) mode: crate::locks::LockMode,
    pub(crate) expires: DateTime<Utc>,
    /// A compliance lock's cooling-off period end (changeable until then).
    pub(crate) cool_off_until: Option<DateTime<Utc>>,
}

impl FakeLock {
    /// The lock as DescribeLockedSnapshots reports it at `now`.
    pub(crate) fn seen(&self, now: DateTime<Utc>) -> crate::locks::Lock {
        use crate::locks::{LockMode, LockState};
        let state = if self.expires <= now {
            LockState::Expired
        } else {
            match self.mode {
                LockMode::Governance => LockState::Governance,
                LockMode::Compliance if self.cool_off_until.is_some_and(|c| c > now) => {
                    LockState::ComplianceCooloff
                }
                LockMode::Compliance => LockState::Compliance,
            }
        };
        crate::locks::Lock {
            state,
            expires: Some(self.expires),
        }
    }
}

/// CopySnapshot's limit: copies in flight per destination region (EBS user guide, "Copy an
/// Amazon EBS snapshot": 20 concurrent copies, `ResourceLimitExceeded` beyond).
pub const MAX_COPIES_IN_FLIGHT: usize = 20;

/// The fake account in one region. Cheap to share behind `&` (all methods take `&self`).
#[derive(Debug)]
pub struct FakeAws {
    account: String,
    region: String,
    state: Mutex<State>,
}

fn err(op: &str, kind: ErrorKind, code: &str, message: impl Into<String>) -> AwsError {
    AwsError::new(op, kind, code, message)
}

impl FakeAws {
    pub fn new(account: &str) -> Self {
        FakeAws::in_region(account, "us-east-1")
    }

    /// The account in another region (a copy's destination).
    pub fn in_region(account: &str, region: &str) -> Self {
        // Snapshot ids are unique across regions in AWS: each region's fake numbers its own
        // from a region-derived offset (FNV-1a), so a copy never shares its source's id.
        let offset = region.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }) & 0xfff;
        FakeAws {
            account: account.to_string(),
            region: region.to_string(),
            state: Mutex::new(State {
                next_id: offset << 48,
                ..State::default()
            }),
        }
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// Completes up to `n` copies in flight, oldest first; returns how many.
    pub fn complete_copies(&self, n: usize) -> usize {
        let mut st = self.st();
        let mut pending: Vec<(DateTime<Utc>, String)> = st
            .snapshots
            .values()
            .filter(|s| s.copy && s.snap.state == SnapshotState::Pending)
            .map(|s| (s.snap.start_time, s.snap.id.clone()))
            .collect();
        pending.sort();
        pending.truncate(n);
        for (_, id) in &pending {
            if let Some(s) = st.snapshots.get_mut(id) {
                s.snap.state = SnapshotState::Completed;
            }
        }
        pending.len()
    }

    /// Completes the copies in flight that started at least `took` ago; returns how many.
    pub fn complete_copies_older_than(&self, took: std::time::Duration) -> usize {
        let now = Instant::now();
        let mut st = self.st();
        let mut n = 0;
        for s in st.snapshots.values_mut() {
            let due = s
                .copy_started
                .is_some_and(|t| now.duration_since(t) >= took);
            if s.copy && s.snap.state == SnapshotState::Pending && due {
                s.snap.state = SnapshotState::Completed;
                n += 1;
            }
        }
        n
    }

    /// A copy AWS accepted then failed (a KMS key it may not use, …): it ends in `error`.
    pub fn fail_copy(&self, snapshot_id: &str) {
        if let Some(s) = self.st().snapshots.get_mut(snapshot_id) {
            s.snap.state = SnapshotState::Error;
        }
    }

    /// The time-based copy duration a copy was requested with (`None`: best effort, or no copy).
    pub fn completion_minutes(&self, snapshot_id: &str) -> Option<u32> {
        self.st()
            .snapshots
            .get(snapshot_id)
            .and_then(|s| s.completion_minutes)
    }

    /// Sets a snapshot's start time (a copy AWS started at that time).
    pub fn set_start_time(&self, snapshot_id: &str, start: DateTime<Utc>) {
        if let Some(s) = self.st().snapshots.get_mut(snapshot_id) {
            s.snap.start_time = start;
        }
    }

    /// Copies in flight (pending copies) in this region.
    pub fn copies_in_flight(&self) -> usize {
        let st = self.st();
        st.snapshots
            .values()
            .filter(|s| s.copy && s.snap.state == SnapshotState::Pending)
            .count()
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fake state")
    }

    // ---- seeding and inspection (test set-up, not AWS calls) ----

    pub fn add_instance(&self, id: &str, tags: &[(&str, &str)]) {
        self.st().instances.insert(
            id.into(),
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }

    /// An instance as DescribeInstances sees it (for attachments): its state, zone and the
    /// device names in use.
    pub fn add_instance_at(&self, id: &str, zone: &str, state: &str, devices: &[&str]) {
        self.st().instance_facts.insert(
            id.into(),
            crate::sets::Instance {
                id: id.into(),
                state: state.into(),
                zone: zone.into(),
                devices: devices.iter().map(|d| d.to_string()).collect(),
                ..crate::sets::Instance::default()
            },
        );
    }

    /// How the volumes CreateVolume makes from now on settle.
    pub fn set_new_volumes(&self, how: NewVolumes) {
        self.st().new_volumes = how;
    }

    /// The region's EBS storage quota in GiB (all volumes together).
    pub fn set_volume_quota_gib(&self, gib: i64) {
        self.st().volume_quota_gib = Some(gib);
    }

    /// A volume as the fake holds it.
    pub fn volume(&self, id: &str) -> Option<Volume> {
        self.st().volumes.get(id).cloned()
    }

    /// Every volume, by id.
    pub fn volumes(&self) -> Vec<Volume> {
        self.st().volumes.values().cloned().collect()
    }

    /// A snapshot's size (default 100 GiB).
    pub fn set_snapshot_size(&self, id: &str, gib: i32) {
        if let Some(s) = self.st().snapshots.get_mut(id) {
            s.size_gib = gib;
        }
    }

    pub fn add_volume(&self, id: &str, instance_id: Option<&str>, tags: &[(&str, &str)]) {
        self.st().volumes.insert(
            id.into(),
            Volume {
                id: id.into(),
                state: if instance_id.is_some() {
                    "in-use".into()
                } else {
                    "available".into()
                },
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                instance_id: instance_id.map(str::to_string),
                create_time: None,
                zone: Some(format!("{}a", self.region)),
                spec: Some(crate::restore::VolumeSpec {
                    volume_type: "gp3".into(),
                    size_gib: Some(100),
                    iops: Some(3000),
                    throughput: Some(125),
                }),
            },
        );
    }

    /// Sets a volume's type (`st1` and `sc1` allow one pending snapshot).
    pub fn set_volume_type(&self, id: &str, volume_type: &str) {
        if let Some(s) = self.st().volumes.get_mut(id).and_then(|v| v.spec.as_mut()) {
            s.volume_type = volume_type.into();
        }
    }

    /// Sets a volume's creation time (unset: unknown, as if just created by the fake).
    pub fn set_volume_created(&self, id: &str, t: chrono::DateTime<chrono::Utc>) {
        if let Some(v) = self.st().volumes.get_mut(id) {
            v.create_time = Some(t);
        }
    }

    /// Sets (or replaces) one tag on a volume.
    pub fn set_volume_tag(&self, id: &str, key: &str, value: &str) {
        if let Some(v) = self.st().volumes.get_mut(id) {
            v.tags.insert(key.to_string(), value.to_string());
        }
    }

    pub fn remove_volume_tag(&self, id: &str, key: &str) {
        if let Some(v) = self.st().volumes.get_mut(id) {
            v.tags.remove(key);
        }
    }

    pub fn remove_volume(&self, id: &str) {
        self.st().volumes.remove(id);
    }

    /// Adds a snapshot as CreateSnapshot would (owned by this account); returns its id.
    pub fn add_snapshot(
        &self,
        volume_id: &str,
        start: DateTime<Utc>,
        state: SnapshotState,
        tags: &[(&str, &str)],
    ) -> String {
        let mut st = self.st();
        st.next_id += 1;
        let id = format!("snap-{:017x}", st.next_id);
        st.by_volume
            .entry(volume_id.to_string())
            .or_default()
            .insert(id.clone());
        st.snapshots.insert(
            id.clone(),
            FakeSnapshot {
                snap: Snapshot {
                    id: id.clone(),
                    volume_id: volume_id.into(),
                    start_time: start,
                    state,
                    owner_id: self.account.clone(),
                    tags: tags
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                },
                in_use_by: None,
                backup_managed: false,
                lock: None,
                deny_tags: false,
                deny_delete: false,
                vanishes: false,
                copy: false,
                copy_started: None,
                completion_minutes: None,
                size_gib: 100,
            },
        );
        id
    }

    /// A snapshot owned by another account (it would never be listed with `OwnerIds=self`).
    pub fn add_foreign_snapshot(
        &self,
        volume_id: &str,
        start: DateTime<Utc>,
        owner: &str,
    ) -> String {
        let id = self.add_snapshot(volume_id, start, SnapshotState::Completed, &[]);
        self.st().snapshots.get_mut(&id).unwrap().snap.owner_id = owner.into();
        id
    }

    /// Another account's snapshot shared with us (CreateVolumePermission), carrying `tags` —
    /// ours, if its owner copied them: visible to a listing that does not restrict owners.
    pub fn add_shared_snapshot(
        &self,
        volume_id: &str,
        start: DateTime<Utc>,
        owner: &str,
        tags: &[(&str, &str)],
    ) -> String {
        let id = self.add_snapshot(volume_id, start, SnapshotState::Completed, tags);
        let mut st = self.st();
        st.snapshots.get_mut(&id).unwrap().snap.owner_id = owner.into();
        st.shared_with_us.insert(id.clone());
        id
    }

    pub fn complete(&self, snapshot_id: &str) {
        if let Some(s) = self.st().snapshots.get_mut(snapshot_id) {
            s.snap.state = SnapshotState::Completed;
        }
    }

    /// EBS fails the snapshot (`error`).
    pub fn fail_snapshot(&self, snapshot_id: &str) {
        if let Some(s) = self.st().snapshots.get_mut(snapshot_id) {
            s.snap.state = SnapshotState::Error;
        }
    }

    /// Changes one snapshot's fake-only state (no-op for an unknown id).
    fn mark(&self, snapshot_id: &str, f: impl FnOnce(&mut FakeSnapshot)) {
        if let Some(s) = self.st().snapshots.get_mut(snapshot_id) {
            f(s);
        }
    }

    /// Registers an AMI that uses the snapshot: DeleteSnapshot answers `InvalidSnapshot.InUse`.
    pub fn use_in_ami(&self, snapshot_id: &str, ami: &str) {
        self.mark(snapshot_id, |s| s.in_use_by = Some(ami.into()));
    }

    /// Marks a snapshot as managed by AWS Backup: DeleteSnapshot is refused.
    pub fn manage_by_backup(&self, snapshot_id: &str) {
        self.mark(snapshot_id, |s| s.backup_managed = true);
    }

    /// Locks a snapshot in governance mode for a year from the fake's clock, as someone else
    /// might: DeleteSnapshot refuses it (see [`FakeAws::locked_delete_attempts`]).
    pub fn lock(&self, snapshot_id: &str) {
        let now = self.clock();
        self.mark(snapshot_id, |s| {
            s.lock = Some(FakeLock {
                mode: crate::locks::LockMode::Governance,
                expires: now + chrono::Duration::days(365),
                cool_off_until: None,
            })
        });
    }

    /// The fake's wall clock for locks (default: the real one): set it to the time a test's
    /// runs pass as `now`, so lock states (cooling-off, expired) agree with the planner.
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.st().now = Some(now);
    }

    fn clock(&self) -> DateTime<Utc> {
        self.st().now.unwrap_or_else(Utc::now)
    }

    /// A snapshot's lock as DescribeLockedSnapshots would report it now.
    pub fn lock_of(&self, snapshot_id: &str) -> Option<crate::locks::Lock> {
        let st = self.st();
        let now = st.now.unwrap_or_else(Utc::now);
        st.snapshots
            .get(snapshot_id)
            .and_then(|s| s.lock.as_ref())
            .map(|l| l.seen(now))
    }

    /// Adds a Recycle Bin retention rule for EBS snapshots in this region.
    pub fn add_retention_rule(&self, rule: crate::recycle_bin::RetentionRule) {
        self.st().retention_rules.push(rule);
    }

    /// Until when the Recycle Bin keeps (and bills) this deleted snapshot, if a rule kept it.
    pub fn in_recycle_bin(&self, snapshot_id: &str) -> Option<DateTime<Utc>> {
        self.st().recycle_bin.get(snapshot_id).copied()
    }

    /// DeleteSnapshot calls made on a snapshot whose lock held: ebs-gens must make none (AWS
    /// documents no error code for that refusal, so it never relies on one).
    pub fn locked_delete_attempts(&self) -> u64 {
        self.st().locked_delete_attempts
    }

    /// IAM refuses CreateTags on this snapshot (`UnauthorizedOperation`), as our conditions do
    /// for a snapshot another deployment tagged first.
    pub fn deny_tagging(&self, snapshot_id: &str) {
        self.mark(snapshot_id, |s| s.deny_tags = true);
    }

    /// IAM refuses DeleteSnapshot on this snapshot (`UnauthorizedOperation`).
    pub fn deny_delete(&self, snapshot_id: &str) {
        self.mark(snapshot_id, |s| s.deny_delete = true);
    }

    /// Someone else deletes this snapshot right before our DeleteSnapshot: it answers
    /// `InvalidSnapshot.NotFound`.
    pub fn vanish_before_delete(&self, snapshot_id: &str) {
        self.mark(snapshot_id, |s| s.vanishes = true);
    }

    /// The next `n` DeleteSnapshot calls on this snapshot fail with a 5xx.
    pub fn fail_next_deletes(&self, snapshot_id: &str, n: u32) {
        self.st().fail_deletes.insert(snapshot_id.into(), n);
    }

    /// Every call fails with probability `rate` (half throttling, half 5xx), deterministic by `seed`.
    pub fn inject_faults(&self, rate: f64, seed: u64) {
        self.st().faults = Some((rate, seed.max(1)));
    }

    /// Creates a Scheduler schedule group (the stack does, in AWS).
    pub fn add_schedule_group(&self, name: &str) {
        self.st().schedule_groups.insert(name.to_string());
    }

    /// Disables a schedule, as someone in the console would (UpdateSchedule, State DISABLED).
    pub fn disable_schedule(&self, group: &str, name: &str) {
        let mut st = self.st();
        let key = (group.to_string(), name.to_string());
        assert!(st.schedules.contains_key(&key), "no schedule {name}");
        st.disabled_schedules.insert(key);
    }

    /// Whether a schedule is enabled (`None`: no such schedule).
    pub fn schedule_enabled(&self, group: &str, name: &str) -> Option<bool> {
        let st = self.st();
        let key = (group.to_string(), name.to_string());
        st.schedules
            .contains_key(&key)
            .then(|| !st.disabled_schedules.contains(&key))
    }

    /// Makes every Scheduler call take `latency` (for measuring a large reconcile).
    pub fn set_scheduler_latency(&self, latency: std::time::Duration) {
        self.st().scheduler_latency = latency;
    }

    async fn scheduler_call(&self) {
        let latency = self.st().scheduler_latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    /// Every schedule in `group`: name → spec.
    pub fn schedules_in(
        &self,
        group: &str,
    ) -> BTreeMap<String, crate::backend::scheduler::ScheduleSpec> {
        self.st()
            .schedules
            .iter()
            .filter(|((g, _), _)| g == group)
            .map(|((_, n), s)| (n.clone(), s.clone()))
            .collect()
    }

    /// Fires every schedule of `group` as Scheduler would: its universal target's call
    /// (CreateSnapshot, or CreateSnapshots for an instance's set) with the target's `Input`,
    /// tags included and `<aws.scheduler.scheduled-time>` substituted; the snapshots pending
    /// until [`FakeAws::complete`]. A call EC2 refuses (the CreateSnapshots bucket, pending
    /// snapshots per volume, an instance gone) goes to the dead-letter queue
    /// ([`FakeAws::dead_letters`]). Returns the ids made.
    pub fn fire_schedules(&self, group: &str, at: DateTime<Utc>) -> Vec<String> {
        let fired: Vec<(String, String)> = self
            .schedules_in(group)
            .into_iter()
            .filter(|(name, _)| self.schedule_enabled(group, name) == Some(true))
            .map(|(name, s)| (name, s.input))
            .collect();
        let stamp = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut out = Vec::new();
        for (name, input) in fired {
            let input = input.replace(crate::backend::scheduler::SCHEDULED_TIME, &stamp);
            let v: serde_json::Value =
                serde_json::from_str(&input).expect("schedule input is JSON");
            let tags: Vec<(String, String)> = v["TagSpecifications"][0]["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t["Key"].as_str().unwrap_or_default().to_string(),
                        t["Value"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let made = match v["InstanceSpecification"].as_object() {
                Some(spec) => self.create_snapshots(spec, at, &tags),
                None => {
                    let vol = v["VolumeId"].as_str().expect("VolumeId");
                    self.create_snapshot(vol, at, &tags).map(|id| vec![id])
                }
            };
            match made {
                Ok(ids) => out.extend(ids),
                Err(e) => self.st().dead_letters.push((name, e.code)),
            }
        }
        out
    }

    /// Scheduler firings that failed into the dead-letter queue: (schedule, error code).
    pub fn dead_letters(&self) -> Vec<(String, String)> {
        self.st().dead_letters.clone()
    }

    /// Makes a volume the boot volume of the instance it is attached to.
    pub fn set_boot_volume(&self, volume_id: &str) {
        self.st().boot_volumes.insert(volume_id.into());
    }

    /// An instance's state as DescribeInstances reports it (`terminated`: its volumes detached).
    pub fn set_instance_state(&self, id: &str, state: &str) {
        let mut st = self.st();
        let zone = format!("{}a", self.region);
        let facts = st
            .instance_facts
            .entry(id.into())
            .or_insert_with(|| crate::sets::Instance {
                id: id.into(),
                zone,
                ..crate::sets::Instance::default()
            });
        facts.state = state.into();
        if state == "terminated" {
            for v in st.volumes.values_mut() {
                if v.instance_id.as_deref() == Some(id) {
                    v.instance_id = None;
                    v.state = "available".into();
                }
            }
        }
    }

    /// Attaches (or, with `None`, detaches) a volume.
    pub fn attach(&self, volume_id: &str, instance_id: Option<&str>) {
        if let Some(v) = self.st().volumes.get_mut(volume_id) {
            v.instance_id = instance_id.map(str::to_string);
            v.state = if instance_id.is_some() {
                "in-use"
            } else {
                "available"
            }
            .into();
        }
    }

    /// How many calls [`FakeAws::inject_faults`] has failed so far.
    pub fn injected_faults(&self) -> u64 {
        self.st().injected
    }

    pub fn clear_faults(&self) {
        self.st().faults = None;
    }

    /// Sets a token bucket on an operation (defaults: EC2's documented buckets).
    pub fn set_bucket(&self, op: &'static str, burst: f64, per_second: f64) {
        self.st().buckets.insert(op, Bucket::new(burst, per_second));
    }

    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.st()
            .snapshots
            .values()
            .map(|s| s.snap.clone())
            .collect()
    }

    pub fn snapshot_ids(&self) -> Vec<String> {
        self.st().snapshots.keys().cloned().collect()
    }

    pub fn rules(&self) -> BTreeMap<String, (String, RuleState, Vec<Target>)> {
        self.st()
            .rules
            .iter()
            .map(|(n, r)| (n.clone(), (r.schedule.clone(), r.state, r.targets.clone())))
            .collect()
    }

    /// Calls made so far, per operation.
    /// How many calls of `op` its token bucket refused.
    pub fn throttled(&self, op: &'static str) -> u64 {
        self.st().throttled.get(op).copied().unwrap_or(0)
    }

    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.st().calls.clone()
    }

    /// The calls that change something in an account, by name, however many were made (a dry
    /// run must make none).
    pub fn writes(&self) -> BTreeMap<&'static str, u64> {
        self.st()
            .calls
            .iter()
            .filter(|(op, _)| WRITES.contains(op))
            .map(|(op, n)| (*op, *n))
            .collect()
    }

    /// Answers every paged listing as AWS may: an empty first page with a NextToken, then
    /// pages of at most half of MaxResults.
    pub fn short_pages(&self) {
        self.st().short_pages = true;
    }

    pub fn reset_calls(&self) {
        self.st().calls.clear();
    }

    // ---- the machinery every call goes through ----

    /// Counts the call, applies injected faults and the operation's token bucket.
    fn enter(&self, st: &mut State, op: &'static str) -> R<()> {
        *st.calls.entry(op).or_default() += 1;
        if let Some((rate, seed)) = st.faults {
            // xorshift64*: deterministic, no dependency.
            let mut x = seed;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            st.faults = Some((rate, x));
            let r = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            if r < rate {
                st.injected += 1;
                return Err(if x & 1 == 0 {
                    err(
                        op,
                        ErrorKind::Throttled,
                        "RequestLimitExceeded",
                        "Request limit exceeded.",
                    )
                } else {
                    err(
                        op,
                        ErrorKind::Transient,
                        "InternalError",
                        "An internal error has occurred (HTTP 500)",
                    )
                });
            }
        }
        let bucket = st.buckets.entry(op).or_insert_with(|| match op {
            "DeleteSnapshot" => Bucket::new(100.0, 5.0),
            "CreateTags" => Bucket::new(100.0, 10.0),
            "DescribeVolumes"
            | "DescribeSnapshots"
            | "DescribeTags"
            | "DescribeLockedSnapshots" => Bucket::new(100.0, 20.0),
            // Scheduler's request-rate quotas (scheduler-quotas): Create/Update/DeleteSchedule
            // 1,000-5,000 per second in the main regions, 250 in the others (the lowest is
            // modelled); ListSchedules 50.
            "CreateSchedule" | "UpdateSchedule" | "DeleteSchedule" => Bucket::new(250.0, 250.0),
            // EC2's CreateSnapshots bucket (throttling page): 100, refilled 5 a second.
            "CreateSnapshots" => Bucket::new(100.0, 5.0),
            "ListSchedules" => Bucket::new(50.0, 50.0),
            _ => Bucket::new(50.0, 5.0),
        });
        if !bucket.take() {
            *st.throttled.entry(op).or_default() += 1;
            return Err(err(
                op,
                ErrorKind::Throttled,
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ));
        }
        Ok(())
    }

    /// Validates a paged describe request and returns the slice of `items` it asks for.
    #[allow(clippy::too_many_arguments)]
    fn page<T: Clone>(
        &self,
        st: &mut State,
        op: &'static str,
        req: &PageRequest,
        allowed_filters: &[&str],
        max_range: (i32, i32),
        items: Vec<T>,
    ) -> R<Page<T>> {
        if !req.ids.is_empty() && (req.max_results.is_some() || req.next_token.is_some()) {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "InvalidParameterCombination",
                "The parameter ids cannot be used with MaxResults or NextToken",
            ));
        }
        let values: usize = req.filters.iter().map(|f| f.values.len()).sum();
        if values > MAX_FILTER_VALUES {
            return Err(err(
                op,
                ErrorKind::Invalid,
                "FilterLimitExceeded",
                format!("The maximum number of filter values specified on a single call is {MAX_FILTER_VALUES}"),
            ));
        }
        for f in &req.filters {
            let ok = allowed_filters
                .iter()
                .any(|a| *a == f.name || (a.ends_with(':') && f.name.starts_with(a)));
            if !ok {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    format!("The filter '{}' is invalid", f.name),
                ));
            }
            if f.values.is_empty() || f.values.len() > MAX_FILTER_VALUES {
                return Err(err(
                    op,
                    ErrorKind::Invalid,
                    "InvalidParameterValue",
                    format!("filter {} has {} values", f.name, f.values.len()),
                ));
            }
        }
        let size = match req.max_results {
            None => usize::MAX,
            Some(n) if n >= max_range.0 && n <= max_range.1 => n as usize,
            Some(n) => {
                return Err(err(op, ErrorKind::Invalid, "InvalidParameterValue", format!("Value ({n}) for parameter maxResults is invalid. Expecting a value between {} and {}.", max_range.0, max_range.1)));
            }
        };
        let fingerprint = format!("{:?}", req.filters);
        let offset = match &req.next_token {
            None => 0,
            Some(t) => match st.cursors.remove(t) {
                Some(c) if c.op == op && c.fingerprint == fingerprint => c.offset,
                _ => {
                    return Err(err(
                        op,
                        ErrorKind::Invalid,
                        "InvalidNextToken",
                        format!("The token '{t}' is invalid."),
                    ))
                }
            },
        };
        // Short pages, as AWS may answer: the first page empty but for its token, later pages
        // at most half of MaxResults.
        let size = match (st.short_pages, req.next_token.is_none(), req.max_results) {
            (true, true, Some(_)) if !items.is_empty() => 0,
            (true, _, Some(_)) => (size / 2).max(1),
            _ => size,
        };
        let end = offset.saturating_add(size).min(items.len());
        let page: Vec<T> = items[offset.min(end)..end].to_vec();
        let next_token = if end < items.len() {
            st.next_id += 1;
            let t = format!("tok-{}", st.next_id);
            st.cursors.insert(
                t.clone(),
                Cursor {
                    op,
                    fingerprint,
                    offset: end,
                },
            );
            Some(t)
        } else {
            None
        };
        Ok(Page {
            items: page,
            next_token,
        })
    }
}
