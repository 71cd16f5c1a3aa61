//! orc-ctl (suspend, resume, kill, recover, gc, logs, env, nice, targets
//! across sessions), orc-ps --health, and reviewers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "ctl/gc.rs"]
mod gc;
#[path = "ctl/health.rs"]
mod health;
#[path = "ctl/logs.rs"]
mod logs;
#[path = "ctl/review.rs"]
mod review;
#[path = "ctl/targets.rs"]
mod targets;

use std::fs;

use common::life::{Life, dead_process, proc_ids, stderr, wait_gone};
use common::{KillOnDrop, assert_fails, assert_ok, process_holder};
use orc_kernel::ids::Kind;
use orc_kernel::liveness::ProcessId;
use orc_kernel::procdir::{Proc, ShimIds};
use orc_kernel::record::{Outcome, State};

/// Record `shim` as the shim of `proc`.
fn with_shim(proc: &Proc, shim: ProcessId) {
    proc.write_shim(&ShimIds { shim, agent: None }).unwrap();
}

/// The id of a live stand-in process.
fn id_of(p: &KillOnDrop) -> ProcessId {
    process_holder(p.id()).process().unwrap()
}

/// The JSON object a command printed.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(assert_ok(out).trim()).unwrap()
}

#[test]
fn suspend_only_from_ready_running_or_waiting() {
    let env = Life::new();
    for (n, state) in [(1, State::Ready), (2, State::Running), (3, State::Waiting)] {
        let proc = env.seed_worker(n, Kind::Worker, state);
        let pending = json_of(&env.run("orc-ctl", &["suspend", &n.to_string()]));
        assert_eq!(pending["signal"], "SUSPEND");
        assert!(proc.signal_path().is_file(), "{state}: the signal waits");
        assert_eq!(env.record(n, Kind::Worker).state, state, "cooperative");
    }
    for (n, state, result) in [
        (4, State::New, "-"),
        (5, State::Suspended, "suspended"),
        (6, State::Terminated, "failed"),
    ] {
        env.seed_worker(n, Kind::Worker, state);
        let before = env.snapshot();
        let out = env.run("orc-ctl", &["suspend", &n.to_string()]);
        assert_fails(
            &out,
            1,
            &format!(
                "orc-ctl: error: cannot suspend worker {n}: only a READY, RUNNING or WAITING worker can be suspended (state {state} {result})"
            ),
        );
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn resume_only_what_has_stopped_and_is_not_merged() {
    let env = Life::new();
    env.seed_worker(1, Kind::Worker, State::Running);
    env.seed_worker_with(2, Kind::Worker, State::Terminated, |r| {
        r.result = Some(Outcome::Merged);
    });
    let before = env.snapshot();
    let out = env.run("orc-ctl", &["resume", "1"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot resume worker 1: it is still running (state RUNNING -)",
    );
    let out = env.run("orc-ctl", &["resume", "2"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot resume worker 2: its work is merged (state TERMINATED merged)",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn resume_a_crashed_worker() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "crash");
    let first = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    env.wait_until_settled(7);
    let again = json_of(&env.run("orc-ctl", &["resume", "7"]));
    assert_eq!(again["attempt"], 2);
    assert_eq!(again["worktree"], first.worktree.to_str().unwrap());
    assert_eq!(env.watch_one(7)["result"], "crashed");
    let record = env.wait_until_settled(7);
    assert_eq!(record.attempt, 2);
    // Two commits now: one per attempt, on the same branch.
    let count = env.git(&["rev-list", "--count", &format!("main..{}", first.branch)]);
    assert_eq!(count.trim(), "2");
    env.cleanup(7, &["--force"]);
    env.assert_nothing_left(&git);
}

#[test]
fn kill_records_killed_unless_the_worker_already_ended() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    let pending = json_of(&env.run("orc-ctl", &["kill", "7"]));
    assert_eq!(pending["signal"], "KILL");
    let record = env.record(7, Kind::Worker);
    assert_eq!(record.result, Some(Outcome::Killed));
    wait_gone(w.pid);
    wait_gone(w.shim);

    // Again, now that it has ended: the record stays as it is.
    let state = fs::read(env.proc(7, Kind::Worker).state_path()).unwrap();
    let out = env.run("orc-ctl", &["kill", "7"]);
    assert_ok(&out);
    assert_eq!(
        stderr(&out),
        "orc-ctl: worker 7 had already ended; its record is kept\n"
    );
    assert_eq!(
        fs::read(env.proc(7, Kind::Worker).state_path()).unwrap(),
        state
    );
    env.seed_worker(8, Kind::Worker, State::Terminated);
    let out = env.run("orc-ctl", &["kill", "8"]);
    assert_ok(&out);
    assert_eq!(env.record(8, Kind::Worker).result, Some(Outcome::Failed));
    env.cleanup(7, &[]);
    env.cleanup(8, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn recover_marks_a_dead_worker_crashed_and_refuses_a_live_one() {
    let env = Life::new();
    let dead = dead_process();
    let proc = env.seed_worker(7, Kind::Worker, State::Running);
    with_shim(&proc, dead);
    let record = json_of(&env.run("orc-ctl", &["recover", "7"]));
    assert_eq!(record["state"], "TERMINATED");
    assert_eq!(record["result"], "crashed");
    assert_eq!(
        record["detail"],
        format!("recovered: the shim (pid {}) is gone", dead.pid)
    );
    assert_eq!(env.record(7, Kind::Worker).result, Some(Outcome::Crashed));

    let live = KillOnDrop::sleeper();
    let proc = env.seed_worker(8, Kind::Worker, State::Waiting);
    with_shim(&proc, id_of(&live));
    env.seed_worker(9, Kind::Worker, State::Running);
    let before = env.snapshot();
    let out = env.run("orc-ctl", &["recover", "8"]);
    assert_fails(
        &out,
        1,
        &format!(
            "orc-ctl: error: cannot recover worker 8: its shim (pid {}) is alive (state WAITING -)",
            live.id()
        ),
    );
    let out = env.run("orc-ctl", &["recover", "9"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot recover worker 9: it has no shim identity, so whether it lives cannot be told",
    );
    let out = env.run("orc-ctl", &["recover", "7"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot recover worker 7: only a RUNNING or WAITING worker can be recovered (state TERMINATED crashed)",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn nice_changes_the_running_agent_and_its_record() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    // The agent reports its phase once; wait for it, so that report never
    // lands between two reads of the record below.
    env.wait_record(7, Kind::Worker, |r| r.detail == "phase1:hang");
    assert_eq!(proc_ids(w.pid).3, 10);
    for (level, nice) in [("low", 15), ("19", 19), ("high", 5)] {
        if nice < proc_ids(w.pid).3 && !nix::unistd::geteuid().is_root() {
            continue; // raising priority needs privileges
        }
        let record = json_of(&env.run("orc-ctl", &["nice", "7", level]));
        assert_eq!(record["priority"], level);
        assert_eq!(proc_ids(w.pid).3, nice, "{level}");
        assert_eq!(env.record(7, Kind::Worker).priority, level);
    }
    let before = env.record(7, Kind::Worker);
    let out = env.run("orc-ctl", &["nice", "7", "urgent"]);
    assert_fails(&out, 2, "orc-ctl: error: unknown priority (urgent)");
    assert_eq!(env.record(7, Kind::Worker), before);

    assert_ok(&env.run("orc-signal", &["7", "KILL"]));
    let out = env.run("orc-ctl", &["nice", "7", "low"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot renice worker 7: it is not running (state TERMINATED killed)",
    );
    env.cleanup(7, &[]);
    env.assert_no_processes();
}
