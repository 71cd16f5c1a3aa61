//! The schedule layout runs a real worker: `orc-cron add --label` and
//! `orc-at add --label`, then `run ID`, which starts the schedule's runner
//! in an empty environment exactly as cron or atd would; the runner's
//! `orc-dispatch` spawns the real Claude Code CLI as `orc:worker` in its
//! worktree against the loopback mock, and the worker ends `ci-passed`.
//! Everything the run needs comes from what `add` captured (the API's base
//! URL, `ORC_REVIEW=false`, the plugin root, `HOME` and `PATH`), and the
//! API key from `HOME`, where a user's login lives (never the registry).
//!
//! The OS schedulers are the recording fakes of tests/sched_env (the live
//! daemons are tests/sched_live.rs). Skipped (one line) when `claude` is
//! missing and `CI` is unset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
mod sched_env;
#[path = "support/world.rs"]
mod world;

use std::fs;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use mock_anthropic::{MockApi, Reply, bash_calls, conversation_text, system_text};
use sched_env::{AT, CRON, Env, ok, stderr};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());
const WORKER_MARK: &str = "You are orc's worker agent.";

fn script(body: &Value) -> Option<Reply> {
    if !system_text(body).contains(WORKER_MARK) {
        return None;
    }
    Some(match bash_calls(body).len() {
        0 => Reply::Bash(
            "echo hi > hi.txt && git add hi.txt && git commit -q -m 'scheduled: hi'".into(),
        ),
        1 => Reply::Bash("orc-notify ci-passed \"scheduled: committed\"".into()),
        _ => Reply::Text("Reported.".into()),
    })
}

/// A world whose repository has issue 1 labelled `ready` and whose HOME
/// holds a git identity and Claude Code's API key setting.
fn world(claude: &std::path::Path, api: &MockApi) -> Env {
    let mut e = Env::new();
    e.fake_crontab();
    e.fake_at();
    e.fakes_on_path = true;
    fs::write(
        e.home.join(".gitconfig"),
        "[user]\n\tname = orc-test\n\temail = orc-test@example.invalid\n",
    )
    .unwrap();
    fs::create_dir_all(e.home.join(".claude")).unwrap();
    fs::write(
        e.home.join(".claude/settings.json"),
        r#"{"apiKeyHelper": "echo dummy"}"#,
    )
    .unwrap();
    let git = |args: &[&str]| {
        let out = e.cmd("git").args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["checkout", "-q", "-b", "main"]);
    fs::create_dir_all(e.repo.join(".orc/issues")).unwrap();
    fs::write(
        e.repo.join(".orc/issues/1.md"),
        "---\ntitle: Say hi\nlabels: [ready]\n---\nAdd hi.txt.\n",
    )
    .unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "issue 1"]);
    let dir = claude.parent().unwrap().display().to_string();
    let path = format!("{}:{dir}", e.path());
    e.set("PATH", &path);
    e.set("ANTHROPIC_BASE_URL", &api.base_url());
    e.set("ORC_REVIEW", "false");
    e.set("ORC_WORKER_TIMEOUT", "120");
    e.set("DISABLE_AUTOUPDATER", "1");
    e.unset("TZ");
    e
}

/// `tool add ... --label ready`, then `tool run ID`: the worker's turns
/// reach the mock as orc:worker in its worktree, and the run reports the
/// worker's `ci-passed`.
fn runs_a_real_worker(tool: &str, when: &[&str]) {
    let Some(claude) = world::claude() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut api = MockApi::start(script, 30, Duration::from_secs(300));
    let e = world(&claude, &api);
    let mut add = vec!["add"];
    add.extend_from_slice(when);
    add.extend_from_slice(&["--id", "s", "--label", "ready"]);
    ok(&e.run(tool, &add));
    // Another shell later: none of the settings above, and a wrong agent.
    let run = Command::new(tool)
        .args(["run", "s"])
        .current_dir("/")
        .env_clear()
        .env("ORC_STATE_DIR", &e.state)
        .env("HOME", &e.home)
        .env("PATH", "/usr/bin:/bin")
        .env("ORC_AGENT", "codex")
        .output()
        .unwrap();
    let log = fs::read_to_string(e.state.join("logs/s.run.log")).unwrap_or_default();
    let context = format!(
        "run: {:?}\n{}\n{}\nlog:\n{log}\nmock:\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stdout),
        stderr(&run),
        api.transcript()
    );
    assert_eq!(run.status.code(), Some(0), "{context}");
    assert!(log.contains("run s started (by hand)"), "{context}");
    assert!(log.contains("ci-passed"), "{context}");
    let requests = api.requests();
    let worker: Vec<_> = requests
        .iter()
        .filter(|s| system_text(&s.body).contains(WORKER_MARK))
        .collect();
    assert!(worker.len() >= 2, "{context}");
    let worktree = e.repo.join(".worktrees/issue/1-say-hi");
    assert!(
        worker
            .iter()
            .all(|s| conversation_text(&s.body).contains(&format!(
                "Primary working directory: {}",
                worktree.display()
            ))),
        "{context}"
    );
    // The worker committed on its branch, and the run used the settings
    // captured at add (ORC_REVIEW=false), not the caller's.
    let branch = e
        .cmd("git")
        .args(["log", "--format=%s", "issue/1-say-hi"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&branch.stdout).contains("scheduled: hi"),
        "{context}"
    );
    assert!(
        log.contains("not reviewed (ORC_REVIEW is off)"),
        "{context}"
    );
    api.stop();
    assert!(api.unmatched().is_empty(), "{}", api.transcript());
}

#[test]
fn a_cron_schedule_runs_a_real_worker() {
    runs_a_real_worker(CRON, &["--schedule", "0 9 * * *"]);
}

#[test]
fn an_at_schedule_runs_a_real_worker() {
    runs_a_real_worker(AT, &["--at", "now + 1 day"]);
}
