//! orc-ctl logs and env.

use std::fs;
use std::time::Duration;

use crate::common::life::{Life, Streaming, gone, json_lines, wait_gone};
use crate::common::{assert_fails, assert_ok, run, wait_until};
use orc_kernel::ids::Kind;
use orc_kernel::record::State;
use serde_json::json;

#[test]
fn logs_prints_the_log_and_follows_what_is_appended() {
    let env = Life::new();
    let proc = env.seed_worker(7, Kind::Worker, State::Terminated);
    fs::write(proc.log_path(), "line one\nline two\n").unwrap();
    assert_eq!(
        assert_ok(&env.run("orc-ctl", &["logs", "7"])),
        "line one\nline two\n"
    );

    let proc = env.seed_worker(8, Kind::Worker, State::Running);
    fs::write(proc.log_path(), "first\n").unwrap();
    let follow = Streaming::start(env.tool("orc-ctl").args(["logs", "-f", "8"]));
    assert_eq!(follow.next_line(), "first");
    fs::write(proc.log_path(), "first\nsecond\n").unwrap();
    assert_eq!(follow.next_line(), "second");
    assert_ok(&run(env
        .worker_cmd("orc-notify", 8, Kind::Worker)
        .args(["failed", "done"])));
    // Once the worker has ended (and no shim of it lives), follow ends.
    let (status, _, err) = follow.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    let out = env.run("orc-ctl", &["logs", "9"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: no worker for issue 9 in any session (9)",
    );
}

#[test]
fn env_shows_origins_and_masks_secrets() {
    let env = Life::new();
    let project = env.repo.join(".orc/envs");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("default.env"), "ORC_MAX_WORKERS=2\n").unwrap();
    let user = env.home.join(".config/orc/envs");
    fs::create_dir_all(&user).unwrap();
    fs::write(user.join("default.env"), "ORC_TERM_GRACE=7\n").unwrap();
    let out = run(env
        .tool("orc-ctl")
        .env("ORC_GH_TOKEN", "abc")
        .env("ORC_POLL_INTERVAL", "3")
        .args(["env", "--json"]));
    let text = assert_ok(&out);
    assert!(!text.contains("abc"), "a secret was shown: {text}");
    let rows = json_lines(&text);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
            .clone()
    };
    assert_eq!(
        row("ORC_GH_TOKEN"),
        json!({"name": "ORC_GH_TOKEN", "value": "****", "origin": "environment"})
    );
    assert_eq!(row("ORC_POLL_INTERVAL")["origin"], "environment");
    assert_eq!(
        row("ORC_MAX_WORKERS"),
        json!({"name": "ORC_MAX_WORKERS", "value": "2",
               "origin": project.join("default.env").to_str().unwrap()})
    );
    assert_eq!(
        row("ORC_TERM_GRACE"),
        json!({"name": "ORC_TERM_GRACE", "value": "7",
               "origin": user.join("default.env").to_str().unwrap()})
    );
    assert_eq!(
        row("ORC_WORKER_TIMEOUT"),
        json!({"name": "ORC_WORKER_TIMEOUT", "value": "3600", "origin": "default"})
    );
    assert_eq!(row("ORC_BASE")["origin"], "unset");
    let table = assert_ok(&run(env
        .tool("orc-ctl")
        .env("ORC_GH_TOKEN", "abc")
        .arg("env")));
    let line = table
        .lines()
        .find(|l| l.starts_with("ORC_GH_TOKEN"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["ORC_GH_TOKEN", "****", "environment"]
    );
    assert!(!table.contains("abc"));
}

#[test]
fn env_says_how_far_the_agent_adapter_is_checked() {
    let env = Life::new();
    let rows = json_lines(&assert_ok(&run(env
        .tool("orc-ctl")
        .args(["env", "--json"]))));
    let agent = rows.iter().find(|r| r["name"] == "ORC_AGENT").unwrap();
    assert_eq!(agent["value"], "custom");
    assert!(
        agent["checked"]
            .as_str()
            .unwrap()
            .contains("orc checks nothing of it"),
        "{agent}"
    );
    for (name, line) in [
        (
            "codex",
            "agent: codex: checked end to end against codex 0.171.0: real worker turns, headless and in tmux",
        ),
        (
            "opencode",
            "agent: opencode: checked end to end against opencode 1.18.33: real worker turns, headless and in tmux",
        ),
        (
            "gemini",
            "agent: gemini: checked end to end against gemini 0.61.0: real worker turns, headless and in tmux",
        ),
        (
            "claude",
            "agent: claude: checked end to end against Claude Code 2.1.328",
        ),
    ] {
        let table = assert_ok(&run(env.tool("orc-ctl").env("ORC_AGENT", name).arg("env")));
        let got = table.lines().find(|l| l.starts_with("agent: ")).unwrap();
        assert!(got.starts_with(line), "{got}");
        assert!(!got.contains("NOT checked"), "{got}");
    }
}

#[test]
fn logs_follow_prints_the_log_to_its_last_line() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    let follow = Streaming::start(env.tool("orc-ctl").args(["logs", "-f", "7"]));
    // The agent reports its result and goes on; when it is killed, the
    // shim logs how it ended, after the record has ended. Holding the proc
    // lock keeps the shim from that last line for a while.
    assert_ok(&run(env
        .worker_cmd("orc-notify", 7, Kind::Worker)
        .args(["failed", "gave up"])));
    let proc = env.proc(7, Kind::Worker);
    let held = proc.guard().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(w.pid);
    // logs -f must not stop while the shim can still write.
    let mut lines = Vec::new();
    assert!(
        !wait_until(Duration::from_millis(1500), || {
            lines.extend(std::iter::from_fn(|| follow.try_line()));
            gone(follow.id() as i32)
        }),
        "orc-ctl logs -f ended while the shim was still writing"
    );
    drop(held);
    let (status, rest, err) = follow.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    lines.extend(rest);
    env.wait_until_settled(7);
    let log = env.log(7, Kind::Worker);
    assert!(
        log.trim_end()
            .ends_with("orc-shim: agent ended (code 137) after its result"),
        "{log}"
    );
    assert_eq!(
        lines.join("\n") + "\n",
        log,
        "the whole log, to its last line"
    );
    env.cleanup(7, &[]);
    env.assert_no_processes();
}
