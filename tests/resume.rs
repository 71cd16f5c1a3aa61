//! `orc-spawn --resume` is a resume (issue 10, item 10): the worktree is
//! trusted again, the agent is told it resumes and why (in its prompt and
//! in its task file), and a resume without a checkpoint goes ahead with a
//! warning on stderr, in `warnings` and in the worker's log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::life::{Life, stderr};
use common::{PATIENCE, assert_ok, run, wait_until};
use orc_kernel::context::TASK_FILE;
use orc_kernel::ids::Kind;
use serde_json::Value;

#[test]
fn a_resume_is_trusted_told_why_and_warned_without_a_checkpoint() {
    let env = Life::new();
    env.issue(7, "crash");
    let first = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    env.wait_until_settled(7);
    // Someone tidied ~/.claude.json since: the worktree is not trusted.
    let config = env.home.join(".claude.json");
    let mut doc: Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    doc["projects"].as_object_mut().unwrap().clear();
    fs::write(&config, serde_json::to_vec(&doc).unwrap()).unwrap();
    assert!(env.trusted().is_empty());

    let out = run(env
        .tool("orc-spawn")
        .env("FAKE_AGENT_ECHO_ARGS", "1")
        .args(["--resume", "7"]));
    let again: Value = serde_json::from_str(&assert_ok(&out)).unwrap();
    assert_eq!(again["attempt"], 2);
    let warning = "worker 7 has no checkpoint; the agent resumes from its branch and task file";
    assert_eq!(
        stderr(&out),
        format!("orc-spawn: warning: {warning}\n"),
        "one warning"
    );
    assert_eq!(again["warnings"], serde_json::json!([warning]));
    assert_eq!(
        env.trusted(),
        vec![first.worktree.display().to_string()],
        "trusted again"
    );

    let log = || env.log(7, Kind::Worker);
    let why = "attempt 1 ended crashed: agent exited with code 3 without a result";
    let wanted = [
        "This run resumes earlier work on the issue.".to_string(),
        format!("Reason for the resume: {why}"),
        "There is no checkpoint: read `git log` and `git status`".to_string(),
        format!("orc-spawn: warning: {warning}"),
    ];
    // The fake agent echoes its arguments one line at a time: wait for the
    // whole prompt, not for its first line.
    wait_until(PATIENCE, || {
        let now = log();
        wanted.iter().all(|line| now.contains(line))
    });
    for line in &wanted {
        assert!(log().contains(line), "{line:?} in {}", log());
    }
    let task = fs::read_to_string(first.worktree.join(TASK_FILE)).unwrap();
    assert!(
        task.ends_with(&format!(
            "\n## Resumed: attempt 2\n\nWhy: {why}\nCheckpoint: none (see git log and git status)\n"
        )),
        "{task}"
    );
    env.watch_one(7);
    env.wait_until_settled(7);
    env.cleanup(7, &["--force"]);
}

#[test]
fn a_failed_resume_puts_the_task_file_back() {
    let env = Life::new();
    env.issue(7, "crash");
    let first = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    env.wait_until_settled(7);
    let task = fs::read(first.worktree.join(TASK_FILE)).unwrap();
    // An agent that cannot be found fails the resume after the task file
    // was written.
    let out = run(env
        .tool("orc-spawn")
        .env("ORC_AGENT_CMD", "no-such-agent {issue}")
        .args(["--resume", "7"]));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot find the agent's program"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(first.worktree.join(TASK_FILE)).unwrap(), task);
    assert_eq!(env.record(7, Kind::Worker).attempt, 1);
    env.cleanup(7, &["--force"]);
}
