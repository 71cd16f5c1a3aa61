//! orc-spawn: what it prints, the worktree it builds, the refusals, and the
//! rollback of every artefact when a later step fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "spawn/rollback.rs"]
mod rollback;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use common::life::{GitState, Life, add_issue, git_in, stderr, without_lock_files};
use common::{BAD_ISSUES, Entry, Snapshot, assert_fails, assert_ok, run};
use orc_kernel::ids::Kind;
use orc_kernel::record::State;

#[test]
fn prints_the_worker_and_builds_its_address_space() {
    let env = Life::new();
    fs::write(env.repo.join(".gitignore"), "target/\n").unwrap();
    env.git(&["add", ".gitignore"]);
    env.git(&["commit", "-q", "-m", "ignore target"]);
    add_issue(&env, 7, "Fix the login bug!", "hang");
    env.git(&["add", ".orc"]);
    env.git(&["commit", "-q", "-m", "issues"]);

    let w = env.spawn(7, &[]);
    let session = env.session_name();
    let wt = env.repo.join(".worktrees/issue/7-fix-the-login-bug");
    let proc = env.proc(7, Kind::Worker);
    assert_eq!(w.json["issue"], 7);
    assert_eq!(w.json["kind"], "worker");
    assert_eq!(w.json["session"], session.as_str());
    assert_eq!(w.worktree, wt);
    assert_eq!(w.branch, "issue/7-fix-the-login-bug");
    assert_eq!(w.json["base"], "main");
    assert_eq!(w.json["attempt"], 1);
    assert_eq!(w.json["agent"], "custom");
    assert_eq!(w.wake, proc.wake_path());
    let meta = fs::symlink_metadata(&w.wake).unwrap();
    assert!(meta.file_type().is_fifo(), "the wake path is a FIFO");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let ids = env.shim_ids(7, Kind::Worker);
    assert_eq!(
        (ids.shim.pid, ids.agent.map(|a| a.pid)),
        (w.shim, Some(w.pid))
    );

    // The record: the worker runs in its worktree on its branch.
    let record = env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    assert_eq!(record.pid, Some(w.pid));
    assert_eq!(record.worktree.as_deref(), Some(wt.to_str().unwrap()));
    assert_eq!(record.branch.as_deref(), Some(w.branch.as_str()));
    assert_eq!(record.base.as_deref(), Some("main"));

    // The task file: title and body.
    let task = fs::read_to_string(wt.join(".orc-task.md")).unwrap();
    assert!(task.contains("Fix the login bug!"), "{task}");
    assert!(task.contains("Issue 7 of the tests."), "{task}");
    // The env file: who the worker is, every value quoted.
    let orc_env = fs::read_to_string(wt.join(".orc-env")).unwrap();
    for want in [
        "ORC_ISSUE='7'".to_string(),
        "ORC_KIND='worker'".to_string(),
        format!("ORC_SESSION='{session}'"),
        format!("ORC_STATE_DIR='{}'", env.state.display()),
    ] {
        assert!(orc_env.lines().any(|l| l == want), "{want} in {orc_env}");
    }
    for line in orc_env.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.split_once('=').expect("KEY=VALUE");
        assert!(value.starts_with('\'') && value.ends_with('\''), "{line}");
    }

    // orc's files are excluded through info/exclude; .gitignore is the
    // project's and stays as it was.
    let exclude = fs::read_to_string(env.repo.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == ".worktrees/"), "{exclude}");
    assert!(exclude.lines().any(|l| l == ".orc-*"), "{exclude}");
    assert_eq!(
        fs::read_to_string(env.repo.join(".gitignore")).unwrap(),
        "target/\n"
    );
    assert_eq!(git_in(&env, &env.repo, &["status", "--porcelain"]), "");
    assert_eq!(git_in(&env, &wt, &["status", "--porcelain"]), "");

    // Claude Code trusts the worktree.
    assert_eq!(env.trusted(), vec![wt.display().to_string()]);
    let claude: serde_json::Value =
        serde_json::from_slice(&fs::read(env.home.join(".claude.json")).unwrap()).unwrap();
    assert_eq!(
        claude["projects"][wt.to_str().unwrap()]["hasTrustDialogAccepted"],
        true
    );

    env.cleanup(7, &[]);
    env.assert_no_processes();
}

#[test]
fn a_title_is_data_never_shell() {
    let env = Life::new();
    let title = "Fix $(touch pwned) and `touch pwned2`; it's \"quoted\"";
    add_issue(&env, 7, title, "hang");
    // A configuration value with shell in it reaches .orc-env too.
    let w = env.spawn_cmd(
        env.tool("orc-spawn")
            .env("ORC_AGENT_CMD", "fake-agent {issue} '$(touch pwned4)'")
            .arg("7"),
    );
    let task = fs::read_to_string(w.worktree.join(".orc-task.md")).unwrap();
    assert!(task.contains(title), "{task}");
    env.wait_record(7, Kind::Worker, |r| r.detail == "phase1:hang");

    // A worker-side tool that finds itself through .orc-env (no ORC_ISSUE
    // in its environment) reads the values as data.
    let out = run(env
        .cmd("orc-state")
        .args(["RUNNING", "phase2:$(touch pwned3)"])
        .current_dir(&w.worktree));
    assert_ok(&out);
    let record = env.record(7, Kind::Worker);
    assert_eq!(record.detail, "phase2:$(touch pwned3)");

    // Sourced by a shell, .orc-env gives back exactly the values.
    let out = run(env
        .shell("set -a; . ./.orc-env; printf '%s\\n' \"$ORC_AGENT_CMD\" \"$ORC_ISSUE\"")
        .current_dir(&w.worktree));
    assert_eq!(assert_ok(&out), "fake-agent {issue} '$(touch pwned4)'\n7\n");

    env.cleanup(7, &[]);
    let walked: Vec<_> = walk_names(&env.root)
        .into_iter()
        .filter(|n| n.starts_with("pwned"))
        .collect();
    assert!(walked.is_empty(), "something ran the title: {walked:?}");
}

fn walk_names(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk_names(&e.path()));
        }
    }
    out
}

#[test]
fn a_held_lock_exits_5_and_changes_nothing() {
    let env = Life::new();
    add_issue(&env, 7, "Locked", "hang");
    env.seed_session_lock(7);
    let before = env.snapshot();
    let out = env.run("orc-spawn", &["7"]);
    assert_fails(
        &out,
        5,
        &format!(
            "orc-spawn: error: issue 7 is locked by session {}",
            env.session_name()
        ),
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn bad_issue_ids_exit_2_and_change_nothing() {
    let env = Life::new();
    add_issue(&env, 7, "Fine", "hang");
    let before = env.snapshot();
    for bad in BAD_ISSUES {
        let out = env.run("orc-spawn", &["--", bad]);
        assert_fails(&out, 2, "orc-spawn: error: ");
        let text = stderr(&out);
        assert!(
            text.contains(&format!("({bad})")) && text.contains("issue number"),
            "{bad}: {text}"
        );
    }
    before.assert_same(&env.snapshot());
}

#[test]
fn an_earlier_record_exits_1_with_a_hint() {
    let env = Life::new();
    add_issue(&env, 7, "Again", "hang");
    env.seed_worker(7, Kind::Worker, State::Terminated);
    let before = without_lock_files(env.snapshot());
    let out = env.run("orc-spawn", &["7"]);
    assert_fails(
        &out,
        1,
        "orc-spawn: error: issue 7 has a record from an earlier attempt (TERMINATED, failed)",
    );
    assert!(
        stderr(&out)
            .contains("hint: `orc-spawn --resume 7` continues it; `orc-cleanup 7` removes it"),
        "{}",
        stderr(&out)
    );
    before.assert_same(&without_lock_files(env.snapshot()));
    assert!(env.held_locks().is_empty(), "the lock was given back");
}

#[test]
fn titles_without_ascii_letters_get_unique_usable_branches() {
    let env = Life::new();
    add_issue(&env, 1, "修复登录", "fail");
    add_issue(&env, 2, "修复注册", "fail");
    add_issue(&env, 3, "\"!!!\"", "fail");
    let spawned: Vec<_> = (1..=3).map(|n| env.spawn(n, &[])).collect();
    let mut branches = Vec::new();
    for w in &spawned {
        let slug = w
            .branch
            .strip_prefix(&format!("issue/{}-t-", w.issue))
            .unwrap_or_else(|| panic!("a hashed slug: {}", w.branch));
        assert!(
            slug.len() == 8 && slug.chars().all(|c| c.is_ascii_hexdigit()),
            "{}",
            w.branch
        );
        git_in(
            &env,
            &env.repo,
            &["check-ref-format", "--branch", &w.branch],
        );
        assert!(w.worktree.is_dir());
        branches.push(w.branch.clone());
        assert_eq!(env.watch_one(w.issue)["result"], "failed");
    }
    branches.sort();
    branches.dedup();
    assert_eq!(branches.len(), 3, "distinct branches");
    for n in 1..=3 {
        env.cleanup(n, &[]);
    }
}

#[test]
fn a_branch_of_the_issue_holding_commits_is_never_deleted() {
    let env = Life::new();
    add_issue(&env, 7, "New title", "fail");
    // A worker of an earlier title left a branch (marked as orc's, as
    // orc-spawn marks the branches it creates) with a commit.
    env.git(&["branch", "issue/7-old-title"]);
    env.git(&["config", "branch.issue/7-old-title.orc-issue", "7"]);
    let wt = env.root.join("old");
    env.git(&[
        "worktree",
        "add",
        "-q",
        wt.to_str().unwrap(),
        "issue/7-old-title",
    ]);
    fs::write(wt.join("work.txt"), "precious\n").unwrap();
    git_in(&env, &wt, &["add", "work.txt"]);
    git_in(&env, &wt, &["commit", "-q", "-m", "precious work"]);
    env.git(&["worktree", "remove", wt.to_str().unwrap()]);
    let tip = env.git(&["rev-parse", "issue/7-old-title"]);
    state_in_use(&env);
    let before = comparable(&env);

    let out = env.run("orc-spawn", &["7"]);
    assert_fails(
        &out,
        7,
        &format!(
            "orc-spawn: error: branch issue/7-old-title has commits found nowhere else ({})",
            tip.trim()
        ),
    );
    assert!(
        stderr(&out).contains("hint: merge or push it, or `orc-cleanup --force 7` discards it"),
        "{}",
        stderr(&out)
    );
    let after = comparable(&env);
    assert_eq!(after.1, before.1, "worktrees and branches");
    before.0.assert_same(&after.0);

    // A leftover branch with nothing of its own is replaced.
    env.git(&["branch", "-f", "issue/7-old-title", "main"]);
    let w = env.spawn(7, &[]);
    assert_eq!(w.branch, "issue/7-new-title");
    let branches = env.git(&["branch", "--list", "issue/*"]);
    assert!(!branches.contains("old-title"), "{branches}");
    env.wait_ended(7);
    env.cleanup(7, &[]);
}

/// The state as a failing spawn must leave it: every file (lock files
/// excepted, see README) and git's worktrees and branches. `info/exclude`
/// is compared on its own: orc's lines there are shared by every worker of
/// the repository and stay once added.
fn comparable(env: &Life) -> (Snapshot, GitState, String) {
    let mut snap = without_lock_files(env.snapshot());
    let exclude = snap.0.remove(Path::new("repo/.git/info/exclude"));
    let exclude = match exclude {
        Some(Entry::File(_, bytes)) => String::from_utf8(bytes).unwrap(),
        _ => String::new(),
    };
    (snap, env.git_state(), exclude)
}

/// A state directory in use: the tools have run and another session
/// exists. (The very first spawn of a fresh state directory also leaves
/// an empty `sessions/` behind, like the directory itself.)
fn state_in_use(env: &Life) {
    assert_ok(&env.run("orc-ps", &[]));
    env.named_session("other");
}

/// A slot is never freed on doubt: a worker whose record cannot be read
/// but whose shim lives still counts against ORC_MAX_WORKERS.
#[test]
fn an_unreadable_record_with_a_live_shim_holds_its_slot() {
    let env = Life::new();
    env.issue(2, "hang");
    let shim = common::KillOnDrop::sleeper();
    let proc = env.seed_worker(1, Kind::Worker, State::Running);
    proc.write_shim(&orc_kernel::procdir::ShimIds {
        shim: common::process_holder(shim.id()).process().unwrap(),
        agent: None,
    })
    .unwrap();
    common::corrupt_record(&proc);
    let mut cmd = env.tool("orc-spawn");
    let out = run(cmd.env("ORC_MAX_WORKERS", "1").arg("2"));
    assert_fails(&out, 4, "orc-spawn: error: session ");
    assert!(!env.proc(2, Kind::Worker).exists(), "nothing was made");
}
