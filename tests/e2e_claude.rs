//! End to end with the real Claude Code CLI (`claude`, pinned by `.ci/run`)
//! against a loopback mock of the Messages API whose model replies are
//! scripted, tool calls included.
//!
//! (a) `claude -p "/orc:orchestrate 1" --plugin-dir .` in a repository with
//!     a local issue: the orchestrator's scripted Bash calls run `orc-spawn`
//!     and `orc-watch`; the worker, itself the real `claude` started by
//!     `orc-shim` with `--agent orc:worker`, runs in its worktree, commits
//!     and calls `orc-notify`; `orc-watch` reports the result. Then
//!     `orc-spawn --resume` continues the same Claude session.
//! (b) The Stop guard keeps a worker's turn going until it has called
//!     `orc-notify`, and lets it end after; with the kill switch set, the
//!     same worker ends unreported and is recorded as crashed.
//!
//! (c) `/orc:orchestrate 3` over a local issue through to a merged commit on
//!     `main`: the real claude worker commits and claims `ci-passed`, the
//!     skill runs `orc-dispatch land 3`, and orc runs the check, merges,
//!     closes the issue file and reaps the worktree and branch.
//!
//! Also: the orchestrate skill's `allowed-tools` let every command of its
//! procedure run under `-p` and refuse others, and a real permission denial
//! reads as blocked to `orc-ps --health`.
//!
//! Loopback only, bounded in time and requests; every process the tests
//! start is waited for and, if it outlives the test, ended by its pid.
//! Skipped (with a note) only when `claude` is missing and `CI` is unset.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/world.rs"]
mod world;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use mock_anthropic::{MockApi, Reply, bash_calls, conversation_text, last_user_text, system_text};
use serde_json::Value;
use world::{World, plugin_root, run_bounded, wait_until};

/// Two `claude` sessions at a time are plenty for two shared cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// A line of agents/worker.md, which Claude Code puts in the worker's system prompt.
const WORKER_MARK: &str = "You are orc's worker agent.";
/// What the Stop guard's reason starts with (kernel/src/hook.rs).
const GUARD_MARK: &str = "orc: you are the worker for issue #";
/// A prompt that makes the scripted model touch a file outside the worktree.
const PROBE: &str = "e2e-permission-probe:";
/// Commands of the orchestrate skill's procedure, one of each form.
const ORCHESTRATOR_COMMANDS: [&str; 10] = [
    "orc-spawn 99",
    "orc-watch --any --timeout 1 99",
    "orc-ps",
    "orc-ps --health",
    "orc-ctl logs 99",
    "orc-signal 99 TERM",
    "orc-dispatch land 99",
    "orc-watch --kind reviewer --any --timeout 1 99",
    "orc-cleanup --keep-worktree 99",
    "gh issue comment 99 --body \"escalated: see the log\"",
];
/// A path the orchestrate skill does not let the model touch.
const NOT_ALLOWED: &str = "/tmp/orc-e2e-never-removed";
/// How long any one `claude` may run here.
const LIMIT: Duration = Duration::from_secs(150);

/// The scripted model: the orchestrator's and the workers' turns.
fn script(body: &Value) -> Option<Reply> {
    let system = system_text(body);
    let convo = conversation_text(body);
    let calls = bash_calls(body);
    if system.contains(WORKER_MARK) {
        // orc's default prompt (agent/prompt.rs), once per attempt.
        let prompts = convo
            .matches("You are the orc worker for issue #1,")
            .count();
        if convo.contains("orc worker for issue #2") {
            return Some(stop_guard_worker(body, &calls));
        }
        return Some(match (prompts, calls.len()) {
            (_, 0) => Reply::Bash("orc-state RUNNING phase2:implement".into()),
            // The environment the shim gave this claude process.
            (_, 1) => Reply::Bash("tr '\\0' '\\n' < /proc/$CLAUDE_PID/environ".into()),
            (_, 2) => Reply::Bash(
                "echo hello > hello.txt && git add hello.txt && git commit -q -m 'e2e: say hello'"
                    .into(),
            ),
            (_, 3) => Reply::Bash("orc-notify ci-passed \"e2e: hello.txt committed\"".into()),
            // A resumed session: the earlier turns are in the conversation.
            (2.., 4) => Reply::Bash("orc-notify ci-passed \"e2e: resumed session\"".into()),
            _ => Reply::Text("Done: the result is reported.".into()),
        });
    }
    if let Some(at) = convo.find(PROBE) {
        let path: String = convo[at + PROBE.len()..]
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        return Some(match calls.len() {
            0 => Reply::Bash(format!("touch {path}")),
            _ => Reply::Text("Could not touch it.".into()),
        });
    }
    if convo.contains("<command-args>99</command-args>") {
        // Every kind of command the orchestrate skill tells the model to
        // run, then one it does not allow.
        return Some(match ORCHESTRATOR_COMMANDS.get(calls.len()) {
            Some(command) => Reply::Bash(command.to_string()),
            None if calls.len() == ORCHESTRATOR_COMMANDS.len() => {
                Reply::Bash(format!("rm -rf {NOT_ALLOWED}"))
            }
            None => Reply::Text("Checked.".into()),
        });
    }
    if convo.contains("<command-args>3</command-args>") {
        // The skill's procedure for a worker that claims ci-passed: land it
        // through orc, which verifies, checks, merges, closes and reaps.
        return Some(match calls.len() {
            0 => Reply::Bash("orc-spawn 3".into()),
            1 => Reply::Bash("orc-watch --any --timeout 120 3".into()),
            2 => Reply::Bash("orc-dispatch land 3".into()),
            _ => Reply::Text("Issue 3 is merged into main.".into()),
        });
    }
    if convo.contains("<command-name>/orc:orchestrate</command-name>") {
        return Some(match calls.len() {
            0 => Reply::Bash("orc-spawn 1".into()),
            1 => Reply::Bash("orc-watch --any --timeout 120 1".into()),
            _ => Reply::Text("Issue 1 ended; see the table above.".into()),
        });
    }
    None
}

/// Issue 2's worker tries to end its turn before reporting.
fn stop_guard_worker(body: &Value, calls: &[String]) -> Reply {
    let notified = calls.iter().any(|c| c.starts_with("orc-notify"));
    if !notified && last_user_text(body).contains(GUARD_MARK) {
        Reply::Bash("orc-notify ci-passed \"e2e: reported after the stop guard\"".into())
    } else if calls.is_empty() {
        Reply::Text("All done, I think.".into())
    } else {
        Reply::Text("Reported; ending my turn.".into())
    }
}

/// The first event of `kind`/`subtype` in a stream-json text.
fn event<'a>(events: &'a [Value], kind: &str, subtype: Option<&str>) -> Option<&'a Value> {
    events
        .iter()
        .find(|e| e["type"] == kind && subtype.is_none_or(|s| e["subtype"] == s))
}

/// The JSON lines of a log or a stream.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The text of the first tool result, in any request the mock saw, whose
/// tool call's command contains `needle`.
fn results_of(requests: &[mock_anthropic::Seen], needle: &str) -> Option<String> {
    requests.iter().find_map(|s| {
        let msgs = mock_anthropic::messages(&s.body);
        let id = msgs
            .iter()
            .filter(|(role, _)| role == "assistant")
            .filter_map(|(_, c)| c.as_array())
            .flatten()
            .find(|b| {
                b["type"] == "tool_use"
                    && b["input"]["command"]
                        .as_str()
                        .is_some_and(|c| c.contains(needle))
            })
            .map(|b| b["id"].clone())?;
        msgs.iter()
            .filter_map(|(_, c)| c.as_array())
            .flatten()
            .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == id)
            .map(|b| mock_anthropic::content_text(&b["content"]))
    })
}

/// Every tool result's text in a stream-json output.
fn tool_results(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "user")
        .filter_map(|e| e["message"]["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| mock_anthropic::content_text(&b["content"]))
        .collect()
}

#[test]
fn orchestrate_spawns_a_real_claude_worker_that_commits_and_notifies() {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    w.issue(1, "Say hello", "Add a file hello.txt that says hello.");
    let mut api = MockApi::start(script, 60, LIMIT * 2);

    let mut cmd = Command::new(&claude);
    cmd.args(["-p", "/orc:orchestrate 1", "--plugin-dir"])
        .arg(plugin_root())
        .args(["--output-format", "stream-json", "--verbose"])
        .current_dir(&w.repo)
        .env_clear()
        .envs(w.claude_env(&claude, &api.base_url()))
        .env("ORC_WORKER_TIMEOUT", "120")
        .env("ORC_TERM_GRACE", "5");
    let run = run_bounded(cmd, LIMIT);
    let done = wait_until(Duration::from_secs(60), || {
        w.pids("worker-1").iter().all(|p| !world::alive(*p))
    });
    w.end_worker("worker-1");
    let context = format!(
        "orchestrator exit {:?} (timed out: {})\nstderr: {}\nmock:\n{}\nworker log:\n{}",
        run.code,
        run.timed_out,
        run.stderr,
        api.transcript(),
        w.log("worker-1")
    );
    assert_eq!(run.code, Some(0), "{context}");
    assert!(done, "the worker's shim and claude did not exit\n{context}");

    // The orchestrator's scripted Bash calls ran the real tools.
    let events = json_lines(&run.stdout);
    let results = tool_results(&events);
    let spawned: Value = results
        .iter()
        .find_map(|r| {
            serde_json::from_str::<Value>(r)
                .ok()
                .filter(|v| v["issue"] == 1)
        })
        .unwrap_or_else(|| panic!("no orc-spawn output in {results:?}\n{context}"));
    let worktree = spawned["worktree"].as_str().expect("worktree").to_string();
    assert_eq!(spawned["agent"], "claude", "{context}");
    let watched = results
        .iter()
        .find(|r| r.contains("\"result\":\"ci-passed\""))
        .unwrap_or_else(|| panic!("orc-watch reported nothing in {results:?}\n{context}"));
    let watched: Value = serde_json::from_str(watched.trim()).expect("orc-watch JSON line");
    assert_eq!(watched["issue"], 1);
    assert_eq!(watched["detail"], "e2e: hello.txt committed");

    // The worker was the real claude, as orc:worker, in its worktree.
    let requests = api.requests();
    let worker_requests: Vec<&mock_anthropic::Seen> = requests
        .iter()
        .filter(|s| system_text(&s.body).contains(WORKER_MARK))
        .collect();
    assert!(worker_requests.len() >= 4, "{context}");
    assert!(
        worker_requests.iter().all(|s| conversation_text(&s.body)
            .contains(&format!("Primary working directory: {worktree}"))),
        "the worker did not run in {worktree}\n{context}"
    );
    let log = w.log("worker-1");
    let stream = json_lines(&log);
    let init = event(&stream, "system", Some("init")).expect("system/init in the worker's log");
    assert_eq!(init["cwd"], worktree.as_str());
    assert_eq!(init["permissionMode"], "acceptEdits");
    assert!(
        init["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "orc:worker")),
        "{init}"
    );
    assert!(
        event(&stream, "result", None).is_some(),
        "no result event\n{context}"
    );

    // The worker's claude got a scrubbed environment: none of the
    // orchestrator session's markers, orc's worker identity instead.
    let environ = results_of(&requests, "/environ")
        .unwrap_or_else(|| panic!("no environ tool result\n{context}"));
    let vars: Vec<&str> = environ.lines().collect();
    let has = |prefix: &str| vars.iter().any(|v| v.starts_with(prefix));
    for marker in [
        "CLAUDECODE=",
        "CLAUDE_CODE_CHILD_SESSION=",
        "CLAUDE_CODE_SESSION_ID=",
        "CLAUDE_CODE_ENTRYPOINT=",
        "CLAUDE_ENV_FILE=",
        "CLAUDE_PLUGIN_ROOT=",
        "CLAUDE_PROJECT_DIR=",
        "CLAUDE_PID=",
    ] {
        assert!(!has(marker), "the worker inherited {marker}\n{environ}");
    }
    for wanted in [
        "ORC_ISSUE=1",
        "ORC_KIND=worker",
        "ORC_SESSION=",
        "ANTHROPIC_BASE_URL=",
    ] {
        assert!(has(wanted), "the worker lacks {wanted}\n{environ}");
    }
    // orc-setup's SessionStart export reached the orchestrator's Bash tool,
    // and through orc-spawn the worker.
    let root = format!("ORC_ROOT={}", plugin_root().display());
    assert!(has(&root), "{environ}");

    // It committed on the issue's branch, not on main, and reported.
    let record = w.record("worker-1").expect("worker record");
    assert_eq!(record["state"], "TERMINATED", "{record}");
    assert_eq!(record["result"], "ci-passed", "{record}");
    let branch = record["branch"].as_str().expect("branch");
    assert!(
        w.git(&["log", "--format=%s", branch])
            .contains("e2e: say hello")
    );
    assert!(
        w.git(&["show", &format!("{branch}:hello.txt")])
            .contains("hello")
    );
    assert!(
        !w.git(&["log", "--format=%s", "main"])
            .contains("e2e: say hello")
    );

    // The session id orc recorded is the session the CLI ran, so it resumes.
    let sid = record["agent_session"].as_str().expect("agent_session");
    assert_eq!(init["session_id"], sid, "{context}");
    let logs = w.orc("orc-ctl").args(["logs", "1"]).output().unwrap();
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.contains("\"type\":\"assistant\"") && logs.contains("orc-notify"),
        "{logs}"
    );

    // A new attempt resumes the same Claude session with its history.
    let out = world::output_within(
        {
            let mut c = w.orc("orc-spawn");
            c.args(["--resume", "1"])
                .envs(w.claude_env(&claude, &api.base_url()))
                .env("ORC_WORKER_TIMEOUT", "120");
            c
        },
        LIMIT,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let watch = run_bounded(
        {
            let mut c = w.orc("orc-watch");
            c.args(["--timeout", "120", "1"]);
            c
        },
        LIMIT,
    );
    let done = wait_until(Duration::from_secs(60), || {
        w.pids("worker-1").iter().all(|p| !world::alive(*p))
    });
    w.end_worker("worker-1");
    let context = format!(
        "{}\nmock:\n{}\nlog:\n{}",
        watch.stderr,
        api.transcript(),
        w.log("worker-1")
    );
    assert!(
        watch.stdout.contains("e2e: resumed session"),
        "{}\n{context}",
        watch.stdout
    );
    assert!(done, "{context}");
    let record = w.record("worker-1").expect("record");
    assert_eq!(record["attempt"], 2, "{record}");
    assert_eq!(record["agent_session"], sid, "{record}");
    let resumed = api
        .requests()
        .into_iter()
        .rev()
        .find(|s| system_text(&s.body).contains(WORKER_MARK))
        .expect("a resumed request");
    assert!(
        bash_calls(&resumed.body)
            .iter()
            .any(|c| c.contains("e2e: say hello")),
        "the resumed conversation lacks the first attempt's turns\n{context}"
    );
    api.stop();
    assert!(
        api.unmatched().is_empty(),
        "unmatched:\n{}",
        api.transcript()
    );
}

#[test]
fn orchestrate_lands_a_local_issue_as_a_merged_commit_on_main() {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    w.issue(3, "Say hello", "Add a file hello.txt that says hello.");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&w.repo)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = git(&["rev-parse", "main"]);
    let api = MockApi::start(script, 60, LIMIT * 2);
    let mut cmd = Command::new(&claude);
    cmd.args(["-p", "/orc:orchestrate 3", "--plugin-dir"])
        .arg(plugin_root())
        .args(["--output-format", "stream-json", "--verbose"])
        .current_dir(&w.repo)
        .env_clear()
        .envs(w.claude_env(&claude, &api.base_url()))
        .env("ORC_WORKER_TIMEOUT", "120")
        .env("ORC_TERM_GRACE", "5")
        // The project's check, run by orc on the branch tip; no reviewer
        // (a second scripted claude adds nothing here); merge without asking.
        .env("ORC_CHECK_CMD", "test -s hello.txt")
        .env("ORC_REVIEW", "false")
        .env("ORC_AUTO_MERGE", "true");
    let run = run_bounded(cmd, LIMIT);
    let pids = w.pids("worker-3");
    wait_until(Duration::from_secs(30), || {
        pids.iter().all(|p| !world::alive(*p))
    });
    w.end_worker("worker-3");
    let context = format!(
        "orchestrator exit {:?} (timed out: {})\nstderr: {}\nmock:\n{}",
        run.code,
        run.timed_out,
        run.stderr,
        api.transcript()
    );
    assert_eq!(run.code, Some(0), "{context}");
    let results = tool_results(&json_lines(&run.stdout));
    let landed = results
        .iter()
        .find(|r| r.contains("\"event\":\"merged\""))
        .unwrap_or_else(|| panic!("orc-dispatch land merged nothing: {results:?}\n{context}"));
    assert!(
        landed.contains("\"event\":\"checked\",\"issue\":3,\"passed\":true"),
        "{landed}"
    );
    // main holds the worker's commit, then the closing of the issue.
    let log = git(&["log", "--format=%s", &format!("{}..main", before.trim())]);
    assert!(log.contains("e2e: say hello"), "{log}\n{context}");
    assert!(log.contains("Merge issue #3: Say hello"), "{log}");
    assert!(
        log.lines()
            .next()
            .unwrap_or("")
            .starts_with("Close issue #3"),
        "{log}"
    );
    assert_eq!(git(&["show", "main:hello.txt"]), "hello\n");
    let issue = std::fs::read_to_string(w.repo.join(".orc/issues/3.md")).unwrap();
    assert!(issue.contains("state: closed"), "{issue}");
    // Nothing of the worker is left.
    assert!(!w.repo.join(".worktrees").exists(), "{context}");
    assert_eq!(git(&["branch", "--list", "issue/*"]), "");
    assert_eq!(git(&["status", "--porcelain", "--untracked-files=no"]), "");
}

#[test]
fn stop_guard_keeps_a_worker_going_until_it_notifies() {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    w.issue(
        2,
        "End early",
        "A worker that tries to stop before it reports.",
    );
    let mut api = MockApi::start(script, 30, LIMIT * 2);

    let mut spawn = w.orc("orc-spawn");
    spawn
        .arg("2")
        .envs(w.claude_env(&claude, &api.base_url()))
        .env("ORC_WORKER_TIMEOUT", "120")
        // The orchestrator's PATH: the tools first, then claude.
        .env(
            "PATH",
            format!(
                "{}:{}",
                world::bin_dir().display(),
                world::claude_path(&claude)
            ),
        );
    let out = world::output_within(spawn, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let watch = run_bounded(
        {
            let mut c = w.orc("orc-watch");
            c.args(["--timeout", "120", "2"]);
            c
        },
        LIMIT,
    );
    let done = wait_until(Duration::from_secs(60), || {
        w.pids("worker-2").iter().all(|p| !world::alive(*p))
    });
    w.end_worker("worker-2");
    api.stop();
    let log = w.log("worker-2");
    let context = format!(
        "watch: {} {}\nmock:\n{}\nlog:\n{log}",
        watch.stdout,
        watch.stderr,
        api.transcript()
    );

    // It ended its turn early once; the guard kept it going exactly once.
    let worker: Vec<mock_anthropic::Seen> = api
        .requests()
        .into_iter()
        .filter(|s| system_text(&s.body).contains(WORKER_MARK))
        .collect();
    let guarded: Vec<&mock_anthropic::Seen> = worker
        .iter()
        .filter(|s| last_user_text(&s.body).contains(GUARD_MARK))
        .collect();
    assert_eq!(guarded.len(), 1, "{context}");
    assert!(
        conversation_text(&guarded[0].body).contains("All done, I think."),
        "the guard fired before the early stop\n{context}"
    );
    assert!(
        last_user_text(&guarded[0].body).contains("orc-notify"),
        "{context}"
    );
    assert_eq!(
        guarded[0].reply,
        Some(Reply::Bash(
            "orc-notify ci-passed \"e2e: reported after the stop guard\"".into()
        ))
    );

    // Then it reported, and the guard let the turn (and the process) end.
    assert!(
        watch.stdout.contains("e2e: reported after the stop guard"),
        "{context}"
    );
    assert!(done, "the worker did not end after orc-notify\n{context}");
    let stream = json_lines(&log);
    let result = event(&stream, "result", None).expect("the worker's result event");
    assert_eq!(result["is_error"], false, "{context}");
    assert!(log.contains("Stop hook feedback"), "{context}");
    let record = w.record("worker-2").expect("record");
    assert_eq!(record["result"], "ci-passed", "{record}");
    assert!(api.unmatched().is_empty(), "{context}");
}

#[test]
fn without_the_stop_guard_an_unreported_worker_is_a_crash() {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    w.issue(
        2,
        "End early",
        "A worker that tries to stop before it reports.",
    );
    let mut api = MockApi::start(script, 20, LIMIT * 2);
    let mut spawn = w.orc("orc-spawn");
    spawn
        .arg("2")
        .envs(w.claude_env(&claude, &api.base_url()))
        .env("ORC_WORKER_TIMEOUT", "120")
        .env("ORC_DISABLE_STOP_GUARD", "1")
        .env(
            "PATH",
            format!(
                "{}:{}",
                world::bin_dir().display(),
                world::claude_path(&claude)
            ),
        );
    let out = world::output_within(spawn, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let watch = run_bounded(
        {
            let mut c = w.orc("orc-watch");
            c.args(["--timeout", "120", "2"]);
            c
        },
        LIMIT,
    );
    w.end_worker("worker-2");
    api.stop();
    let context = format!(
        "{}\nmock:\n{}\nlog:\n{}",
        watch.stdout,
        api.transcript(),
        w.log("worker-2")
    );
    let line: Value = serde_json::from_str(watch.stdout.trim()).expect(&context);
    assert_eq!(line["result"], "crashed", "{context}");
    assert_eq!(
        line["detail"], "agent exited with code 0 without a result",
        "{context}"
    );
    assert!(
        api.requests()
            .iter()
            .all(|s| !last_user_text(&s.body).contains(GUARD_MARK)),
        "{context}"
    );
}

#[test]
fn a_real_permission_denial_reads_as_blocked() {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    let api = MockApi::start(script, 10, LIMIT);
    let outside = w.root.join("outside.txt");
    // No tools granted: what a worker whose grant misses a tool would meet.
    let mut cmd = Command::new(&claude);
    cmd.args(["-p", "--output-format", "stream-json", "--verbose"])
        .args(["--agent", "orc:worker", "--plugin-dir"])
        .arg(plugin_root())
        .arg(format!("{PROBE} {}", outside.display()))
        .current_dir(&w.repo)
        .env_clear()
        .envs(w.claude_env(&claude, &api.base_url()));
    let run = run_bounded(cmd, LIMIT);
    assert!(!run.timed_out, "{}", api.transcript());
    assert!(!outside.exists(), "the command ran without a grant");
    let denied = json_lines(&run.stdout)
        .into_iter()
        .find(|e| e["type"] == "result")
        .expect("a result event");
    assert!(
        denied["permission_denials"]
            .as_array()
            .is_some_and(|d| !d.is_empty()),
        "{denied}"
    );
    // What orc-ps --health reads in the worker's log: the tail of this stream.
    assert!(
        orc_kernel::agent::looks_blocked(&run.stdout),
        "{}",
        run.stdout
    );
    let tool_error = run
        .stdout
        .lines()
        .find(|l| l.contains("\"tool_result\"") && l.contains("\"is_error\":true"))
        .expect("the denied tool's result");
    assert!(orc_kernel::agent::looks_blocked(tool_error), "{tool_error}");
}

#[test]
fn the_orchestrate_skill_allows_exactly_its_commands_headless() {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = World::new();
    // A stand-in gh: the point is the permission check, not GitHub.
    let fake = w.root.join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("gh"), "#!/bin/sh\necho \"fake gh $*\"\n").unwrap();
    let mut perms = std::fs::metadata(fake.join("gh")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(fake.join("gh"), perms).unwrap();
    let api = MockApi::start(script, 30, LIMIT);
    let mut cmd = Command::new(&claude);
    cmd.args(["-p", "/orc:orchestrate 99", "--plugin-dir"])
        .arg(plugin_root())
        .args(["--output-format", "stream-json", "--verbose"])
        .current_dir(&w.repo)
        .env_clear()
        .envs(w.claude_env(&claude, &api.base_url()))
        .env(
            "PATH",
            format!("{}:{}", fake.display(), world::claude_path(&claude)),
        );
    let run = run_bounded(cmd, LIMIT);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stderr, api.transcript());
    let events = json_lines(&run.stdout);
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user")
        .filter_map(|e| e["message"]["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(
        results.len(),
        ORCHESTRATOR_COMMANDS.len() + 1,
        "{}",
        run.stdout
    );
    let refused = |b: &Value| {
        let text = mock_anthropic::content_text(&b["content"]);
        text.contains("requires approval") || text.contains("needs approval")
    };
    for (command, result) in ORCHESTRATOR_COMMANDS.iter().zip(&results) {
        assert!(!refused(result), "{command} was refused: {result}");
    }
    assert!(
        mock_anthropic::content_text(&results[9]["content"]).contains("fake gh issue comment 99"),
        "{}",
        results[9]
    );
    assert!(
        refused(results[ORCHESTRATOR_COMMANDS.len()]),
        "rm was allowed"
    );
    let denied = events
        .iter()
        .find(|e| e["type"] == "result")
        .expect("result");
    assert_eq!(
        denied["permission_denials"].as_array().map(Vec::len),
        Some(1),
        "{denied}"
    );
}
