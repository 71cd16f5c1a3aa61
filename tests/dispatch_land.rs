//! orc-dispatch landing work without GitHub (`ORC_MERGE=local`): the branch
//! verified, the project's check run by orc, reviewed, merged into `main`
//! by each `ORC_MERGE_METHOD`, the local issue closed in the same update of
//! `main`, the worktree and branch reaped — and a dirty checkout of `main`,
//! a failing check and a false `merged` claim each stopping where they must.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch_env;

use std::fs;

use dispatch_env::Env;

/// A world whose issues are committed on `main` (so closing one is a
/// commit), merged locally, reviewed, and merged without asking.
fn world(mode: &str) -> Env {
    let mut e = Env::new();
    e.set("ORC_MERGE", "local");
    e.set("ORC_AUTO_MERGE", "true");
    fs::write(e.repo.join("README.md"), "# project\n").unwrap();
    e.issue(1, "", &format!("fake-mode: {mode}"));
    e.git(&["add", "README.md", ".orc/issues/1.md"]);
    e.git(&["commit", "-q", "-m", "the project and its issue"]);
    e
}

fn rev(e: &Env, what: &str) -> String {
    e.git(&["rev-parse", what]).trim().to_string()
}

/// Nothing of the worker is left: no worktree, branch, lock, proc
/// directory or modified file.
fn assert_tidy(e: &Env) {
    assert!(!e.repo.join(".worktrees").exists(), "a worktree is left");
    assert_eq!(
        e.git(&["branch", "--list", "issue/*"]),
        "",
        "a branch is left"
    );
    assert_eq!(
        e.git(&["status", "--porcelain"]),
        "",
        "files are left modified"
    );
    assert!(e.lock(1).is_none(), "the lock is held: {:?}", e.lock(1));
    assert!(
        e.record("worker", 1).is_none(),
        "the worker's records are left"
    );
}

#[test]
fn each_merge_method_lands_the_branch_closes_the_issue_and_reaps() {
    for method in ["ff", "merge", "squash"] {
        let mut e = world("ready");
        e.set("ORC_MERGE_METHOD", method);
        let before = rev(&e, "main");
        let run = e.dispatch(&["1"]);
        run.assert_code(0);
        assert_eq!(run.end(1), "merged", "{method}: {run}");
        assert_eq!(run.spawned("reviewer"), [1], "{method}: reviewed once");
        let verified = &run.of("verified", 1)[0];
        assert!(
            verified["detail"]
                .as_str()
                .unwrap()
                .contains("no check command (ORC_CHECK_CMD is unset)"),
            "{verified}"
        );
        // main: the change, then the closing of the issue naming its merge.
        let subjects = e.git(&["log", "--format=%s", &format!("{before}..main")]);
        let subjects: Vec<&str> = subjects.lines().collect();
        assert!(
            subjects[0].starts_with("Close issue #1: merged in "),
            "{subjects:?}"
        );
        let merged = e.git(&["show", "-s", "--format=%P", "main~1"]);
        match method {
            "ff" => assert_eq!(subjects[1..], ["fake-agent: issue 1"], "{method}"),
            "merge" => {
                assert!(
                    subjects[1].starts_with("Merge issue #1: Issue 1"),
                    "{subjects:?}"
                );
                assert_eq!(merged.split_whitespace().count(), 2, "a merge commit");
            }
            _ => {
                assert_eq!(subjects.len(), 2, "{subjects:?}");
                assert!(subjects[1].starts_with("Issue #1: Issue 1"), "{subjects:?}");
                assert_eq!(merged.split_whitespace().count(), 1, "one squashed commit");
            }
        }
        assert!(
            e.repo.join("fake-change-1.txt").is_file(),
            "{method}: the change is on main"
        );
        let issue = fs::read_to_string(e.issue_path(1)).unwrap();
        assert!(issue.contains("state: closed\n"), "{issue}");
        let landed = rev(&e, "main~1");
        assert!(
            issue.contains(&format!("merged: {landed}\n")),
            "{method}: {issue}"
        );
        assert_tidy(&e);
        // A closed issue is never dispatched again.
        let again = e.dispatch(&["1"]);
        again.assert_code(0);
        let skipped = again.of("skipped", 1);
        assert_eq!(skipped.len(), 1, "{again}");
        assert_eq!(skipped[0]["reason"], "closed in the tracker");
        assert!(again.spawned("worker").is_empty());
    }
}

#[test]
fn a_dirty_checkout_of_the_base_escalates_and_nothing_changes() {
    let mut e = world("ready");
    e.set("ORC_REVIEW", "false");
    fs::write(
        e.repo.join("README.md"),
        "# project\n\nmy edit, not committed\n",
    )
    .unwrap();
    let before = rev(&e, "main");
    let run = e.dispatch(&["1"]);
    run.assert_code(1);
    assert_eq!(run.end(1), "escalated", "{run}");
    let why = run.ended(1)["detail"].as_str().unwrap();
    assert!(
        why.contains("uncommitted changes") && why.contains("README.md"),
        "{why}"
    );
    assert_eq!(rev(&e, "main"), before, "main moved");
    assert_eq!(
        fs::read_to_string(e.repo.join("README.md")).unwrap(),
        "# project\n\nmy edit, not committed\n"
    );
    assert!(e.has_worktree(1), "the work is kept");
    let branch = e.git(&["branch", "--list", "issue/1-*", "--format=%(refname:short)"]);
    assert_eq!(
        e.git(&["rev-list", "--count", &format!("main..{}", branch.trim())])
            .trim(),
        "1"
    );
    assert!(
        fs::read_to_string(e.issue_path(1))
            .unwrap()
            .contains("title: Issue 1")
    );
    assert!(
        !fs::read_to_string(e.issue_path(1))
            .unwrap()
            .contains("closed")
    );
    assert!(
        !e.repo.join(".worktrees/land").exists(),
        "orc's scratch worktree is gone"
    );
}

#[test]
fn a_failing_check_resumes_the_worker_with_its_output_then_lands() {
    let mut e = world("broken-once");
    e.set("ORC_REVIEW", "false");
    e.set("FAKE_AGENT_ECHO_ARGS", "1");
    e.set(
        "ORC_CHECK_CMD",
        "echo checking; if grep -rs BROKEN --include='fake-change-*' .; then exit 1; fi",
    );
    let run = e.dispatch(&["1"]);
    run.assert_code(0);
    assert_eq!(run.end(1), "merged", "{run}");
    let checked: Vec<bool> = run
        .of("checked", 1)
        .iter()
        .map(|c| c["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(checked, [false, true], "{run}");
    let resumed: Vec<bool> = run
        .all("spawned")
        .iter()
        .map(|s| s["resumed"].as_bool().unwrap())
        .collect();
    assert_eq!(resumed, [false, true], "{run}");
    let fixed = fs::read_to_string(e.repo.join("fake-change-1.txt")).unwrap();
    assert!(
        !fixed.contains("BROKEN") && fixed.contains("fixed"),
        "{fixed}"
    );
    // The check's output is kept, and its failing tail was the worker's
    // reason to resume.
    let logs = e.session().join("logs");
    let first = fs::read_to_string(logs.join("check-1.1.log")).unwrap();
    assert!(
        first.contains("checking") && first.contains("BROKEN"),
        "{first}"
    );
    assert!(first.contains("orc: check exit 1"), "{first}");
    let worker_log: String = fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with("worker-1."))
        .map(|f| fs::read_to_string(f.path()).unwrap())
        .collect();
    assert!(
        worker_log.contains("Reason for the resume: orc ran the project's check"),
        "{worker_log}"
    );
    assert!(worker_log.contains("BROKEN: a bug the check will catch"));
    assert_tidy(&e);
}

#[test]
fn a_false_merged_claim_is_caught_and_its_commits_kept() {
    let e = world("ok");
    let before = rev(&e, "main");
    let run = e.dispatch(&["1"]);
    run.assert_code(1);
    assert_eq!(run.end(1), "unverified", "{run}");
    let why = run.ended(1)["detail"].as_str().unwrap();
    assert!(
        why.contains("merged claimed, but main does not hold"),
        "{why}"
    );
    assert_eq!(rev(&e, "main"), before);
    let branch = e.git(&["branch", "--list", "issue/1-*", "--format=%(refname:short)"]);
    let ahead = e.git(&["rev-list", "--count", &format!("main..{}", branch.trim())]);
    assert_eq!(ahead.trim(), "1", "the worker's commit is kept");
    assert!(
        !fs::read_to_string(e.issue_path(1))
            .unwrap()
            .contains("closed")
    );
}

#[test]
fn land_takes_a_worker_started_by_hand_through_the_same_steps() {
    let mut e = world("ready");
    e.set("ORC_MERGE_METHOD", "squash");
    let before = rev(&e, "main");
    // Without a worker there is nothing to land, and nothing changes.
    let none = e.dispatch(&["land", "1"]);
    none.assert_code(1);
    assert!(
        none.stderr
            .starts_with("orc-dispatch: error: issue 1 has no worker to land"),
        "{none}"
    );
    let spawned = e.run("orc-spawn", &["1"]);
    assert!(
        spawned.status.success(),
        "{}",
        dispatch_env::stderr(&spawned)
    );
    let watched = e.run("orc-watch", &["--timeout", "60", "1"]);
    assert!(dispatch_env::stdout(&watched).contains("\"result\":\"ci-passed\""));
    // One pass: verified, and the reviewer started; the issue is pending.
    let first = e.dispatch(&["land", "1"]);
    first.assert_code(0);
    assert_eq!(first.of("verified", 1).len(), 1, "{first}");
    assert_eq!(first.spawned("reviewer"), [1], "{first}");
    assert!(first.spawned("worker").is_empty());
    assert_eq!(first.summary()["issues"][0]["end"], "pending", "{first}");
    assert_eq!(rev(&e, "main"), before, "nothing merged before the review");
    let watched = e.run("orc-watch", &["--kind", "reviewer", "--timeout", "60", "1"]);
    assert!(dispatch_env::stdout(&watched).contains("\"result\":\"approved\""));
    // The next pass merges, closes and reaps.
    let second = e.dispatch(&["land", "1"]);
    second.assert_code(0);
    assert_eq!(second.end(1), "merged", "{second}");
    let subjects = e.git(&["log", "--format=%s", &format!("{before}..main")]);
    assert!(subjects.contains("Issue #1: Issue 1"), "{subjects}");
    assert!(
        fs::read_to_string(e.issue_path(1))
            .unwrap()
            .contains("state: closed")
    );
    assert_tidy(&e);
}

#[test]
fn a_worktree_detached_at_unheld_commits_is_kept_after_the_landing() {
    let mut e = world("ready-detached");
    e.set("ORC_REVIEW", "false");
    let run = e.dispatch(&["1"]);
    run.assert_code(0);
    assert_eq!(run.end(1), "merged", "{run}");
    let why = run.ended(1)["detail"].as_str().unwrap();
    assert!(
        why.contains("kept: the worktree") && why.contains("which no other branch or tag holds"),
        "{why}"
    );
    assert!(
        e.repo.join("fake-change-1.txt").is_file(),
        "the branch landed"
    );
    assert!(e.has_worktree(1), "the worktree is kept");
    let worktree = e.git(&["worktree", "list", "--porcelain"]);
    let path = worktree
        .lines()
        .filter_map(|l| l.strip_prefix("worktree "))
        .find(|p| p.contains("/.worktrees/issue/1-"))
        .unwrap()
        .to_string();
    let head = e.git(&["-C", &path, "log", "-1", "--format=%s"]);
    assert_eq!(
        head.trim(),
        "fake-agent: on no branch",
        "its commit is there"
    );
    assert!(
        e.git(&["branch", "--list", "issue/1-*"])
            .contains("issue/1-"),
        "the branch stays with it"
    );
    assert!(e.lock(1).is_none(), "the lock is released: {:?}", e.lock(1));
}

#[test]
fn a_run_killed_after_the_base_moved_still_closes_the_untracked_issue() {
    // The state a run killed between moving `main` and closing the issue
    // file leaves: the journal holds the base's new tip, `main` holds the
    // branch, the untracked issue file is still open.
    let mut e = Env::new();
    e.set("ORC_MERGE", "local");
    e.set("ORC_REVIEW", "false");
    e.set("ORC_AUTO_MERGE", "false");
    fs::write(e.repo.join("README.md"), "# project\n").unwrap();
    e.git(&["add", "README.md"]);
    e.git(&["commit", "-q", "-m", "the project"]);
    e.issue(1, "", "fake-mode: ready");
    let first = e.dispatch(&["1"]);
    assert_eq!(first.end(1), "approved", "{first}");
    let branch = e.git(&["branch", "--list", "issue/1-*", "--format=%(refname:short)"]);
    e.git(&["merge", "--ff-only", "--quiet", branch.trim()]);
    let head = rev(&e, "main");
    let file = e.session().join("procs/worker-1/dispatch.json");
    let mut journal: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    journal["phase"] = "merging".into();
    journal["landed"] = head.clone().into();
    fs::write(&file, journal.to_string()).unwrap();
    assert!(
        !fs::read_to_string(e.issue_path(1))
            .unwrap()
            .contains("closed")
    );

    e.set("ORC_AUTO_MERGE", "true");
    let again = e.dispatch(&["1"]);
    assert_eq!(again.end(1), "merged", "{again}");
    assert_eq!(rev(&e, "main"), head, "main moved again");
    let issue = fs::read_to_string(e.issue_path(1)).unwrap();
    assert!(issue.contains("state: closed"), "{issue}");
    assert!(issue.contains(&format!("merged: {head}")), "{issue}");
}
