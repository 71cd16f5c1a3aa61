//! orc-state: a worker reports its phase (after peeking at a pending
//! signal) or writes its checkpoint; records are replaced atomically.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use orc_kernel::ids::Kind::{Reviewer, Worker};
use orc_kernel::record::{Outcome, Record, State};
use orc_kernel::signal::{self, Signal};
use serde_json::Value;

fn state(env: &TestEnv, args: &[&str]) -> std::process::Output {
    run(env.worker_cmd("orc-state", 7, Worker).args(args))
}

#[test]
fn reports_running_and_waiting_phases() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Ready);

    assert_eq!(
        assert_ok(&state(&env, &["RUNNING", "phase1:implement"])),
        ""
    );
    let r = env.record(7, Worker);
    assert_eq!(
        (r.state, r.detail.as_str()),
        (State::Running, "phase1:implement")
    );

    assert_ok(&state(&env, &["WAITING", "ci"]));
    assert_eq!(env.record(7, Worker).state, State::Waiting);

    // The words of the detail are joined (the state is upper case: see
    // tests/hostile/canonical.rs for the refusal of `running`).
    assert_ok(&state(&env, &["RUNNING", "phase", "2", "of", "3"]));
    let r = env.record(7, Worker);
    assert_eq!(
        (r.state, r.detail.as_str()),
        (State::Running, "phase 2 of 3")
    );

    let out = assert_ok(&state(&env, &["WAITING", "review", "--json"]));
    let printed: Record = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(printed, env.record(7, Worker));
    assert_eq!(printed.detail, "review");
    assert_eq!(printed.repo.as_deref(), Some(env.repo.to_str().unwrap()));

    let events: Vec<Value> = env.events();
    assert_eq!(events.len(), 4);
    assert!(
        events
            .iter()
            .all(|e| e["event"] == "state" && e["issue"] == 7)
    );
    assert_eq!(events[3]["state"], "WAITING");
    let log = fs::read_to_string(env.proc(7, Worker).log_path()).unwrap();
    assert_eq!(log.lines().count(), 4);
    assert!(log.contains("orc-state: RUNNING phase1:implement"), "{log}");
}

#[test]
fn the_worker_is_found_from_flags_environment_or_env_file() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    env.seed_worker(8, Reviewer, State::Running);

    assert_ok(&run(env.cmd("orc-state").args([
        "--issue", "8", "--kind", "reviewer", "RUNNING", "by-flags",
    ])));
    assert_eq!(env.record(8, Reviewer).detail, "by-flags");

    assert_ok(&run(env
        .cmd("orc-state")
        .args(["RUNNING", "by-env"])
        .env("ORC_ISSUE", "8")
        .env("ORC_KIND", "reviewer")));
    assert_eq!(env.record(8, Reviewer).detail, "by-env");

    // `.orc-env` at the worktree root, as orc-spawn writes it.
    fs::write(
        env.repo.join(".orc-env"),
        "# written by orc-spawn\nORC_ISSUE='7'\nORC_KIND=worker\n",
    )
    .unwrap();
    assert_ok(&run(env.cmd("orc-state").args(["RUNNING", "by-file"])));
    assert_eq!(env.record(7, Worker).detail, "by-file");
    // The environment wins over the file.
    assert_ok(&run(env
        .cmd("orc-state")
        .args(["RUNNING", "env-wins"])
        .env("ORC_ISSUE", "8")
        .env("ORC_KIND", "reviewer")));
    assert_eq!(env.record(8, Reviewer).detail, "env-wins");
    assert_eq!(env.record(7, Worker).detail, "by-file");
}

#[test]
fn quotes_and_any_printable_text_are_stored_verbatim() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    for detail in [
        r#"it's "done" — `really` $(rm -rf /) \n \\ 'x'"#,
        "ünïcödé ✓ 日本語",
        &"x".repeat(1024),
        &"é".repeat(512),
    ] {
        assert_ok(&state(&env, &["RUNNING", detail]));
        assert_eq!(env.record(7, Worker).detail, detail);
        let raw = fs::read_to_string(env.proc(7, Worker).state_path()).unwrap();
        let parsed: Value = serde_json::from_str(&raw).unwrap();
        assert_eq!(parsed["detail"], detail);
    }
}

#[test]
fn bad_details_are_refused_and_change_nothing() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let big = "y".repeat(100 * 1024);
    let cases: [(&str, &str); 7] = [
        (
            "line one\nline two",
            "orc-state: error: detail contains a control character (U+000A) (line one\\nline two)",
        ),
        (
            "carriage\rreturn",
            "orc-state: error: detail contains a control character (U+000D)",
        ),
        (
            "tab\there",
            "orc-state: error: detail contains a control character (U+0009)",
        ),
        (
            "escape \x1b[31m red",
            "orc-state: error: detail contains a control character (U+001B)",
        ),
        (
            "nul-free but \x7f del",
            "orc-state: error: detail contains a control character (U+007F)",
        ),
        (
            &big[..1025],
            "orc-state: error: detail is 1025 bytes; the limit is 1024",
        ),
        (
            &big,
            "orc-state: error: detail is 102400 bytes; the limit is 1024 (yyyy",
        ),
    ];
    for (detail, prefix) in cases {
        let before = env.snapshot();
        let out = state(&env, &["RUNNING", detail]);
        assert_fails(&out, 2, prefix);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("\nhint: "), "{stderr}");
        assert!(stderr.len() < 1024, "the message quotes the detail in full");
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn unknown_and_disallowed_states_are_refused() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let cases: [(&[&str], &str); 6] = [
        (
            &["FOO", "x"],
            "orc-state: error: unknown state (FOO)\nhint: states are NEW, READY, RUNNING",
        ),
        (
            &["", "x"],
            "orc-state: error: unknown state\nhint: states are",
        ),
        (
            &["TERMINATED", "x"],
            "orc-state: error: orc-state reports RUNNING or WAITING (TERMINATED)\nhint: end the worker with orc-notify RESULT",
        ),
        (
            &["SUSPENDED", "x"],
            "orc-state: error: orc-state reports RUNNING or WAITING (SUSPENDED)",
        ),
        (
            &["READY"],
            "orc-state: error: orc-state reports RUNNING or WAITING (READY)",
        ),
        (&[], "orc-state: error: missing STATE (orc-state)"),
    ];
    for (args, prefix) in cases {
        let before = env.snapshot();
        assert_fails(&state(&env, args), 2, prefix);
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn bad_issue_ids_and_kinds_are_refused() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    for bad in BAD_ISSUES {
        let before = env.snapshot();
        let flag = format!("--issue={bad}");
        let out = run(env.cmd("orc-state").args([flag.as_str(), "RUNNING", "x"]));
        assert_fails(
            &out,
            2,
            &format!("orc-state: error: invalid value '{bad}' for '--issue <ISSUE>': "),
        );
        let out = run(env
            .cmd("orc-state")
            .args(["RUNNING", "x"])
            .env("ORC_ISSUE", bad));
        assert_fails(
            &out,
            2,
            &format!("orc-state: error: invalid ORC_ISSUE=\"{bad}\" set in the environment\n"),
        );
        before.assert_same(&env.snapshot());
    }
    let before = env.snapshot();
    let out = run(env.cmd("orc-state").args(["--issue", "-1", "RUNNING", "x"]));
    assert_fails(&out, 2, "orc-state: error: unexpected argument '-1' found");
    let out = state(&env, &["--kind", "boss", "RUNNING", "x"]);
    assert_fails(
        &out,
        2,
        "orc-state: error: invalid value 'boss' for '--kind <KIND>': unknown kind (boss)",
    );
    let out = run(env
        .cmd("orc-state")
        .args(["RUNNING", "x"])
        .env("ORC_KIND", "boss")
        .env("ORC_ISSUE", "7"));
    assert_fails(
        &out,
        2,
        "orc-state: error: invalid ORC_KIND=\"boss\" set in the environment\nhint: ORC_KIND accepts one of: worker, reviewer",
    );
    let out = run(env.cmd("orc-state").args(["RUNNING", "x"]));
    assert_fails(
        &out,
        2,
        &format!(
            "orc-state: error: cannot tell which issue this worker is ({})\nhint: pass --issue N",
            env.repo.display()
        ),
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn a_missing_worker_is_an_error_that_creates_nothing() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    let before = env.snapshot();
    let out = run(env
        .worker_cmd("orc-state", 8, Worker)
        .args(["RUNNING", "x"]));
    assert_fails(
        &out,
        1,
        "orc-state: error: no such worker (worker 8)\nhint: orc-ps lists the workers",
    );
    before.assert_same(&env.snapshot());
    let out = run(env
        .worker_cmd("orc-state", 7, Reviewer)
        .args(["RUNNING", "x"]));
    assert_fails(&out, 1, "orc-state: error: no such reviewer (reviewer 7)");
    before.assert_same(&env.snapshot());
}

/// A pending signal is printed, nothing is written, the exit is 3, and the
/// signal stays pending for `orc-signal check` to consume.
#[test]
fn a_pending_signal_is_peeked_not_consumed() {
    let env = TestEnv::new();
    let proc = env.seed_worker(7, Worker, State::Running);
    signal::send(&proc, Signal::Term).unwrap();
    let before = env.snapshot();

    let out = state(&env, &["RUNNING", "phase2"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "TERM\n");
    assert!(out.stderr.is_empty());
    before.assert_same(&env.snapshot());

    // Peeking twice sees it twice.
    let out = state(&env, &["WAITING", "ci", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let pending: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pending["signal"], "TERM");
    before.assert_same(&env.snapshot());

    let out = run(env.worker_cmd("orc-signal", 7, Worker).arg("check"));
    assert_eq!(assert_ok(&out), "TERM\n");
    assert_ok(&state(&env, &["RUNNING", "phase2"]));
    assert_eq!(env.record(7, Worker).detail, "phase2");
}

#[test]
fn a_terminal_record_is_never_overwritten() {
    let env = TestEnv::new();
    env.seed_worker_with(7, Worker, State::Terminated, |r| {
        r.result = Some(Outcome::Merged);
        r.detail = "PR 12".to_string();
    });
    let before = env.snapshot();
    for args in [&["RUNNING", "again"][..], &["WAITING", "ci"]] {
        let out = state(&env, args);
        assert_fails(
            &out,
            1,
            "orc-state: error: worker 7 already ended with merged (TERMINATED)\nhint: a terminal record is written once",
        );
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn a_suspended_worker_cannot_report_until_resumed() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Suspended);
    let before = env.snapshot();
    let out = state(&env, &["RUNNING", "x"]);
    assert_fails(
        &out,
        1,
        "orc-state: error: cannot go from SUSPENDED to RUNNING (worker-7)",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn a_corrupt_record_is_reported_and_kept() {
    let env = TestEnv::new();
    let proc = env.seed_worker(7, Worker, State::Running);
    corrupt_record(&proc);
    let before = env.snapshot();
    for args in [&["RUNNING", "x"][..], &["checkpoint", "--phase", "2"]] {
        let out = state(&env, args);
        assert_fails(&out, 1, "orc-state: error: corrupt record: ");
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
}

/// SPEC §3: a reader never sees half a record. Two writers replace the
/// record 1,000 times through `orc-state` while this test reads it as fast
/// as it can; every read parses, and each writer's steps only move forward.
#[test]
fn a_record_read_during_a_thousand_writes_is_never_partial() {
    const PER_WRITER: usize = 500;
    let env = TestEnv::new();
    let proc = env.seed_worker(7, Worker, State::Running);
    let path = proc.state_path();
    let writer = |name: &str| {
        let script = format!(
            "i=1; while [ $i -le {PER_WRITER} ]; do \
               orc-state RUNNING {name}-$i || exit 1; i=$((i+1)); done"
        );
        env.shell(&script)
            .env("ORC_ISSUE", "7")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn a writer")
    };
    let done = AtomicBool::new(false);
    let (reads, last) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0u64;
            let mut last = [0usize; 2];
            while !done.load(Ordering::SeqCst) {
                let bytes = fs::read(&path).expect("the record is always there");
                let record: Record = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    panic!("partial record ({e}): {}", String::from_utf8_lossy(&bytes))
                });
                assert_eq!(record.state, State::Running);
                if let Some((name, n)) = record.detail.split_once('-') {
                    let slot = usize::from(name == "b");
                    let n: usize = n.parse().unwrap();
                    assert!(
                        n >= last[slot],
                        "{name} went back from {} to {n}",
                        last[slot]
                    );
                    last[slot] = n;
                } else {
                    assert_eq!(record.detail, "phase1:implement");
                }
                reads += 1;
            }
            (reads, last)
        });
        let mut a = KillOnDrop(writer("a"));
        let mut b = KillOnDrop(writer("b"));
        let status_a = wait_child(&mut a.0, PATIENCE * 10);
        let status_b = wait_child(&mut b.0, PATIENCE * 10);
        done.store(true, Ordering::SeqCst);
        assert!(status_a.success() && status_b.success(), "a writer failed");
        reader
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    });
    assert!(reads > 100, "only {reads} reads: the test proved little");
    assert!(last.iter().all(|&n| n <= PER_WRITER), "{last:?}");
    // The last write wins; every write landed, in each writer's order; and
    // none left a temporary file behind.
    let detail = env.record(7, Worker).detail;
    assert!(
        detail == format!("a-{PER_WRITER}") || detail == format!("b-{PER_WRITER}"),
        "{detail}"
    );
    let events = env.events();
    assert_eq!(events.len(), 2 * PER_WRITER);
    for name in ["a", "b"] {
        let steps: Vec<usize> = events
            .iter()
            .filter_map(|e| {
                e["detail"]
                    .as_str()?
                    .strip_prefix(&format!("{name}-"))?
                    .parse()
                    .ok()
            })
            .collect();
        assert_eq!(steps, (1..=PER_WRITER).collect::<Vec<_>>(), "writer {name}");
    }
    let names: Vec<String> = fs::read_dir(proc.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".orc-tmp-")),
        "{names:?}"
    );
    eprintln!("{reads} consistent reads during {} writes", 2 * PER_WRITER);
}

#[test]
fn checkpoint_writes_what_a_resumed_worker_reads() {
    let env = TestEnv::new();
    let proc = env.seed_worker(7, Worker, State::Running);
    let out = assert_ok(&state(
        &env,
        &[
            "checkpoint",
            "--phase",
            "2",
            "--done",
            "parser \"written\"",
            "--next",
            "tests",
            "--json",
        ],
    ));
    let printed: Value = serde_json::from_str(out.trim()).unwrap();
    let saved: Value =
        serde_json::from_str(&fs::read_to_string(proc.checkpoint_path()).unwrap()).unwrap();
    assert_eq!(printed, saved);
    assert_eq!(saved["phase"], "2");
    assert_eq!(saved["done"], "parser \"written\"");
    assert_eq!(saved["next"], "tests");
    assert_eq!(saved["attempt"], 1);
    // The record itself is untouched.
    assert_eq!(env.record(7, Worker).detail, "phase1:implement");

    let cases: [(&[&str], &str); 4] = [
        (
            &["checkpoint"],
            "orc-state: error: the following required arguments were not provided",
        ),
        (
            &["checkpoint", "--phase", ""],
            "orc-state: error: a checkpoint needs a phase (--phase)",
        ),
        (
            &["checkpoint", "--phase", "3", "--done", "a\nb"],
            "orc-state: error: detail contains a control character (U+000A)",
        ),
        (
            &["checkpoint", "--phase", "3", "RUNNING"],
            "orc-state: error: unexpected argument 'RUNNING' found",
        ),
    ];
    for (args, prefix) in cases {
        let before = env.snapshot();
        assert_fails(&state(&env, args), 2, prefix);
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn a_relative_or_unusable_state_dir_is_refused() {
    let env = TestEnv::new();
    assert_bad_state_dirs(&env, "orc-state", &["--issue", "7", "RUNNING", "x"]);
}

#[test]
fn help_lists_environment_and_exit_codes() {
    let env = TestEnv::new();
    let out = assert_ok(&run(env.cmd("orc-state").arg("--help")));
    for needle in [
        "Examples:",
        "ORC_ISSUE",
        "ORC_KIND",
        "Exit codes:",
        "3    signal pending",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}
