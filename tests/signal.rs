//! orc-signal: the orchestrator leaves TERM or SUSPEND pending and stops a
//! worker now with KILL; the worker checks for and consumes a signal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use common::*;
use orc_kernel::ids::Kind::{Reviewer, Worker};
use orc_kernel::liveness::ProcessId;
use orc_kernel::procdir::ShimIds;
use orc_kernel::record::{Outcome, State};
use serde_json::Value;

fn signal(env: &TestEnv, args: &[&str]) -> std::process::Output {
    run(env.cmd("orc-signal").args(args))
}

fn pending(env: &TestEnv, issue: u32) -> Option<Value> {
    let path = env.proc(issue, Worker).signal_path();
    fs::read(path)
        .ok()
        .map(|b| serde_json::from_slice(&b).expect("a readable signal file"))
}

#[test]
fn term_and_suspend_are_left_pending_for_the_worker() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let record = env.record(7, Worker);

    assert_eq!(assert_ok(&signal(&env, &["7", "TERM"])), "");
    let p = pending(&env, 7).expect("a pending signal");
    assert_eq!(p["signal"], "TERM");
    assert!(p["sent_at"].as_str().unwrap().ends_with('Z'));
    assert!(p["from_pid"].as_u64().unwrap() > 0);
    // The record is the worker's to change: only the signal is left.
    assert_eq!(env.record(7, Worker), record);
    let events = env.events();
    assert_eq!(events.last().unwrap()["event"], "signal");
    assert_eq!(events.last().unwrap()["detail"], "signal TERM");
    let log = fs::read_to_string(env.proc(7, Worker).log_path()).unwrap();
    assert!(log.contains("orc-signal: TERM"), "{log}");
}

#[test]
fn a_stronger_signal_replaces_a_weaker_one_never_the_reverse() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let out = assert_ok(&signal(&env, &["7", "SUSPEND", "--json"]));
    let printed: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(printed, pending(&env, 7).unwrap());
    assert_eq!(printed["signal"], "SUSPEND");

    assert_ok(&signal(&env, &["7", "TERM"]));
    assert_eq!(pending(&env, 7).unwrap()["signal"], "TERM");
    // A weaker one is not applied: exit 6, TERM stays, and nothing is
    // written, logged or streamed as if it had been sent.
    let before = env.snapshot();
    let out = signal(&env, &["7", "SUSPEND", "--json"]);
    assert_fails(
        &out,
        6,
        "orc-signal: error: SUSPEND not applied: TERM is pending (worker 7)\nhint: the pending TERM (sent at ",
    );
    before.assert_same(&env.snapshot());
    assert_eq!(pending(&env, 7).unwrap()["signal"], "TERM");
    let log = fs::read_to_string(env.proc(7, Worker).log_path()).unwrap();
    assert_eq!(log.matches("orc-signal: SUSPEND").count(), 1, "{log}");
    assert!(log.trim_end().ends_with("orc-signal: TERM"), "{log}");
    // The same one again changes nothing and is no error.
    let sent_at = pending(&env, 7).unwrap()["sent_at"].clone();
    assert_ok(&signal(&env, &["7", "TERM"]));
    assert_eq!(pending(&env, 7).unwrap()["sent_at"], sent_at);
    // KILL is stronger than anything pending.
    assert_ok(&signal(&env, &["7", "KILL"]));
    assert_eq!(env.record(7, Worker).result, Some(Outcome::Killed));
}

/// KILL ends the record as `killed`, frees the lock, SIGKILLs the agent's
/// process group and pokes the shim, all before it returns.
#[test]
fn kill_stops_the_worker_now() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let spawn_sleep = |own_group: bool| {
        let mut cmd = Command::new("sleep");
        cmd.arg("1000").stdin(Stdio::null());
        if own_group {
            cmd.process_group(0);
        }
        KillOnDrop(cmd.spawn().unwrap())
    };
    let mut shim = spawn_sleep(false);
    let mut agent = spawn_sleep(true);
    let id = |c: &KillOnDrop| ProcessId::of(c.id() as i32).unwrap();
    env.proc(7, Worker)
        .write_shim(&ShimIds {
            shim: id(&shim),
            agent: Some(id(&agent)),
        })
        .unwrap();
    env.seed_process_lock(7, shim.id());

    assert_ok(&signal(&env, &["7", "KILL"]));
    let r = env.record(7, Worker);
    assert_eq!(r.state, State::Terminated);
    assert_eq!(r.result, Some(Outcome::Killed));
    assert_eq!(r.detail, "killed by orc-signal KILL");
    assert!(
        pending(&env, 7).is_none(),
        "a terminal worker has no signal pending"
    );
    assert!(env.lock_record(7).is_none(), "the lock is released");

    let agent_status = wait_child(&mut agent.0, PATIENCE);
    assert_eq!(
        agent_status.signal(),
        Some(9),
        "the agent's group got SIGKILL"
    );
    let shim_status = wait_child(&mut shim.0, PATIENCE);
    assert_eq!(shim_status.signal(), Some(10), "the shim got SIGUSR1");

    let kinds: Vec<String> = env
        .events()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["ended", "signal"]);
}

#[test]
fn a_worker_that_is_not_running_cannot_be_signalled() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Terminated);
    env.seed_worker(8, Worker, State::Suspended);
    for (issue, state) in [("7", "TERMINATED"), ("8", "SUSPENDED")] {
        for sig in ["TERM", "SUSPEND", "KILL"] {
            let before = env.snapshot();
            let out = signal(&env, &[issue, sig]);
            assert_fails(
                &out,
                1,
                &format!("orc-signal: error: worker {issue} is not running (state {state}) ("),
            );
            before.assert_same(&env.snapshot());
        }
    }
}

#[test]
fn an_unknown_worker_is_an_error() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let before = env.snapshot();
    let out = signal(&env, &["9", "TERM"]);
    assert_fails(
        &out,
        1,
        &format!(
            "orc-signal: error: no worker for issue 9 in session {} (",
            env.session_name()
        ),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: orc-ps --all"));
    let out = signal(&env, &["7", "TERM", "--kind", "reviewer"]);
    assert_fails(
        &out,
        1,
        "orc-signal: error: no reviewer for issue 7 in session",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn reviewers_are_signalled_with_kind() {
    let env = TestEnv::new();
    env.seed_worker(7, Reviewer, State::Running);
    assert_ok(&signal(&env, &["7", "TERM", "--kind", "reviewer"]));
    let path = env.proc(7, Reviewer).signal_path();
    assert!(path.exists());
    let out = run(env.worker_cmd("orc-signal", 7, Reviewer).arg("check"));
    assert_eq!(assert_ok(&out), "TERM\n");
}

#[test]
fn unknown_or_missing_signals_are_usage_errors() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let cases: [(&[&str], &str); 4] = [
        (
            &["7", "HUP"],
            "orc-signal: error: unknown signal (HUP)\nhint: signals are TERM, SUSPEND, KILL",
        ),
        (&["7", "term"], "orc-signal: error: unknown signal (term)"),
        (
            &["7"],
            "orc-signal: error: missing signal (7)\nhint: orc-signal ISSUE TERM|SUSPEND|KILL",
        ),
        (
            &["7", "TERM", "extra"],
            "orc-signal: error: unexpected argument 'extra' found",
        ),
    ];
    for (args, prefix) in cases {
        let before = env.snapshot();
        assert_fails(&signal(&env, args), 2, prefix);
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn bad_issue_ids_are_refused() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let before = env.snapshot();
    for bad in BAD_ISSUES {
        let what = if bad.bytes().all(|b| b.is_ascii_digit()) {
            "issue number out of range 1..=2147483647"
        } else {
            "not an issue number"
        };
        let out = signal(&env, &["--", bad, "TERM"]);
        assert_fails(&out, 2, &format!("orc-signal: error: {what} ({bad})"));
        let out = run(env.cmd("orc-signal").arg("check").env("ORC_ISSUE", bad));
        assert_fails(
            &out,
            2,
            &format!("orc-signal: error: invalid ORC_ISSUE=\"{bad}\" set in the environment\n"),
        );
        let flag = format!("--issue={bad}");
        let out = signal(&env, &["check", &flag]);
        assert_fails(
            &out,
            2,
            &format!("orc-signal: error: invalid value '{bad}' for '--issue <ISSUE>'"),
        );
    }
    let out = signal(&env, &["-1", "TERM"]);
    assert_fails(&out, 2, "orc-signal: error: unexpected argument '-1' found");
    before.assert_same(&env.snapshot());
}

#[test]
fn check_consumes_a_pending_signal_exactly_once() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let check = || run(env.worker_cmd("orc-signal", 7, Worker).arg("check"));

    // Nothing pending: exit 1, quietly.
    let out = check();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    assert_ok(&signal(&env, &["7", "SUSPEND"]));
    let out = run(env
        .worker_cmd("orc-signal", 7, Worker)
        .args(["check", "--json"]));
    let taken: Value = serde_json::from_str(assert_ok(&out).trim()).unwrap();
    assert_eq!(taken["signal"], "SUSPEND");
    assert!(pending(&env, 7).is_none());
    // The consumption is in the worker's log and the event stream.
    let log = fs::read_to_string(env.proc(7, Worker).log_path()).unwrap();
    assert!(
        log.contains(&format!(
            "orc-signal: consumed SUSPEND (sent at {})",
            taken["sent_at"].as_str().unwrap()
        )),
        "{log}"
    );
    let last = env.events().last().cloned().unwrap();
    assert_eq!(last["event"], "signal-consumed", "{last}");
    assert_eq!(last["detail"], "signal SUSPEND consumed");
    assert_eq!(last["issue"], 7);
    assert_eq!(check().status.code(), Some(1));
    // No temporary file of the consumer is left behind.
    let names: Vec<String> = fs::read_dir(env.proc(7, Worker).dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".signal-taken")),
        "{names:?}"
    );

    let before = env.snapshot();
    let out = run(env
        .worker_cmd("orc-signal", 7, Worker)
        .args(["check", "TERM"]));
    assert_fails(&out, 2, "orc-signal: error: `check` takes no signal (TERM)");
    before.assert_same(&env.snapshot());
}

#[test]
fn of_many_simultaneous_checks_exactly_one_gets_the_signal() {
    const CHECKERS: usize = 20;
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    assert_ok(&signal(&env, &["7", "TERM"]));
    let mut children: Vec<KillOnDrop> = (0..CHECKERS)
        .map(|_| {
            KillOnDrop(
                env.worker_cmd("orc-signal", 7, Worker)
                    .arg("check")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let codes: Vec<Option<i32>> = children
        .iter_mut()
        .map(|c| wait_child(&mut c.0, PATIENCE).code())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == Some(0)).count(),
        1,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|c| **c == Some(1)).count(),
        CHECKERS - 1
    );
}

#[test]
fn the_orchestrator_can_name_the_repository() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let repo = env.repo.display().to_string();
    let out = run(env
        .cmd("orc-signal")
        .args(["7", "TERM", "--repo", &repo])
        .current_dir(&env.home));
    assert_ok(&out);
    assert_eq!(pending(&env, 7).unwrap()["signal"], "TERM");
}

#[test]
fn corrupt_files_are_reported_and_kept() {
    let env = TestEnv::new();
    let proc = env.seed_worker(7, Worker, State::Running);
    corrupt_record(&proc);
    let before = env.snapshot();
    let out = signal(&env, &["7", "TERM"]);
    assert_fails(&out, 1, "orc-signal: error: corrupt record: ");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&proc.state_path().display().to_string())
    );
    before.assert_same(&env.snapshot());

    // A corrupt signal file: the orchestrator cannot stack a signal on it,
    // and orc-state will not report over it.
    let proc = env.seed_worker(8, Worker, State::Running);
    fs::write(proc.signal_path(), "TERM please").unwrap();
    let before = env.snapshot();
    let out = signal(&env, &["8", "TERM"]);
    assert_fails(&out, 1, "orc-signal: error: corrupt signal file: ");
    let out = run(env
        .worker_cmd("orc-state", 8, Worker)
        .args(["RUNNING", "x"]));
    assert_fails(&out, 1, "orc-state: error: corrupt signal file: ");
    before.assert_same(&env.snapshot());
}

#[test]
fn a_relative_or_unusable_state_dir_is_refused() {
    let env = TestEnv::new();
    assert_bad_state_dirs(&env, "orc-signal", &["7", "TERM"]);
    assert_bad_state_dirs(&env, "orc-signal", &["check", "--issue", "7"]);
}

#[test]
fn help_lists_environment_and_exit_codes() {
    let env = TestEnv::new();
    let out = assert_ok(&run(env.cmd("orc-signal").arg("--help")));
    for needle in [
        "Examples:",
        "ORC_TERM_GRACE",
        "ORC_ISSUE",
        "Exit codes:",
        "1    failure",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}
