//! Keeps `statemachine/*.asl.json` and the Rust error names in step: every `ErrorEquals` name
//! is one we emit (or a Step Functions / Lambda name), every Lambda task retries the transient
//! names with exponential backoff and jitter and ends in a `States.ALL` catch, and every
//! transition names a state that exists.

use std::collections::BTreeSet;

use ebs_gens::contract::{
    function_by_placeholder, EVENT_PATH_BUDGET_SECONDS, EVENT_PRUNE_DEADLINE_SECONDS,
    EVENT_TASK_MARGIN_SECONDS, LAMBDA_TRANSIENT, STATE_MACHINES, TASK_TIMEOUT_MARGIN_SECONDS,
};
use ebs_gens::ErrorName;
use serde_json::Value;

fn definitions() -> Vec<(String, Value)> {
    let dir = format!("{}/../statemachine", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".asl.json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            out.push((p.file_name().unwrap().to_string_lossy().to_string(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 2, "expected both state machines in {dir}");
    out
}

/// Calls `f(name, state)` for every state, descending into Map and Parallel.
fn walk<'a>(machine: &'a Value, f: &mut dyn FnMut(&'a str, &'a Value, &'a Value)) {
    let states = machine["States"].as_object().expect("States");
    for (name, st) in states {
        f(name, st, machine);
        if let Some(p) = st.get("ItemProcessor").or_else(|| st.get("Iterator")) {
            walk(p, f);
        }
        if let Some(branches) = st.get("Branches").and_then(Value::as_array) {
            for b in branches {
                walk(b, f);
            }
        }
    }
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

#[test]
fn error_names_match_the_rust_table() {
    let ours: BTreeSet<&str> = ErrorName::ALL.iter().map(|n| n.as_str()).collect();
    for (file, def) in definitions() {
        walk(&def, &mut |name, st, _| {
            for key in ["Retry", "Catch"] {
                for rule in st.get(key).and_then(Value::as_array).into_iter().flatten() {
                    for n in names(&rule["ErrorEquals"]) {
                        let known = ours.contains(n)
                            || LAMBDA_TRANSIENT.contains(&n)
                            || n.starts_with("States.");
                        assert!(
                            known,
                            "{file}: {name}: ErrorEquals {n:?} is not an error name we emit"
                        );
                    }
                }
            }
            // Retry only what retrying can fix.
            for rule in st
                .get("Retry")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for n in names(&rule["ErrorEquals"]) {
                    if let Some(e) = ErrorName::ALL.iter().find(|e| e.as_str() == n) {
                        assert!(
                            e.retryable(),
                            "{file}: {name} retries {n}, which retrying cannot fix"
                        );
                    }
                    assert_ne!(n, "States.ALL", "{file}: {name} retries States.ALL");
                }
            }
        });
    }
}

#[test]
fn every_lambda_task_has_the_retry_policy_and_a_final_catch() {
    let retryable: Vec<&str> = ErrorName::ALL
        .iter()
        .filter(|e| e.retryable())
        .map(|e| e.as_str())
        .collect();
    let mut tasks = 0;
    for (file, def) in definitions() {
        walk(&def, &mut |name, st, _| {
            if st["Type"] != "Task" {
                return;
            }
            tasks += 1;
            assert_eq!(
                st["Resource"], "arn:aws:states:::lambda:invoke",
                "{file}: {name}"
            );
            // An explicit timeout from the contract: the function's own timeout plus a margin
            // (the States Language default of 60 s would abandon a slow prune mid-batch).
            let placeholder = st["Parameters"]["FunctionName"]
                .as_str()
                .and_then(|f| f.strip_prefix("${"))
                .and_then(|f| f.strip_suffix('}'))
                .unwrap_or_else(|| panic!("{file}: {name}: FunctionName is not a placeholder"));
            let f = function_by_placeholder(placeholder)
                .unwrap_or_else(|| panic!("{file}: {name}: unknown function {placeholder}"));
            // On the event path the prune's deadline comes from its input instead (its Lambda
            // timeout serves the sweep), and tag-snapshot's own timeout bounds it.
            let expected = match (file.as_str(), f.name) {
                ("snapshot-completed.asl.json", "prune-volumes") => {
                    EVENT_PRUNE_DEADLINE_SECONDS + TASK_TIMEOUT_MARGIN_SECONDS
                }
                ("snapshot-completed.asl.json", _) => f.timeout_seconds + EVENT_TASK_MARGIN_SECONDS,
                _ => f.task_timeout_seconds(),
            };
            assert_eq!(
                st["TimeoutSeconds"].as_u64(),
                Some(u64::from(expected)),
                "{file}: {name}: TimeoutSeconds must be {expected} for {} (contract)",
                f.name
            );
            let (_, allowed) = STATE_MACHINES
                .iter()
                .find(|(n, _)| *n == file)
                .unwrap_or_else(|| panic!("{file} is not in the contract"));
            assert!(
                allowed.contains(&placeholder),
                "{file}: {name}: {placeholder} not in the contract"
            );
            let retry = st["Retry"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: {name} has no Retry"));
            let covered: BTreeSet<&str> = retry
                .iter()
                .flat_map(|r| names(&r["ErrorEquals"]))
                .collect();
            for n in LAMBDA_TRANSIENT.iter().chain(&retryable) {
                assert!(covered.contains(n), "{file}: {name} does not retry {n}");
            }
            for r in retry {
                let backoff = r["BackoffRate"].as_f64().unwrap_or(2.0);
                assert!(
                    backoff > 1.0,
                    "{file}: {name}: BackoffRate {backoff} is not exponential"
                );
                // The sweep retries at least twice; the event path at least once, within its
                // budget (the sweep catches up what it leaves).
                let least = if file == "sweep.asl.json" { 2 } else { 1 };
                assert!(
                    r["MaxAttempts"].as_u64().unwrap_or(3) >= least,
                    "{file}: {name}: MaxAttempts"
                );
                assert_eq!(r["JitterStrategy"], "FULL", "{file}: {name}: no jitter");
                assert!(r["IntervalSeconds"].as_u64().unwrap_or(1) >= 1);
            }
            let catch = st["Catch"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: {name} has no Catch"));
            let last = catch.last().unwrap();
            assert_eq!(
                names(&last["ErrorEquals"]),
                vec!["States.ALL"],
                "{file}: {name}: last Catch must be States.ALL"
            );
            assert!(
                last.get("ResultPath").is_some(),
                "{file}: {name}: the Catch must keep the error for the Fail state"
            );
        });
    }
    assert!(tasks >= 6, "found only {tasks} Lambda tasks");
}

#[test]
fn transitions_name_existing_states_and_fail_states_carry_a_cause() {
    for (file, def) in definitions() {
        fn check(file: &str, machine: &Value) {
            let states = machine["States"].as_object().unwrap();
            let start = machine["StartAt"].as_str().unwrap();
            assert!(
                states.contains_key(start),
                "{file}: StartAt {start} missing"
            );
            for (name, st) in states {
                let mut targets: Vec<&str> = Vec::new();
                targets.extend(st.get("Next").and_then(Value::as_str));
                targets.extend(st.get("Default").and_then(Value::as_str));
                for c in st
                    .get("Choices")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    targets.extend(c.get("Next").and_then(Value::as_str));
                }
                for c in st
                    .get("Catch")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    targets.extend(c.get("Next").and_then(Value::as_str));
                }
                for t in targets {
                    assert!(
                        states.contains_key(t),
                        "{file}: {name} goes to missing state {t}"
                    );
                }
                if st["Type"] == "Fail" {
                    assert!(
                        st.get("Cause").or_else(|| st.get("CausePath")).is_some(),
                        "{file}: {name} has no cause"
                    );
                    assert!(
                        st.get("Error").or_else(|| st.get("ErrorPath")).is_some(),
                        "{file}: {name} has no error"
                    );
                }
                if let Some(p) = st.get("ItemProcessor").or_else(|| st.get("Iterator")) {
                    check(file, p);
                }
            }
        }
        check(&file, &def);
    }
}

/// The longest a Task can run, retries included: every attempt up to its TimeoutSeconds and
/// every retry's longest back-off (IntervalSeconds × BackoffRate^n, at most MaxDelaySeconds).
fn task_worst_case_seconds(st: &Value) -> f64 {
    let timeout = st["TimeoutSeconds"].as_f64().unwrap_or(60.0);
    let mut attempts = 1.0;
    let mut waits = 0.0;
    for r in st["Retry"].as_array().into_iter().flatten() {
        let n = r["MaxAttempts"].as_u64().unwrap_or(3);
        let rate = r["BackoffRate"].as_f64().unwrap_or(2.0);
        let cap = r["MaxDelaySeconds"].as_f64().unwrap_or(f64::INFINITY);
        let mut interval = r["IntervalSeconds"].as_f64().unwrap_or(1.0);
        for _ in 0..n {
            attempts += 1.0;
            waits += interval.min(cap);
            interval *= rate;
        }
    }
    attempts * timeout + waits
}

#[test]
fn the_event_path_ends_within_its_budget_and_the_prune_within_its_deadline() {
    let defs = definitions();
    let event = &defs
        .iter()
        .find(|(f, _)| f == "snapshot-completed.asl.json")
        .unwrap()
        .1;
    let mut total = 0.0;
    for (name, st) in event["States"].as_object().unwrap() {
        assert_ne!(st["Type"], "Wait", "{name}: the event path does not wait");
        if st["Type"] == "Task" {
            total += task_worst_case_seconds(st);
        }
    }
    assert!(
        total <= f64::from(EVENT_PATH_BUDGET_SECONDS),
        "the event path can run {total} s, over its {EVENT_PATH_BUDGET_SECONDS} s budget"
    );
    let prune = &event["States"]["PruneVolume"];
    assert_eq!(
        prune["Parameters"]["Payload"]["deadline_seconds"].as_u64(),
        Some(u64::from(EVENT_PRUNE_DEADLINE_SECONDS)),
        "the event path's prune takes its deadline from its input"
    );
}

#[test]
fn the_sweep_map_is_bounded() {
    let defs = definitions();
    let sweep = &defs.iter().find(|(f, _)| f == "sweep.asl.json").unwrap().1;
    let map = &sweep["States"]["PruneBatches"];
    assert_eq!(map["Type"], "Map");
    let c = map["MaxConcurrency"].as_u64().unwrap();
    assert!((1..=40).contains(&c), "inline Map concurrency {c}");
}

/// The sweep's copy rounds (copies left for AWS's 20 in flight) are bounded, never run in a dry
/// run, skip the orphan scan, and end well inside the default hourly sweep interval, so two
/// sweeps do not copy at once.
#[test]
fn the_copy_rounds_are_bounded_and_never_in_a_dry_run() {
    let defs = definitions();
    let sweep = &defs.iter().find(|(f, _)| f == "sweep.asl.json").unwrap().1;
    let s = &sweep["States"];
    let more = &s["MoreCopies"]["Choices"][0]["And"];
    let cond = |var: &str| {
        more.as_array()
            .unwrap()
            .iter()
            .find(|c| c["Variable"] == var)
            .unwrap_or_else(|| panic!("MoreCopies checks {var}"))
            .clone()
    };
    assert_eq!(cond("$.args.dry_run")["BooleanEquals"], false);
    assert_eq!(
        cond("$.result.summary.copies_deferred")["NumericGreaterThan"],
        0
    );
    let rounds = cond("$.pump.round")["NumericLessThan"].as_u64().unwrap();
    let wait = s["WaitForCopySlots"]["Seconds"].as_u64().unwrap();
    assert!((1..=6).contains(&rounds), "{rounds} copy rounds");
    assert!(
        rounds * wait <= 45 * 60,
        "{rounds} rounds of {wait} s run into the next hourly sweep"
    );
    assert_eq!(s["WaitForCopySlots"]["Next"], "CopyRound");
    assert_eq!(
        s["CopyRound"]["Next"], "FirstPage",
        "a copy round skips EnsureSchedules"
    );
    assert_eq!(s["OrphansThisRound"]["Choices"][0]["Next"], "LastFold");
    for args in [
        "DefaultArgs",
        "ArgsFromInput",
        "AllArgsFromInput",
        "BulkArgFromInput",
    ] {
        assert_eq!(
            s[args]["Parameters"]["pump"]["round"], 0,
            "{args} starts at round 0"
        );
    }
}
