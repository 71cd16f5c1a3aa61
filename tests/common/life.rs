//! Lifecycle helpers: local issues, the scripted fake agent, spawning and
//! watching real workers, and finding (and, on drop, ending) every process
//! a test's workers started.
//!
//! Workers are detached (the shim double-forks), so a `Child` guard cannot
//! hold them. Every worker process inherits `ORC_STATE_DIR=<the test's
//! state dir>` from `orc-spawn`, and no two tests share a state directory:
//! `/proc/<pid>/environ` tells a test's processes apart from the rest.
#![allow(dead_code)]

mod git;
mod procs;
mod streaming;

// Each test crate uses only some of these.
#[allow(unused_imports)]
pub use git::{GitState, git_in, git_state};
#[allow(unused_imports)]
pub use procs::*;
#[allow(unused_imports)]
pub use streaming::Streaming;

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::Kind;
use orc_kernel::procdir::ShimIds;
use orc_kernel::record::Record;
use serde_json::Value;

use super::{PATIENCE, Snapshot, TestEnv, assert_ok, path_var, run, wait_until};

/// `tests/bin`, where the scripted fake agent lives.
pub fn fake_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("bin")
}

/// Write `.orc/issues/<n>.md` with `title` and a body that picks the fake
/// agent's behaviour (`fake-mode: MODE`).
pub fn add_issue(env: &TestEnv, n: u32, title: &str, mode: &str) {
    add_issue_in(&env.repo, n, title, mode);
}

/// [`add_issue`] in the repository at `repo`.
pub fn add_issue_in(repo: &Path, n: u32, title: &str, mode: &str) {
    let dir = repo.join(".orc").join("issues");
    fs::create_dir_all(&dir).expect("create .orc/issues");
    let text = format!("---\ntitle: {title}\n---\nIssue {n} of the tests.\n\nfake-mode: {mode}\n");
    fs::write(dir.join(format!("{n}.md")), text).expect("write issue");
}

/// A tool command whose workers run the fake agent.
pub fn with_fake_agent(env: &TestEnv, name: &str) -> Command {
    let mut cmd = env.cmd(name);
    let mut path = fake_bin().into_os_string();
    path.push(":");
    path.push(path_var());
    cmd.env("PATH", path)
        .env("ORC_AGENT", "custom")
        .env("ORC_AGENT_CMD", "fake-agent {issue}")
        .env("ORC_TRACKER", "local");
    cmd
}

/// A [`TestEnv`] whose workers are real processes: dropping it kills every
/// process still running with this test's state directory, so a failing
/// test leaves nothing behind.
pub struct Life {
    env: TestEnv,
}

impl Deref for Life {
    type Target = TestEnv;
    fn deref(&self) -> &TestEnv {
        &self.env
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds.
        wait_until(Duration::from_secs(10), || {
            let pids = processes_of(&self.env.state);
            for &pid in &pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            pids.is_empty()
        });
    }
}

/// What `orc-spawn` printed.
#[derive(Debug, Clone)]
pub struct Spawned {
    /// The whole JSON object.
    pub json: Value,
    /// The issue.
    pub issue: u32,
    /// The worktree.
    pub worktree: PathBuf,
    /// The branch.
    pub branch: String,
    /// The agent's pid (its process group).
    pub pid: i32,
    /// The shim's pid.
    pub shim: i32,
    /// The wake FIFO.
    pub wake: PathBuf,
}

impl Spawned {
    /// Parse `orc-spawn`'s (or `orc-ctl resume`'s) stdout.
    pub fn parse(stdout: &str) -> Spawned {
        let json: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("orc-spawn prints one JSON object ({e}): {stdout:?}"));
        let text = |k: &str| {
            json[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {json}"))
                .to_string()
        };
        let int = |k: &str| {
            json[k]
                .as_i64()
                .unwrap_or_else(|| panic!("no {k} in {json}"))
        };
        Spawned {
            issue: int("issue") as u32,
            worktree: PathBuf::from(text("worktree")),
            branch: text("branch"),
            pid: int("pid") as i32,
            shim: int("shim_pid") as i32,
            wake: PathBuf::from(text("wake")),
            json,
        }
    }
}

impl Life {
    /// A fresh test world.
    pub fn new() -> Life {
        Life {
            env: TestEnv::new(),
        }
    }

    /// A tool command whose workers run the fake agent (see
    /// [`with_fake_agent`]).
    pub fn tool(&self, name: &str) -> Command {
        with_fake_agent(&self.env, name)
    }

    /// Run `tool ARGS` with the fake agent's environment.
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        run(self.tool(name).args(args))
    }

    /// Add local issue `n` running the fake agent in `mode`.
    pub fn issue(&self, n: u32, mode: &str) {
        add_issue(&self.env, n, &format!("Issue {n} in mode {mode}"), mode);
    }

    /// `orc-spawn N` (plus `args`), which must succeed.
    pub fn spawn(&self, n: u32, args: &[&str]) -> Spawned {
        let mut cmd = self.tool("orc-spawn");
        cmd.args(args).arg(n.to_string());
        self.spawn_cmd(&mut cmd)
    }

    /// Run a prepared spawn (or resume) command, which must succeed.
    pub fn spawn_cmd(&self, cmd: &mut Command) -> Spawned {
        Spawned::parse(&assert_ok(&run(cmd)))
    }

    /// `orc-watch ARGS` within [`PATIENCE`]; its JSON lines.
    pub fn watch(&self, args: &[&str]) -> Vec<Value> {
        let out = run(self.tool("orc-watch").args(["--timeout", "25"]).args(args));
        json_lines(&assert_ok(&out))
    }

    /// `orc-watch ISSUE`: the one report line of that worker.
    pub fn watch_one(&self, n: u32) -> Value {
        let lines = self.watch(&[&n.to_string()]);
        assert_eq!(lines.len(), 1, "one line per worker: {lines:?}");
        lines.into_iter().next().unwrap_or_default()
    }

    /// The record of `kind`-`n`, if it exists and parses.
    pub fn try_record(&self, n: u32, kind: Kind) -> Option<Record> {
        self.env.proc(n, kind).read().ok().flatten()
    }

    /// Wait until `kind`-`n`'s record satisfies `cond`; the record.
    pub fn wait_record(&self, n: u32, kind: Kind, cond: impl Fn(&Record) -> bool) -> Record {
        let mut last = None;
        let held = wait_until(PATIENCE, || {
            last = self.try_record(n, kind);
            last.as_ref().is_some_and(&cond)
        });
        assert!(held, "{kind} {n} never reached the condition: {last:?}");
        last.expect("a record")
    }

    /// Wait until worker `n` is no longer active (ended or suspended).
    pub fn wait_ended(&self, n: u32) -> Record {
        self.wait_record(n, Kind::Worker, |r| !r.state.is_active())
    }

    /// Wait until worker `n` has ended and its shim has exited, so nothing
    /// more is written for it (the shim logs its last lines, and settles
    /// the lock, after the record turns terminal).
    pub fn wait_until_settled(&self, n: u32) -> Record {
        self.wait_settled(n, Kind::Worker)
    }

    /// [`Life::wait_until_settled`] for `kind`-`n`.
    pub fn wait_settled(&self, n: u32, kind: Kind) -> Record {
        let record = self.wait_record(n, kind, |r| !r.state.is_active());
        if let Ok(Some(ids)) = self.env.proc(n, kind).shim() {
            wait_gone(ids.shim.pid);
        }
        record
    }

    /// The processes still running with this test's state directory.
    pub fn processes(&self) -> Vec<i32> {
        processes_of(&self.env.state)
    }

    /// Wait until none of this test's processes is left.
    pub fn assert_no_processes(&self) {
        let mut left = Vec::new();
        let none = wait_until(PATIENCE, || {
            left = self.processes();
            left.is_empty()
        });
        assert!(none, "processes left behind: {}", describe(&left));
    }

    /// The shim and agent identities of `kind`-`n`.
    pub fn shim_ids(&self, n: u32, kind: Kind) -> ShimIds {
        self.env
            .proc(n, kind)
            .shim()
            .expect("a readable shim.pid")
            .expect("a shim.pid")
    }

    /// `orc-cleanup ARGS N`, which must succeed; its stderr.
    pub fn cleanup(&self, n: u32, args: &[&str]) -> String {
        let out = self.run_args("orc-cleanup", args, n);
        assert_ok(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn run_args(&self, name: &str, args: &[&str], n: u32) -> Output {
        let mut cmd = self.tool(name);
        cmd.args(args).arg(n.to_string());
        run(&mut cmd)
    }

    /// The repository's worktrees and branches now.
    pub fn git_state(&self) -> GitState {
        git_state(&self.env, &self.env.repo)
    }

    /// The worker log of `kind`-`n` in its proc directory.
    pub fn log(&self, n: u32, kind: Kind) -> String {
        fs::read_to_string(self.env.proc(n, kind).log_path()).unwrap_or_default()
    }

    /// The logs kept by cleanup, `sessions/<s>/logs/`, by file name.
    pub fn kept_logs(&self) -> Vec<(String, String)> {
        let dir = self.env.session().dir().join("logs");
        let mut out: Vec<(String, String)> = fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let text = fs::read_to_string(e.path()).unwrap_or_default();
                        (e.file_name().to_string_lossy().into_owned(), text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The worktree paths `~/.claude.json` trusts.
    pub fn trusted(&self) -> Vec<String> {
        let path = self.env.home.join(".claude.json");
        let Ok(bytes) = fs::read(path) else {
            return Vec::new();
        };
        let doc: Value = serde_json::from_slice(&bytes).expect("~/.claude.json is JSON");
        doc["projects"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The proc directories of the repository's session.
    pub fn proc_dirs(&self) -> Vec<String> {
        let dir = self.env.state_dir().sessions();
        let mut out = Vec::new();
        for session in fs::read_dir(dir).into_iter().flatten().flatten() {
            for p in fs::read_dir(session.path().join("procs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                out.push(p.path().display().to_string());
            }
        }
        out
    }

    /// The issue locks that are held (their `<N>.json` records).
    pub fn held_locks(&self) -> Vec<String> {
        let mut out = Vec::new();
        for dir in fs::read_dir(self.env.state.join("locks"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                if f.path().extension().is_some_and(|x| x == "json") {
                    out.push(f.path().display().to_string());
                }
            }
        }
        out
    }

    /// Assert that nothing of any worker is left: no process, proc
    /// directory, held lock, trust entry, and git as in `before`.
    pub fn assert_nothing_left(&self, before: &GitState) {
        self.assert_no_processes();
        assert_eq!(self.proc_dirs(), Vec::<String>::new(), "proc directories");
        assert_eq!(self.held_locks(), Vec::<String>::new(), "held locks");
        assert_eq!(self.trusted(), Vec::<String>::new(), "trust entries");
        assert_eq!(&self.git_state(), before, "worktrees and branches");
    }

    /// A second repository `name` under the test's root, with one commit.
    pub fn other_repo(&self, name: &str) -> PathBuf {
        let repo = self.env.root.join(name);
        fs::create_dir_all(&repo).expect("create the repository directory");
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["config", "user.name", "orc tests"],
            &["config", "user.email", "tests@orc.invalid"],
            &["config", "commit.gpgsign", "false"],
            &["commit", "-q", "--allow-empty", "-m", "initial commit"],
        ] {
            git_in(&self.env, &repo, args);
        }
        repo
    }
}

/// Parse JSON Lines.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

/// `snapshot` without lock files and the directories that hold them: lock
/// files are never deleted (README), so a command that only took and gave
/// back a lock leaves them behind by design.
pub fn without_lock_files(snapshot: Snapshot) -> Snapshot {
    let locks = Path::new("state").join("locks");
    Snapshot(
        snapshot
            .0
            .into_iter()
            .filter(|(path, entry)| {
                let lock_file = path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().ends_with(".lock"));
                let lock_dir = path.starts_with(&locks) && matches!(entry, super::Entry::Dir(_));
                !lock_file && !lock_dir && path != &locks
            })
            .collect(),
    )
}

/// Stderr of an output, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
