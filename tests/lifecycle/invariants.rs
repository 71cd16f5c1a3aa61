//! What must hold (SPEC section 10): capacity under a race, crashes
//! learned at once, a doorbell nobody hears, sessions kept apart.

use std::fs;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::common::life::{
    Life, Streaming, add_issue, add_issue_in, git_state, json_lines, stderr, wait_gone,
};
use crate::common::{assert_fails, assert_ok, run};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};
use serde_json::json;

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
    let rows = json_lines(&ps);
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
    wait_gone(w.pid);
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
        let rows = json_lines(&assert_ok(&run(
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
    assert_eq!(json_lines(&assert_ok(&out))[0]["detail"], "a gave up");
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
