//! Whole lifecycles: spawn → watch → notify → cleanup for every result,
//! with the fake agent as the worker, and the invariants of SPEC §10.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "lifecycle/invariants.rs"]
mod invariants;

use std::fs;

use common::life::{Life, Spawned, gone, wait_gone};
use common::{PATIENCE, assert_fails, assert_ok, wait_until};
use orc_kernel::ids::Kind;
use orc_kernel::lock::Holder;
use orc_kernel::record::{Outcome, State};
use serde_json::json;

/// Spawn worker 7 in `mode`, watch it end with `result`, check the lock
/// (kept by the session, or free), clean up, and check nothing is left.
fn end_to_end(mode: &str, result: &str, keeps_lock: bool) -> serde_json::Value {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, mode);
    let w = env.spawn(7, &[]);
    let report = env.watch_one(7);
    assert_eq!(report["issue"], 7);
    assert_eq!(report["kind"], "worker");
    assert_eq!(report["result"], result, "{report}");
    let record = env.wait_until_settled(7);
    assert_eq!(
        record.result.map(|r| r.to_string()).as_deref(),
        Some(result)
    );
    assert_eq!(record.detail, report["detail"].as_str().unwrap());
    let lock = env.lock_record(7);
    if keeps_lock {
        let lock = lock.expect("the result keeps the lock");
        assert_eq!(
            lock.holder,
            Holder::Session {
                session: env.session_name()
            }
        );
        assert_eq!(lock.kept_by.as_deref(), Some(result));
    } else {
        assert_eq!(lock, None, "the result frees the lock");
    }
    assert!(w.worktree.is_dir(), "the worktree stays until cleanup");
    env.cleanup(7, &["--force"]);
    env.assert_nothing_left(&git);
    let ended: Vec<_> = env
        .events()
        .into_iter()
        .filter(|e| e["state"] == "TERMINATED" && e["event"] != "cleaned")
        .collect();
    assert_eq!(ended.len(), 1, "one ending event: {ended:?}");
    report
}

#[test]
fn merged() {
    let report = end_to_end("ok", "merged", false);
    assert_eq!(report["detail"], "fake PR for issue 7");
}

#[test]
fn ci_passed_keeps_the_lock_for_the_session() {
    let report = end_to_end("ci", "ci-passed", true);
    assert_eq!(report["detail"], "PR #7");
}

#[test]
fn failed() {
    let report = end_to_end("fail", "failed", false);
    assert_eq!(report["detail"], "fake-agent was told to fail");
}

#[test]
fn throttled_is_exit_75() {
    let report = end_to_end("throttle", "throttled", false);
    assert_eq!(
        report["detail"],
        "usage or rate limit; agent exited with code 75 without a result"
    );
}

#[test]
fn crashed_is_an_exit_without_a_result() {
    let report = end_to_end("crash", "crashed", false);
    assert_eq!(
        report["detail"],
        "agent exited with code 3 without a result"
    );
    let report = end_to_end("silent", "crashed", false);
    assert_eq!(
        report["detail"],
        "agent exited with code 0 without a result"
    );
}

#[test]
fn cancelled_by_a_cooperative_term() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "cooperative");
    env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.detail.starts_with("step"));
    assert_ok(&env.run("orc-signal", &["7", "TERM"]));
    let report = env.watch_one(7);
    assert_eq!(report["result"], "cancelled");
    let detail = report["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("stopped at step") && detail.ends_with(" on TERM"),
        "{detail}"
    );
    env.wait_until_settled(7);
    assert_eq!(env.lock_record(7), None);
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

/// Suspend the cooperative worker 7 and check what a suspension keeps.
fn suspend(env: &Life, attempt: u32, worktree: &std::path::Path) {
    env.wait_record(7, Kind::Worker, |r| {
        r.attempt == attempt && r.detail.starts_with("step")
    });
    assert_ok(&env.run("orc-signal", &["7", "SUSPEND"]));
    let report = env.watch_one(7);
    assert_eq!(report["result"], "suspended");
    let record = env.wait_until_settled(7);
    assert_eq!(record.state, State::Suspended);
    assert!(!record.is_terminal(), "suspended is not terminal");
    assert_eq!(record.result, Some(Outcome::Suspended));
    assert_eq!(record.attempt, attempt);
    let lock = env
        .lock_record(7)
        .expect("a suspended worker keeps its lock");
    assert_eq!(
        lock.holder,
        Holder::Session {
            session: env.session_name()
        }
    );
    assert_eq!(lock.kept_by.as_deref(), Some("suspended"));
    assert!(worktree.is_dir(), "the worktree is kept");
    let checkpoint = env.proc(7, Kind::Worker).checkpoint_path();
    let cp: serde_json::Value = serde_json::from_slice(&fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(cp["attempt"], attempt);
    assert!(cp["phase"].as_str().unwrap().starts_with("step"), "{cp}");
}

/// Check the resumed attempt: same worktree and branch, the lock held by
/// the new shim for the same session, the prompt pointing at the
/// checkpoint.
fn check_resumed(env: &Life, first: &Spawned, again: &Spawned, attempt: u32) {
    assert_eq!(again.json["attempt"], attempt);
    assert_eq!(again.worktree, first.worktree);
    assert_eq!(again.branch, first.branch);
    assert_ne!(again.shim, first.shim);
    let lock = env.lock_record(7).expect("the lock is reused");
    match lock.holder {
        Holder::Process { id } => assert_eq!(id.pid, again.shim),
        other => panic!("the new shim holds the lock, not {other:?}"),
    }
    assert_eq!(lock.session, env.session_name());
    assert_eq!(lock.kept_by, None);
    let checkpoint = env.proc(7, Kind::Worker).checkpoint_path();
    let wanted = format!("Read the checkpoint {} first", checkpoint.display());
    assert!(
        wait_until(PATIENCE, || env.log(7, Kind::Worker).contains(&wanted)),
        "the prompt points at the checkpoint: {}",
        env.log(7, Kind::Worker)
    );
    let record = env.record(7, Kind::Worker);
    assert_eq!(record.attempt, attempt);
}

#[test]
fn suspended_then_resumed_with_orc_ctl() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "cooperative");
    let first = env.spawn(7, &[]);
    suspend(&env, 1, &first.worktree);

    let mut resume = env.tool("orc-ctl");
    resume
        .env("FAKE_AGENT_ECHO_ARGS", "1")
        .args(["resume", "7"]);
    let again = env.spawn_cmd(&mut resume);
    check_resumed(&env, &first, &again, 2);

    // The resumed attempt ends: its checkpoint is retired.
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    assert_ok(&env.run("orc-signal", &["7", "TERM"]));
    assert_eq!(env.watch_one(7)["result"], "cancelled");
    env.wait_until_settled(7);
    let proc = env.proc(7, Kind::Worker);
    assert!(!proc.checkpoint_path().exists());
    assert!(proc.dir().join("checkpoint.2.retired.json").is_file());
    assert_eq!(env.lock_record(7), None);
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn suspended_then_resumed_with_orc_spawn_resume() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "cooperative");
    let first = env.spawn(7, &[]);
    suspend(&env, 1, &first.worktree);

    let mut resume = env.tool("orc-spawn");
    resume
        .env("FAKE_AGENT_ECHO_ARGS", "1")
        .args(["--resume", "7"]);
    let again = env.spawn_cmd(&mut resume);
    check_resumed(&env, &first, &again, 2);

    // Suspended again: the new checkpoint replaces the old, nothing retired.
    suspend(&env, 2, &first.worktree);
    let proc = env.proc(7, Kind::Worker);
    assert!(!proc.dir().join("checkpoint.2.retired.json").exists());
    let third = env.spawn(7, &["--resume"]);
    assert_eq!(third.json["attempt"], 3);
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn timeout_terminates_a_hanging_worker() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    env.spawn_cmd(
        env.tool("orc-spawn")
            .env("ORC_WORKER_TIMEOUT", "1")
            .env("ORC_TERM_GRACE", "1")
            .arg("7"),
    );
    let report = env.watch_one(7);
    assert_eq!(report["result"], "timeout");
    let detail = report["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("ran past ORC_WORKER_TIMEOUT (1s); agent "),
        "{detail}"
    );
    env.wait_until_settled(7);
    assert!(
        env.log(7, Kind::Worker)
            .contains("ran past ORC_WORKER_TIMEOUT (1s): SIGTERM to the agent's group")
    );
    assert_eq!(env.lock_record(7), None);
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn a_worker_that_reports_then_hangs_is_stopped_at_the_timeout_and_keeps_its_result() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "report-hang");
    env.spawn_cmd(
        env.tool("orc-spawn")
            .env("ORC_WORKER_TIMEOUT", "2")
            .env("ORC_TERM_GRACE", "1")
            .arg("7"),
    );
    let report = env.watch_one(7);
    assert_eq!(report["result"], "failed");
    // The shim exits: the agent that lingered after its result was stopped.
    let record = env.wait_until_settled(7);
    assert_eq!(record.result, Some(Outcome::Failed), "the result stays");
    assert_eq!(record.detail, "fake-agent reports, then never exits");
    let log = env.log(7, Kind::Worker);
    assert!(
        log.contains(
            "ran past ORC_WORKER_TIMEOUT (2s) after its result: SIGTERM to the agent's group"
        ),
        "{log}"
    );
    assert!(env.processes().is_empty(), "{:?}", env.processes());
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn an_ignored_term_is_escalated_to_sigterm_then_sigkill() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "ignore-term");
    let w = env.spawn_cmd(env.tool("orc-spawn").env("ORC_TERM_GRACE", "1").arg("7"));
    env.wait_record(7, Kind::Worker, |r| r.detail == "phase1:ignore-term");
    assert_ok(&env.run("orc-signal", &["7", "TERM"]));
    let report = env.watch_one(7);
    assert_eq!(
        report,
        json!({"issue": 7, "kind": "worker", "result": "killed",
               "detail": "no result 1s after a signal; agent killed by SIGKILL",
               "via": report["via"]})
    );
    let record = env.wait_until_settled(7);
    assert_eq!(record.exit, Some(137));
    let log = env.log(7, Kind::Worker);
    let term = log
        .find("no result 1s after a signal: SIGTERM to the agent's group")
        .expect("SIGTERM first");
    let kill = log
        .find("grace period over: SIGKILL to the agent's group")
        .expect("then SIGKILL");
    assert!(term < kill, "{log}");
    assert!(gone(w.pid));
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn kill_stops_a_worker_now() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    assert_ok(&env.run("orc-signal", &["7", "KILL"]));
    // Recorded before orc-signal returns.
    let record = env.record(7, Kind::Worker);
    assert_eq!(record.result, Some(Outcome::Killed));
    assert_eq!(record.detail, "killed by orc-signal KILL");
    wait_gone(w.pid);
    wait_gone(w.shim);
    assert_eq!(env.watch_one(7)["result"], "killed");
    assert_eq!(env.lock_record(7), None);
    let out = env.run("orc-signal", &["7", "TERM"]);
    assert_fails(
        &out,
        1,
        "orc-signal: error: worker 7 is not running (state TERMINATED)",
    );
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}
