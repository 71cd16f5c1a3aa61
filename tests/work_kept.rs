//! Nothing with work found nowhere else is deleted on anyone's word
//! (issue 10, items 1 and 2). Each test is one way work used to be lost,
//! on a real repository with a real worker: a false `merged` claim, a base
//! that cannot be resolved, commits on a detached HEAD, a person's own
//! branch of the issue's shape, and a re-spawn over a leftover. Without
//! `--force` the work stays and the exit status is 7; with it, the tip is
//! recorded first, and a person's branch is never touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::life::{Life, fake_bin, git_in, stderr};
use common::{assert_fails, assert_ok, path_var, run};
use serde_json::{Value, json};

/// `orc-cleanup --json ARGS N`: its exit status and what it printed.
fn cleanup(env: &Life, n: u32, args: &[&str]) -> (Option<i32>, Value, String) {
    let out = run(env
        .tool("orc-cleanup")
        .arg("--json")
        .args(args)
        .arg(n.to_string()));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), json, stderr(&out))
}

/// Whether `sha` still names a commit in the repository.
fn commit_exists(env: &Life, sha: &str) -> bool {
    run(std::process::Command::new("git")
        .args(["cat-file", "-e", &format!("{sha}^{{commit}}")])
        .current_dir(&env.repo))
    .status
    .success()
}

#[test]
fn a_false_merged_claim_keeps_the_branch() {
    let env = Life::new();
    env.issue(7, "lie");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "merged");
    env.wait_until_settled(7);
    let tip = env.git(&["rev-parse", &w.branch]);

    let (code, done, _) = cleanup(&env, 7, &[]);
    assert_eq!(code, Some(7), "{done}");
    assert_eq!(done["kept_branches"], json!([w.branch]));
    assert_eq!(done["branches"], json!([]));
    assert_eq!(
        env.git(&["rev-parse", &w.branch]),
        tip,
        "the commit is kept"
    );
}

#[test]
fn a_base_that_cannot_be_resolved_is_not_nothing_to_keep() {
    let env = Life::new();
    env.issue(7, "crash");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    let tip = env.git(&["rev-parse", &w.branch]);
    // The main checkout leaves its branch and the base is deleted.
    env.git(&["checkout", "-q", "--detach"]);
    env.git(&["branch", "-D", "main"]);

    let (code, done, _) = cleanup(&env, 7, &[]);
    assert_eq!(code, Some(7), "{done}");
    assert_eq!(done["kept_branches"], json!([w.branch]));
    assert_eq!(env.git(&["rev-parse", &w.branch]), tip);
}

#[test]
fn a_detached_main_checkout_keeps_unmerged_work() {
    let env = Life::new();
    env.issue(7, "crash");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    env.git(&["checkout", "-q", "--detach"]);
    let (code, done, _) = cleanup(&env, 7, &[]);
    assert_eq!(code, Some(7), "{done}");
    assert_eq!(done["kept_branches"], json!([w.branch]));
}

#[test]
fn commits_on_a_detached_head_in_the_worktree_are_kept() {
    let env = Life::new();
    env.issue(7, "detach");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "failed");
    env.wait_until_settled(7);
    let head = git_in(&env, &w.worktree, &["rev-parse", "HEAD"]);
    let head = head.trim();
    let before = env.snapshot();

    let (code, _, err) = cleanup(&env, 7, &[]);
    assert_eq!(code, Some(7), "{err}");
    assert!(
        err.starts_with(&format!(
            "orc-cleanup: error: the worktree's HEAD ({}) has commits found on no branch ({})",
            &head[..12],
            w.worktree.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("`orc-cleanup --force 7` discards them"),
        "{err}"
    );
    before.assert_same(&env.snapshot());

    // Forced: the HEAD is recorded, then the worktree goes; the commit is
    // still in the repository for `git branch x <sha>`.
    let (code, done, err) = cleanup(&env, 7, &["--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!w.worktree.exists());
    assert_eq!(
        done["discarded"],
        json!([{"worktree": w.worktree, "tip": head}])
    );
    let events = env.events();
    let d = events.iter().find(|e| e["event"] == "discarded").unwrap();
    assert_eq!(d["discarded"]["tip"], head);
    assert!(commit_exists(&env, head));
    env.git(&["branch", "recovered", head]);
}

#[test]
fn a_person_s_branch_of_the_issue_s_shape_is_never_deleted() {
    let env = Life::new();
    // Two branches a person made: one with a commit, one without.
    env.git(&["branch", "issue/7-mine", "main"]);
    env.git(&["branch", "issue/7-empty", "main"]);
    let wt = env.root.join("mine");
    env.git(&[
        "worktree",
        "add",
        "-q",
        wt.to_str().unwrap(),
        "issue/7-mine",
    ]);
    fs::write(wt.join("mine.txt"), "mine\n").unwrap();
    git_in(&env, &wt, &["add", "mine.txt"]);
    git_in(&env, &wt, &["commit", "-q", "-m", "my own work"]);
    env.git(&["worktree", "remove", wt.to_str().unwrap()]);
    let mine = env.git(&["rev-parse", "issue/7-mine"]);
    let empty = env.git(&["rev-parse", "issue/7-empty"]);

    env.issue(7, "ok");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "merged");
    env.wait_until_settled(7);
    let (code, done, err) = cleanup(&env, 7, &["--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(done["branches"], json!([w.branch]), "the worker's goes");
    let mut foreign: Vec<String> =
        serde_json::from_value(done["foreign_branches"].clone()).unwrap();
    foreign.sort();
    assert_eq!(foreign, ["issue/7-empty", "issue/7-mine"]);
    assert_eq!(env.git(&["rev-parse", "issue/7-mine"]), mine);
    assert_eq!(env.git(&["rev-parse", "issue/7-empty"]), empty);
    assert_eq!(done["discarded"], json!([]));
}

#[test]
fn the_head_of_a_merged_pull_request_is_proof() {
    let env = Life::new();
    env.issue(7, "crash");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    let tip = env.git(&["rev-parse", &w.branch]);
    let fixture = env.root.join("gh.json");
    let gh = |prs: Value| {
        fs::write(&fixture, json!({"prs": prs}).to_string()).unwrap();
        let mut path = fake_bin().into_os_string();
        path.push(":");
        path.push(path_var());
        let mut cmd = env.tool("orc-cleanup");
        cmd.env("PATH", path)
            .env("ORC_TRACKER", "github")
            .env("GH_FAKE", &fixture)
            .args(["--json", "7"]);
        run(&mut cmd)
    };
    // An open pull request, or a merged one whose head was another commit,
    // proves nothing.
    let open = gh(json!({"3": {"state": "OPEN", "headRefName": w.branch}}));
    assert_eq!(open.status.code(), Some(7), "{}", stderr(&open));
    let other = gh(json!({"3": {"state": "MERGED", "headRefName": w.branch,
        "headRefOid": "0000000000000000000000000000000000000001"}}));
    assert_eq!(other.status.code(), Some(7), "{}", stderr(&other));
    assert_eq!(env.git(&["rev-parse", &w.branch]), tip);

    // Squash-merged: the tip is on no ref, but it is the merged head.
    let merged = gh(json!({"3": {"state": "MERGED", "headRefName": w.branch}}));
    let done: Value = serde_json::from_str(&assert_ok(&merged)).unwrap();
    assert_eq!(done["branches"], json!([w.branch]));
    assert_eq!(done["kept_branches"], json!([]));
}

#[test]
fn respawn_over_a_leftover_with_work_refuses_like_cleanup() {
    let env = Life::new();
    env.issue(7, "fail");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "failed");
    env.wait_until_settled(7);
    // The record goes, the worktree stays with a change in it.
    assert_ok(&env.run("orc-cleanup", &["--keep-worktree", "7"]));
    fs::write(w.worktree.join("notes.txt"), "half a thought\n").unwrap();
    let before = env.snapshot();

    let out = env.run("orc-spawn", &["7"]);
    assert_fails(
        &out,
        7,
        &format!(
            "orc-spawn: error: the worktree has uncommitted changes ({})\nhint: commit or stash them, or `orc-cleanup --force 7` discards them",
            w.worktree.display()
        ),
    );
    before.assert_same(&env.snapshot());
    assert_eq!(
        fs::read_to_string(w.worktree.join("notes.txt")).unwrap(),
        "half a thought\n"
    );

    // Committed on a detached HEAD instead: still refused.
    git_in(&env, &w.worktree, &["checkout", "-q", "--detach"]);
    git_in(&env, &w.worktree, &["add", "notes.txt"]);
    git_in(&env, &w.worktree, &["commit", "-q", "-m", "a thought"]);
    let head = git_in(&env, &w.worktree, &["rev-parse", "HEAD"]);
    let out = env.run("orc-spawn", &["7"]);
    assert_fails(
        &out,
        7,
        &format!(
            "orc-spawn: error: the worktree's HEAD ({}) has commits found on no branch",
            &head.trim()[..12]
        ),
    );

    // On the branch: the branch is kept, and spawn refuses over it.
    git_in(&env, &w.worktree, &["checkout", "-q", "-B", &w.branch]);
    let out = env.run("orc-spawn", &["7"]);
    assert_fails(
        &out,
        7,
        &format!(
            "orc-spawn: error: branch {} has commits found nowhere else ({})",
            w.branch,
            head.trim()
        ),
    );
    assert!(w.worktree.is_dir());

    // Once the work is held elsewhere, the leftover is replaced.
    env.git(&["branch", "saved", &w.branch]);
    let again = env.spawn(7, &[]);
    assert_eq!(again.branch, w.branch);
    assert!(commit_exists(&env, head.trim()));
    env.wait_until_settled(7);
}

#[test]
fn a_reviewer_s_commits_in_its_copy_are_kept() {
    let env = Life::new();
    env.issue(7, "ci");
    env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "ci-passed");
    env.wait_until_settled(7);
    let r = env.spawn(7, &["--kind", "reviewer"]);
    env.wait_settled(7, orc_kernel::ids::Kind::Reviewer);
    // Against its instructions, the reviewer committed in its copy.
    fs::write(r.worktree.join("review.txt"), "notes\n").unwrap();
    git_in(&env, &r.worktree, &["add", "review.txt"]);
    git_in(&env, &r.worktree, &["commit", "-q", "-m", "review notes"]);
    let head = git_in(&env, &r.worktree, &["rev-parse", "HEAD"]);

    let out = env.run("orc-cleanup", &["--kind", "reviewer", "7"]);
    assert_fails(
        &out,
        7,
        &format!(
            "orc-cleanup: error: the review worktree's HEAD ({}) has commits found on no branch",
            head.trim()
        ),
    );
    assert!(r.worktree.is_dir());
    let (code, done, err) = cleanup(&env, 7, &["--kind", "reviewer", "--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!r.worktree.exists());
    assert_eq!(
        done["discarded"],
        json!([{"worktree": r.worktree, "tip": head.trim()}])
    );
    assert!(commit_exists(&env, head.trim()));
    env.cleanup(7, &[]);
}
