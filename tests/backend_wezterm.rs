//! The wezterm backend, with a recording fake `wezterm` on PATH
//! (`tests/bin/wezterm`): the exact command line it is given, and the
//! worker it starts really running.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

/// A temporary HOME, state directory and git repository with local issues.
struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
}

impl Env {
    fn new(issues: &[(u32, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let env = Env {
            repo: root.join("repo"),
            _dir: dir,
            root,
        };
        std::fs::create_dir_all(env.root.join("home")).unwrap();
        std::fs::create_dir_all(env.repo.join(".orc/issues")).unwrap();
        env.git(&["init", "-q", "-b", "main"]);
        std::fs::write(env.repo.join("README.md"), "# test\n").unwrap();
        env.git(&["add", "README.md"]);
        env.git(&["commit", "-q", "-m", "initial"]);
        for (n, mode) in issues {
            let text = format!("---\ntitle: Issue {n}\n---\nfake-mode: {mode}\n");
            std::fs::write(env.repo.join(format!(".orc/issues/{n}.md")), text).unwrap();
        }
        env
    }

    /// The environment every tool runs with, and no other.
    fn vars(&self) -> Vec<(String, String)> {
        let bins = Path::new(env!("CARGO_BIN_EXE_orc-spawn")).parent().unwrap();
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin");
        [
            ("HOME", self.root.join("home").display().to_string()),
            (
                "PATH",
                format!(
                    "{}:{}:/usr/local/bin:/usr/bin:/bin",
                    bins.display(),
                    fakes.display()
                ),
            ),
            (
                "ORC_STATE_DIR",
                self.root.join("state").display().to_string(),
            ),
            ("ORC_AGENT", "custom".into()),
            ("ORC_AGENT_CMD", "fake-agent {issue}".into()),
            ("ORC_TERM_GRACE", "2".into()),
            ("FAKE_WEZTERM_LOG", self.calls_path().display().to_string()),
            ("GIT_AUTHOR_NAME", "test".into()),
            ("GIT_AUTHOR_EMAIL", "test@example.invalid".into()),
            ("GIT_COMMITTER_NAME", "test".into()),
            ("GIT_COMMITTER_EMAIL", "test@example.invalid".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn calls_path(&self) -> PathBuf {
        self.root.join("wezterm.calls")
    }

    /// Every call of the fake, as its argument lists.
    fn calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.calls_path()).unwrap();
        let mut calls = vec![Vec::new()];
        for line in text.lines() {
            if line == "--end--" {
                calls.push(Vec::new());
            } else {
                calls.last_mut().unwrap().push(line.to_string());
            }
        }
        calls.pop();
        calls
    }

    /// The process the fake started as the tab's program.
    fn tab_process(&self) -> i32 {
        let path = self.root.join("wezterm.calls.pid");
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(self.vars()).current_dir(&self.repo);
        cmd
    }

    fn git(&self, args: &[&str]) -> String {
        let out = self.cmd("git").args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn spawn(&self, issue: u32, extra: &[&str]) -> Value {
        let out = self
            .cmd("orc-spawn")
            .env("CLAUDECODE", "1")
            .env("ORC_BACKEND", "wezterm")
            .args(extra)
            .arg(issue.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "orc-spawn: {out:?}\nworker log:\n{}",
            self.logs()
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Every worker log of every session, for a failure's message.
    fn logs(&self) -> String {
        let dirs = |d: PathBuf| -> Vec<PathBuf> {
            std::fs::read_dir(d)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default()
        };
        dirs(self.root.join("state/sessions"))
            .into_iter()
            .flat_map(|s| dirs(s.join("procs")))
            .map(|p| std::fs::read_to_string(p.join("log")).unwrap_or_default())
            .collect()
    }

    fn watch(&self, issue: u32) -> Value {
        let out = self
            .cmd("orc-watch")
            .args(["--timeout", "90", &issue.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "orc-watch: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The detail of the worker's record: the phase it reported.
    fn detail(&self, session: &str, issue: u32) -> String {
        let path = self.root.join("state").join(format!(
            "sessions/{session}/procs/worker-{issue}/state.json"
        ));
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|r| r["detail"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn log(&self, session: &str, issue: u32) -> String {
        let path = self
            .root
            .join(format!("state/sessions/{session}/procs/worker-{issue}/log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

impl Drop for Env {
    /// Close the tab if a test left it open: its worker ends like TERM.
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.root.join("wezterm.calls.pid"));
        if let Ok(Ok(pid)) = pid.map(|p| p.trim().parse::<i32>()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGHUP);
        }
    }
}

/// Poll `cond` until it holds; fail the test naming `what` after a minute.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No live process is left in process group `pgid`.
fn group_gone(pgid: i32) -> bool {
    let out = Command::new("ps")
        .args(["-e", "-o", "pgid=,stat="])
        .output()
        .unwrap();
    !String::from_utf8_lossy(&out.stdout).lines().any(|l| {
        let mut f = l.split_whitespace();
        f.next().and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
            && f.next().is_some_and(|s| !s.starts_with('Z'))
    })
}

fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z'))
    })
}

#[test]
fn a_worker_runs_in_a_tab_given_exactly_these_arguments() {
    let env = Env::new(&[(1, "ok")]);
    let prompt = "fix it; then 'quote' $(this) #{too}";
    let spawned = env.spawn(1, &["--prompt", prompt]);
    let session = spawned["session"].as_str().unwrap();
    let worktree = spawned["worktree"].as_str().unwrap();
    let shim = Path::new(env!("CARGO_BIN_EXE_orc-shim"));

    // The shim's environment: the caller's, scrubbed of the Claude Code
    // session, plus the worker's own, and WezTerm's TERM.
    let mut vars: Vec<String> = env
        .vars()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vars.push("ORC_BACKEND=wezterm".into());
    vars.extend([
        format!("ORC_SESSION={session}"),
        "ORC_ENV=default".into(),
        "ORC_ISSUE=1".into(),
        "ORC_KIND=worker".into(),
        "TERM=xterm-256color".into(),
    ]);
    vars.sort();

    let calls = env.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    let spawn = &calls[0];
    assert_eq!(
        spawn[..8],
        [
            "cli",
            "spawn",
            "--cwd",
            worktree,
            "--",
            "/usr/bin/env",
            "-i",
            "--"
        ]
    );
    let shim_at = spawn.iter().position(|a| Path::new(a) == shim).unwrap();
    let mut given = spawn[8..shim_at].to_vec();
    assert_eq!(
        given.last().unwrap(),
        "TERM=xterm-256color",
        "TERM comes last"
    );
    given.sort();
    assert_eq!(given, vars);
    // The prompt is never an argument: the agent is told where its private
    // prompt file is.
    let file = env
        .root
        .join("state/sessions")
        .join(session)
        .join("procs/worker-1/prompt");
    let pointer = format!(
        "Your instructions are in the file {}: read it first, then follow it.",
        file.display()
    );
    assert_eq!(
        spawn[shim_at + 1..],
        [
            "--session",
            session,
            "--issue",
            "1",
            "--kind",
            "worker",
            "--interactive",
            "--",
            "fake-agent",
            "1",
            pointer.as_str()
        ]
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), prompt);
    assert_eq!(
        calls[1],
        ["cli", "set-tab-title", "--pane-id", "42", "worker-1"]
    );

    let result = env.watch(1);
    assert_eq!(result["result"], "merged", "{result}");
    let log = env.log(session, 1);
    assert!(
        log.contains("running in wezterm pane 42 (tab worker-1)"),
        "{log}"
    );
    wait_for("the tab's program to end", || gone(env.tab_process()));
}

#[test]
fn closing_the_tab_ends_the_worker_like_term() {
    // An agent deaf to SIGTERM: the shim must outlive the tab's SIGKILL to
    // go on to SIGKILL the agent's group after the grace period.
    let env = Env::new(&[(1, "ignore-term")]);
    let spawned = env.spawn(1, &[]);
    let session = spawned["session"].as_str().unwrap();
    let (shim, agent) = (
        spawned["shim_pid"].as_i64().unwrap() as i32,
        spawned["pid"].as_i64().unwrap() as i32,
    );
    let tab = env.tab_process();
    assert_ne!(tab, shim, "the supervisor is not the tab's own process");
    wait_for("the agent to ignore SIGTERM", || {
        env.detail(session, 1) == "phase1:ignore-term"
    });

    // What WezTerm does to the program of a tab it closes: SIGHUP, then
    // SIGKILL a fifth of a second later (portable-pty's ChildKiller). The
    // pause is part of the behaviour under test, not a wait for a result.
    kill(Pid::from_raw(tab), Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = kill(Pid::from_raw(tab), Signal::SIGKILL);

    let result = env.watch(1);
    assert_eq!(result["result"], "killed", "{result}");
    assert_eq!(
        result["detail"], "shim received SIGHUP; agent killed by SIGKILL",
        "{result}"
    );
    wait_for("the agent's process group to be gone", || group_gone(agent));
    wait_for("the shim to end", || gone(shim));
    let lock = env.cmd("orc-lock").args(["check", "1"]).output().unwrap();
    assert!(lock.status.success(), "the issue lock is free: {lock:?}");
}
