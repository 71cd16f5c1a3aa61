//! Whole lifecycles: spawn → watch → notify → cleanup for every result,
//! with the fake agent as the worker, and the invariants of SPEC §10.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::life::{Life, Spawned, Streaming, add_issue, add_issue_in, git_state, stderr};
use common::{PATIENCE, assert_fails, assert_ok, run, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
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
    assert!(common::life::gone(w.pid));
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
    common::life::wait_gone(w.pid);
    common::life::wait_gone(w.shim);
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

// SPEC §10: what must hold.

#[test]
fn fifty_simultaneous_spawns_with_a_limit_of_three() {
    let env = Life::new();
    for n in 1..=50 {
        add_issue(&env, n, &format!("Racer {n}"), "hang");
    }
    let git = env.git_state();
    let start = Barrier::new(50);
    let outputs: Vec<(u32, std::process::Output)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=50u32)
            .map(|n| {
                let mut cmd = env.tool("orc-spawn");
                cmd.env("ORC_MAX_WORKERS", "3").arg(n.to_string());
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    (n, run(&mut cmd))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let odd: Vec<String> = outputs
        .iter()
        .filter(|(_, o)| !matches!(o.status.code(), Some(0 | 4)))
        .map(|(n, o)| format!("{n}: {:?} {}", o.status.code(), stderr(o)))
        .collect();
    assert!(
        odd.is_empty(),
        "every spawn starts or is at capacity: {odd:#?}"
    );
    let winners: Vec<u32> = outputs
        .iter()
        .filter(|(_, o)| o.status.code() == Some(0))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 3, "exactly three start: {winners:?}");
    let full = format!(
        "orc-spawn: error: session {} already runs 3 of ORC_MAX_WORKERS=3 workers",
        env.session_name()
    );
    for (n, out) in outputs.iter().filter(|(n, _)| !winners.contains(n)) {
        assert_fails(out, 4, &full);
        assert!(
            stderr(out).contains("hint: wait with orc-watch --any, or raise ORC_MAX_WORKERS"),
            "worker {n}: {}",
            stderr(out)
        );
    }
    let ps = assert_ok(&env.run("orc-ps", &["--json"]));
    let rows = common::life::json_lines(&ps);
    let mut listed: Vec<u32> = rows
        .iter()
        .map(|r| r["issue"].as_u64().unwrap() as u32)
        .collect();
    listed.sort();
    assert_eq!(listed, winners, "only the winners have records");
    assert_eq!(env.held_locks().len(), 3, "only the winners hold locks");

    for n in &winners {
        env.cleanup(*n, &[]);
    }
    env.assert_nothing_left(&git);
}

#[test]
fn an_agent_killed_with_sigkill_is_reported_crashed_at_once() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    // A watcher with a poll interval far beyond the test: only the
    // doorbell can tell it in time.
    let watch = Streaming::start(
        env.tool("orc-watch")
            .env("ORC_POLL_INTERVAL", "3600")
            .args(["--timeout", "25", "7"]),
    );
    watch.wait_for_open(&w.wake);
    let killed = Instant::now();
    kill(Pid::from_raw(w.pid), Signal::SIGKILL).unwrap();
    let report = watch.next_json();
    assert!(killed.elapsed() < Duration::from_secs(10), "at once");
    assert_eq!(
        report,
        json!({"issue": 7, "kind": "worker", "result": "crashed",
               "detail": "agent killed by SIGKILL", "via": "wake"})
    );
    let (status, _, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    // The lock is settled before the doorbell rings.
    assert_eq!(env.lock_record(7), None, "the lock is free");
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn a_shim_killed_with_sigkill_is_reported_crashed_within_a_poll() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    let watch = Streaming::start(env.tool("orc-watch").env("ORC_POLL_INTERVAL", "1").args([
        "--timeout",
        "25",
        "7",
    ]));
    watch.wait_for_open(&w.wake);
    let killed = Instant::now();
    kill(Pid::from_raw(w.shim), Signal::SIGKILL).unwrap();
    let report = watch.next_json();
    // One poll interval, with room for a busy machine.
    assert!(killed.elapsed() < Duration::from_secs(10), "within a poll");
    assert_eq!(
        report,
        json!({"issue": 7, "kind": "worker", "result": "crashed",
               "detail": format!("the shim (pid {}) died", w.shim), "via": "exit"})
    );
    let (status, _, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    // The agent went with its shim.
    common::life::wait_gone(w.pid);
    assert_eq!(env.lock_record(7), None, "the lock is free");
    env.cleanup(7, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn notify_with_nobody_watching_returns_at_once_and_loses_nothing() {
    let env = Life::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    env.seed_session_lock(7);
    let started = Instant::now();
    let out = run(env
        .worker_cmd("orc-notify", 7, Kind::Worker)
        .args(["ci-passed", "PR #9"]));
    assert_ok(&out);
    assert!(started.elapsed() < Duration::from_secs(10), "at once");
    let record = env.record(7, Kind::Worker);
    assert_eq!(
        (record.state, record.result, record.detail.as_str()),
        (State::Terminated, Some(Outcome::CiPassed), "PR #9")
    );
    let events = env.events();
    assert_eq!(events.last().unwrap()["event"], "notify");
    // A watcher that comes later learns it from the record.
    assert_eq!(
        env.watch(&["7"]),
        vec![json!({"issue": 7, "kind": "worker", "result": "ci-passed",
                    "detail": "PR #9", "via": "record"})]
    );
}

#[test]
fn two_sessions_never_see_each_other_s_workers() {
    let env = Life::new();
    let repo_a = env.repo.clone();
    let repo_b = env.other_repo("other");
    add_issue(&env, 7, "Same number in A", "hang");
    add_issue_in(&repo_b, 7, "Same number in B", "hang");
    let git_a = env.git_state();
    let git_b = git_state(&env, &repo_b);
    let in_session = |name: &str, repo: &std::path::Path, tool: &str| {
        let mut cmd = env.tool(tool);
        cmd.env("ORC_SESSION", name).current_dir(repo);
        cmd
    };
    let a = env.spawn_cmd(in_session("a", &repo_a, "orc-spawn").arg("7"));
    let b = env.spawn_cmd(in_session("b", &repo_b, "orc-spawn").arg("7"));
    assert_eq!(
        (a.json["session"].as_str(), b.json["session"].as_str()),
        (Some("a"), Some("b"))
    );
    assert!(a.worktree.starts_with(&repo_a) && b.worktree.starts_with(&repo_b));

    for (name, repo, w) in [("a", &repo_a, &a), ("b", &repo_b, &b)] {
        let rows = common::life::json_lines(&assert_ok(&run(
            in_session(name, repo, "orc-ps").arg("--json")
        )));
        assert_eq!(rows.len(), 1, "session {name}: {rows:?}");
        assert_eq!(rows[0]["session"], name);
        assert_eq!(rows[0]["worktree"], w.worktree.to_str().unwrap());
    }
    // Ending a's worker is news in a only.
    assert_ok(&run(in_session("a", &repo_a, "orc-notify")
        .env("ORC_ISSUE", "7")
        .args(["failed", "a gave up"])));
    let out = run(in_session("a", &repo_a, "orc-watch").args(["--timeout", "25", "7"]));
    assert_eq!(
        common::life::json_lines(&assert_ok(&out))[0]["detail"],
        "a gave up"
    );
    let out = run(in_session("b", &repo_b, "orc-watch").args(["--timeout", "0.3", "7"]));
    assert_eq!(out.status.code(), Some(124), "b's worker still runs");
    assert_eq!(stderr(&out), "", "a timeout is not an error");
    // Killing b's worker leaves a's record as it is.
    assert_ok(&run(
        in_session("b", &repo_b, "orc-signal").args(["7", "KILL"])
    ));
    let state_a = env.state.join("sessions/a/procs/worker-7/state.json");
    let record_a: serde_json::Value = serde_json::from_slice(&fs::read(&state_a).unwrap()).unwrap();
    assert_eq!(record_a["result"], "failed");
    // Cleaning up a leaves b alone.
    assert_ok(&run(in_session("a", &repo_a, "orc-cleanup").arg("7")));
    assert!(b.worktree.is_dir());
    assert!(
        env.state
            .join("sessions/b/procs/worker-7/state.json")
            .is_file()
    );
    assert_ok(&run(in_session("b", &repo_b, "orc-cleanup").arg("7")));
    assert_eq!(env.git_state(), git_a);
    assert_eq!(git_state(&env, &repo_b), git_b);
    env.assert_no_processes();
}
