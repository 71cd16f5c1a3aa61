//! orc-watch: one JSON line per worker as each ends, `--any`, `--timeout`,
//! `--follow`, and its refusals. Workers here are seeded records ended by
//! the worker-side tools, so the order of events is the test's to choose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "watch/disk_full.rs"]
mod disk_full;
#[path = "watch/never_hangs.rs"]
mod never_hangs;

use std::fs;
use std::time::{Duration, Instant};

use common::life::{Life, Streaming, json_lines, stderr};
use common::{BAD_ISSUES, KillOnDrop, PATIENCE, assert_fails, assert_ok, process_holder, run};
use orc_kernel::ids::Kind;
use orc_kernel::procdir::ShimIds;
use orc_kernel::record::State;
use serde_json::json;

/// `orc-notify RESULT DETAIL` as worker `n` would run it.
fn notify(env: &Life, n: u32, result: &str, detail: &str) {
    assert_ok(&run(env
        .worker_cmd("orc-notify", n, Kind::Worker)
        .args([result, detail])));
}

/// Seed worker `n` RUNNING with a live stand-in for its shim, so only its
/// record (or the stand-in's death) can end it.
fn running_with_shim(env: &Life, n: u32) -> KillOnDrop {
    let shim = KillOnDrop::sleeper();
    let proc = env.seed_worker(n, Kind::Worker, State::Running);
    let ids = ShimIds {
        shim: process_holder(shim.id()).process().unwrap(),
        agent: None,
    };
    proc.write_shim(&ids).unwrap();
    shim
}

#[test]
fn a_worker_that_already_ended_is_reported_at_once_from_its_record() {
    let env = Life::new();
    env.seed_worker_with(7, Kind::Worker, State::Terminated, |r| {
        r.detail = "tests do not build".to_string();
    });
    let started = Instant::now();
    let lines = env.watch(&["7"]);
    assert!(started.elapsed() < PATIENCE / 2, "at once");
    assert_eq!(
        lines,
        vec![json!({"issue": 7, "kind": "worker", "result": "failed",
                    "detail": "tests do not build", "via": "record"})]
    );
    // A suspended worker has ended this attempt too.
    env.seed_worker(8, Kind::Worker, State::Suspended);
    assert_eq!(env.watch(&["8"])[0]["result"], "suspended");
}

#[test]
fn lines_come_as_each_worker_ends_in_that_order() {
    let env = Life::new();
    let _shims: Vec<_> = (1..=3).map(|n| running_with_shim(&env, n)).collect();
    let watch = Streaming::start(env.tool("orc-watch").env("ORC_POLL_INTERVAL", "600").args([
        "--timeout",
        "25",
        "1",
        "2",
        "3",
    ]));
    // The watcher waits on every doorbell; nothing has ended, nothing is
    // printed.
    for n in 1..=3 {
        watch.wait_for_open(&env.proc(n, Kind::Worker).wake_path());
    }
    assert_eq!(watch.try_line(), None);
    for (n, result) in [(2, "failed"), (3, "merged"), (1, "cancelled")] {
        notify(&env, n, result, &format!("worker {n} ended"));
        // Each line arrives before the next worker ends: as it happens,
        // rung by the worker's doorbell (the poll interval is long).
        let line = watch.next_json();
        assert_eq!(
            line,
            json!({"issue": n, "kind": "worker", "result": result,
                   "detail": format!("worker {n} ended"), "via": "wake"})
        );
    }
    let (status, rest, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn any_returns_at_the_first_to_end() {
    let env = Life::new();
    let _shims: Vec<_> = (1..=3).map(|n| running_with_shim(&env, n)).collect();
    let watch =
        Streaming::start(
            env.tool("orc-watch")
                .args(["--any", "--timeout", "25", "1", "2", "3"]),
        );
    notify(&env, 2, "ci-passed", "PR #2");
    let (status, _, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    // With --any, the line is the only output.
    let env_lines = env.watch(&["--any", "1", "2", "3"]);
    assert_eq!(env_lines.len(), 1);
    assert_eq!(env_lines[0]["issue"], 2);
    assert_eq!(env_lines[0]["via"], "record");
    for n in [1, 3] {
        assert_eq!(env.record(n, Kind::Worker).state, State::Running);
    }
}

#[test]
fn a_timeout_exits_124_and_leaves_the_records_alone() {
    let env = Life::new();
    let _shim = running_with_shim(&env, 7);
    let proc = env.proc(7, Kind::Worker);
    let before = fs::read(proc.state_path()).unwrap();
    let snapshot = env.snapshot();
    let started = Instant::now();
    let out = run(env.tool("orc-watch").args(["--timeout", "0.5", "7"]));
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        out.stdout.is_empty(),
        "no report for a worker still running"
    );
    assert_eq!(stderr(&out), "", "a timeout is not an error");
    assert_eq!(fs::read(proc.state_path()).unwrap(), before);
    snapshot.assert_same(&env.snapshot());
}

#[test]
fn follow_streams_the_session_s_events() {
    let env = Life::new();
    let _shim = running_with_shim(&env, 7);
    let _other = running_with_shim(&env, 8);
    let follow = Streaming::start(
        env.tool("orc-watch")
            .args(["--follow", "--timeout", "25", "7"]),
    );
    // The stream starts at the end of the log: report phases until one
    // shows, so the follower is known to be reading.
    let mut step = 0;
    let first = loop {
        step += 1;
        assert!(step < 500, "orc-watch --follow printed nothing");
        let out = run(env
            .worker_cmd("orc-state", 7, Kind::Worker)
            .args(["RUNNING", &format!("step{step}")]));
        assert_ok(&out);
        if let Some(line) = follow.line_within(Duration::from_millis(50)) {
            break line;
        }
    };
    let first: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["event"], "state");
    assert_eq!(first["issue"], 7);
    // Events of other workers are left out when issues are named.
    assert_ok(&run(env
        .worker_cmd("orc-state", 8, Kind::Worker)
        .args(["RUNNING", "elsewhere"])));
    notify(&env, 7, "merged", "PR #70");
    let mut events = Vec::new();
    loop {
        let e = follow.next_json();
        let done = e["event"] == "notify";
        events.push(e);
        if done {
            break;
        }
    }
    let (status, rest, err) = follow.finish();
    assert_eq!(
        status.code(),
        Some(0),
        "follow ends once its workers end: {err}"
    );
    assert!(rest.is_empty(), "{rest:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (
            &last["issue"],
            &last["state"],
            &last["result"],
            &last["detail"]
        ),
        (
            &json!(7),
            &json!("TERMINATED"),
            &json!("merged"),
            &json!("PR #70")
        )
    );
    assert!(events.iter().all(|e| e["issue"] == 7), "{events:?}");
    // Without issues, every event of the session, as JSON Lines.
    let all = Streaming::start(env.tool("orc-watch").args(["--follow", "--timeout", "1"]));
    let (status, lines, _) = all.finish();
    assert_eq!(status.code(), Some(124));
    assert!(
        json_lines(&lines.join("\n")).is_empty(),
        "starts at the end"
    );
}

#[test]
fn refusals_say_what_is_wrong() {
    let env = Life::new();
    let before = env.snapshot();
    for bad in BAD_ISSUES {
        let out = env.run("orc-watch", &["--", bad]);
        assert_fails(&out, 2, "orc-watch: error: ");
        assert!(
            stderr(&out).contains(&format!("({bad})")),
            "{}",
            stderr(&out)
        );
    }
    before.assert_same(&env.snapshot());
    let out = env.run("orc-watch", &[]);
    assert_fails(&out, 2, "orc-watch: error: no issue to watch (orc-watch)");
    let out = env.run("orc-watch", &["7"]);
    assert_fails(
        &out,
        1,
        &format!(
            "orc-watch: error: no worker for issue 7 in session {}",
            env.session_name()
        ),
    );
    let out = env.run("orc-watch", &["--timeout=-1", "7"]);
    assert_fails(&out, 2, "orc-watch: error: ");
}

#[test]
fn follow_never_stops_before_printing_the_ending_event() {
    let env = Life::new();
    let _shim = running_with_shim(&env, 7);
    let follow = Streaming::start(
        env.tool("orc-watch")
            .args(["--follow", "--timeout", "25", "7"]),
    );
    let mut step = 0;
    loop {
        step += 1;
        assert!(step < 500, "orc-watch --follow printed nothing");
        assert_ok(&run(env
            .worker_cmd("orc-state", 7, Kind::Worker)
            .args(["RUNNING", &format!("step{step}")])));
        if follow.line_within(Duration::from_millis(50)).is_some() {
            break;
        }
    }
    while follow.try_line().is_some() {}
    // orc-notify writes the terminal record, then settles the issue lock,
    // then logs the event. Holding the lock's flock stops it in between.
    let lock = env.issue_lock(7);
    let mutex = lock.record_path().with_extension("lock");
    let held = orc_kernel::lock::FileLock::exclusive(&mutex).unwrap();
    let notifier = KillOnDrop(
        env.worker_cmd("orc-notify", 7, Kind::Worker)
            .args(["merged", "PR #70"])
            .spawn()
            .unwrap(),
    );
    env.wait_record(7, Kind::Worker, |r| r.state == State::Terminated);
    // The record says ended, the event is not written: follow waits.
    assert_eq!(follow.line_within(Duration::from_millis(1500)), None);
    drop(held);
    let last = follow.next_json();
    assert_eq!(
        (&last["event"], &last["result"]),
        (&json!("notify"), &json!("merged"))
    );
    let (status, _, err) = follow.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    drop(notifier);
}
