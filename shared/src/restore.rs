//! Restore: which generation comes back for "as of TIME", what volume it becomes (type, size,
//! IOPS, throughput, encryption — from the source volume, else from what the snapshot recorded
//! at birth, else gp3 defaults, said), in which zone, and whether an attachment is possible.
//! Every check here runs before anything is created: a bad time, a snapshot not ours, a zone
//! in another region, an instance elsewhere or gone, a device in use — a clear error, nothing
//! created. Pure: the caller reads AWS and passes `now`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::copies::{TAG_COPY_OF, TAG_SOURCE_START};
use crate::snapshot::{Snapshot, SnapshotState, TAG_CLASS, TAG_MANAGED_BY, TAG_VOLUME};

pub use crate::sets::Instance;

pub use crate::snapshot::TAG_VOLUME_SPEC;
/// On a restored volume: the deployment that restored it (never a `*_Gens` tag: a restored
/// volume is not managed unless someone tags it).
pub const TAG_RESTORED_BY: &str = "ebs-gens:restored-by";
/// On a restored volume: the snapshot it was created from, its source volume, and the
/// generation's time.
pub const TAG_RESTORED_FROM: &str = "ebs-gens:restored-from";
pub const TAG_RESTORE_OF: &str = "ebs-gens:restore-of";
pub const TAG_RESTORED_AS_OF: &str = "ebs-gens:restored-as-of";

/// gp3's baseline, used when nothing recorded the source volume's own.
pub const GP3_IOPS: i32 = 3000;
pub const GP3_THROUGHPUT: i32 = 125;

/// A volume's shape: what CreateVolume needs besides the snapshot and the zone. Written as its
/// tag value (`gp3 size=100 iops=3000 throughput=125`) wherever it is serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VolumeSpec {
    pub volume_type: String,
    pub size_gib: Option<i32>,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
}

impl VolumeSpec {
    /// gp3 with its baseline IOPS and throughput, sized by the snapshot.
    pub fn gp3_defaults() -> Self {
        VolumeSpec {
            volume_type: "gp3".into(),
            size_gib: None,
            iops: Some(GP3_IOPS),
            throughput: Some(GP3_THROUGHPUT),
        }
    }
}

impl fmt::Display for VolumeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.volume_type)?;
        if let Some(s) = self.size_gib {
            write!(f, " size={s}")?;
        }
        if let Some(i) = self.iops {
            write!(f, " iops={i}")?;
        }
        if let Some(t) = self.throughput {
            write!(f, " throughput={t}")?;
        }
        Ok(())
    }
}

impl From<VolumeSpec> for String {
    fn from(s: VolumeSpec) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for VolumeSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

const VOLUME_TYPES: [&str; 7] = ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];

impl FromStr for VolumeSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split_whitespace();
        let volume_type = parts
            .next()
            .filter(|t| VOLUME_TYPES.contains(t))
            .ok_or_else(|| {
                format!(
                    "{s:?}: expected a volume type ({})",
                    VOLUME_TYPES.join(", ")
                )
            })?
            .to_string();
        let mut spec = VolumeSpec {
            volume_type,
            size_gib: None,
            iops: None,
            throughput: None,
        };
        for p in parts {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| format!("{s:?}: {p:?} is not KEY=NUMBER"))?;
            let n: i32 = v
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{s:?}: {k}={v:?} is not a positive number"))?;
            let slot = match k {
                "size" => &mut spec.size_gib,
                "iops" => &mut spec.iops,
                "throughput" => &mut spec.throughput,
                _ => return Err(format!("{s:?}: unknown key {k:?} (size, iops, throughput)")),
            };
            *slot = Some(n);
        }
        Ok(spec)
    }
}

/// Where a restore's volume shape came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpecSource {
    /// The source volume, read now.
    SourceVolume,
    /// The `ebs-gens:volume-spec` the snapshot was born with.
    Recorded,
    /// Nothing known: gp3 defaults.
    Gp3Defaults,
}

/// The volume to create: the source's shape (or the recorded one, or gp3's), at least the
/// snapshot's size, and a note when the defaults stand in. A recorded tag that does not parse
/// is said, and the defaults used.
pub fn volume_spec(
    source: Option<&VolumeSpec>,
    recorded: Option<&str>,
    snapshot_size_gib: i32,
) -> (VolumeSpec, SpecSource, Option<String>) {
    let (mut spec, from, note) = match (source, recorded.map(str::parse::<VolumeSpec>)) {
        (Some(s), _) => (s.clone(), SpecSource::SourceVolume, None),
        (None, Some(Ok(s))) => (s, SpecSource::Recorded, None),
        (None, Some(Err(why))) => (
            VolumeSpec::gp3_defaults(),
            SpecSource::Gp3Defaults,
            Some(format!(
                "the snapshot's {TAG_VOLUME_SPEC} could not be read ({why}): gp3 defaults used"
            )),
        ),
        (None, None) => (
            VolumeSpec::gp3_defaults(),
            SpecSource::Gp3Defaults,
            Some(format!(
                "the source volume is gone and the snapshot records no {TAG_VOLUME_SPEC}: gp3 defaults used (iops={GP3_IOPS}, throughput={GP3_THROUGHPUT})"
            )),
        ),
    };
    spec.size_gib = Some(spec.size_gib.unwrap_or(0).max(snapshot_size_gib));
    // IOPS and throughput only where the type takes them (CreateVolume refuses them elsewhere).
    if !matches!(spec.volume_type.as_str(), "gp3" | "io1" | "io2") {
        spec.iops = None;
    }
    if spec.volume_type != "gp3" {
        spec.throughput = None;
    }
    (spec, from, note)
}

/// A restore's point in time: RFC 3339 (`2026-12-05T09:30:00Z`, any offset), or a local time in
/// the deployment's zone (`2026-12-05 09:30`, `2026-12-05T09:30`, seconds optional). A local
/// time that does not exist (skipped by a DST change) is an error; an ambiguous one (repeated)
/// is the earlier.
pub fn parse_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| {
            format!("--at {s:?}: expected RFC 3339 (2026-12-05T09:30:00Z) or a local time in {tz} (2026-12-05 09:30)")
        })?;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(early, _) => Ok(early.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "--at {s:?}: that local time does not exist in {tz} (a daylight-saving change skips it)"
        )),
    }
}

/// A generation chosen for a restore, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    pub snapshot_id: String,
    /// The generation's time: the snapshot's start, or a copy's source start.
    pub taken: DateTime<Utc>,
    pub class: Option<String>,
    pub why: String,
}

/// The set a whole-instance restore takes: the newest completed, whole set of ours of
/// `instance` started at or before `at` (failed, pending, incomplete or mixed sets never), its
/// members (snapshot, volume) in volume order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenSet {
    pub set: String,
    pub taken: DateTime<Utc>,
    pub members: Vec<(String, String)>,
    pub why: String,
}

/// Chooses the set for `restore --instance ID --at TIME`. Pure.
pub fn choose_set(
    snapshots: &[Snapshot],
    instance: &str,
    deployment: &str,
    account_id: &str,
    at: DateTime<Utc>,
) -> Result<ChosenSet, String> {
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let whole: Vec<(crate::sets::SetId, Vec<&Snapshot>)> = crate::sets::group(instance, snapshots)
        .into_iter()
        .filter(|(_, m)| {
            let size = m
                .iter()
                .find_map(|s| s.tag(crate::sets::TAG_SET_SIZE))
                .and_then(|n| n.parse::<usize>().ok());
            m.iter()
                .all(|s| ours(s, deployment, account_id) && s.state == SnapshotState::Completed)
                && size.is_some_and(|n| n == m.len())
        })
        .collect();
    let before: Vec<&(crate::sets::SetId, Vec<&Snapshot>)> =
        whole.iter().filter(|(id, _)| id.start <= at).collect();
    let Some((id, members)) = before.last() else {
        return Err(match whole.first() {
            Some((oldest, _)) => format!(
                "{instance}: no completed set at or before {} (the oldest is from {})",
                fmt(at),
                fmt(oldest.start)
            ),
            None => {
                format!("{instance}: no completed, whole set of ours (deployment {deployment})")
            }
        });
    };
    let mut members: Vec<(String, String)> = members
        .iter()
        .map(|s| {
            (
                s.id.clone(),
                s.tag(TAG_VOLUME).unwrap_or(&s.volume_id).to_string(),
            )
        })
        .collect();
    members.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(ChosenSet {
        set: id.tag.clone(),
        taken: id.start,
        why: format!(
            "the newest completed set of {instance} at or before {} (taken {}, {} volumes together; {} older sets)",
            fmt(at),
            fmt(id.start),
            members.len(),
            before.len() - 1
        ),
        members,
    })
}

/// A generation's time: a copy's source start (when the copy was made is not the point in
/// time it holds), else the snapshot's start.
pub fn generation_time(s: &Snapshot) -> DateTime<Utc> {
    s.tag(TAG_SOURCE_START)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(s.start_time, |t| t.with_timezone(&Utc))
}

fn ours(s: &Snapshot, deployment: &str, account_id: &str) -> bool {
    s.is_owned_by(deployment) && s.owner_id == account_id
}

/// The newest completed generation of ours of `volume_id` at or before `at` (among its
/// snapshots, or its copies in a destination). An error says what there is instead.
pub fn choose(
    snapshots: &[Snapshot],
    volume_id: &str,
    deployment: &str,
    account_id: &str,
    at: DateTime<Utc>,
) -> Result<Chosen, String> {
    let mut candidates: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| ours(s, deployment, account_id))
        .filter(|s| s.state == SnapshotState::Completed)
        .filter(|s| s.tag(TAG_VOLUME).unwrap_or(&s.volume_id) == volume_id)
        .collect();
    candidates.sort_by_key(|s| (generation_time(s), s.id.clone()));
    let before: Vec<&&Snapshot> = candidates
        .iter()
        .filter(|s| generation_time(s) <= at)
        .collect();
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    match before.last() {
        Some(s) => {
            let taken = generation_time(s);
            let copy = s
                .tag(TAG_COPY_OF)
                .map(|src| format!(", a copy of {src}"))
                .unwrap_or_default();
            Ok(Chosen {
                snapshot_id: s.id.clone(),
                taken,
                class: s.tag(TAG_CLASS).map(str::to_string),
                why: format!(
                    "the newest completed generation of {volume_id} at or before {} (taken {}{copy}; {} of {} completed generations are older)",
                    fmt(at),
                    fmt(taken),
                    before.len() - 1,
                    candidates.len()
                ),
            })
        }
        None => Err(match candidates.first() {
            Some(oldest) => format!(
                "no completed generation of {volume_id} at or before {}: the oldest is {} ({})",
                fmt(at),
                oldest.id,
                fmt(generation_time(oldest))
            ),
            None => format!(
                "no completed generation of {volume_id} made by deployment {deployment} here"
            ),
        }),
    }
}

/// A snapshot named by id (`--snapshot`): ours and completed, or an error saying why not.
pub fn check_named(
    s: Option<&Snapshot>,
    id: &str,
    deployment: &str,
    account_id: &str,
) -> Result<Chosen, String> {
    let s = s.ok_or_else(|| format!("--snapshot {id}: no such snapshot here"))?;
    if !ours(s, deployment, account_id) {
        return Err(format!(
            "--snapshot {id}: not a snapshot of deployment {deployment} ({TAG_MANAGED_BY} is {:?}); restore only generations ebs-gens made",
            s.tag(TAG_MANAGED_BY).unwrap_or("unset")
        ));
    }
    if s.state != SnapshotState::Completed {
        return Err(format!(
            "--snapshot {id}: it is {} (only a completed snapshot restores)",
            s.state
        ));
    }
    Ok(Chosen {
        snapshot_id: s.id.clone(),
        taken: generation_time(s),
        class: s.tag(TAG_CLASS).map(str::to_string),
        why: format!(
            "named by --snapshot (taken {})",
            generation_time(s).format("%Y-%m-%d %H:%M UTC")
        ),
    })
}

/// The zone to create the volume in: `--az` when given (it must be one of the target region's
/// zones), else the source volume's — required when the source is gone or the restore is of a
/// copy in another region.
pub fn zone(
    az: Option<&str>,
    source_zone: Option<&str>,
    region: &str,
    zones: &[String],
    of_copy: bool,
) -> Result<String, String> {
    match az {
        Some(z) if zones.iter().any(|x| x == z) => Ok(z.to_string()),
        Some(z) => Err(format!(
            "--az {z}: not an availability zone of {region} (there: {})",
            zones.join(", ")
        )),
        None if of_copy => Err(format!(
            "--az is required with --from-region (a zone of {region})"
        )),
        None => source_zone.map(str::to_string).ok_or_else(|| {
            "the source volume is gone: give --az (the zone to create the volume in)".into()
        }),
    }
}

/// Whether `--attach INSTANCE --device NAME` can work: the instance exists and is not going
/// away, it is in the volume's zone, and the device name is free.
pub fn check_attach(
    instance: Option<&Instance>,
    id: &str,
    device: &str,
    zone: &str,
) -> Result<(), String> {
    let i = instance.ok_or_else(|| format!("--attach {id}: no such instance"))?;
    if matches!(i.state.as_str(), "shutting-down" | "terminated") {
        return Err(format!("--attach {id}: the instance is {}", i.state));
    }
    if i.zone != zone {
        return Err(format!(
            "--attach {id}: the instance is in {}, the volume would be in {zone} (give --az {} to restore there)",
            i.zone, i.zone
        ));
    }
    if !device.starts_with("/dev/") && !device.starts_with("xvd") {
        return Err(format!(
            "--device {device:?}: expected a device name such as /dev/sdf or xvdf"
        ));
    }
    if i.devices.iter().any(|d| d == device) {
        return Err(format!(
            "--device {device}: already in use on {id} (in use: {})",
            i.devices.join(", ")
        ));
    }
    Ok(())
}

/// The tags a restored volume is born with: who restored it, from what, as of when — and its
/// source's `Name` with " (restore)". Never a `*_Gens` tag.
pub fn restored_tags(
    deployment: &str,
    source_volume: &str,
    chosen: &Chosen,
    name: Option<&str>,
) -> BTreeMap<String, String> {
    let mut t = BTreeMap::from([
        (TAG_RESTORED_BY.to_string(), deployment.to_string()),
        (TAG_RESTORE_OF.to_string(), source_volume.to_string()),
        (TAG_RESTORED_FROM.to_string(), chosen.snapshot_id.clone()),
        (TAG_RESTORED_AS_OF.to_string(), chosen.taken.to_rfc3339()),
    ]);
    let base = name.unwrap_or(source_volume);
    t.insert(
        "Name".into(),
        format!(
            "{base} (restore as of {})",
            chosen.taken.format("%Y-%m-%d %H:%M UTC")
        ),
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const DEP: &str = "prod";
    const ACCOUNT: &str = "123456789012";

    fn snap(id: &str, vol: &str, t: DateTime<Utc>, state: SnapshotState, owner: &str) -> Snapshot {
        Snapshot {
            id: id.into(),
            volume_id: vol.into(),
            start_time: t,
            state,
            owner_id: ACCOUNT.into(),
            tags: BTreeMap::from([
                (TAG_MANAGED_BY.to_string(), owner.to_string()),
                (TAG_VOLUME.to_string(), vol.to_string()),
                (TAG_CLASS.to_string(), "daily".to_string()),
            ]),
        }
    }

    fn day(d: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 0).unwrap() + Duration::days(d)
    }

    #[test]
    fn the_newest_completed_generation_of_ours_at_or_before_the_time_is_chosen() {
        use SnapshotState::*;
        let snaps = vec![
            snap("snap-0", "vol-1", day(0), Completed, DEP),
            snap("snap-1", "vol-1", day(1), Completed, DEP),
            snap("snap-2", "vol-1", day(2), Pending, DEP),
            snap(
                "snap-3",
                "vol-1",
                day(2) + Duration::hours(1),
                Completed,
                "test",
            ),
            snap("snap-4", "vol-2", day(2), Completed, DEP),
            snap("snap-5", "vol-1", day(3), Completed, DEP),
        ];
        let cases = [
            (day(1), Ok("snap-1")),
            (day(1) + Duration::minutes(1), Ok("snap-1")),
            (day(2) + Duration::hours(2), Ok("snap-1")),
            (day(3), Ok("snap-5")),
            (day(9), Ok("snap-5")),
            (day(0) - Duration::seconds(1), Err("the oldest is snap-0")),
        ];
        for (at, want) in cases {
            let got = choose(&snaps, "vol-1", DEP, ACCOUNT, at);
            match want {
                Ok(id) => assert_eq!(got.as_ref().map(|c| c.snapshot_id.as_str()), Ok(id), "{at}"),
                Err(msg) => assert!(got.as_ref().unwrap_err().contains(msg), "{got:?}"),
            }
        }
        let why = choose(&snaps, "vol-1", DEP, ACCOUNT, day(2)).unwrap().why;
        assert!(
            why.contains("at or before 2026-12-03 09:30 UTC")
                && why.contains("taken 2026-12-02 09:30 UTC"),
            "{why}"
        );
        assert!(choose(&snaps, "vol-9", DEP, ACCOUNT, day(9))
            .unwrap_err()
            .contains("no completed generation"));
    }

    #[test]
    fn a_copy_is_chosen_by_its_sources_time() {
        let mut c = snap(
            "snap-c",
            "vol-ffffffff",
            day(5),
            SnapshotState::Completed,
            DEP,
        );
        c.tags.insert(TAG_VOLUME.into(), "vol-1".into());
        c.tags.insert(TAG_COPY_OF.into(), "snap-1".into());
        c.tags.insert(TAG_SOURCE_START.into(), day(1).to_rfc3339());
        let got = choose(&[c.clone()], "vol-1", DEP, ACCOUNT, day(2)).unwrap();
        assert_eq!((got.snapshot_id.as_str(), got.taken), ("snap-c", day(1)));
        assert!(got.why.contains("a copy of snap-1"));
        assert!(choose(&[c], "vol-1", DEP, ACCOUNT, day(0)).is_err());
    }

    #[test]
    fn a_named_snapshot_must_be_ours_and_completed() {
        let ok = snap("snap-1", "vol-1", day(1), SnapshotState::Completed, DEP);
        assert!(check_named(Some(&ok), "snap-1", DEP, ACCOUNT).is_ok());
        let theirs = snap("snap-2", "vol-1", day(1), SnapshotState::Completed, "test");
        assert!(check_named(Some(&theirs), "snap-2", DEP, ACCOUNT)
            .unwrap_err()
            .contains("not a snapshot of deployment prod"));
        let mut manual = ok.clone();
        manual.tags.clear();
        assert!(check_named(Some(&manual), "snap-1", DEP, ACCOUNT)
            .unwrap_err()
            .contains("unset"));
        let pending = snap("snap-3", "vol-1", day(1), SnapshotState::Pending, DEP);
        assert!(check_named(Some(&pending), "snap-3", DEP, ACCOUNT)
            .unwrap_err()
            .contains("pending"));
        let mut shared = ok.clone();
        shared.owner_id = "999999999999".into();
        assert!(check_named(Some(&shared), "snap-1", DEP, ACCOUNT).is_err());
        assert!(check_named(None, "snap-9", DEP, ACCOUNT)
            .unwrap_err()
            .contains("no such snapshot"));
    }

    #[test]
    fn the_volume_shape_comes_from_the_source_else_the_record_else_gp3_said() {
        let io2: VolumeSpec = "io2 size=200 iops=8000".parse().unwrap();
        let (s, from, note) = volume_spec(Some(&io2), Some("gp2 size=8"), 100);
        assert_eq!(
            (s.to_string().as_str(), from, note),
            ("io2 size=200 iops=8000", SpecSource::SourceVolume, None)
        );
        let (s, from, note) = volume_spec(None, Some("gp3 size=50 iops=4000 throughput=250"), 80);
        assert_eq!(
            (s.to_string().as_str(), from, note),
            (
                "gp3 size=80 iops=4000 throughput=250",
                SpecSource::Recorded,
                None
            )
        );
        let (s, from, note) = volume_spec(None, None, 30);
        assert_eq!(
            (s.to_string().as_str(), from),
            (
                "gp3 size=30 iops=3000 throughput=125",
                SpecSource::Gp3Defaults
            )
        );
        assert!(note.unwrap().contains("gp3 defaults"));
        let (s, from, note) = volume_spec(None, Some("floppy"), 30);
        assert_eq!(
            (s.volume_type.as_str(), from),
            ("gp3", SpecSource::Gp3Defaults)
        );
        assert!(note.unwrap().contains("could not be read"));
        // IOPS and throughput only where the type takes them.
        let st1: VolumeSpec = "st1 size=500 iops=100 throughput=40".parse().unwrap();
        assert_eq!(
            volume_spec(Some(&st1), None, 500).0.to_string(),
            "st1 size=500"
        );
    }

    #[test]
    fn a_recorded_spec_round_trips_and_bad_ones_are_named() {
        for s in [
            "gp3 size=100 iops=3000 throughput=125",
            "gp2 size=8",
            "io2 size=10 iops=500",
            "standard",
        ] {
            assert_eq!(s.parse::<VolumeSpec>().unwrap().to_string(), s);
        }
        for bad in [
            "",
            "gp9",
            "gp3 size",
            "gp3 size=-1",
            "gp3 size=abc",
            "gp3 colour=3",
        ] {
            assert!(bad.parse::<VolumeSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_rfc3339_or_local_in_the_deployments_zone() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_time("2026-12-05T09:30:00Z", ny),
            Ok(utc("2026-12-05T09:30:00Z"))
        );
        assert_eq!(
            parse_time("2026-12-05T09:30:00+01:00", ny),
            Ok(utc("2026-12-05T08:30:00Z"))
        );
        assert_eq!(
            parse_time("2026-12-05 09:30", ny),
            Ok(utc("2026-12-05T14:30:00Z"))
        );
        assert_eq!(
            parse_time("2026-07-05T09:30", ny),
            Ok(utc("2026-07-05T13:30:00Z"))
        );
        // 2026-03-08 02:30 does not exist in New York; 2026-11-01 01:30 happens twice.
        assert!(parse_time("2026-03-08 02:30", ny)
            .unwrap_err()
            .contains("does not exist"));
        assert_eq!(
            parse_time("2026-11-01 01:30", ny),
            Ok(utc("2026-11-01T05:30:00Z"))
        );
        assert!(parse_time("yesterday", ny)
            .unwrap_err()
            .contains("expected RFC 3339"));
    }

    #[test]
    fn the_zone_is_the_sources_unless_given_and_a_given_one_must_be_in_the_region() {
        let zones = vec!["us-east-1a".to_string(), "us-east-1b".to_string()];
        assert_eq!(
            zone(None, Some("us-east-1a"), "us-east-1", &zones, false),
            Ok("us-east-1a".into())
        );
        assert_eq!(
            zone(
                Some("us-east-1b"),
                Some("us-east-1a"),
                "us-east-1",
                &zones,
                false
            ),
            Ok("us-east-1b".into())
        );
        assert!(zone(Some("us-west-2a"), None, "us-east-1", &zones, false)
            .unwrap_err()
            .contains("not an availability zone of us-east-1"));
        assert!(zone(None, None, "us-east-1", &zones, false)
            .unwrap_err()
            .contains("give --az"));
        assert!(zone(None, Some("us-east-1a"), "us-west-2", &zones, true)
            .unwrap_err()
            .contains("required with --from-region"));
    }

    #[test]
    fn a_set_restore_takes_the_newest_whole_completed_set_at_or_before_the_time() {
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
        let member = |id: &str, vol: &str, day: i64, state: SnapshotState, size: &str| {
            let start = t0 + chrono::Duration::days(day);
            Snapshot {
                id: id.into(),
                volume_id: vol.into(),
                start_time: start,
                state,
                owner_id: "123456789012".into(),
                tags: [
                    (TAG_MANAGED_BY.to_string(), "prod".to_string()),
                    (
                        crate::sets::TAG_SET.to_string(),
                        format!("i-db@{}", start.to_rfc3339()),
                    ),
                    (crate::sets::TAG_SET_SIZE.to_string(), size.to_string()),
                ]
                .into(),
            }
        };
        let snaps = vec![
            member("s0a", "vol-a", 0, SnapshotState::Completed, "2"),
            member("s0b", "vol-b", 0, SnapshotState::Completed, "2"),
            // Day 1: one member lost (1 of 2): never restored as a set.
            member("s1a", "vol-a", 1, SnapshotState::Completed, "2"),
            // Day 2: failed.
            member("s2a", "vol-a", 2, SnapshotState::Error, "2"),
            member("s2b", "vol-b", 2, SnapshotState::Error, "2"),
        ];
        let c = choose_set(
            &snaps,
            "i-db",
            "prod",
            "123456789012",
            t0 + chrono::Duration::days(5),
        )
        .unwrap();
        assert_eq!(c.taken, t0);
        assert_eq!(
            c.members,
            [
                ("s0a".to_string(), "vol-a".to_string()),
                ("s0b".to_string(), "vol-b".to_string())
            ]
        );
        let e = choose_set(
            &snaps,
            "i-db",
            "prod",
            "123456789012",
            t0 - chrono::Duration::days(1),
        )
        .unwrap_err();
        assert!(e.contains("no completed set at or before"), "{e}");
        let e = choose_set(&snaps, "i-db", "staging", "123456789012", t0).unwrap_err();
        assert!(e.contains("no completed, whole set of ours"), "{e}");
    }

    #[test]
    fn an_attachment_needs_a_live_instance_in_the_zone_and_a_free_device() {
        let i = Instance {
            id: "i-1".into(),
            state: "running".into(),
            zone: "us-east-1a".into(),
            devices: vec!["/dev/xvda".into(), "/dev/sdf".into()],
            ..Instance::default()
        };
        assert!(check_attach(Some(&i), "i-1", "/dev/sdg", "us-east-1a").is_ok());
        assert!(check_attach(Some(&i), "i-1", "/dev/sdf", "us-east-1a")
            .unwrap_err()
            .contains("already in use"));
        assert!(check_attach(Some(&i), "i-1", "/dev/sdg", "us-east-1b")
            .unwrap_err()
            .contains("--az us-east-1a"));
        assert!(check_attach(Some(&i), "i-1", "sdg", "us-east-1a")
            .unwrap_err()
            .contains("device name"));
        let gone = Instance {
            state: "terminated".into(),
            ..i
        };
        assert!(check_attach(Some(&gone), "i-1", "/dev/sdg", "us-east-1a")
            .unwrap_err()
            .contains("terminated"));
        assert!(check_attach(None, "i-9", "/dev/sdg", "us-east-1a")
            .unwrap_err()
            .contains("no such instance"));
    }

    #[test]
    fn a_restored_volume_is_tagged_as_such_and_never_managed() {
        let c = Chosen {
            snapshot_id: "snap-1".into(),
            taken: day(1),
            class: None,
            why: String::new(),
        };
        let t = restored_tags(DEP, "vol-1", &c, Some("db01"));
        assert_eq!(t[TAG_RESTORED_FROM], "snap-1");
        assert_eq!(t["Name"], "db01 (restore as of 2026-12-02 09:30 UTC)");
        assert!(t.keys().all(|k| !k.ends_with("_Gens")));
    }
}
