//! orc-shim, observed from outside: the agent's process group, its nice
//! value, its scrubbed environment, its log, and that nothing of its group
//! outlives it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::life::{Life, environ, proc_ids, wait_gone};
use common::{PATIENCE, assert_fails, assert_ok, wait_until};
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};

#[test]
fn the_agent_leads_its_own_group_at_the_priority_s_nice_value() {
    let env = Life::new();
    let cases = [
        (1, None, 10),
        (2, Some("critical"), 0),
        (3, Some("high"), 5),
        (4, Some("normal"), 10),
        (5, Some("low"), 15),
        (6, Some("7"), 7),
    ];
    let mut spawned = Vec::new();
    for (n, priority, _) in cases {
        env.issue(n, "hang");
        let args: Vec<&str> = priority.map(|p| vec!["--priority", p]).unwrap_or_default();
        let mut cmd = env.tool("orc-spawn");
        cmd.args(&args).arg(n.to_string());
        spawned.push(env.spawn_cmd(cmd.env("ORC_MAX_WORKERS", "6")));
    }
    // The test's process finder sees every shim and agent.
    let found = env.processes();
    for w in &spawned {
        assert!(
            found.contains(&w.pid) && found.contains(&w.shim),
            "{found:?}"
        );
    }
    for ((n, priority, nice), w) in cases.into_iter().zip(&spawned) {
        let (ppid, pgrp, sid, agent_nice) = proc_ids(w.pid);
        assert_eq!(ppid, w.shim, "worker {n}: the shim is the agent's parent");
        assert_eq!(pgrp, w.pid, "worker {n}: the agent leads its own group");
        let (_, shim_pgrp, shim_sid, shim_nice) = proc_ids(w.shim);
        assert_ne!(shim_pgrp, pgrp, "worker {n}: not the shim's group");
        assert_eq!(sid, shim_sid, "worker {n}: in the shim's session");
        assert_ne!(shim_sid, std::process::id() as i32);
        assert_eq!(agent_nice, nice, "worker {n} ({priority:?})");
        assert_eq!(shim_nice, proc_ids(std::process::id() as i32).3);
        let record = env.record(n, Kind::Worker);
        assert_eq!(record.priority, priority.unwrap_or("normal"));
    }
    for (n, ..) in cases {
        env.cleanup(n, &[]);
    }
    env.assert_no_processes();
}

#[test]
fn a_bad_priority_is_refused_before_anything_is_made() {
    let env = Life::new();
    env.issue(7, "hang");
    assert_ok(&env.run("orc-ps", &[]));
    let before = env.snapshot();
    for bad in ["urgent", "20", "-1", "+3"] {
        let out = env.run("orc-spawn", &[&format!("--priority={bad}"), "7"]);
        assert_fails(
            &out,
            2,
            &format!("orc-spawn: error: unknown priority ({bad})"),
        );
    }
    before.assert_same(&env.snapshot());
}

#[test]
fn the_agent_never_sees_the_caller_s_claude_code_session() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn_cmd(
        env.tool("orc-spawn")
            .env("CLAUDECODE", "1")
            .env("CLAUDE_CODE_SESSION_ID", "x")
            .env("CLAUDE_CODE_ENTRYPOINT", "cli")
            .env("CLAUDE_PLUGIN_ROOT", "/x")
            .env("ORC_ISSUE", "99")
            .env("ANTHROPIC_MODEL", "kept")
            .arg("7"),
    );
    for pid in [w.pid, w.shim] {
        let vars = environ(pid);
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        for gone in [
            "CLAUDECODE",
            "CLAUDE_CODE_SESSION_ID",
            "CLAUDE_CODE_ENTRYPOINT",
            "CLAUDE_PLUGIN_ROOT",
        ] {
            assert_eq!(get(gone), None, "{gone} leaked into pid {pid}");
        }
        assert_eq!(get("ORC_SESSION"), Some(env.session_name().as_str()));
        assert_eq!(get("ORC_ISSUE"), Some("7"), "the worker's own issue");
        assert_eq!(get("ORC_KIND"), Some("worker"));
        assert_eq!(get("ANTHROPIC_MODEL"), Some("kept"), "user settings stay");
    }
    env.cleanup(7, &[]);
    env.assert_no_processes();
}

#[test]
fn the_agent_s_output_is_appended_to_the_log() {
    let env = Life::new();
    env.issue(7, "crash");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    wait_gone(w.shim);
    let first = env.log(7, Kind::Worker);
    assert!(first.contains("fake-agent: issue 7 mode crash"), "{first}");
    assert!(
        first.contains(&format!(
            "orc-shim: started fake-agent (pid {}, nice 10)",
            w.pid
        )),
        "{first}"
    );
    assert!(
        first.contains("orc-shim: TERMINATED crashed agent exited with code 3 without a result"),
        "{first}"
    );

    // A second attempt writes after the first; nothing is lost.
    let again = env.spawn(7, &["--resume"]);
    assert_eq!(again.json["attempt"], 2);
    env.wait_record(7, Kind::Worker, |r| r.attempt == 2 && !r.state.is_active());
    wait_gone(again.shim);
    let both = env.log(7, Kind::Worker);
    assert!(both.starts_with(&first), "the log was appended to");
    assert_eq!(both.matches("fake-agent: issue 7 mode crash").count(), 2);

    // Stderr goes to the log too.
    env.issue(8, "throttle");
    env.spawn(8, &[]);
    assert_eq!(env.watch_one(8)["result"], "throttled");
    assert!(
        env.log(8, Kind::Worker)
            .contains("Claude usage limit reached")
    );
    env.cleanup(7, &["--force"]);
    env.cleanup(8, &[]);
    env.assert_no_processes();
}

#[test]
fn nothing_of_the_agent_s_group_outlives_it() {
    let env = Life::new();
    env.issue(7, "orphan");
    let w = env.spawn(7, &[]);
    let record = env.wait_ended(7);
    assert_eq!(record.result, Some(Outcome::Failed));
    let pid: i32 = fs::read_to_string(w.worktree.join(".orc-fake-orphan"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The child was in the agent's group, not a group of its own.
    wait_gone(pid);
    wait_gone(w.shim);
    env.cleanup(7, &[]);
    env.assert_no_processes();
}

#[test]
fn the_shim_holds_the_issue_lock_while_the_agent_runs() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    let out = env.run("orc-lock", &["holder", "7", "--json"]);
    let holder: serde_json::Value = serde_json::from_str(assert_ok(&out).trim()).unwrap();
    assert_eq!(holder["status"], "held", "{holder}");
    assert_eq!(holder["lock"]["holder"]["type"], "process", "{holder}");
    assert_eq!(holder["lock"]["holder"]["pid"], w.shim, "{holder}");
    assert_eq!(holder["lock"]["session"], env.session_name().as_str());

    // The shim records how the agent ended: killed by a signal, 128 + n.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let record = env.wait_ended(7);
    assert_eq!(record.state, State::Terminated);
    assert_eq!(record.result, Some(Outcome::Crashed));
    assert_eq!(record.detail, "agent killed by SIGKILL");
    assert_eq!(record.exit, Some(137));
    assert!(
        wait_until(PATIENCE, || env.held_locks().is_empty()),
        "a crash frees the lock"
    );
    env.cleanup(7, &[]);
    env.assert_no_processes();
}
