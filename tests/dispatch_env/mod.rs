//! The harness of the dispatch tests (`tests/dispatch.rs`): a temporary
//! HOME, state directory and git repository with local issues, a cleared
//! environment, the scripted fake agent and the recording fake `gh`
//! (tests/bin) on PATH, and readers for the events, records, journals,
//! locks and gh calls a test asserts on.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const DISPATCH: &str = env!("CARGO_BIN_EXE_orc-dispatch");

/// One test's world.
pub struct Env {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub state: PathBuf,
    pub repo: PathBuf,
    /// The fake gh's fixture; its calls go to `<fixture>.log`.
    pub gh: PathBuf,
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// A repository on `main` with one commit and an empty `.orc/issues/`;
    /// a gh fixture whose pull requests are open, target main and pass.
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let (home, state, repo) = (root.join("home"), root.join("state"), root.join("repo"));
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(repo.join(".orc/issues")).unwrap();
        let env = Env {
            _tmp: tmp,
            gh: root.join("gh.json"),
            root,
            home,
            state,
            repo,
            vars: vec![
                ("ORC_AGENT".into(), "custom".into()),
                ("ORC_AGENT_CMD".into(), "fake-agent {issue}".into()),
                ("ORC_TRACKER".into(), "local".into()),
                // The pull-request path (tests/bin/gh); the local merge
                // path sets ORC_MERGE=local.
                ("ORC_MERGE".into(), "github".into()),
                ("ORC_POLL_INTERVAL".into(), "1".into()),
                ("TZ".into(), "UTC".into()),
            ],
        };
        env.git(&["init", "-q", "-b", "main"]);
        env.git(&["commit", "-q", "--allow-empty", "-m", "initial commit"]);
        env.fixture(json!({ "pr_default": pr("OPEN", &["pass"]) }));
        env
    }

    /// Run git in the repository (identity set).
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.cmd("git").args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// Set a variable for every later command.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    /// Write local issue `n` labelled `q`, with extra front matter lines
    /// and the fake agent's mode (and any more body lines).
    pub fn issue(&self, n: u32, front: &str, body: &str) {
        let text =
            format!("---\ntitle: Issue {n}\nlabels: [q]\n{front}\n---\nIssue {n}.\n\n{body}\n");
        fs::write(self.issue_path(n), text.replace("\n\n---", "\n---")).unwrap();
    }

    pub fn issue_path(&self, n: u32) -> PathBuf {
        self.repo.join(format!(".orc/issues/{n}.md"))
    }

    /// Replace the fake gh's fixture.
    pub fn fixture(&self, value: Value) {
        fs::write(&self.gh, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    }

    pub fn read_fixture(&self) -> Value {
        serde_json::from_slice(&fs::read(&self.gh).unwrap()).unwrap()
    }

    /// Every gh call so far, as argv lists.
    pub fn gh_calls(&self) -> Vec<Vec<String>> {
        let log = fs::read_to_string(self.gh.with_extension("json.log")).unwrap_or_default();
        log.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }

    /// The binaries' directory, the fakes, then the system's.
    pub fn path(&self) -> String {
        let bin = Path::new(DISPATCH).parent().unwrap().display().to_string();
        let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin");
        format!("{bin}:{}:/usr/local/bin:/usr/bin:/bin", fakes.display())
    }

    /// A command with a cleared environment, run in the repository.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .current_dir(&self.repo)
            .env("HOME", &self.home)
            .env("ORC_STATE_DIR", &self.state)
            .env("PATH", self.path())
            .env("GH_FAKE", &self.gh)
            .env("GIT_AUTHOR_NAME", "tester")
            .env("GIT_AUTHOR_EMAIL", "tester@example.invalid")
            .env("GIT_COMMITTER_NAME", "tester")
            .env("GIT_COMMITTER_EMAIL", "tester@example.invalid");
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    /// Run orc-dispatch to the end.
    pub fn dispatch(&self, args: &[&str]) -> Run {
        let started = Instant::now();
        let out = self.cmd(DISPATCH).args(args).output().unwrap();
        Run {
            elapsed: started.elapsed(),
            code: out.status.code(),
            events: parse_events(&stdout(&out)),
            stderr: stderr(&out),
        }
    }

    /// Start orc-dispatch in the background, its events going to `file`.
    pub fn dispatch_bg(&self, args: &[&str], file: &Path) -> Child {
        let out = fs::File::create(file).unwrap();
        self.cmd(DISPATCH)
            .args(args)
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Another orc tool, ready to run.
    pub fn tool(&self, tool: &str) -> Command {
        let bin = Path::new(DISPATCH).parent().unwrap().join(tool);
        self.cmd(bin.to_str().unwrap())
    }

    /// Run another orc tool.
    pub fn run(&self, tool: &str, args: &[&str]) -> Output {
        self.tool(tool).args(args).output().unwrap()
    }

    /// The one session directory.
    pub fn session(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.state.join("sessions"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.sort();
        assert_eq!(dirs.len(), 1, "sessions: {dirs:?}");
        dirs.remove(0)
    }

    fn proc_file(&self, kind: &str, n: u32, file: &str) -> Option<Value> {
        let path = self
            .state
            .join("sessions")
            .read_dir()
            .ok()?
            .flatten()
            .next()?
            .path();
        let text = fs::read(path.join(format!("procs/{kind}-{n}/{file}"))).ok()?;
        Some(serde_json::from_slice(&text).unwrap())
    }

    /// A worker's or reviewer's record.
    pub fn record(&self, kind: &str, n: u32) -> Option<Value> {
        self.proc_file(kind, n, "state.json")
    }

    /// The dispatch journal of issue `n`.
    pub fn journal(&self, n: u32) -> Option<Value> {
        self.proc_file("worker", n, "dispatch.json")
    }

    /// The issue lock's holder record of issue `n`, if held.
    pub fn lock(&self, n: u32) -> Option<Value> {
        let dir = self.state.join("locks");
        for entry in fs::read_dir(dir).ok()?.flatten() {
            if entry.file_name() == "named" {
                continue;
            }
            if let Ok(text) = fs::read(entry.path().join(format!("{n}.json"))) {
                return Some(serde_json::from_slice(&text).unwrap());
            }
        }
        None
    }

    /// Whether issue `n` has a worktree on disk.
    pub fn has_worktree(&self, n: u32) -> bool {
        fs::read_dir(self.repo.join(".worktrees/issue"))
            .map(|d| {
                d.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{n}-"))
                })
            })
            .unwrap_or(false)
    }
}

/// A pull request for the fixture: its state, base main, and checks with
/// these buckets.
pub fn pr(state: &str, buckets: &[&str]) -> Value {
    let checks: Vec<Value> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"name": format!("check{i}"), "bucket": b}))
        .collect();
    json!({"state": state, "baseRefName": "main", "checks": checks})
}

/// What one dispatch run did.
pub struct Run {
    pub elapsed: Duration,
    pub code: Option<i32>,
    pub events: Vec<Value>,
    pub stderr: String,
}

impl Run {
    /// The events named `name`.
    pub fn all(&self, name: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == name).collect()
    }

    /// The events named `name` about issue `n`.
    pub fn of(&self, name: &str, n: u32) -> Vec<&Value> {
        self.all(name)
            .into_iter()
            .filter(|e| e["issue"] == n)
            .collect()
    }

    /// The event that ended issue `n` (the one with an `end`), which must
    /// be named after its end.
    pub fn ended(&self, n: u32) -> &Value {
        let ended: Vec<&Value> = self
            .events
            .iter()
            .filter(|e| e["issue"] == n && e.get("end").is_some())
            .collect();
        assert_eq!(
            ended.len(),
            1,
            "issue {n} ended {} times: {self}",
            ended.len()
        );
        assert_eq!(ended[0]["event"], ended[0]["end"]);
        ended[0]
    }

    /// How issue `n` ended.
    pub fn end(&self, n: u32) -> String {
        self.ended(n)["end"].as_str().unwrap().to_string()
    }

    /// The summary event.
    pub fn summary(&self) -> &Value {
        let s = self.all("summary");
        assert_eq!(s.len(), 1, "{self}");
        s[0]
    }

    /// The issues of the `spawned` events of `kind`, in order.
    pub fn spawned(&self, kind: &str) -> Vec<u64> {
        self.all("spawned")
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["issue"].as_u64().unwrap())
            .collect()
    }

    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.code, Some(code), "{self}");
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "exit {:?} after {:?}\nstderr: {}",
            self.code, self.elapsed, self.stderr
        )?;
        for e in &self.events {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

pub fn parse_events(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Wait until `done` holds, polling, or panic with `what` at the deadline.
pub fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !done() {
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
