//! orc-notify: the worker's exit(). The terminal record is written once,
//! the lock is released or kept by result, and the wake FIFO is rung
//! without ever blocking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "notify/killed.rs"]
mod killed;

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::Instant;

use common::*;
use orc_kernel::ids::Kind::{self, Reviewer, Worker};
use orc_kernel::lock::Holder;
use orc_kernel::record::{Outcome, Record, State};
use orc_kernel::signal::{self, Signal};
use orc_kernel::wake::Doorbell;
use serde_json::Value;

fn notify(env: &TestEnv, issue: u32, kind: Kind, args: &[&str]) -> std::process::Output {
    run(env.worker_cmd("orc-notify", issue, kind).args(args))
}

/// A running worker whose lock is held by a live stand-in for its shim.
fn running_worker(env: &TestEnv, issue: u32, kind: Kind) -> KillOnDrop {
    env.seed_worker(issue, kind, State::Running);
    let shim = KillOnDrop::sleeper();
    env.seed_process_lock(issue, shim.id());
    shim
}

/// SPEC §10: `orc-notify` with nobody watching returns at once and loses
/// nothing. "At once" is checked as "does not block": a generous deadline,
/// no timing assertion.
#[test]
fn with_no_reader_it_returns_at_once_and_the_record_is_complete() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let started = Instant::now();
    let mut child = env
        .worker_cmd("orc-notify", 7, Worker)
        .args(["failed", "tests", "do not build"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_child(&mut child, PATIENCE);
    eprintln!("orc-notify took {:?} (debug build)", started.elapsed());
    assert!(status.success());

    let r = env.record(7, Worker);
    assert_eq!(r.state, State::Terminated);
    assert_eq!(r.result, Some(Outcome::Failed));
    assert_eq!(r.detail, "tests do not build");
    assert_eq!(r.attempt, 1);
    assert!(r.updated_at >= r.started_at);
    assert!(env.lock_record(7).is_none(), "failed releases the lock");
    let event = env.events().pop().expect("an event");
    assert_eq!(
        (&event["event"], &event["result"], &event["detail"]),
        (
            &Value::from("notify"),
            &Value::from("failed"),
            &Value::from("tests do not build")
        )
    );
    let log = fs::read_to_string(env.proc(7, Worker).log_path()).unwrap();
    assert!(
        log.contains("orc-notify: TERMINATED failed tests do not build"),
        "{log}"
    );
    // The doorbell is still there for the next waiter.
    assert!(env.proc(7, Worker).wake_path().exists());
}

/// A reader blocked on the FIFO wakes with exactly one JSON line, and by
/// then the record is final and the lock settled.
#[test]
fn with_a_reader_it_delivers_one_json_line() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let proc = env.proc(7, Worker);
    let mut bell = Doorbell::open(&proc.wake_path()).unwrap();
    assert!(bell.drain().is_empty());

    let (lines, record, lock) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            assert!(poll_readable(bell.fd(), PATIENCE), "no wake-up");
            // What a waiter sees at the moment it wakes.
            let record = proc.read().unwrap().unwrap();
            let lock = env.lock_record(7);
            (bell.drain(), record, lock)
        });
        assert_ok(&notify(&env, 7, Worker, &["merged", "PR", "#12"]));
        reader.join().unwrap()
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let message: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        message,
        serde_json::json!({"issue": 7, "kind": "worker", "state": "TERMINATED",
                           "result": "merged", "attempt": 1})
    );
    assert_eq!(record.result, Some(Outcome::Merged));
    assert_eq!(record.detail, "PR #12");
    assert!(
        lock.is_none(),
        "the lock is settled before the doorbell rings"
    );
    assert!(bell.drain().is_empty(), "exactly one line");
}

/// A reader that never reads until the pipe is full must not stall the
/// worker's exit either.
#[test]
fn a_full_pipe_does_not_block_it() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let wake = env.proc(7, Worker).wake_path();
    let _bell = Doorbell::open(&wake).unwrap();
    let mut stuffer = OpenOptions::new()
        .write(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&wake)
        .unwrap();
    let chunk = [b'x'; 4096];
    loop {
        match stuffer.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("fill the FIFO: {e}"),
        }
    }
    let mut child = env
        .worker_cmd("orc-notify", 7, Worker)
        .arg("cancelled")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_child(&mut child, PATIENCE).success());
    assert_eq!(env.record(7, Worker).result, Some(Outcome::Cancelled));
}

#[test]
fn a_missing_doorbell_is_not_an_error() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    fs::remove_file(env.proc(7, Worker).wake_path()).unwrap();
    assert_ok(&notify(&env, 7, Worker, &["merged"]));
    assert_eq!(env.record(7, Worker).state, State::Terminated);
}

#[test]
fn a_terminal_record_is_written_once() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    assert_ok(&notify(&env, 7, Worker, &["failed", "first"]));
    let before = env.snapshot();
    for result in ["merged", "failed", "cancelled"] {
        let out = notify(&env, 7, Worker, &[result, "second"]);
        assert_fails(
            &out,
            1,
            "orc-notify: error: worker 7 already ended with failed (TERMINATED)\nhint: a terminal record is written once; resume starts a new attempt",
        );
        before.assert_same(&env.snapshot());
    }
    // The kernel's verdict is final too: a late word from the worker after
    // the shim wrote `crashed` changes nothing.
    env.seed_worker_with(8, Worker, State::Terminated, |r| {
        r.result = Some(Outcome::Crashed);
        r.exit = Some(137);
    });
    let before = env.snapshot();
    let out = notify(&env, 8, Worker, &["merged"]);
    assert_fails(
        &out,
        1,
        "orc-notify: error: worker 8 already ended with crashed",
    );
    before.assert_same(&env.snapshot());
}

/// ci-passed, approved, changes-requested and suspended keep the lock,
/// handed from the process to the session, so it outlives the shim.
#[test]
fn results_that_keep_the_lock_hand_it_to_the_session() {
    let env = TestEnv::new();
    let session = env.session_name();
    for (issue, kind, result, state) in [
        (1, Worker, "ci-passed", State::Terminated),
        (2, Worker, "suspended", State::Suspended),
    ] {
        let shim = running_worker(&env, issue, kind);
        assert_ok(&notify(&env, issue, kind, &[result, "done"]));
        let r = env.record(issue, kind);
        assert_eq!((r.state, r.result_name()), (state, result));
        let lock = env.lock_record(issue).expect("the lock is kept");
        assert_eq!(
            lock.holder,
            Holder::Session {
                session: session.clone()
            }
        );
        assert_eq!(lock.kept_by.as_deref(), Some(result));
        drop(shim);
        let out = run(env.cmd("orc-lock").args(["check", &issue.to_string()]));
        assert_eq!(
            out.status.code(),
            Some(5),
            "{result}: still held after the shim died"
        );
    }
}

/// A reviewer reads a worker's change; the issue lock stays the worker's
/// (kept by the session after ci-passed) whatever the review says.
#[test]
fn a_reviewers_result_leaves_the_issue_lock_alone() {
    let env = TestEnv::new();
    for (issue, result) in [(1, "approved"), (2, "changes-requested"), (3, "failed")] {
        env.seed_worker_with(issue, Worker, State::Terminated, |r| {
            r.result = Some(Outcome::CiPassed);
        });
        env.seed_session_lock(issue);
        let before = env.lock_record(issue);
        env.seed_worker(issue, Reviewer, State::Running);
        assert_ok(&notify(&env, issue, Reviewer, &[result, "done"]));
        assert_eq!(env.record(issue, Reviewer).result_name(), result);
        assert_eq!(
            env.lock_record(issue),
            before,
            "{result} leaves the lock alone"
        );
    }
}

#[test]
fn other_results_release_the_lock() {
    let env = TestEnv::new();
    for (issue, kind, result) in [
        (1, Worker, "merged"),
        (2, Worker, "failed"),
        (3, Worker, "cancelled"),
        (4, Worker, "throttled"),
    ] {
        let _shim = running_worker(&env, issue, kind);
        assert_ok(&notify(&env, issue, kind, &[result]));
        assert_eq!(env.record(issue, kind).result_name(), result);
        assert!(
            env.lock_record(issue).is_none(),
            "{result} releases the lock"
        );
    }
}

#[test]
fn another_sessions_lock_is_left_alone() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let holder = Holder::Session {
        session: "other-1".to_string(),
    };
    env.seed_lock(7, holder, "other-1");
    let lock = env.lock_record(7);
    assert_ok(&notify(&env, 7, Worker, &["failed"]));
    assert_eq!(env.lock_record(7), lock);
}

#[test]
fn a_cancelled_worker_drops_its_pending_signal_a_suspended_one_keeps_it() {
    let env = TestEnv::new();
    let _a = running_worker(&env, 1, Worker);
    let _b = running_worker(&env, 2, Worker);
    signal::send(&env.proc(1, Worker), Signal::Term).unwrap();
    signal::send(&env.proc(2, Worker), Signal::Suspend).unwrap();
    assert_ok(&notify(&env, 1, Worker, &["cancelled"]));
    assert_ok(&notify(
        &env,
        2,
        Worker,
        &["suspended", "checkpoint at phase 2"],
    ));
    assert!(!env.proc(1, Worker).signal_path().exists());
    assert!(env.proc(2, Worker).signal_path().exists());
}

#[test]
fn json_prints_the_final_record() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Reviewer);
    let out = assert_ok(&notify(&env, 7, Reviewer, &["approved", "--json", "LGTM"]));
    let printed: Record = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(printed, env.record(7, Reviewer));
    assert_eq!(printed.detail, "LGTM");
}

#[test]
fn quotes_are_stored_verbatim() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let detail = r##"PR "#12" isn't `merged`; $(id) \ ok"##;
    assert_ok(&notify(&env, 7, Worker, &["failed", detail]));
    assert_eq!(env.record(7, Worker).detail, detail);
}

#[test]
fn results_are_checked_against_the_kind() {
    let env = TestEnv::new();
    let _w = running_worker(&env, 7, Worker);
    let _r = running_worker(&env, 8, Reviewer);
    let worker_hint =
        "hint: results are: merged, ci-passed, failed, cancelled, suspended, throttled";
    let reviewer_hint = "hint: results are: approved, changes-requested, failed";
    for (issue, kind, result, hint) in [
        (7, Worker, "approved", worker_hint),
        (7, Worker, "crashed", worker_hint),
        (7, Worker, "killed", worker_hint),
        (7, Worker, "MERGED", worker_hint),
        (8, Reviewer, "merged", reviewer_hint),
        (8, Reviewer, "ci-passed", reviewer_hint),
    ] {
        let before = env.snapshot();
        let out = notify(&env, issue, kind, &[result]);
        assert_fails(
            &out,
            2,
            &format!("orc-notify: error: unknown result for a {kind} ({result})\n{hint}"),
        );
        before.assert_same(&env.snapshot());
    }
    let out = run(&mut env.worker_cmd("orc-notify", 7, Worker));
    assert_fails(
        &out,
        2,
        "orc-notify: error: the following required arguments were not provided",
    );
}

#[test]
fn bad_details_are_refused_and_change_nothing() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let big = "z".repeat(100 * 1024);
    let cases: [(&str, &str); 4] = [
        (
            "two\nlines",
            "orc-notify: error: detail contains a control character (U+000A)",
        ),
        (
            "bell\x07",
            "orc-notify: error: detail contains a control character (U+0007)",
        ),
        (
            &big[..1025],
            "orc-notify: error: detail is 1025 bytes; the limit is 1024",
        ),
        (
            &big,
            "orc-notify: error: detail is 102400 bytes; the limit is 1024",
        ),
    ];
    for (detail, prefix) in cases {
        let before = env.snapshot();
        assert_fails(&notify(&env, 7, Worker, &["merged", detail]), 2, prefix);
        before.assert_same(&env.snapshot());
    }
    // Words are joined with spaces before the limit applies.
    let words = ["w".repeat(512), "w".repeat(512)];
    let out = notify(&env, 7, Worker, &["merged", &words[0], &words[1]]);
    assert_fails(&out, 2, "orc-notify: error: detail is 1025 bytes");
    assert_eq!(env.record(7, Worker).state, State::Running);
}

#[test]
fn bad_issue_ids_are_refused() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let before = env.snapshot();
    for bad in BAD_ISSUES {
        let out = run(env.cmd("orc-notify").arg("failed").env("ORC_ISSUE", bad));
        assert_fails(
            &out,
            2,
            &format!("orc-notify: error: invalid ORC_ISSUE=\"{bad}\" set in the environment\n"),
        );
        let flag = format!("--issue={bad}");
        let out = run(env.cmd("orc-notify").args([flag.as_str(), "failed"]));
        assert_fails(
            &out,
            2,
            &format!("orc-notify: error: invalid value '{bad}' for '--issue <ISSUE>'"),
        );
    }
    let out = run(env.cmd("orc-notify").args(["--issue", "-1", "failed"]));
    assert_fails(&out, 2, "orc-notify: error: unexpected argument '-1' found");
    let out = run(env.cmd("orc-notify").arg("failed"));
    assert_fails(
        &out,
        2,
        "orc-notify: error: cannot tell which issue this worker is",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn a_missing_worker_is_an_error_that_creates_nothing() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let before = env.snapshot();
    let out = notify(&env, 9, Worker, &["failed"]);
    assert_fails(&out, 1, "orc-notify: error: no such worker (worker 9)");
    before.assert_same(&env.snapshot());
}

#[test]
fn a_corrupt_record_is_reported_kept_and_the_lock_stays() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    let proc = env.proc(7, Worker);
    corrupt_record(&proc);
    let before = env.snapshot();
    let out = notify(&env, 7, Worker, &["merged"]);
    assert_fails(&out, 1, "orc-notify: error: corrupt record: ");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&proc.state_path().display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the file is kept as it is"),
        "{stderr}"
    );
    before.assert_same(&env.snapshot());
}

/// The worker's side as orc-spawn sets it up: a linked worktree with
/// `.orc-env`; the record and the lock are found through the main root.
#[test]
fn from_a_linked_worktree_with_an_env_file() {
    let env = TestEnv::new();
    let _shim = running_worker(&env, 7, Worker);
    env.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "issue/7-x",
        ".worktrees/issue/7-x",
    ]);
    let worktree = env.repo.join(".worktrees/issue/7-x");
    fs::write(worktree.join(".orc-env"), "ORC_ISSUE=7\nORC_KIND=worker\n").unwrap();
    let sub = worktree.join("src");
    fs::create_dir(&sub).unwrap();
    assert_ok(&run(env
        .cmd("orc-notify")
        .args(["merged", "PR 3"])
        .current_dir(&sub)));
    assert_eq!(env.record(7, Worker).result, Some(Outcome::Merged));
    assert!(env.lock_record(7).is_none());
}

#[test]
fn a_relative_or_unusable_state_dir_is_refused() {
    let env = TestEnv::new();
    assert_bad_state_dirs(&env, "orc-notify", &["--issue", "7", "failed"]);
}

#[test]
fn help_lists_results_environment_and_exit_codes() {
    let env = TestEnv::new();
    let out = assert_ok(&run(env.cmd("orc-notify").arg("--help")));
    for needle in [
        "ci-passed",
        "changes-requested",
        "ORC_ISSUE",
        "Exit codes:",
        "2    usage error",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}
