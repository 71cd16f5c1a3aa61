//! orc-hook stop: the Stop guard, fed the JSON Claude Code 2.1.328 writes
//! on a hook's stdin. A real worker (the scripted fake agent, hanging) gives
//! it an active record; `orc-notify` ends it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/world.rs"]
mod world;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use world::{World, bin_dir, output_within, plugin_root};

const LIMIT: Duration = Duration::from_secs(30);

/// A Stop event as Claude Code sends it (recorded from 2.1.328).
fn stop_event(cwd: &Path, active: bool) -> Value {
    json!({
        "session_id": "0b9e4c2a-5d1f-4e3a-9c7b-2f6d8e1a4b3c",
        "transcript_path": "/tmp/x/.claude/projects/-tmp-x/0b9e4c2a-5d1f-4e3a-9c7b-2f6d8e1a4b3c.jsonl",
        "cwd": cwd,
        "prompt_id": "fec1faa5-be0b-417c-bd1a-ed1f879b2aa5",
        "permission_mode": "acceptEdits",
        "effort": {"level": "medium"},
        "hook_event_name": "Stop",
        "stop_hook_active": active,
        "last_assistant_message": "All done.",
        "background_tasks": [],
        "session_crons": []
    })
}

/// A worker of the fake agent that hangs after reporting phase1:hang.
fn hanging_worker(w: &World, issue: u32) -> PathBuf {
    w.issue(issue, "Hang", "fake-mode: hang");
    let mut cmd = w.orc("orc-spawn");
    cmd.arg(issue.to_string()).env("ORC_AGENT", "custom").env(
        "ORC_AGENT_CMD",
        format!(
            "{} {{issue}}",
            plugin_root().join("tests/bin/fake-agent").display()
        ),
    );
    let out = output_within(cmd, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spawned: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = format!("worker-{issue}");
    assert!(world::wait_until(LIMIT, || {
        w.record(&name)
            .is_some_and(|r| r["detail"] == "phase1:hang")
    }));
    PathBuf::from(spawned["worktree"].as_str().unwrap())
}

/// Run `orc-hook stop` with `stdin`, outside any orc environment, plus `env`.
fn hook(w: &World, stdin: &[u8], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let input = w.root.join("stdin.json");
    fs::write(&input, stdin).unwrap();
    let mut cmd = Command::new(bin_dir().join("orc-hook"));
    cmd.arg("stop")
        .current_dir("/")
        .env_clear()
        .env("PATH", world::SYSTEM_PATH)
        .env("HOME", &w.home)
        .envs(env.iter().copied())
        .stdin(fs::File::open(&input).unwrap());
    let b = world::run_bounded_with_stdin(cmd, LIMIT);
    (b.code, b.stdout, b.stderr)
}

fn decision(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

#[test]
fn blocks_an_active_worker_until_it_notifies() {
    let w = World::new();
    let worktree = hanging_worker(&w, 7);

    let (code, out, err) = hook(&w, stop_event(&worktree, false).to_string().as_bytes(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let d = decision(&out);
    assert_eq!(d["decision"], "block");
    let reason = d["reason"].as_str().unwrap();
    assert!(
        reason.contains("issue #7") && reason.contains("orc-notify"),
        "{reason}"
    );
    assert!(reason.contains("RUNNING (phase1:hang)"), "{reason}");
    assert!(reason.contains("ci-passed"), "a worker's results: {reason}");

    // From a subdirectory, and again with stop_hook_active: still blocked.
    let sub = worktree.join("src");
    fs::create_dir_all(&sub).unwrap();
    let (_, out, _) = hook(&w, stop_event(&sub, true).to_string().as_bytes(), &[]);
    assert!(
        decision(&out)["reason"]
            .as_str()
            .unwrap()
            .contains("repeats"),
        "{out}"
    );

    // orc's own agent names are guarded; other named agents are not.
    let mut e = stop_event(&worktree, false);
    e["agent_type"] = json!("orc:worker");
    assert!(!hook(&w, e.to_string().as_bytes(), &[]).1.is_empty());
    e["agent_type"] = json!("someone-else");
    assert_eq!(hook(&w, e.to_string().as_bytes(), &[]).1, "");

    // The worker reports: the guard lets it stop.
    let mut notify = w.orc("orc-notify");
    notify.args(["failed", "gave up"]).current_dir(&worktree);
    let out = output_within(notify, LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out, _) = hook(&w, stop_event(&worktree, true).to_string().as_bytes(), &[]);
    assert_eq!((code, out.as_str()), (Some(0), ""));
    w.end_worker("worker-7");
}

#[test]
fn silent_outside_workers_and_on_other_events() {
    let w = World::new();
    let worktree = hanging_worker(&w, 8);
    for cwd in [w.repo.clone(), PathBuf::from("/"), w.root.join("missing")] {
        let (code, out, err) = hook(&w, stop_event(&cwd, false).to_string().as_bytes(), &[]);
        assert_eq!(
            (code, out.as_str(), err.as_str()),
            (Some(0), "", ""),
            "{}",
            cwd.display()
        );
    }
    for event in ["SessionStart", "SubagentStop", "StopFailure", "PreToolUse"] {
        let mut e = stop_event(&worktree, false);
        e["hook_event_name"] = json!(event);
        assert_eq!(hook(&w, e.to_string().as_bytes(), &[]).1, "", "{event}");
    }
    w.end_worker("worker-8");
}

#[test]
fn fails_open_on_malformed_input() {
    let w = World::new();
    let worktree = hanging_worker(&w, 9);
    let cwd = worktree.display().to_string();
    let long = format!(
        "{{\"hook_event_name\":\"Stop\",\"cwd\":\"{cwd}\",\"x\":\"{}",
        "a".repeat(1 << 20)
    );
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[1,2]".to_vec(),
        b"null".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        br#"{"hook_event_name":"Stop","cwd":42}"#.to_vec(),
        br#"{"hook_event_name":["Stop"]}"#.to_vec(),
        long.into_bytes(),
    ];
    for input in cases {
        let (code, out, err) = hook(&w, &input, &[]);
        assert_eq!((code, out.as_str(), err.as_str()), (Some(0), "", ""));
    }
    // A record that cannot be read: allowed, and left as it is.
    let state = w.proc_dir("worker-9").unwrap().join("state.json");
    let good = fs::read(&state).unwrap();
    fs::write(&state, b"{ not json").unwrap();
    let (code, out, _) = hook(&w, stop_event(&worktree, false).to_string().as_bytes(), &[]);
    assert_eq!((code, out.as_str()), (Some(0), ""));
    assert_eq!(fs::read(&state).unwrap(), b"{ not json");
    fs::write(&state, good).unwrap();
    w.end_worker("worker-9");
}

#[test]
fn kill_switch_in_the_environment_or_a_profile() {
    let w = World::new();
    let worktree = hanging_worker(&w, 10);
    let event = stop_event(&worktree, false).to_string();
    assert!(!hook(&w, event.as_bytes(), &[]).1.is_empty());
    for on in ["1", "true", "yes"] {
        assert_eq!(
            hook(&w, event.as_bytes(), &[("ORC_DISABLE_STOP_GUARD", on)]).1,
            ""
        );
    }
    assert!(
        !hook(&w, event.as_bytes(), &[("ORC_DISABLE_STOP_GUARD", "0")])
            .1
            .is_empty()
    );
    // The project's profile can turn it off too.
    let envs = w.repo.join(".orc/envs");
    fs::create_dir_all(&envs).unwrap();
    fs::write(envs.join("default.env"), "ORC_DISABLE_STOP_GUARD=1\n").unwrap();
    assert_eq!(hook(&w, event.as_bytes(), &[]).1, "");
    w.end_worker("worker-10");
}

#[test]
fn finds_the_worker_from_its_environment_outside_the_worktree() {
    let w = World::new();
    let _worktree = hanging_worker(&w, 11);
    let record = w.record("worker-11").unwrap();
    let session = record["session"].as_str().unwrap().to_string();
    let state = w.state.display().to_string();
    let env = [
        ("ORC_ISSUE", "11"),
        ("ORC_KIND", "worker"),
        ("ORC_SESSION", session.as_str()),
        ("ORC_STATE_DIR", state.as_str()),
    ];
    let event = stop_event(Path::new("/"), false).to_string();
    let (_, out, _) = hook(&w, event.as_bytes(), &env);
    assert_eq!(decision(&out)["decision"], "block");
    w.end_worker("worker-11");
}

#[test]
fn bad_arguments_never_exit_2() {
    let w = World::new();
    for args in [&[][..], &["bogus"][..], &["stop", "--nope"][..]] {
        let mut cmd = Command::new(bin_dir().join("orc-hook"));
        cmd.args(args).env_clear().env("HOME", &w.home);
        let out = output_within(cmd, LIMIT);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    let mut cmd = Command::new(bin_dir().join("orc-hook"));
    cmd.arg("--help");
    let out = output_within(cmd, LIMIT);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("ORC_DISABLE_STOP_GUARD"));
}

/// The PreToolUse hook allows the read-only orc commands in any turn (a
/// skill's allowed-tools hold for its own turn only) and has no opinion on
/// anything else.
#[test]
fn pretooluse_allows_only_plain_read_only_orc_commands() {
    let hook = env!("CARGO_BIN_EXE_orc-hook");
    let ask = |command: &str| {
        let input = serde_json::json!({"session_id": "s", "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": command}, "cwd": "/"});
        let mut child = std::process::Command::new(hook)
            .arg("pretooluse")
            .env_clear()
            .env("CLAUDE_PLUGIN_ROOT", "/opt/orc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{command}");
        String::from_utf8(out.stdout).unwrap()
    };
    for allowed in [
        "orc-ps --health",
        "orc-ctl logs 3",
        "/opt/orc/bin/orc-watch --any 1",
    ] {
        let out: serde_json::Value = serde_json::from_str(&ask(allowed)).unwrap();
        assert_eq!(
            out["hookSpecificOutput"]["permissionDecision"], "allow",
            "{allowed}"
        );
    }
    for other in [
        "orc-ctl kill 3",
        "orc-ps; rm -rf /",
        "/tmp/orc-ps",
        "rm -rf /",
    ] {
        assert_eq!(ask(other), "", "{other}");
    }
}
