//! orc-ps: the process table, read from the records; unreadable records
//! are listed with their error, never guessed at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use orc_kernel::ids::Kind::{Reviewer, Worker};
use orc_kernel::liveness::ProcessId;
use orc_kernel::procdir::ShimIds;
use orc_kernel::record::{Outcome, State};
use serde_json::Value;

const HEADER: &str = "ISSUE  KIND  STATE  DETAIL  PRIORITY  UPTIME  PID  ALIVE  WORKTREE  SESSION";

fn rows(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    let out = assert_ok(&run(env.cmd("orc-ps").arg("--json").args(args)));
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[test]
fn no_workers_is_a_header_or_nothing() {
    let env = TestEnv::new();
    assert_eq!(
        assert_ok(&run(&mut env.cmd("orc-ps"))),
        format!("{HEADER}\n")
    );
    assert!(rows(&env, &[]).is_empty());
    // Outside any repository the session is `default`: empty too.
    let out = run(env.cmd("orc-ps").arg("--json").current_dir(&env.home));
    assert_eq!(assert_ok(&out), "");
}

#[test]
fn lists_the_workers_of_this_session_in_order() {
    let env = TestEnv::new();
    env.seed_worker_with(12, Worker, State::Suspended, |r| {
        r.priority = "high".to_string();
        r.detail = "checkpoint at phase 2".to_string();
    });
    env.seed_worker_with(7, Reviewer, State::Terminated, |r| {
        r.result = Some(Outcome::Approved);
        r.detail = "LGTM".to_string();
    });
    env.seed_worker_with(7, Worker, State::Running, |r| {
        r.pid = Some(4242);
        r.worktree = Some("/w/.worktrees/issue/7-x".to_string());
        r.branch = Some("issue/7-x".to_string());
    });

    let rows = rows(&env, &[]);
    let order: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| (r["issue"].as_u64().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(order, [(7, "worker"), (7, "reviewer"), (12, "worker")]);
    let session = env.session_name();
    for row in &rows {
        assert_eq!(row["session"], session.as_str());
        for key in [
            "state",
            "detail",
            "result",
            "priority",
            "pid",
            "started_at",
            "updated_at",
            "worktree",
            "branch",
            "attempt",
            "alive",
            "uptime_s",
        ] {
            assert!(row.get(key).is_some(), "row lacks {key}: {row}");
        }
        assert!(row.get("error").is_none());
    }
    assert_eq!(rows[0]["state"], "RUNNING");
    assert_eq!(rows[0]["pid"], 4242);
    assert_eq!(rows[0]["worktree"], "/w/.worktrees/issue/7-x");
    assert_eq!(
        rows[0]["alive"], "unknown",
        "no shim.pid: cannot tell, never dead"
    );
    assert_eq!(rows[1]["result"], "approved");
    assert_eq!(rows[1]["alive"], "-");
    assert_eq!(rows[2]["state"], "SUSPENDED");
    assert_eq!(rows[2]["priority"], "high");

    let table = assert_ok(&run(&mut env.cmd("orc-ps")));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("ISSUE  KIND      STATE"), "{table}");
    assert!(lines[1].contains("phase1:implement"), "{table}");
    assert!(lines[2].contains("approved: LGTM"), "{table}");
    assert!(
        lines[3].contains("suspended: checkpoint at phase 2"),
        "{table}"
    );
    assert!(
        lines.iter().skip(1).all(|l| l.ends_with(&session)),
        "{table}"
    );
}

#[test]
fn alive_follows_the_shims_pid_and_start_time() {
    let env = TestEnv::new();
    let shim = KillOnDrop::sleeper();
    let live = ProcessId::of(shim.id() as i32).unwrap();
    let reused = ProcessId {
        start_time: live.start_time + 1,
        ..live
    };
    for (issue, id) in [(1, live), (2, reused)] {
        let proc = env.seed_worker(issue, Worker, State::Running);
        proc.write_shim(&ShimIds {
            shim: id,
            agent: None,
        })
        .unwrap();
    }
    let alive = |env: &TestEnv| -> Vec<String> {
        rows(env, &[])
            .iter()
            .map(|r| r["alive"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(alive(&env), ["yes", "no"]);
    drop(shim); // killed and reaped
    assert_eq!(alive(&env), ["no", "no"]);
}

#[test]
fn uptime_follows_the_clock_and_stops_at_the_end() {
    let env = TestEnv::new();
    env.seed_worker_with(1, Worker, State::Running, |r| {
        r.started_at = "2026-01-01T00:00:00.000Z".to_string();
    });
    env.seed_worker_with(2, Worker, State::Terminated, |r| {
        r.started_at = "2026-01-01T00:00:00.000Z".to_string();
        r.updated_at = "2026-01-01T00:07:03.000Z".to_string();
    });
    let out = assert_ok(&run(env
        .cmd("orc-ps")
        .arg("--json")
        .env("ORC_NOW", "2026-01-01T03:05:00Z")));
    let uptimes: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["uptime_s"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(uptimes, [3 * 3600 + 300, 423]);
    let table = assert_ok(&run(env
        .cmd("orc-ps")
        .env("ORC_NOW", "2026-01-01T03:05:00Z")));
    assert!(table.contains("3h05m"), "{table}");
    assert!(table.contains("7m03s"), "{table}");

    let out = run(env.cmd("orc-ps").env("ORC_NOW", "yesterday"));
    assert_fails(
        &out,
        2,
        "orc-ps: error: invalid ORC_NOW=\"yesterday\" set in the environment\n",
    );
}

#[test]
fn all_lists_every_session_and_orc_session_picks_one() {
    let env = TestEnv::new();
    env.seed_worker(1, Worker, State::Running);
    let other = env.named_session("zz-other");
    env.seed_in(&other, 2, Worker, State::Running, |_| {});

    let issues = |rows: Vec<Value>| -> Vec<(u64, String)> {
        rows.iter()
            .map(|r| {
                (
                    r["issue"].as_u64().unwrap(),
                    r["session"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let mine = env.session_name();
    assert_eq!(issues(rows(&env, &[])), [(1, mine.clone())]);
    assert_eq!(
        issues(rows(&env, &["--all"])),
        [(1, mine), (2, "zz-other".to_string())]
    );
    let out = assert_ok(&run(env
        .cmd("orc-ps")
        .arg("--json")
        .env("ORC_SESSION", "zz-other")));
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("\"issue\":2"));
    let out = run(env.cmd("orc-ps").env("ORC_SESSION", "../x"));
    assert_fails(
        &out,
        2,
        "orc-ps: error: invalid ORC_SESSION=\"../x\" set in the environment\n",
    );
}

#[test]
fn a_corrupt_record_is_listed_with_its_error_and_kept() {
    let env = TestEnv::new();
    env.seed_worker(1, Worker, State::Running);
    let proc = env.seed_worker(2, Worker, State::Running);
    corrupt_record(&proc);
    // Directories that are not `<kind>-<N>` are not workers.
    for junk in ["notes", "worker-x", "worker-0", "boss-3"] {
        fs::create_dir(env.session().procs().join(junk)).unwrap();
    }
    let before = env.snapshot();
    let out = run(env.cmd("orc-ps").arg("--json"));
    let stdout = assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("orc-ps: warning: cannot read the record of worker 2 (corrupt record: "),
        "{stderr}"
    );
    assert!(
        stderr.contains(&proc.state_path().display().to_string()),
        "{stderr}"
    );
    let rows: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["state"], "RUNNING");
    assert!(rows[1].get("state").is_none());
    assert!(
        rows[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("corrupt record: ")
    );
    assert_eq!(rows[1]["alive"], "unknown");
    let table = assert_ok(&run(&mut env.cmd("orc-ps")));
    assert!(table.lines().nth(2).unwrap().contains("?"), "{table}");
    before.assert_same(&env.snapshot());
}

/// Enough rows that the output outgrows a pipe's buffer, so `orc-ps` is
/// still writing when `head` goes away.
fn seed_many(env: &TestEnv, n: u32) {
    for issue in 1..=n {
        env.seed_worker(issue, Worker, State::Running);
    }
    let full = assert_ok(&run(env.cmd("orc-ps").arg("--json")));
    assert!(full.len() > 2 * 65536, "only {} bytes", full.len());
}

#[test]
fn a_closed_pipe_ends_it_quietly_with_exit_0() {
    let env = TestEnv::new();
    seed_many(&env, 500);
    let out = run(Command::new("/bin/bash")
        .args(["-o", "pipefail", "-c", "orc-ps --json | head -1"])
        .env_clear()
        .env("PATH", path_var())
        .env("HOME", &env.home)
        .env("ORC_STATE_DIR", &env.state)
        .current_dir(&env.repo));
    let stdout = assert_ok(&out);
    assert_eq!(stdout.lines().count(), 1);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The same with the reader in this process: read one line, hang up.
    let mut child = env
        .cmd("orc-ps")
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = drain(child.stderr.take());
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("{\"issue\":1,"), "{line}");
    let status = wait_child(&mut child, PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(stderr.join().unwrap().is_empty());
}

#[test]
fn a_relative_or_unusable_state_dir_is_refused() {
    let env = TestEnv::new();
    assert_bad_state_dirs(&env, "orc-ps", &[]);
    assert_bad_state_dirs(&env, "orc-ps", &["--all", "--json"]);
}

#[test]
fn bad_flags_and_help() {
    let env = TestEnv::new();
    let out = run(env.cmd("orc-ps").arg("--bogus"));
    assert_fails(
        &out,
        2,
        "orc-ps: error: unexpected argument '--bogus' found",
    );
    let out = run(env.cmd("orc-ps").arg("7"));
    assert_fails(&out, 2, "orc-ps: error: unexpected argument '7' found");
    let help = assert_ok(&run(env.cmd("orc-ps").arg("--help")));
    for needle in ["Examples:", "--all", "--json", "Exit codes:", "0    ok"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}
