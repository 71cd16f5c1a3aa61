//! orc-lock: issue locks (acquire, release, check, holder) and named
//! mutexes (`run`), including the SPEC §10 race of 100 acquirers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;

use common::*;
use orc_kernel::liveness::ProcessId;
use orc_kernel::lock::Holder;
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).expect("one JSON document")
}

#[test]
fn acquire_check_holder_release() {
    let env = TestEnv::new();
    let session = env.session_name();

    let out = assert_ok(&run(env.cmd("orc-lock").args(["acquire", "7", "--json"])));
    let record = json(&out);
    assert_eq!(record["issue"], 7);
    assert_eq!(record["session"], session.as_str());
    assert_eq!(record["repo"], env.repo.display().to_string());
    assert_eq!(record["holder"]["type"], "session");
    assert_eq!(record["holder"]["session"], session.as_str());

    let out = run(env.cmd("orc-lock").args(["check", "7"]));
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "held\n");

    let doc = json(&assert_ok(&run(env.cmd("orc-lock").args(["holder", "7"]))));
    assert_eq!(doc["status"], "held");
    assert_eq!(doc["lock"]["holder"]["session"], session.as_str());

    assert_eq!(
        assert_ok(&run(env.cmd("orc-lock").args(["release", "7"]))),
        ""
    );
    assert!(env.lock_record(7).is_none());
    let out = assert_ok(&run(env.cmd("orc-lock").args(["check", "7"])));
    assert_eq!(out, "free\n");
    let doc = json(&assert_ok(&run(env
        .cmd("orc-lock")
        .args(["holder", "7", "--json"]))));
    assert_eq!(doc, serde_json::json!({"issue": 7, "status": "free"}));

    // Releasing a free lock is not an error: the goal is already reached.
    assert_ok(&run(env.cmd("orc-lock").args(["release", "7"])));
}

#[test]
fn a_lock_is_not_reentrant_and_a_refusal_changes_nothing() {
    let env = TestEnv::new();
    assert_ok(&run(env.cmd("orc-lock").args(["acquire", "7"])));
    let before = env.snapshot();
    let out = run(env.cmd("orc-lock").args(["acquire", "7"]));
    assert_fails(
        &out,
        5,
        &format!(
            "orc-lock: error: issue 7 is locked by session {} ({})\nhint: see `orc-lock holder 7`",
            env.session_name(),
            env.repo.display()
        ),
    );
    before.assert_same(&env.snapshot());
}

/// SPEC §10: 100 simultaneous `orc-lock acquire` of one issue, exactly one
/// wins. The racers are real processes held at a start gate (a shared
/// `flock` on a file the test holds exclusively) and let go together.
#[test]
fn hundred_simultaneous_acquirers_exactly_one_wins() {
    const RACERS: usize = 100;
    let env = TestEnv::new();
    let gate_path = env.root.join("gate");
    let ready = env.root.join("ready");
    let gate = fs::File::create(&gate_path).expect("create the gate");
    gate.lock().expect("close the gate");

    let script = format!(
        "echo >> '{ready}'; flock -s '{gate}' true; exec orc-lock acquire 7",
        ready = ready.display(),
        gate = gate_path.display()
    );
    let mut racers: Vec<Child> = (0..RACERS)
        .map(|_| {
            env.shell(&script)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a racer")
        })
        .collect();
    let lined_up = wait_until(PATIENCE, || {
        fs::read_to_string(&ready).map_or(0, |t| t.lines().count()) == RACERS
    });
    gate.unlock().expect("open the gate");
    assert!(lined_up, "the racers did not reach the gate");

    let mut winners = 0;
    let mut losers = 0;
    for racer in &mut racers {
        let stderr = drain(racer.stderr.take());
        let status = wait_child(racer, PATIENCE * 4);
        let stderr = String::from_utf8(stderr.join().unwrap()).unwrap();
        match status.code() {
            Some(0) => {
                winners += 1;
                assert!(stderr.is_empty(), "{stderr}");
            }
            Some(5) => {
                losers += 1;
                assert!(
                    stderr.starts_with("orc-lock: error: issue 7 is locked by session"),
                    "{stderr}"
                );
            }
            other => panic!("racer exited {other:?}: {stderr}"),
        }
    }
    assert_eq!((winners, losers), (1, RACERS - 1));
    let record = env.lock_record(7).expect("the winner's record");
    assert_eq!(
        record.holder,
        Holder::Session {
            session: env.session_name()
        }
    );
}

/// SPEC §4: a lock bound to a process is freed when the process dies, even
/// by SIGKILL, and the next acquirer gets it.
#[test]
fn a_holder_killed_with_sigkill_frees_the_lock() {
    let env = TestEnv::new();
    // The shell binds the lock to itself, then becomes `sleep` (same pid,
    // same start time).
    let holder = env
        .shell("orc-lock acquire 7 --pid $$ || exit 9; exec sleep 1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn the holder");
    let mut holder = KillOnDrop(holder);
    let pid = holder.id() as i32;
    assert!(wait_until(PATIENCE, || {
        env.lock_record(7)
            .is_some_and(|r| r.holder.process().map(|p| p.pid) == Some(pid))
    }));

    let out = run(env.cmd("orc-lock").args(["acquire", "7"]));
    assert_fails(&out, 5, "orc-lock: error: issue 7 is locked by pid ");
    let out = run(env.cmd("orc-lock").args(["check", "7"]));
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(5), &b"held\n"[..])
    );

    holder.0.kill().expect("SIGKILL the holder");
    // Not reaped yet: a zombie is dead too. kill(2) returns before the
    // process is gone, so wait for the verdict to change.
    let stale = || {
        let out = run(env.cmd("orc-lock").args(["check", "7"]));
        out.status.code() == Some(0) && out.stdout == b"stale\n"
    };
    assert!(wait_until(PATIENCE, stale), "the killed holder still holds");
    holder.0.wait().expect("reap the holder");
    assert_eq!(
        assert_ok(&run(env.cmd("orc-lock").args(["check", "7"]))),
        "stale\n"
    );

    assert_ok(&run(env.cmd("orc-lock").args(["acquire", "7"])));
    let record = env.lock_record(7).unwrap();
    assert_eq!(
        record.holder,
        Holder::Session {
            session: env.session_name()
        }
    );
}

#[test]
fn a_reused_pid_is_not_the_holder() {
    let env = TestEnv::new();
    let me = ProcessId::current();
    let impostor = ProcessId {
        start_time: me.start_time + 1,
        ..me
    };
    env.seed_lock(7, Holder::Process { id: impostor }, "other-session");
    assert_eq!(
        assert_ok(&run(env.cmd("orc-lock").args(["check", "7"]))),
        "stale\n"
    );
    assert_ok(&run(env.cmd("orc-lock").args(["acquire", "7"])));
}

#[test]
fn a_live_process_holder_is_held_and_unknown_is_never_free() {
    let env = TestEnv::new();
    let sleeper = KillOnDrop::sleeper();
    env.seed_process_lock(7, sleeper.id());
    let out = run(env.cmd("orc-lock").args(["check", "7"]));
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(5), &b"held\n"[..])
    );

    // A holder whose liveness cannot be judged is treated as held.
    let nobody = ProcessId {
        pid: 0,
        start_time: 0,
    };
    env.seed_lock(8, Holder::Process { id: nobody }, "s1");
    let out = run(env.cmd("orc-lock").args(["check", "8"]));
    assert_eq!(
        (out.status.code(), out.stdout.as_slice()),
        (Some(5), &b"unknown\n"[..])
    );
    let before = env.snapshot();
    let out = run(env.cmd("orc-lock").args(["acquire", "8"]));
    assert_fails(
        &out,
        5,
        "orc-lock: error: issue 8 is locked; cannot tell if its holder (pid 0 of session s1) lives",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn acquire_with_pid_binds_to_that_process() {
    let env = TestEnv::new();
    let sleeper = KillOnDrop::sleeper();
    let pid = sleeper.id().to_string();
    let out = assert_ok(&run(env
        .cmd("orc-lock")
        .args(["acquire", "9", "--pid", &pid, "--json"])));
    let record = json(&out);
    assert_eq!(record["holder"]["type"], "process");
    assert_eq!(record["holder"]["pid"], sleeper.id());
    assert!(record["holder"]["start_time"].as_u64().unwrap() > 0);

    let before = env.snapshot();
    let out = run(env
        .cmd("orc-lock")
        .args(["acquire", "10", "--pid", "2147483647"]));
    assert_fails(&out, 2, "orc-lock: error: no such process (2147483647)");
    before.assert_same(&env.snapshot());
}

#[test]
fn release_of_another_sessions_lock_needs_force() {
    let env = TestEnv::new();
    let holder = Holder::Session {
        session: "other-1".to_string(),
    };
    env.seed_lock(7, holder, "other-1");
    let before = env.snapshot();
    let out = run(env.cmd("orc-lock").args(["release", "7"]));
    assert_fails(
        &out,
        5,
        "orc-lock: error: issue 7 is held by session other-1 for session other-1",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: pass --force"));
    before.assert_same(&env.snapshot());

    assert_ok(&run(env.cmd("orc-lock").args(["release", "7", "--force"])));
    assert!(env.lock_record(7).is_none());
}

/// SPEC §4: the key is the main repository root, found from a linked
/// worktree too, and both land in the same session.
#[test]
fn a_linked_worktree_shares_the_main_repositorys_lock() {
    let env = TestEnv::new();
    env.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "issue/7-x",
        ".worktrees/issue/7-x",
    ]);
    let worktree = env.repo.join(".worktrees/issue/7-x");
    let out = assert_ok(&run(env
        .cmd("orc-lock")
        .args(["acquire", "7", "--json"])
        .current_dir(&worktree)));
    let record = json(&out);
    assert_eq!(record["repo"], env.repo.display().to_string());
    assert_eq!(record["session"], env.session_name());
    let out = run(env.cmd("orc-lock").args(["acquire", "7"]));
    assert_fails(&out, 5, "orc-lock: error: issue 7 is locked by session");
    assert_ok(&run(env
        .cmd("orc-lock")
        .args(["release", "7"])
        .current_dir(&worktree)));
    assert!(env.lock_record(7).is_none());
}

#[test]
fn outside_a_repository_repo_is_required() {
    let env = TestEnv::new();
    let out = run(env
        .cmd("orc-lock")
        .args(["acquire", "7"])
        .current_dir(&env.home));
    assert_fails(
        &out,
        2,
        &format!(
            "orc-lock: error: not inside a git repository ({})\nhint: run from a repository or pass --repo PATH",
            env.home.display()
        ),
    );
    assert!(!env.state.join("locks").exists());
    let repo = env.repo.display().to_string();
    assert_ok(&run(env
        .cmd("orc-lock")
        .args(["acquire", "7", "--repo", &repo])
        .current_dir(&env.home)));
    assert!(env.lock_record(7).is_some());
}

#[test]
fn bad_issue_ids_are_refused_and_change_nothing() {
    let env = TestEnv::new();
    env.seed_session_lock(7);
    for verb in ["acquire", "release", "check", "holder"] {
        for bad in BAD_ISSUES {
            let before = env.snapshot();
            let out = run(env.cmd("orc-lock").args([verb, "--", bad]));
            let what = if bad.bytes().all(|b| b.is_ascii_digit()) {
                "issue number out of range 1..=2147483647"
            } else {
                "not an issue number"
            };
            assert_fails(&out, 2, &format!("orc-lock: error: {what} ({bad})"));
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("hint: an issue is a positive"),
                "{verb} {bad}"
            );
            before.assert_same(&env.snapshot());
        }
        // Without `--` the argument parser refuses `-1`, in the same format.
        let before = env.snapshot();
        let out = run(env.cmd("orc-lock").args([verb, "-1"]));
        assert_fails(&out, 2, "orc-lock: error: unexpected argument '-1' found");
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn a_corrupt_lock_record_is_reported_and_kept() {
    let env = TestEnv::new();
    env.seed_session_lock(7);
    let path = env.issue_lock(7).record_path().to_path_buf();
    fs::write(&path, "{\"issue\":7,\"holder\":").unwrap();
    let before = env.snapshot();
    for args in [
        &["acquire", "7"][..],
        &["check", "7"],
        &["holder", "7"],
        &["release", "7"],
        &["release", "7", "--force"],
    ] {
        let out = run(env.cmd("orc-lock").args(args));
        assert_fails(&out, 1, "orc-lock: error: corrupt lock record: ");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains("hint: inspect it"), "{stderr}");
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn a_relative_or_unusable_state_dir_is_refused() {
    let env = TestEnv::new();
    assert_bad_state_dirs(&env, "orc-lock", &["acquire", "7"]);
    assert_bad_state_dirs(&env, "orc-lock", &["run", "m", "--", "true"]);
}

#[test]
fn help_lists_examples_environment_and_exit_codes() {
    let env = TestEnv::new();
    let out = assert_ok(&run(env.cmd("orc-lock").arg("--help")));
    for needle in [
        "Examples:",
        "Environment:",
        "ORC_STATE_DIR",
        "Exit codes:",
        "5    issue locked",
        "124  timeout",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}

/// Start `orc-lock run NAME -- sh -c SCRIPT` with stdin and stdout piped,
/// and wait until the script prints its first line (it is running then).
fn start_run(env: &TestEnv, name: &str, script: &str) -> (KillOnDrop, String) {
    let mut child = env
        .cmd("orc-lock")
        .args(["run", name, "--", "sh", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn orc-lock run");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(PATIENCE).expect("the command started");
    (KillOnDrop(child), line)
}

#[test]
fn run_holds_the_mutex_exactly_while_the_command_runs() {
    let env = TestEnv::new();
    let done = env.root.join("first-done");
    let script = format!("echo started; read _; touch '{}'", done.display());
    let (mut first, line) = start_run(&env, "m", &script);
    assert_eq!(line, "started\n");

    let out = run(env
        .cmd("orc-lock")
        .args(["run", "m", "--no-wait", "--", "true"]));
    assert_fails(
        &out,
        5,
        "orc-lock: error: the lock is held (m)\nhint: drop --no-wait",
    );
    let out = run(env
        .cmd("orc-lock")
        .args(["run", "m", "--timeout", "0.2", "--", "true"]));
    assert_fails(
        &out,
        124,
        "orc-lock: error: timed out waiting for the lock (m)",
    );
    // Another mutex is independent.
    assert_ok(&run(env.cmd("orc-lock").args([
        "run",
        "n",
        "--no-wait",
        "--",
        "true",
    ])));

    // A waiter runs only after the first command has finished.
    let check = format!("test -e '{}'", done.display());
    let mut waiter = KillOnDrop(
        env.cmd("orc-lock")
            .args(["run", "m", "--", "sh", "-c", &check])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    drop(first.0.stdin.take()); // `read` sees end of file: the command ends
    let status = wait_child(&mut first.0, PATIENCE);
    assert_eq!(status.code(), Some(0));
    let status = wait_child(&mut waiter.0, PATIENCE);
    assert_eq!(
        status.code(),
        Some(0),
        "the waiter ran before the first command ended"
    );

    assert_ok(&run(env.cmd("orc-lock").args([
        "run",
        "m",
        "--no-wait",
        "--",
        "true",
    ])));
}

#[test]
fn run_passes_the_exit_status_through() {
    let env = TestEnv::new();
    for (script, code) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("exit 255", 255),
        ("kill -TERM $$", 128 + 15),
        ("kill -KILL $$", 128 + 9),
    ] {
        let out = run(env
            .cmd("orc-lock")
            .args(["run", "m", "--", "sh", "-c", script]));
        assert_eq!(out.status.code(), Some(code), "{script}");
    }
    // Output of the command goes straight through.
    let out = run(env
        .cmd("orc-lock")
        .args(["run", "m", "--", "echo", "hello"]));
    assert_eq!(assert_ok(&out), "hello\n");
    // And the mutex is free after each.
    assert_ok(&run(env.cmd("orc-lock").args([
        "run",
        "m",
        "--no-wait",
        "--",
        "true",
    ])));
}

#[test]
fn run_forwards_sigterm_and_lets_go() {
    let env = TestEnv::new();
    let (mut held, _) = start_run(&env, "m", "echo started; exec sleep 1000");
    let pid = nix::unistd::Pid::from_raw(held.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = wait_child(&mut held.0, PATIENCE);
    assert_eq!(status.code(), Some(128 + 15));
    assert_ok(&run(env.cmd("orc-lock").args([
        "run",
        "m",
        "--no-wait",
        "--",
        "true",
    ])));
}

#[test]
fn run_failures_say_what_and_where() {
    let env = TestEnv::new();
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &["run", "a/b", "--", "true"],
            2,
            "orc-lock: error: invalid lock name (a/b)",
        ),
        (
            &["run", "m", "--", "no-such-command-orc"],
            1,
            "orc-lock: error: cannot run the command: No such file or directory (os error 2) (no-such-command-orc)",
        ),
        (
            &["run", "m", "--timeout=-1", "--", "true"],
            2,
            "orc-lock: error: --timeout must be a number of seconds >= 0 (-1)",
        ),
        (
            &["run", "m"],
            2,
            "orc-lock: error: the following required arguments were not provided",
        ),
        (
            &["run", "m", "--no-wait", "--timeout", "1", "--", "true"],
            2,
            "orc-lock: error: the argument '--no-wait' cannot be used with '--timeout <TIMEOUT>'",
        ),
    ];
    assert_ok(&run(env.cmd("orc-lock").args(["run", "m", "--", "true"])));
    for (args, code, prefix) in cases {
        let before = env.snapshot();
        let out = run(env.cmd("orc-lock").args(args));
        assert_fails(&out, code, prefix);
        before.assert_same(&env.snapshot());
    }
    // The failed start released the mutex.
    assert_ok(&run(env.cmd("orc-lock").args([
        "run",
        "m",
        "--no-wait",
        "--",
        "true",
    ])));
}

#[test]
fn unknown_subcommands_and_flags_are_usage_errors() {
    let env = TestEnv::new();
    let out = run(env.cmd("orc-lock").arg("frob"));
    assert_fails(&out, 2, "orc-lock: error: unrecognized subcommand 'frob'");
    let out = run(env.cmd("orc-lock").args(["acquire", "7", "--bogus"]));
    assert_fails(
        &out,
        2,
        "orc-lock: error: unexpected argument '--bogus' found",
    );
    let out = run(&mut env.cmd("orc-lock"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("orc-lock: error: "));
}
