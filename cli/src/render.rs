//! Text and JSON output. Colour only on a terminal, and never when `NO_COLOR` is set.

use std::fmt::Write;
use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, Color, ContentArrangement, Table};
use ebs_gens::app::explain::{self, Verdict};
use ebs_gens::app::prune::VolumeReport;
use ebs_gens::app::status::{FleetStatus, Severity, State};
use ebs_gens::app::sweep::SweepSummary;
use ebs_gens::app::MisconfiguredVolume;
use ebs_gens::aws::Execution;
use ebs_gens::health::human;

pub fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec());
    if !colour() {
        t.force_no_tty();
    }
    t
}

fn state_cell(states: &[State]) -> Cell {
    let text = states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let cell = Cell::new(text);
    match states.iter().map(|s| s.severity()).max() {
        Some(Severity::Critical) => cell.fg(Color::Red),
        Some(Severity::Warning) => cell.fg(Color::Yellow),
        _ => cell.fg(Color::Green),
    }
}

fn age(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    t.map_or_else(|| "-".into(), |t| human(now - t))
}

/// A volume's locks column: `-` without lock rules and nothing held; `ok` when every kept
/// generation is locked as long as it should be; else what the next prune would lock and what
/// only a lock holds.
fn locks(v: &ebs_gens::app::status::VolumeStatus, setting: &str) -> String {
    let mut parts = Vec::new();
    if v.to_lock > 0 {
        parts.push(format!("{} to lock", v.to_lock));
    }
    if v.held_by_lock > 0 {
        parts.push(format!("{} held", v.held_by_lock));
    }
    if v.states.contains(&State::Misconfigured) {
        return "-".into();
    }
    match (parts.is_empty(), setting == "off" || setting.is_empty()) {
        (false, _) => parts.join(", "),
        (true, true) => "-".into(),
        (true, false) => "ok".into(),
    }
}

pub fn status(st: &FleetStatus, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ebs-gens status: deployment {}, {} volumes, {}",
        st.deployment,
        st.volumes.len(),
        st.at.format("%Y-%m-%d %H:%M UTC")
    );
    let mut t = table(&[
        "VOLUME", "NAME", "POLICY", "NEWEST", "AGE", "ALLOWED", "COVERAGE", "RECENT", "LOCKS",
        "PROVEN", "STATE",
    ]);
    for v in &st.volumes {
        t.add_row(vec![
            Cell::new(&v.volume_id),
            Cell::new(v.name.as_deref().unwrap_or("-")),
            Cell::new(&v.policy),
            Cell::new(
                v.newest
                    .map_or("-".into(), |n| n.format("%m-%d %H:%M").to_string()),
            ),
            Cell::new(age(v.newest, now)),
            Cell::new(if v.allowed_seconds > 0 {
                human(chrono::Duration::seconds(v.allowed_seconds))
            } else {
                "-".into()
            }),
            Cell::new(
                v.coverage
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Cell::new(&v.strip),
            Cell::new(locks(v, &st.locks)),
            Cell::new(v.proven.map_or("-".into(), |p| age(Some(p), now) + " ago")),
            state_cell(&v.states),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let notes: Vec<_> = st
        .volumes
        .iter()
        .filter(|v| !v.reasons.is_empty())
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNeeds attention:");
        for v in notes {
            for (s, r) in v.states.iter().zip(&v.reasons) {
                let _ = writeln!(out, "  {} {}: {r}", v.volume_id, s.as_str());
            }
        }
    }
    let in_sets: Vec<_> = st.volumes.iter().filter(|v| v.in_set.is_some()).collect();
    if !in_sets.is_empty() {
        let _ = writeln!(
            out,
            "\nVolumes snapshotted in their instance's sets (their own schedule removed):"
        );
        for v in in_sets {
            let _ = writeln!(
                out,
                "  {} in {}",
                v.volume_id,
                v.in_set.as_deref().unwrap_or("-")
            );
        }
    }
    if st.volumes.iter().any(|v| !v.sets.is_empty()) {
        let _ = writeln!(out, "\nInstance sets (kept and deleted whole):");
        let mut t = table(&["INSTANCE", "STARTED", "MEMBERS", "NEXT PRUNE", "WHY"]);
        for v in &st.volumes {
            for s in &v.sets {
                t.add_row(vec![
                    Cell::new(&v.volume_id),
                    Cell::new(s.start.format("%m-%d %H:%M").to_string()),
                    Cell::new(s.members.len()),
                    Cell::new(&s.action),
                    Cell::new(s.reasons.join(", ")),
                ]);
            }
        }
        let _ = writeln!(out, "{t}");
    }
    for r in &st.recycle_bin {
        let _ = writeln!(out, "\nRecycle Bin: {r}");
    }
    if st.volumes.iter().any(|v| !v.copies.is_empty()) {
        let _ = writeln!(out, "\nCopies in other regions (the recovery point there):");
        let mut t = table(&["VOLUME", "REGION", "NEWEST SOURCE", "AGE", "COPIES KEPT"]);
        for v in &st.volumes {
            for c in &v.copies {
                t.add_row(vec![
                    Cell::new(&v.volume_id),
                    Cell::new(&c.region),
                    Cell::new(
                        c.newest_source
                            .map_or("-".into(), |n| n.format("%m-%d %H:%M").to_string()),
                    ),
                    Cell::new(age(c.newest_source, now)),
                    Cell::new(c.kept),
                ]);
            }
        }
        let _ = writeln!(out, "{t}");
    }
    let _ = writeln!(
        out,
        "\nOrphaned snapshots (volume gone or untagged; EBS_GENS_ORPHANS={}): {} volumes, {} snapshots",
        st.orphan_policy,
        st.orphans.len(),
        st.orphans.iter().map(|o| o.snapshots).sum::<usize>()
    );
    if !st.orphans.is_empty() {
        let mut t = table(&[
            "FORMER VOLUME",
            "WHY",
            "POLICY",
            "SNAPSHOTS",
            "NEWEST",
            "WOULD DELETE",
        ]);
        for o in &st.orphans {
            t.add_row(vec![
                o.volume_id.clone(),
                o.why.to_string(),
                o.policy.clone(),
                o.snapshots.to_string(),
                age(o.newest, now) + " ago",
                o.would_delete.to_string(),
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    if !st.orphaned_copies.is_empty() {
        let _ = writeln!(
            out,
            "\nOrphaned copies (no rule plans them any more; EBS_GENS_ORPHANS={}): {} copies",
            st.orphan_policy,
            st.orphaned_copies.iter().map(|o| o.copies).sum::<usize>()
        );
        let mut t = table(&[
            "VOLUME",
            "REGION",
            "WHY",
            "COPIES",
            "NEWEST SOURCE",
            "WOULD DELETE",
        ]);
        for o in &st.orphaned_copies {
            let why = match (&o.why, o.failed.first()) {
                (_, Some(f)) => format!("FAILED: {f}"),
                (Some(w), None) => w.to_string(),
                (None, None) => "-".into(),
            };
            let would = match &o.held {
                Some(h) => format!("{} (held: {h})", o.would_delete),
                None => o.would_delete.to_string(),
            };
            t.add_row(vec![
                o.volume_id.clone(),
                o.region.clone(),
                why,
                o.copies.to_string(),
                o.newest_source
                    .map_or_else(|| "-".into(), |n| age(Some(n), now) + " ago"),
                would,
            ]);
        }
        let _ = writeln!(out, "{t}");
    }
    let count = |s: State| st.volumes.iter().filter(|v| v.states.contains(&s)).count();
    let _ = writeln!(
        out,
        "\n{} ok, {} stale, {} misconfigured, {} held, {} doubtful, {} contested -> {} (exit {})",
        count(State::Ok),
        count(State::Stale),
        count(State::Misconfigured),
        count(State::Held),
        count(State::Doubtful),
        count(State::Contested),
        match st.severity {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        },
        st.severity as u8
    );
    out
}

/// Every snapshot the next prune touches, one row each with its reasons (kept, adopted,
/// held, deferred, deleted), volume by volume, then the totals.
pub fn plan(reports: &[VolumeReport], bad: &[MisconfiguredVolume]) -> String {
    let mut out = String::new();
    for r in reports {
        let _ = writeln!(
            out,
            "{} ({}): keep {}, delete {}{}{}{}",
            r.volume_id,
            r.policy,
            r.kept.len(),
            r.deleted.len(),
            count(", adopt", r.adopted.len()),
            count(", deferred", r.deferred.len()),
            r.held.as_ref().map_or(String::new(), |h| format!(
                ", HELD {}: {}",
                h.would_delete, h.why
            ))
        );
        let mut t = table(&["SNAPSHOT", "ACTION", "WHY"]);
        for row in explain::rows(r) {
            t.add_row(vec![
                row.snapshot_id,
                action(&row.action).to_string(),
                row.reasons.join(", "),
            ]);
        }
        let _ = writeln!(out, "{t}");
        for d in &r.copies {
            let _ = writeln!(out, "{}", copies_line(d));
        }
        let _ = writeln!(out);
    }
    for m in bad {
        let _ = writeln!(
            out,
            "{}: misconfigured, nothing deleted: {}",
            m.volume_id, m.error
        );
    }
    let sum = |f: fn(&VolumeReport) -> usize| reports.iter().map(f).sum::<usize>();
    let _ = writeln!(
        out,
        "{} volumes: keep {}, delete {}, held {}, adopt {}, deferred {}",
        reports.len(),
        sum(|r| r.kept.len()),
        sum(|r| r.deleted.len()),
        sum(|r| r.held_back.len()),
        sum(|r| r.adopted.len()),
        sum(|r| r.deferred.len()),
    );
    out
}

fn count(label: &str, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("{label} {n}")
    }
}

/// A row's action as the table shows it (the JSON carries the same kebab-case name).
fn action(v: &Verdict) -> &'static str {
    match v {
        Verdict::Keep => "keep",
        Verdict::Adopt => "adopt+keep",
        Verdict::Held => "held",
        Verdict::Deferred => "deferred",
        Verdict::Delete => "delete",
        Verdict::Skipped => "skipped",
        Verdict::Unplanned => "-",
    }
}

/// `plan --output json`: each volume's report with a row per snapshot it touches.
#[derive(serde::Serialize)]
pub struct PlannedVolume<'a> {
    #[serde(flatten)]
    pub report: &'a VolumeReport,
    pub snapshots: Vec<explain::PlanRow>,
}

/// One destination of a volume's plan: what is copied, left, kept and deleted there.
fn copies_line(d: &ebs_gens::app::copies::DestinationReport) -> String {
    if let Some(e) = &d.error {
        return format!("  copies: not planned: {e}");
    }
    let ids = |v: &[String]| {
        v.iter()
            .map(|s| s.split(' ').next().unwrap_or(s))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = vec![format!("keep {}", d.kept.len())];
    if !d.copied.is_empty() {
        parts.push(format!("copy {}", ids(&d.copied)));
    }
    if !d.deferred.is_empty() {
        parts.push(format!("later (20 in flight) {}", d.deferred.join(", ")));
    }
    for i in &d.deleted {
        parts.push(format!(
            "delete {} ({})",
            i.snapshot_id,
            i.reasons.join(", ")
        ));
    }
    if let Some(s) = &d.stale {
        parts.push(format!("STALE: {s}"));
    }
    for f in &d.failed {
        parts.push(format!("FAILED: {f}"));
    }
    format!("  copies in {}: {}", d.region, parts.join("; "))
}

pub fn planned(reports: &[VolumeReport]) -> Vec<PlannedVolume<'_>> {
    reports
        .iter()
        .map(|report| PlannedVolume {
            report,
            snapshots: explain::rows(report),
        })
        .collect()
}

pub fn explain(e: &ebs_gens::app::explain::Explained) -> String {
    let s = &e.snapshot;
    let mut out = String::new();
    let tag = |k: &str| s.tag(k).unwrap_or("-").to_string();
    let _ = writeln!(out, "snapshot     {}", s.id);
    if let Some(region) = &e.region {
        let _ = writeln!(out, "copy in      {region}");
        let _ = writeln!(out, "copy of      {}", tag(ebs_gens::copies::TAG_COPY_OF));
        let _ = writeln!(out, "volume       {}", tag(ebs_gens::snapshot::TAG_VOLUME));
    } else {
        let _ = writeln!(out, "volume       {}", s.volume_id);
    }
    let _ = writeln!(
        out,
        "started      {}",
        s.start_time.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let _ = writeln!(out, "state        {}", s.state);
    let _ = writeln!(
        out,
        "managed-by   {}",
        tag(ebs_gens::snapshot::TAG_MANAGED_BY)
    );
    let _ = writeln!(
        out,
        "made under   {}",
        e.made_under.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "volume now   {}", e.volume_policy);
    if let Some(o) = e.orphaned {
        let _ = writeln!(out, "orphaned     {o}");
    }
    let _ = writeln!(
        out,
        "verdict      {}",
        serde_json::to_value(&e.verdict)
            .ok()
            .and_then(|v| v.as_str().map(str::to_uppercase))
            .unwrap_or_default()
    );
    for r in &e.reasons {
        let _ = writeln!(out, "  because    {r}");
    }
    out
}

pub fn execution(e: &Execution) -> String {
    let mut out = format!("{}\nstatus: {}\n", e.arn, e.status);
    if let Some(o) = &e.output {
        let pretty = serde_json::from_str::<serde_json::Value>(o)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| o.clone());
        let _ = writeln!(out, "{pretty}");
    }
    if let (Some(err), cause) = (&e.error, &e.cause) {
        let _ = writeln!(out, "error: {err}: {}", cause.as_deref().unwrap_or(""));
    }
    out
}

pub fn sweep(s: &SweepSummary) -> String {
    let t = &s.totals;
    let mut out = format!(
        "sweep{}: volumes {}, misconfigured {}, adopted {}, kept {}, deleted {}, held {} ({} deletions), stale {}, orphaned {} snapshots of {} volumes, skipped {}, failed batches {}\n",
        if s.dry_run { " (dry run: nothing changed)" } else { "" },
        t.volumes, t.misconfigured, t.adopted, t.kept, t.deleted, t.held, t.deletions_held, t.stale,
        t.orphaned, t.orphan_volumes, t.skipped, t.failed_batches
    );
    for a in &t.attention {
        let _ = writeln!(out, "  {} {}: {}", a.volume_id, a.state, a.reason);
    }
    if let Some(e) = &s.schedules_error {
        let _ = writeln!(out, "  schedules not reconciled: {e}");
    }
    for e in &t.errors {
        let _ = writeln!(out, "  failed: {e}");
    }
    out
}

/// `restore` without --apply: what would be created, and why.
pub fn restore_plan(p: &ebs_gens::app::restore::RestorePlan) -> String {
    let mut out = restore_lines(p);
    let _ = writeln!(
        out,
        "\nNothing created. Run again with --apply to create it."
    );
    out
}

/// `restore --instance` without --apply: the set and each member's volume.
pub fn restore_set_plan(p: &ebs_gens::app::restore::SetRestorePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "restore of   {} (a whole set)", p.instance);
    let _ = writeln!(out, "set          {}", p.chosen.set);
    let _ = writeln!(out, "why          {}", p.chosen.why);
    let _ = writeln!(out, "zone         {}", p.zone);
    for v in &p.volumes {
        let _ = writeln!(out);
        out.push_str(&restore_lines(v));
        if let Some(d) = p.devices.get(&v.source_volume) {
            let _ = writeln!(out, "was attached {} as {d}", p.instance);
        }
    }
    let _ = writeln!(
        out,
        "\nNothing created. Run again with --apply to create the {} volumes (not attached: attach them together, as they were).",
        p.volumes.len()
    );
    out
}

fn restore_lines(p: &ebs_gens::app::restore::RestorePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "restore of   {}", p.source_volume);
    let _ = writeln!(out, "snapshot     {}", p.chosen.snapshot_id);
    let _ = writeln!(out, "why          {}", p.chosen.why);
    let _ = writeln!(out, "region/zone  {} / {}", p.region, p.zone);
    let from = serde_json::to_value(p.spec_from)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(out, "volume       {} (from the {from})", p.spec);
    let _ = writeln!(
        out,
        "encrypted    {}",
        match (&p.encrypted, &p.kms_key_id) {
            (true, Some(k)) => format!("yes, with {k}"),
            (true, None) => "yes".into(),
            (false, _) => "no".into(),
        }
    );
    if let Some((i, d)) = &p.attach {
        let _ = writeln!(out, "attach to    {i} as {d}");
    }
    let tags: Vec<String> = p.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(out, "tags         {}", tags.join(", "));
    for n in &p.notes {
        let _ = writeln!(out, "note         {n}");
    }
    out
}

/// `restore --apply`: what was created, and how to undo it.
pub fn restored(r: &ebs_gens::app::restore::Restored) -> String {
    let mut out = restore_lines(&r.plan);
    let _ = writeln!(
        out,
        "\ncreated      {} ({}, available after {:.0} s{})",
        r.volume_id,
        r.state,
        r.seconds_to_available,
        if r.attached { ", attached" } else { "" }
    );
    let _ = writeln!(out, "to undo:");
    for u in &r.undo {
        let _ = writeln!(out, "  {u}");
    }
    out
}

/// `drill` without --apply: what the next drill would do.
pub fn drill_plan(s: &ebs_gens::app::drill::DrillState) -> String {
    let mut out = String::from("The next restore drill (nothing created):\n");
    for n in &s.notes {
        let _ = writeln!(out, "  {n}");
    }
    if s.notes.is_empty() {
        let _ = writeln!(out, "  nothing to restore (drillVolumes is off, or no managed volume has a completed generation)");
    }
    for f in &s.failed {
        let _ = writeln!(out, "  FAILED: {f}");
    }
    out
}
