//! orc-dispatch end to end: local issues, the scripted fake agent as the
//! workers and reviewers, and a recording fake gh for pull requests,
//! checks, merges and comments (tests/bin/gh).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch_env;

use std::time::Duration;

use dispatch_env::{Env, Run, parse_events, pr, wait_for};
use serde_json::json;

const NOW: &str = "2026-11-30T08:00:00Z";

/// Every issue ended `end`, and the run exited `code`.
fn assert_all(run: &Run, issues: &[u32], end: &str, code: i32) {
    for &n in issues {
        assert_eq!(run.end(n), end, "issue {n}: {run}");
    }
    run.assert_code(code);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

/// Replay the spawned and finished events: how many ran at most at once.
fn most_at_once(run: &Run) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for e in &run.events {
        match e["event"].as_str() {
            Some("spawned") => now += 1,
            Some("finished") => now -= 1,
            _ => {}
        }
        most = most.max(now);
    }
    most
}

#[test]
fn dry_run_prints_the_order_and_the_holds_and_changes_nothing() {
    let e = Env::new();
    e.issue(1, "priority: low", "fake-mode: ok");
    e.issue(2, "priority: high\ncreated: 2026-02-01T00:00:00Z", "");
    e.issue(3, "priority: high\ncreated: 2026-01-01T00:00:00Z", "");
    e.issue(4, "depends_on: [3]", "");
    e.issue(5, "", "Blocked by #9.");
    e.issue(6, "priority: critical", "");
    e.issue(8, "", "");
    std::fs::write(e.issue_path(9), "---\ntitle: Not in the queue\n---\n").unwrap();
    std::fs::write(
        e.issue_path(7),
        "---\ntitle: Done\nlabels: [q]\nstate: closed\n---\n",
    )
    .unwrap();
    // Another orchestrator holds issue 8.
    let held = e
        .tool("orc-lock")
        .env("ORC_SESSION", "elsewhere")
        .args(["acquire", "8"])
        .output()
        .unwrap();
    assert!(held.status.success(), "{}", dispatch_env::stderr(&held));
    let before = std::fs::read_to_string(e.issue_path(4)).unwrap();

    let run = e.dispatch(&["--label", "q", "--dry-run"]);
    run.assert_code(0);
    let order: Vec<u64> = run
        .all("queued")
        .iter()
        .map(|q| q["issue"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [6, 3, 2, 4, 5, 1], "{run}");
    let positions: Vec<u64> = run
        .all("queued")
        .iter()
        .map(|q| q["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        run.of("held", 4)[0]["reason"],
        "waits for #3 (not merged yet)",
        "{run}"
    );
    assert_eq!(run.of("held", 4)[0]["waiting_for"], json!([3]));
    assert_eq!(
        run.of("held", 5)[0]["reason"],
        "waits for #9 (open, not in this queue)"
    );
    let skipped = run.of("skipped", 8);
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("session elsewhere"),
        "{run}"
    );
    assert!(
        run.of("queued", 7).is_empty(),
        "a closed issue is not listed"
    );
    assert_eq!(run.summary()["dry_run"], true);
    assert!(
        run.stderr.starts_with("orc-dispatch: plan for 7 issue(s)"),
        "{}",
        run.stderr
    );

    // Nothing was started, written or asked of gh.
    assert!(
        !e.state.join("sessions").exists()
            || std::fs::read_dir(e.session().join("procs"))
                .map_or(true, |mut d| d.next().is_none())
    );
    assert!(!e.repo.join(".worktrees").exists());
    let locks: Vec<_> = walk(&e.state.join("locks"));
    assert_eq!(locks.len(), 2, "only issue 8's lock files: {locks:?}");
    assert_eq!(std::fs::read_to_string(e.issue_path(4)).unwrap(), before);
    assert!(e.gh_calls().is_empty());

    // Named issues: a closed one is skipped and says so; a query matches words.
    let run = e.dispatch(&["7", "1", "--dry-run"]);
    assert_eq!(
        run.of("skipped", 7)[0]["reason"],
        "closed in the tracker",
        "{run}"
    );
    let run = e.dispatch(&["--query", "blocked BY", "--dry-run"]);
    let order: Vec<u64> = run
        .all("queued")
        .iter()
        .map(|q| q["issue"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [5], "{run}");
}

#[test]
fn dependencies_hold_issues_until_they_are_merged() {
    let e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "", "fake-mode: ok");
    e.issue(2, "priority: high", "fake-mode: ok");
    e.issue(3, "depends_on: [2]", "fake-mode: ok");
    e.issue(4, "", "Depends on #5.\n\nfake-mode: ok");
    e.issue(5, "", "fake-mode: fail");
    let run = e.dispatch(&["--label", "q", "--max", "1", "--retries", "0"]);
    assert_eq!(run.spawned("worker"), [2, 1, 3, 5], "{run}");
    assert_eq!(most_at_once(&run), 1, "{run}");
    // 3 was held, then ready once 2 was merged; 4 waited for 5, which gave up.
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| run.events.iter().position(pred).unwrap();
    let ready3 = at(&|v| v["event"] == "ready" && v["issue"] == 3);
    let merged2 = at(&|v| v["event"] == "merged" && v["issue"] == 2);
    assert!(merged2 < ready3, "{run}");
    assert_all(&run, &[1, 2, 3], "merged", 1);
    assert_eq!(run.end(5), "gave-up");
    assert_eq!(run.end(4), "held");
    assert_eq!(run.ended(4)["detail"], "waits for #5 (gave-up)");
    assert_eq!(
        run.summary()["counts"],
        json!({"gave-up": 1, "held": 1, "merged": 3})
    );
    assert!(
        run.stderr.contains("needs a person: #4 held, #5 gave-up"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_limit_holds_at_every_instant() {
    let mut e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    let tally = e.root.join("tally");
    e.set("FAKE_TALLY", tally.to_str().unwrap());
    for n in 1..=6 {
        e.issue(n, "", "fake-mode: tally 1");
    }
    let run = e.dispatch(&["--label", "q", "--max", "2"]);
    assert_all(&run, &[1, 2, 3, 4, 5, 6], "merged", 0);
    assert_eq!(most_at_once(&run), 2, "{run}");
    assert!(
        run.all("spawned")
            .iter()
            .all(|s| s["running"].as_u64() <= Some(2) && s["max"] == 2)
    );
    // The agents counted themselves: never more than two ran at once.
    let history = std::fs::read_to_string(tally.join("history")).unwrap();
    let most = history.lines().map(|l| l.parse::<i32>().unwrap()).max();
    assert_eq!(most, Some(2), "history: {history}");
    // And by the records: each slot is held from creation to the end.
    let mut marks = Vec::new();
    for n in 1..=6 {
        let r = e.record("worker", n).unwrap();
        marks.push((r["started_at"].as_str().unwrap().to_string(), 1));
        marks.push((r["updated_at"].as_str().unwrap().to_string(), -1));
    }
    marks.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0, 0);
    for (_, d) in marks {
        now += d;
        most = most.max(now);
    }
    assert!(most <= 2, "records overlap {most} deep");
}

#[test]
fn failures_back_off_exponentially_on_the_test_clock() {
    let mut e = Env::new();
    e.set("ORC_NOW", NOW);
    e.set("ORC_RETRY_MAX", "4");
    e.set("ORC_RETRY_BACKOFF", "100");
    e.issue(1, "", "fake-mode: fail");
    let run = e.dispatch(&["1"]);
    let delays: Vec<u64> = run
        .of("retried", 1)
        .iter()
        .map(|r| r["delay_s"].as_u64().unwrap())
        .collect();
    assert_eq!(delays, [100, 200, 300, 300], "{run}");
    let ats: Vec<&str> = run
        .of("retried", 1)
        .iter()
        .map(|r| r["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        ats,
        [
            "2026-11-30T08:01:40.000Z",
            "2026-11-30T08:05:00.000Z",
            "2026-11-30T08:10:00.000Z",
            "2026-11-30T08:15:00.000Z"
        ]
    );
    assert_all(&run, &[1], "gave-up", 1);
    assert!(
        run.ended(1)["detail"]
            .as_str()
            .unwrap()
            .ends_with("(gave up after 5 failed attempt(s))")
    );
    assert_eq!(e.record("worker", 1).unwrap()["attempt"], 5);
    assert_eq!(run.summary()["issues"][0]["attempts"], 5);
    // Fifteen virtual minutes of backoff, no real sleep.
    assert!(run.elapsed < Duration::from_secs(120), "{run}");
}

#[test]
fn crashes_count_as_failures_and_a_flaky_worker_recovers() {
    let mut e = Env::new();
    e.set("ORC_NOW", NOW);
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "", "fake-mode: crash");
    e.issue(2, "", "fake-mode: flaky 1");
    let run = e.dispatch(&["1", "2", "--max", "2"]);
    let delays: Vec<u64> = run
        .of("retried", 1)
        .iter()
        .map(|r| r["delay_s"].as_u64().unwrap())
        .collect();
    assert_eq!(
        delays,
        [30, 60],
        "defaults: ORC_RETRY_MAX=2, ORC_RETRY_BACKOFF=30: {run}"
    );
    assert_eq!(run.end(1), "gave-up");
    assert_eq!(run.of("retried", 2).len(), 1);
    assert_eq!(run.end(2), "merged");
    // A retry resumes the worker in its worktree: the crashed commits stay.
    let resumed: Vec<bool> = run
        .all("spawned")
        .iter()
        .filter(|s| s["issue"] == 1)
        .map(|s| s["resumed"].as_bool().unwrap())
        .collect();
    assert_eq!(resumed, [false, true, true]);
    run.assert_code(1);
}

#[test]
fn throttled_workers_are_requeued_without_counting_a_failure() {
    let mut e = Env::new();
    e.set("ORC_NOW", NOW);
    e.set("ORC_RETRY_MAX", "0");
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "", "fake-mode: throttle-once");
    e.issue(
        2,
        "",
        "fake-mode: throttle-notify\nfake-reset: 2026-11-30T09:30:00Z",
    );
    let run = e.dispatch(&["1", "2", "--max", "2"]);
    let r1 = run.of("requeued", 1);
    assert_eq!(r1.len(), 1, "{run}");
    assert_eq!(r1[0]["delay_s"], 300, "ORC_THROTTLE_COOLDOWN by default");
    assert!(r1[0]["reason"].as_str().unwrap().contains("cooldown"));
    let r2 = run.of("requeued", 2);
    assert_eq!(r2[0]["at"], "2026-11-30T09:30:00.000Z", "{run}");
    assert_eq!(
        r2[0]["reason"],
        "the limit resets at 2026-11-30T09:30:00.000Z"
    );
    assert!(run.all("retried").is_empty());
    assert_all(&run, &[1, 2], "merged", 0);
    for n in [1, 2] {
        let j = e.journal(n).unwrap();
        assert_eq!(
            (j["failures"].as_u64(), j["throttles"].as_u64()),
            (Some(0), Some(1))
        );
    }
}

#[test]
fn an_approved_pull_request_is_merged_with_auto_merge() {
    let mut e = Env::new();
    e.set("ORC_AUTO_MERGE", "true");
    e.set("ORC_MERGE_METHOD", "rebase");
    e.issue(1, "", "fake-mode: ci\nfake-review: approve");
    let run = e.dispatch(&["--label", "q"]);
    assert_eq!(run.spawned("worker"), [1]);
    assert_eq!(run.spawned("reviewer"), [1], "{run}");
    assert_eq!(run.of("verified", 1).len(), 2, "the claim, then the merge");
    assert_all(&run, &[1], "merged", 0);
    let calls = e.gh_calls();
    assert!(
        calls
            .iter()
            .any(|c| c[..4] == ["pr", "merge", "1", "--rebase"] && c[4] == "--match-head-commit"),
        "{calls:?}"
    );
    let fixture = e.read_fixture();
    assert_eq!(fixture["prs"]["1"]["state"], "MERGED");
    assert_eq!(fixture["prs"]["1"]["merged_with"], "--rebase");
    assert!(e.lock(1).is_none(), "the merged issue's lock is released");
    assert!(
        e.record("reviewer", 1).is_none(),
        "the reviewer is cleaned up"
    );
    assert!(!e.repo.join(".worktrees/review/1").exists());
}

#[test]
fn an_approved_pull_request_waits_for_a_person_without_auto_merge() {
    let e = Env::new();
    e.issue(1, "", "fake-mode: ci\nfake-review: approve");
    let run = e.dispatch(&["1"]);
    assert_all(&run, &[1], "approved", 0);
    assert!(
        run.ended(1)["detail"]
            .as_str()
            .unwrap()
            .contains("ORC_AUTO_MERGE is off")
    );
    assert!(
        !e.gh_calls().iter().any(|c| c[..2] == ["pr", "merge"]),
        "{:?}",
        e.gh_calls()
    );
    assert_eq!(e.lock(1).unwrap()["kept_by"], "ci-passed");

    // The next run with auto-merge on merges what was left approved.
    let mut e = e;
    e.set("ORC_AUTO_MERGE", "1");
    let run = e.dispatch(&["1"]);
    assert!(run.all("spawned").is_empty(), "{run}");
    assert_all(&run, &[1], "merged", 0);
}

#[test]
fn requested_changes_resume_the_worker_until_the_rounds_run_out() {
    let mut e = Env::new();
    e.set("ORC_AUTO_MERGE", "true");
    e.set("ORC_REVIEW_MAX_ROUNDS", "2");
    e.issue(1, "", "fake-mode: ci\nfake-review: changes");
    let run = e.dispatch(&["1"]);
    assert_eq!(run.spawned("worker"), [1, 1], "{run}");
    assert_eq!(run.spawned("reviewer"), [1, 1]);
    let attempts: Vec<u64> = run
        .all("spawned")
        .iter()
        .filter(|s| s["kind"] == "worker")
        .map(|s| s["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2]);
    assert_all(&run, &[1], "escalated", 1);
    let why = run.ended(1)["detail"].as_str().unwrap().to_string();
    assert!(
        why.starts_with("changes still requested after 2 review rounds"),
        "{why}"
    );
    // The resumed worker was told why; the issue got a comment; the
    // worktree and the lock are kept for a person.
    let wt = e.record("worker", 1).unwrap()["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    let task = std::fs::read_to_string(std::path::Path::new(&wt).join(".orc-task.md")).unwrap();
    assert!(task.contains("Review round 1: changes requested"), "{task}");
    let issue = std::fs::read_to_string(e.issue_path(1)).unwrap();
    assert!(issue.contains("## Comment by orc-dispatch\n\norc-dispatch needs a person here: changes still requested"), "{issue}");
    assert!(e.has_worktree(1));
    assert_eq!(e.lock(1).unwrap()["holder"]["type"], "session");
    assert!(!e.gh_calls().iter().any(|c| c[..2] == ["pr", "merge"]));
}

#[test]
fn a_worker_blocked_on_a_permission_is_escalated_not_retried() {
    let e = Env::new();
    e.issue(1, "", "fake-mode: denied");
    let run = e.dispatch(&["1"]);
    assert_all(&run, &[1], "escalated", 1);
    assert!(run.of("retried", 1).is_empty(), "{run}");
    assert_eq!(run.spawned("worker"), [1], "{run}");
}

#[test]
fn a_merge_conflict_or_red_checks_after_merge_escalate() {
    let mut e = Env::new();
    e.set("ORC_AUTO_MERGE", "true");
    let mut conflict = pr("OPEN", &["pass"]);
    conflict["merge"] = json!({"exit": 1, "stderr": "Pull request #1 is not mergeable: the merge commit cannot be cleanly created."});
    let mut red_after = pr("OPEN", &["pass"]);
    red_after["checks_after_merge"] = json!([{"name": "deploy", "bucket": "fail"}]);
    e.fixture(json!({ "prs": { "1": conflict, "2": red_after } }));
    e.issue(1, "", "fake-mode: ci");
    e.issue(2, "", "fake-mode: ci");
    let run = e.dispatch(&["1", "2", "--max", "2"]);
    assert_all(&run, &[1, 2], "escalated", 1);
    let why = |n| run.ended(n)["detail"].as_str().unwrap().to_string();
    assert_eq!(
        why(1),
        "the merge of PR #1 failed: Pull request #1 is not mergeable: the merge commit cannot be cleanly created."
    );
    assert_eq!(why(2), "after merging PR #2: checks failed: deploy");
    for n in [1, 2] {
        assert!(e.has_worktree(n));
        assert!(e.lock(n).is_some(), "issue {n} keeps its lock");
        assert!(
            std::fs::read_to_string(e.issue_path(n))
                .unwrap()
                .contains("## Comment by orc-dispatch")
        );
    }
}

#[test]
fn claims_without_evidence_are_unverified() {
    let mut e = Env::new();
    let mut other_base = pr("OPEN", &["pass"]);
    other_base["baseRefName"] = json!("develop");
    let mut other_head = pr("OPEN", &["pass"]);
    other_head["headRefName"] = json!("feature/x");
    e.fixture(json!({ "prs": {
        "3": pr("OPEN", &["pass", "fail"]),
        "4": other_base,
        "5": pr("OPEN", &["pass"]),
        "6": other_head,
        "7": pr("OPEN", &["pending"]),
    }}));
    e.issue(1, "", "fake-mode: ci-nocommit");
    e.issue(2, "", "fake-mode: ci");
    e.issue(3, "", "fake-mode: ci");
    e.issue(4, "", "fake-mode: ci");
    e.issue(5, "", "fake-mode: ok");
    e.issue(6, "", "fake-mode: ci");
    e.issue(7, "", "fake-mode: ci");
    // Checks still running are given no time here (ORC_CI_WAIT=0).
    e.set("ORC_CI_WAIT", "0");
    e.set("ORC_RETRY_MAX", "1");
    let run = e.dispatch(&["--label", "q", "--max", "3"]);
    assert_all(&run, &[1, 2, 4, 5, 6, 7], "unverified", 1);
    let why = |n| run.ended(n)["detail"].as_str().unwrap().to_string();
    assert_eq!(
        why(1),
        "ci-passed claimed, but branch issue/1-issue-1 has no commits beyond main"
    );
    assert_eq!(
        why(2),
        "ci-passed claimed, but no pull request from branch issue/2-issue-2"
    );
    // Red checks go back to the worker, with the checks as its reason,
    // until the retries are spent; then a person decides.
    assert_eq!(run.end(3), "escalated", "{run}");
    assert_eq!(
        why(3),
        "PR #3: checks failed: check1 (after 2 failed attempt(s))"
    );
    assert_eq!(run.spawned("worker").iter().filter(|n| **n == 3).count(), 2);
    assert_eq!(
        why(4),
        "ci-passed claimed, but PR #4 targets develop, not main"
    );
    assert_eq!(why(5), "merged claimed, but PR #5 is open");
    assert_eq!(
        why(6),
        "ci-passed claimed, but no pull request from branch issue/6-issue-6"
    );
    assert_eq!(
        why(7),
        "ci-passed claimed, but PR #7's checks still running: check0 after 0s (ORC_CI_WAIT)"
    );
    assert!(run.spawned("reviewer").is_empty(), "{run}");
}

#[test]
fn a_killed_dispatcher_is_restarted_and_adopts_its_workers() {
    let e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    for n in 1..=5 {
        e.issue(n, "", "fake-mode: ok 4");
    }
    let args = ["--label", "q", "--max", "2"];
    let events = |file: &std::path::Path| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let whole: Vec<&str> = text.lines().filter(|l| l.ends_with('}')).collect();
        parse_events(&whole.join("\n"))
    };
    let count = |file: &std::path::Path, name: &str| {
        events(file).iter().filter(|v| v["event"] == name).count()
    };
    let mut all = Vec::new();
    // SIGKILL while two workers run (the dispatcher waits on them), then
    // again right after the restart adopted them.
    for (round, event) in [(1, "spawned"), (2, "adopted")] {
        let file = e.root.join(format!("events{round}.jsonl"));
        let mut child = e.dispatch_bg(&args, &file);
        wait_for("two workers", Duration::from_secs(90), || {
            count(&file, event) >= 2
        });
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        let running = (1..=5)
            .filter(|&n| {
                e.record("worker", n)
                    .is_some_and(|r| r["state"] == "RUNNING")
            })
            .count();
        assert!(
            running >= 1,
            "the workers outlive the dispatcher (round {round})"
        );
        all.extend(events(&file));
    }
    let run = e.dispatch(&args);
    run.assert_code(0);
    assert_eq!(run.summary()["counts"], json!({"merged": 5}), "{run}");
    all.extend(run.events.iter().cloned());
    let all = Run { events: all, ..run };
    assert!(!all.all("adopted").is_empty(), "{all}");
    for n in 1..=5u32 {
        let starts = all
            .all("spawned")
            .iter()
            .filter(|s| s["issue"] == n)
            .count();
        assert_eq!(starts, 1, "issue {n} started once: {all}");
        let r = e.record("worker", n).unwrap();
        assert_eq!(
            (r["attempt"].as_u64(), r["result"].as_str()),
            (Some(1), Some("merged")),
            "issue {n}"
        );
        assert_eq!(e.journal(n).unwrap()["end"], "merged", "issue {n}");
    }
}

#[test]
fn a_spawn_cut_short_by_a_kill_is_ended_and_started_again() {
    use orc_kernel::ids::{Issue, Kind};
    use orc_kernel::liveness::ProcessId;
    use orc_kernel::lock::{Holder, IssueLock};
    use orc_kernel::record::Record;

    let mut e = Env::new();
    e.set("ORC_SESSION", "s1");
    e.set("ORC_NOW", NOW);
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "", "fake-mode: ok");
    // What a dispatcher killed inside spawn leaves: a record that says the
    // worker is being started, no shim, and the issue lock held by the
    // dead spawner.
    let state = orc_kernel::paths::StateDir::at(&e.state);
    let session = orc_kernel::session::Session::open(&state, "s1").unwrap();
    let proc = orc_kernel::procdir::Proc::new(&session, Kind::Worker, Issue::from(1));
    let mut record = Record::new(Issue::from(1), Kind::Worker, "s1", NOW);
    record.repo = Some(e.repo.display().to_string());
    proc.create(&record).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id() as i32;
    gone.wait().unwrap();
    let repo = orc_kernel::repo::Repo::at(&e.repo).unwrap();
    let dead = Holder::Process {
        id: ProcessId { pid, start_time: 1 },
    };
    IssueLock::new(&state, &repo, Issue::from(1))
        .acquire(dead, "s1")
        .unwrap();

    let run = e.dispatch(&["1"]);
    assert_eq!(run.of("finished", 1)[0]["result"], "error", "{run}");
    assert!(
        run.of("finished", 1)[0]["detail"]
            .as_str()
            .unwrap()
            .contains("start was interrupted")
    );
    assert_eq!(run.of("retried", 1).len(), 1);
    assert_eq!(run.spawned("worker"), [1]);
    assert_all(&run, &[1], "merged", 0);
    assert!(e.lock(1).is_none());
}

#[test]
fn once_runs_one_pass_and_the_next_pass_goes_on() {
    let e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "priority: high", "fake-mode: ok");
    e.issue(2, "", "fake-mode: ok");
    let args = ["--label", "q", "--max", "1", "--once"];
    let first = e.dispatch(&args);
    first.assert_code(0);
    assert_eq!(first.spawned("worker"), [1], "{first}");
    assert_eq!(first.summary()["counts"], json!({"pending": 2}));
    let e = &e;
    let ended = |n| {
        move || {
            e.record("worker", n)
                .is_some_and(|r| r["state"] == "TERMINATED")
        }
    };
    wait_for("worker 1 to end", Duration::from_secs(60), ended(1));
    let second = e.dispatch(&args);
    assert_eq!(second.end(1), "merged", "{second}");
    assert_eq!(second.spawned("worker"), [2]);
    wait_for("worker 2 to end", Duration::from_secs(60), ended(2));
    let third = e.dispatch(&args);
    assert!(third.spawned("worker").is_empty());
    assert_eq!(third.end(2), "merged", "{third}");
    assert_eq!(third.summary()["counts"], json!({"merged": 2}));
    third.assert_code(0);
}

#[test]
fn killed_at_any_step_nothing_is_lost_or_done_twice() {
    let e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    for n in 1..=6 {
        e.issue(n, "", "fake-mode: ok 1");
    }
    let args = ["--label", "q", "--max", "3"];
    let steps = |file: &std::path::Path| {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let moving = ["\"spawned\"", "\"finished\"", "\"verified\"", "\"merged\""];
        text.lines()
            .filter(|l| moving.iter().any(|m| l.contains(m)))
            .count()
    };
    // Kill the dispatcher right after its r-th step of each run: inside a
    // spawn, between a verdict and the next spawn, wherever it is then.
    for r in 1..=6 {
        let file = e.root.join(format!("events{r}.jsonl"));
        let mut child = e.dispatch_bg(&args, &file);
        wait_for("a step", Duration::from_secs(90), || {
            steps(&file) >= r || child.try_wait().unwrap().is_some()
        });
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        child.wait().unwrap();
    }
    let run = e.dispatch(&args);
    run.assert_code(0);
    assert_eq!(run.summary()["counts"], json!({"merged": 6}), "{run}");
    for n in 1..=6u32 {
        assert_eq!(e.journal(n).unwrap()["end"], "merged", "issue {n}");
        // One agent did the work, never two (its branch is reaped after
        // the merge; its log stays with its records).
        let log =
            std::fs::read_to_string(e.session().join(format!("procs/worker-{n}/log"))).unwrap();
        let agents = log
            .matches(&format!("fake-agent: issue {n} mode ok"))
            .count();
        assert_eq!(agents, 1, "issue {n}: {log}");
        assert!(!e.has_worktree(n), "issue {n}'s worktree is reaped: {run}");
    }
    assert_eq!(e.git(&["branch", "--list", "issue/*"]), "");
}

#[test]
fn one_dispatcher_per_session() {
    let e = Env::new();
    e.fixture(json!({ "pr_default": pr("MERGED", &["pass"]) }));
    e.issue(1, "", "fake-mode: ok 2");
    let file = e.root.join("events.jsonl");
    let mut first = e.dispatch_bg(&["1"], &file);
    wait_for(
        "the first dispatcher to start a worker",
        Duration::from_secs(60),
        || {
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .contains("\"spawned\"")
        },
    );
    let second = e.dispatch(&["1"]);
    second.assert_code(5);
    let named = format!(
        "orc-dispatch: error: another orc-dispatch (pid {}) runs session ",
        first.id()
    );
    assert!(second.stderr.starts_with(&named), "{}", second.stderr);
    assert!(second.events.is_empty());
    assert!(first.wait().unwrap().success());
}

#[test]
fn bad_input_is_refused_clearly() {
    let mut e = Env::new();
    e.issue(1, "", "fake-mode: ok");
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &[],
            2,
            "orc-dispatch: error: nothing to dispatch (orc-dispatch)",
        ),
        (
            &["1", "--max", "0"],
            2,
            "orc-dispatch: error: the worker limit must be at least 1 (0)",
        ),
        (
            &["99"],
            1,
            "orc-dispatch: error: issue 99 not found in the local tracker",
        ),
        (
            &["../1"],
            2,
            "orc-dispatch: error: invalid value '../1' for '[ISSUES]...': not an issue number (../1)",
        ),
    ];
    for (args, code, first) in cases {
        let run = e.dispatch(args);
        run.assert_code(code);
        assert!(
            run.stderr.lines().next().unwrap_or("").starts_with(first),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.events.is_empty());
    }
    let run = e.dispatch(&["--label", "q", "1"]);
    run.assert_code(2);
    e.set("ORC_MERGE_METHOD", "octopus");
    let run = e.dispatch(&["1"]);
    run.assert_code(2);
    assert!(
        run.stderr.starts_with(
            "orc-dispatch: error: invalid ORC_MERGE_METHOD=\"octopus\" set in the environment
hint: ORC_MERGE_METHOD accepts one of: ff, merge, squash, rebase"
        ),
        "{}",
        run.stderr
    );
    assert!(!e.repo.join(".worktrees").exists());
    let help = e.run("orc-dispatch", &["--help"]);
    let text = dispatch_env::stdout(&help);
    for want in [
        "ORC_RETRY_MAX",
        "ORC_RETRY_BACKOFF",
        "ORC_AUTO_MERGE",
        "ORC_MERGE_METHOD",
        "Exit codes:",
        "--dry-run",
        "--once",
    ] {
        assert!(text.contains(want), "--help lacks {want}");
    }
}

#[test]
fn github_issues_dependencies_and_comments_go_through_gh() {
    let mut e = Env::new();
    std::fs::remove_dir_all(e.repo.join(".orc")).unwrap();
    e.set("ORC_TRACKER", "github");
    e.set("ORC_AUTO_MERGE", "true");
    let issue = |n: u32, label: &str, body: &str| {
        json!({"number": n, "title": format!("Issue {n}"), "labels": [{"name": label}], "body": body,
               "state": "OPEN", "createdAt": format!("2026-01-0{n}T00:00:00Z"), "url": ""})
    };
    let mut conflict = pr("OPEN", &["pass"]);
    conflict["merge"] = json!({"exit": 1, "stderr": "the merge commit cannot be cleanly created"});
    e.fixture(json!({
        "issues": [issue(1, "q", "fake-mode: ci"), issue(2, "q", "Blocked by #1\n\nfake-mode: ci"), issue(3, "x", "")],
        "prs": {"2": conflict},
        "pr_default": pr("OPEN", &["pass"]),
    }));
    let run = e.dispatch(&["--label", "q", "--max", "2"]);
    assert_eq!(run.spawned("worker"), [1, 2], "{run}");
    assert_eq!(run.end(1), "merged");
    assert_eq!(run.end(2), "escalated", "{run}");
    run.assert_code(1);
    let calls = e.gh_calls();
    assert_eq!(
        calls[0][..4],
        ["issue", "list", "--state", "open"],
        "{calls:?}"
    );
    assert!(calls[0].windows(2).any(|w| w == ["--label", "q"]));
    assert!(calls.iter().any(|c| c[..3] == ["issue", "view", "1"]));
    assert!(calls.iter().any(|c| c[..3] == ["pr", "merge", "1"]));
    let comment = calls
        .iter()
        .find(|c| c[..3] == ["issue", "comment", "2"])
        .expect("a comment on #2");
    assert!(
        comment[4].starts_with("orc-dispatch needs a person here: the merge of PR #2 failed"),
        "{comment:?}"
    );
}
