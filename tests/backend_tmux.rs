//! The tmux backend against a real tmux server. Every test has its own
//! server (`ORC_TMUX_SOCKET` names a socket under a private `TMUX_TMPDIR`),
//! so a user's tmux is never touched, and kills it at the end.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const SOCKET: &str = "orc-test";

/// Whether tmux is installed; when it is not, the test is skipped with one
/// line, except under CI (`.ci/run` installs it), where that is a failure.
fn tmux_installed() -> bool {
    let found = ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join("tmux").is_file());
    if !found {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "tmux is not installed under CI (see .ci/run)"
        );
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
    }
    found
}

/// A temporary HOME, state directory, tmux directory and git repository
/// with local issues; its tmux server dies with it.
struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    repo: PathBuf,
    path: String,
}

impl Env {
    fn new(issues: &[(u32, &str)]) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let bins = Path::new(env!("CARGO_BIN_EXE_orc-spawn")).parent().unwrap();
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin");
        let path = format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            bins.display(),
            fakes.display()
        );
        let env = Env {
            repo: root.join("repo"),
            _dir: dir,
            root,
            path,
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
        let home = self.root.join("home");
        [
            ("HOME", home.display().to_string()),
            ("PATH", self.path.clone()),
            ("ORC_STATE_DIR", self.state().display().to_string()),
            ("ORC_AGENT", "custom".into()),
            ("ORC_AGENT_CMD", "fake-agent {issue}".into()),
            ("ORC_TERM_GRACE", "2".into()),
            ("ORC_TMUX_SOCKET", SOCKET.into()),
            ("TMUX_TMPDIR", self.root.display().to_string()),
            ("GIT_AUTHOR_NAME", "test".into()),
            ("GIT_AUTHOR_EMAIL", "test@example.invalid".into()),
            ("GIT_COMMITTER_NAME", "test".into()),
            ("GIT_COMMITTER_EMAIL", "test@example.invalid".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn state(&self) -> PathBuf {
        self.root.join("state")
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

    fn tmux(&self, args: &[&str]) -> Output {
        self.cmd("tmux")
            .arg("-L")
            .arg(SOCKET)
            .args(args)
            .output()
            .unwrap()
    }

    /// `orc-spawn --backend tmux ISSUE`, as if called from inside a Claude
    /// Code session; returns its JSON.
    fn spawn(&self, issue: u32, extra: &[&str]) -> Value {
        let out = self
            .cmd("orc-spawn")
            .env("CLAUDECODE", "1")
            .env("CLAUDE_CODE_SESSION_ID", "caller-session")
            .args(["--backend", "tmux"])
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
        let path = self.state().join(format!(
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
            .state()
            .join(format!("sessions/{session}/procs/worker-{issue}/log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// `name pane_pid` of every window of the worker session.
    fn windows(&self, session: &str) -> Vec<(String, i32)> {
        let target = format!("=orc-{session}");
        let out = self.tmux(&[
            "list-windows",
            "-t",
            &target,
            "-F",
            "#{window_name} #{pane_pid}",
        ]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, pid)| (name.to_string(), pid.parse().unwrap()))
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
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

/// (state, ppid, pgrp, session, tpgid) from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(char, i32, i32, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f[i].parse::<i32>().unwrap();
    Some((f[0].chars().next()?, n(1), n(2), n(3), n(5)))
}

fn gone(pid: i32) -> bool {
    stat(pid).is_none_or(|s| s.0 == 'Z')
}

/// No process is left in process group `pgid`.
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

fn environ(pid: i32) -> BTreeMap<String, String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap()
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn pid_of(json: &Value, key: &str) -> i32 {
    json[key].as_i64().unwrap() as i32
}

#[test]
fn a_worker_runs_in_its_own_window_to_merged_with_its_output_in_the_log() {
    if !tmux_installed() {
        return;
    }
    let env = Env::new(&[(1, "ok 3")]);
    let spawned = env.spawn(1, &[]);
    let session = spawned["session"].as_str().unwrap().to_string();
    let (shim, agent) = (pid_of(&spawned, "shim_pid"), pid_of(&spawned, "pid"));

    // One window, named after the worker, whose process is the shim's.
    let windows = env.windows(&session);
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert_eq!(windows[0].0, "worker-1");
    let pane_pid = windows[0].1;
    assert_eq!(stat(shim).unwrap().1, pane_pid, "the shim runs in the pane");
    assert_eq!(
        stat(agent).unwrap().1,
        shim,
        "the agent is the shim's child"
    );

    // Exactly the environment spawn built: the caller's, scrubbed, plus
    // the worker's own, and the pane's TERM; nothing of the tmux server's.
    let term = env.tmux(&["show-options", "-gv", "default-terminal"]);
    let mut expected: BTreeMap<String, String> = env.vars().into_iter().collect();
    expected.extend(
        [
            ("ORC_SESSION", session.as_str()),
            ("ORC_ENV", "default"),
            ("ORC_ISSUE", "1"),
            ("ORC_KIND", "worker"),
            ("TERM", String::from_utf8_lossy(&term.stdout).trim()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    assert_eq!(environ(shim), expected);

    let result = env.watch(1);
    assert_eq!(result["result"], "merged", "{result}");
    wait_for("the agent's output in the log", || {
        env.log(&session, 1).contains("fake-agent: issue 1 mode ok")
    });
    let log = env.log(&session, 1);
    assert!(log.contains("running in tmux window"), "{log}");
    wait_for("the window to close", || env.windows(&session).is_empty());
    wait_for("the shim to end", || gone(shim));
}

#[test]
fn closing_the_window_ends_the_worker_like_term() {
    if !tmux_installed() {
        return;
    }
    // An agent deaf to SIGTERM: the shim must go on to SIGKILL its group.
    let env = Env::new(&[(1, "ignore-term")]);
    // The prompt reaches the agent untouched by tmux or a shell (not split
    // at ';', not expanded as a format or by a shell), and never on the
    // process table: the last argument names the private file holding it.
    let prompt = "fix it; now;\n$(touch pwned) `id` '#{pane_id}' ~ \\;";
    let spawned = env.spawn(1, &["--prompt", prompt]);
    let session = spawned["session"].as_str().unwrap().to_string();
    let worktree = PathBuf::from(spawned["worktree"].as_str().unwrap());
    let (shim, agent) = (pid_of(&spawned, "shim_pid"), pid_of(&spawned, "pid"));
    // Read once the agent's command line is there (a loaded machine can
    // show an empty one for a moment around its exec).
    let mut argv = Vec::new();
    wait_for("the agent's command line", || {
        argv = std::fs::read(format!("/proc/{agent}/cmdline")).unwrap_or_default();
        argv.split(|b| *b == 0).filter(|w| !w.is_empty()).count() > 1
    });
    let last = argv.split(|b| *b == 0).rev().nth(1).unwrap();
    let file = std::str::from_utf8(last)
        .unwrap()
        .strip_prefix("Your instructions are in the file ")
        .and_then(|rest| rest.strip_suffix(": read it first, then follow it."))
        .unwrap();
    assert_eq!(std::fs::read_to_string(file).unwrap(), prompt);
    assert!(!String::from_utf8_lossy(&argv).contains("pwned"));

    // The agent leads its own process group, which is the terminal's
    // foreground group; the pane's process leads the session.
    let pane_pid = env.windows(&session)[0].1;
    let (_, _, pgrp, sid, tpgid) = stat(agent).unwrap();
    assert_eq!((pgrp, tpgid), (agent, agent));
    assert_eq!(sid, pane_pid);

    wait_for("the agent to ignore SIGTERM", || {
        env.detail(&session, 1) == "phase1:ignore-term"
    });
    let target = format!("=orc-{session}:=worker-1");
    let out = env.tmux(&["kill-window", "-t", &target]);
    assert!(out.status.success(), "{out:?}");

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
    assert!(!worktree.join("pwned").exists());
}

#[test]
fn the_keyboard_belongs_to_the_agent() {
    if !tmux_installed() {
        return;
    }
    let env = Env::new(&[(1, "hang")]);
    let spawned = env.spawn(1, &[]);
    let session = spawned["session"].as_str().unwrap().to_string();
    let agent = pid_of(&spawned, "pid");
    let target = format!("=orc-{session}:=worker-1");
    wait_for("the agent to run", || {
        env.detail(&session, 1) == "phase1:hang"
    });

    // Ctrl-Z stops the agent; with no shell in the pane to continue it,
    // the shim does.
    assert!(
        env.tmux(&["send-keys", "-t", &target, "C-z"])
            .status
            .success()
    );
    wait_for("the shim to continue the agent", || {
        env.log(&session, 1)
            .contains("agent stopped by SIGTSTP: continued")
    });
    wait_for("the agent to run again", || {
        stat(agent).is_some_and(|s| s.0 != 'T')
    });

    // Ctrl-C reaches the agent alone: it dies of SIGINT, the shim lives
    // to record it.
    assert!(
        env.tmux(&["send-keys", "-t", &target, "C-c"])
            .status
            .success()
    );
    let result = env.watch(1);
    assert_eq!(result["result"], "crashed", "{result}");
    assert_eq!(result["detail"], "agent killed by SIGINT", "{result}");
    wait_for("the window to close", || env.windows(&session).is_empty());
}

#[test]
fn a_missing_tmux_fails_the_spawn_and_leaves_nothing_behind() {
    let mut env = Env::new(&[(1, "ok")]);
    // A PATH with the orc binaries and git, and no tmux.
    let only_git = env.root.join("only-git");
    std::fs::create_dir(&only_git).unwrap();
    let git = Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let git = String::from_utf8(git.stdout).unwrap();
    std::os::unix::fs::symlink(git.trim(), only_git.join("git")).unwrap();
    let full_path = std::mem::take(&mut env.path);
    // The binaries and the fake agent stay; tmux (from the system dirs) goes.
    let kept: Vec<&str> = full_path.split(':').take(2).collect();
    env.path = format!("{}:{}", kept.join(":"), only_git.display());

    let out = env
        .cmd("orc-spawn")
        .args(["--backend", "tmux", "1"])
        .output()
        .unwrap();
    env.path = full_path;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("orc-spawn: error: tmux is not installed (tmux)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint:") && stderr.contains("headless"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());

    // Rolled back: no worktree, branch, proc directory, trust entry or lock.
    let worktrees = std::fs::read_dir(env.repo.join(".worktrees/issue"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(worktrees, 0);
    assert_eq!(env.git(&["branch", "--list", "issue/*"]), "");
    assert_eq!(env.git(&["worktree", "list"]).lines().count(), 1);
    let procs = std::fs::read_dir(env.state().join("sessions"))
        .map(|d| {
            d.flatten()
                .filter(|s| s.path().join("procs/worker-1").exists())
                .count()
        })
        .unwrap_or(0);
    assert_eq!(procs, 0);
    assert!(!env.root.join("home/.claude.json").exists());
    let lock = env.cmd("orc-lock").args(["check", "1"]).output().unwrap();
    assert!(lock.status.success(), "the issue lock is free: {lock:?}");
}
