//! `blocked` is a result: a headless agent that ends with tools refused
//! for permission ends `blocked` (naming the tool), not `crashed`; a worker
//! that waits on a permission prompt for longer than `ORC_BLOCKED_AFTER`
//! is reported `blocked` by `orc-watch` while it keeps running.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use common::life::{Life, gone};
use common::{PATIENCE, assert_ok, run, wait_until};
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};
use serde_json::Value;

#[test]
fn a_headless_run_ended_by_a_permission_denial_is_blocked_not_crashed() {
    let env = Life::new();
    env.issue(7, "denied");
    let w = env.spawn(7, &[]);
    let report = env.watch_one(7);
    assert_eq!(report["result"], "blocked", "{report}");
    assert_eq!(
        report["detail"],
        "permission denied: Bash; agent exited with code 0 without a result"
    );
    let record = env.record(7, Kind::Worker);
    assert_eq!(record.result, Some(Outcome::Blocked));
    assert_eq!(record.exit, Some(0));
    assert!(
        wait_until(PATIENCE, || env.held_locks().is_empty() && gone(w.shim)),
        "the lock is released and the shim is gone"
    );
    env.cleanup(7, &["--force"]);
    env.assert_no_processes();
}

/// `orc-watch 7` with `ORC_BLOCKED_AFTER` and a timeout.
fn watch(env: &Life, after: &str) -> std::process::Output {
    run(env
        .tool("orc-watch")
        .env("ORC_BLOCKED_AFTER", after)
        .args(["--timeout", "0.5", "7"]))
}

#[test]
fn a_worker_on_a_prompt_past_orc_blocked_after_is_reported_and_keeps_running() {
    let env = Life::new();
    env.issue(7, "prompt");
    let w = env.spawn(7, &[]);
    let log = env.proc(7, Kind::Worker).log_path();
    assert!(wait_until(PATIENCE, || env
        .log(7, Kind::Worker)
        .contains("Do you want to proceed?")));

    // Blocked, but not for long enough yet: the watch times out.
    let out = watch(&env, "3600");
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    assert!(out.stdout.is_empty());

    // The prompt has waited two minutes (nothing was written since).
    let file = std::fs::File::options().append(true).open(&log).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    let out = watch(&env, "60");
    let report: Value = serde_json::from_str(assert_ok(&out).trim()).unwrap();
    assert_eq!(report["result"], "blocked", "{report}");
    assert_eq!(report["via"], "health");
    let detail = report["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("waiting on a permission prompt: Do you want to proceed? (for 1"),
        "{detail}"
    );
    assert!(detail.ends_with("s; still running)"), "{detail}");
    // It keeps running: the record and the processes are untouched.
    assert_eq!(env.record(7, Kind::Worker).state, State::Running);
    assert!(!gone(w.shim) && !gone(w.pid));
    env.cleanup(7, &["--force"]);
    env.assert_no_processes();
}
