//! A spawn that fails at any step leaves git, the state directory (lock
//! files excepted), ~/.claude.json and every other file as they were.

use std::fs;
use std::process::Command;

use crate::common::life::{Life, add_issue};
use crate::common::{assert_fails, run};
use orc_kernel::worktree::EXCLUDES;

use super::{comparable, state_in_use};

/// Run a spawn that must fail with `code` and `prefix`, and check that it
/// left git, the state directory (lock files excepted), `~/.claude.json`
/// and every other file exactly as they were.
fn assert_rolled_back(env: &Life, cmd: &mut Command, code: i32, prefix: &str) {
    state_in_use(env);
    let (before, git, exclude) = comparable(env);
    let out = run(cmd);
    assert_fails(&out, code, prefix);
    env.assert_no_processes();
    let (after, git_after, exclude_after) = comparable(env);
    assert_eq!(git_after, git, "worktrees and branches");
    before.assert_same(&after);
    let added: Vec<&str> = exclude_after
        .lines()
        .filter(|l| !exclude.lines().any(|b| b == *l))
        .collect();
    assert!(
        exclude_after.starts_with(&exclude) && added.iter().all(|l| EXCLUDES.contains(l)),
        "info/exclude only gains orc's lines: {exclude:?} -> {exclude_after:?}"
    );
    assert!(env.held_locks().is_empty(), "the lock was given back");
}

/// A `~/.claude.json` with content of the user's own.
fn users_claude_json(env: &Life) {
    let text = "{\n  \"numStartups\": 3,\n  \"projects\": {\n    \"/home/me/code\": {\n      \"hasTrustDialogAccepted\": true\n    }\n  }\n}\n";
    fs::write(env.home.join(".claude.json"), text).unwrap();
}

#[test]
fn a_tracker_error_rolls_everything_back() {
    let env = Life::new();
    add_issue(&env, 7, "Exists", "hang");
    users_claude_json(&env);
    let path = env.repo.join(".orc/issues/9.md");
    assert_rolled_back(
        &env,
        env.tool("orc-spawn").arg("9"),
        1,
        &format!(
            "orc-spawn: error: issue 9 not found in the local tracker ({})",
            path.display()
        ),
    );
}

#[test]
fn a_worktree_error_rolls_everything_back() {
    let env = Life::new();
    add_issue(&env, 7, "Taken", "hang");
    users_claude_json(&env);
    // Someone's files where the worktree would go.
    let foreign = env.repo.join(".worktrees/issue/7-taken");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("mine.txt"), "not orc's\n").unwrap();
    assert_rolled_back(
        &env,
        env.tool("orc-spawn").arg("7"),
        1,
        &format!(
            "orc-spawn: error: worktree path exists and is not a worktree of this repository ({})",
            foreign.display()
        ),
    );
    fs::remove_dir_all(env.repo.join(".worktrees")).unwrap();

    assert_rolled_back(
        &env,
        env.tool("orc-spawn").args(["--base", "nosuch", "7"]),
        2,
        "orc-spawn: error: base branch does not exist (nosuch)",
    );
}

#[test]
fn a_backend_error_rolls_everything_back() {
    let env = Life::new();
    add_issue(&env, 7, "Elsewhere", "hang");
    users_claude_json(&env);
    assert_rolled_back(
        &env,
        // The recording fake wezterm on PATH refuses to open a tab when it
        // has no log to record to: a backend that fails after everything
        // else was made.
        env.tool("orc-spawn")
            .env("ORC_BACKEND", "wezterm")
            .env_remove("FAKE_WEZTERM_LOG")
            .arg("7"),
        1,
        "orc-spawn: error: wezterm could not open a tab: ",
    );
}

#[test]
fn an_agent_that_cannot_start_rolls_everything_back() {
    let env = Life::new();
    add_issue(&env, 7, "Nobody home", "hang");
    // No ~/.claude.json yet: the one spawn creates goes again.
    assert_rolled_back(
        &env,
        env.tool("orc-spawn")
            .env("ORC_AGENT_CMD", "no-such-agent {issue}")
            .arg("7"),
        1,
        "orc-spawn: error: cannot find the agent's program (no-such-agent)",
    );
    assert!(!env.home.join(".claude.json").exists());
}
