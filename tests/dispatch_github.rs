//! orc-dispatch on the GitHub path, against the recording fake gh
//! (tests/bin/gh): the pull request found by the worker's branch, checks
//! still running waited for, red checks sent back to the worker, transient
//! gh failures retried, the remote branch deleted and the local one reaped
//! after the merge, and an issue closed while queued left alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch_env;

use std::time::Duration;

use dispatch_env::{Env, pr, wait_for};
use serde_json::json;

const NOW: &str = "2026-11-30T08:00:00Z";

/// A world that merges approved pull requests, on the test clock (waits
/// pass at once).
fn world() -> Env {
    let mut e = Env::new();
    e.set("ORC_AUTO_MERGE", "true");
    e.set("ORC_NOW", NOW);
    e
}

#[test]
fn checks_still_running_are_waited_for_then_the_pr_is_merged_and_reaped() {
    let mut e = world();
    // An origin the worker pushes its branch to, so the merge can delete it.
    let origin = e.root.join("origin.git");
    e.git(&["init", "-q", "--bare", origin.to_str().unwrap()]);
    e.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
    e.git(&["push", "-q", "origin", "main"]);
    e.git(&["fetch", "-q", "origin"]);
    e.git(&["remote", "set-head", "origin", "main"]);
    e.set("FAKE_AGENT_PUSH", "1");
    let mut waiting = pr("OPEN", &["pass", "pass"]);
    waiting["pending_looks"] = json!(2);
    e.fixture(json!({ "pr_default": waiting }));
    e.issue(1, "", "fake-mode: ci");
    let run = e.dispatch(&["1"]);
    run.assert_code(0);
    assert_eq!(run.end(1), "merged", "{run}");
    let waits = run.of("waiting", 1);
    assert_eq!(waits.len(), 2, "{run}");
    assert_eq!(waits[0]["pr"], 1);
    assert_eq!(waits[0]["detail"], "checks still running: check0, check1");
    assert_eq!(waits[0]["until"], "2026-11-30T08:00:30.000Z", "ORC_CI_POLL");
    assert_eq!(run.spawned("reviewer"), [1]);
    let detail = run.ended(1)["detail"].as_str().unwrap();
    assert!(
        detail.contains("remote branch issue/1-issue-1 deleted"),
        "{detail}"
    );
    assert!(detail.contains("worktree and branch removed"), "{detail}");
    let remote = e.git(&["ls-remote", "--heads", "origin"]);
    assert!(!remote.contains("issue/"), "{remote}");
    assert!(!e.has_worktree(1));
    assert_eq!(e.git(&["branch", "--list", "issue/*"]), "");
    assert!(e.lock(1).is_none());
    assert_eq!(e.read_fixture()["prs"]["1"]["state"], "MERGED");
    // The summary counts every gh call the run made.
    assert_eq!(
        run.summary()["gh_calls"].as_u64().unwrap() as usize,
        e.gh_calls().len()
    );
}

#[test]
fn red_checks_send_the_worker_back_with_them_as_its_reason() {
    let mut e = world();
    e.set("FAKE_AGENT_ECHO_ARGS", "1");
    let mut red_once = pr("OPEN", &["pass"]);
    red_once["red_looks"] = json!(1);
    e.fixture(json!({ "pr_default": red_once }));
    e.issue(1, "", "fake-mode: ci");
    let run = e.dispatch(&["1"]);
    run.assert_code(0);
    assert_eq!(run.end(1), "merged", "{run}");
    let resumed: Vec<bool> = run
        .all("spawned")
        .iter()
        .filter(|s| s["kind"] == "worker")
        .map(|s| s["resumed"].as_bool().unwrap())
        .collect();
    assert_eq!(resumed, [false, true], "{run}");
    let log = std::fs::read_to_string(e.session().join("procs/worker-1/log")).unwrap();
    assert!(
        log.contains("Reason for the resume: the checks of your pull request #1 are red (checks failed: test)"),
        "{log}"
    );
}

#[test]
fn transient_gh_failures_are_retried_and_never_end_the_issue() {
    let e = world();
    e.fixture(json!({
        "pr_default": pr("OPEN", &["pass"]),
        "fail": [
            {"cmd": "pr list", "times": 1, "stderr": "HTTP 502: Bad Gateway (https://api.github.com/graphql)"},
            {"cmd": "pr merge", "times": 1,
             "stderr": "API rate limit exceeded for user ID 1; resets at 2026-11-30T08:20:00Z"},
        ],
    }));
    e.issue(1, "", "fake-mode: ci");
    let run = e.dispatch(&["1"]);
    run.assert_code(0);
    assert_eq!(run.end(1), "merged", "{run}");
    let waits = run.of("waiting", 1);
    assert_eq!(waits.len(), 2, "{run}");
    assert!(
        waits[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("GitHub could not be reached (try 1): gh pr list failed: HTTP 502"),
        "{run}"
    );
    assert_eq!(waits[0]["until"], "2026-11-30T08:00:05.000Z", "backoff");
    assert_eq!(
        waits[1]["until"], "2026-11-30T08:20:00.000Z",
        "the limit's reset"
    );
    let merges = e
        .gh_calls()
        .iter()
        .filter(|c| c[..2] == ["pr", "merge"])
        .count();
    assert_eq!(merges, 2, "refused once, then merged");
}

#[test]
fn the_pull_request_is_the_branchs_whatever_number_the_worker_names() {
    let mut e = world();
    e.set("FAKE_AGENT_PR", "99");
    let mut someone_elses = pr("OPEN", &["pass"]);
    someone_elses["headRefName"] = json!("feature/unrelated");
    e.fixture(json!({ "prs": { "99": someone_elses }, "pr_default": pr("OPEN", &["pass"]) }));
    e.issue(1, "", "fake-mode: ci");
    let run = e.dispatch(&["1"]);
    run.assert_code(0);
    assert_eq!(run.of("finished", 1)[0]["detail"], "PR #99");
    assert_eq!(run.of("verified", 1)[0]["pr"], 1, "{run}");
    let fixture = e.read_fixture();
    assert_eq!(fixture["prs"]["1"]["state"], "MERGED");
    assert_eq!(fixture["prs"]["99"]["state"], "OPEN", "never merged");
}

#[test]
fn an_issue_closed_while_queued_is_not_started() {
    // GitHub issues, looked at again (one batched list) before each start.
    let mut e = world();
    e.set("ORC_NOW", "");
    std::fs::remove_dir_all(e.repo.join(".orc")).unwrap();
    e.set("ORC_TRACKER", "github");
    let issue = |n: u32, mode: &str| {
        json!({"number": n, "title": format!("Issue {n}"), "labels": [{"name": "q"}],
               "body": format!("fake-mode: {mode}"), "state": "OPEN",
               "createdAt": format!("2026-01-0{n}T00:00:00Z"), "url": ""})
    };
    e.fixture(json!({
        "issues": [issue(1, "ok 3"), issue(2, "ok")],
        "pr_default": pr("MERGED", &["pass"]),
    }));
    let file = e.root.join("events.jsonl");
    let mut child = e.dispatch_bg(&["--label", "q", "--max", "1"], &file);
    wait_for("issue 1 to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains("\"spawned\"")
    });
    let mut fixture = e.read_fixture();
    fixture["issues"][1]["state"] = json!("CLOSED");
    e.fixture(fixture);
    assert!(child.wait().unwrap().success());
    let run = dispatch_env::parse_events(&std::fs::read_to_string(&file).unwrap());
    let skipped: Vec<_> = run
        .iter()
        .filter(|ev| ev["event"] == "skipped" && ev["issue"] == 2 && ev.get("reason").is_some())
        .collect();
    assert_eq!(skipped.len(), 1, "{run:?}");
    assert_eq!(
        skipped[0]["reason"],
        "closed, or no longer labelled q, since the queue was read"
    );
    assert!(
        !run.iter()
            .any(|ev| ev["event"] == "spawned" && ev["issue"] == 2)
    );
    // The merged issue was closed on GitHub.
    assert_eq!(e.read_fixture()["issues"][0]["state"], "CLOSED");

    // Local issues: the file is read again.
    let e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "", "fake-mode: ok 3");
    e.issue(2, "", "fake-mode: ok");
    let file = e.root.join("events-local.jsonl");
    let mut child = e.dispatch_bg(&["1", "2", "--max", "1"], &file);
    wait_for("issue 1 to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .contains("\"spawned\"")
    });
    e.issue(2, "state: closed", "fake-mode: ok");
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(r#""event":"skipped","issue":2,"reason":"closed in the tracker since the queue was read""#),
        "{text}"
    );
}
