//! The shared harness of the integration tests.
//!
//! Every test builds a [`TestEnv`]: a temporary directory with its own
//! `HOME`, an `ORC_STATE_DIR` and a real git repository, and runs the built
//! binaries in it with a cleared environment. State is seeded through the
//! `orc_kernel` library, so a test starts from exactly the files the tools
//! themselves would write. Waiting is always [`wait_until`] a condition with
//! a deadline, never a bare sleep.
//!
//! Parts: this file (the environment, the binaries, seeding through the
//! kernel), `process` (running, waiting, asserting), `snapshot` (proving
//! nothing changed) and `bad_input` (inputs every tool must refuse). Later
//! lifecycle tests (spawn, shim, watch, a scripted fake agent) extend it:
//! add a part of its own for each, re-exported here.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod process;
mod snapshot;
mod strict_json;
mod tmpfs;

// A test file that needs none of a part must not warn about it.
#[allow(unused_imports)]
pub use bad_input::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use snapshot::*;
#[allow(unused_imports)]
pub use strict_json::*;
#[allow(unused_imports)]
pub use tmpfs::*;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orc_kernel::ids::{Issue, Kind};
use orc_kernel::liveness::ProcessId;
use orc_kernel::lock::{Holder, IssueLock, LockRecord};
use orc_kernel::paths::StateDir;
use orc_kernel::procdir::Proc;
use orc_kernel::record::{Outcome, Record, State};
use orc_kernel::repo::Repo;
use orc_kernel::session::Session;

/// How long a test waits for anything that should happen "at once". Long on
/// purpose: the machine is small and shared; a hang still fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The system directories that follow the binaries' own on `PATH`.
pub const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A private world for one test: `root/{home,state,repo}`.
pub struct TestEnv {
    /// Removed with everything in it when the environment is dropped.
    tmp: tempfile::TempDir,
    /// The temporary root holding everything below.
    pub root: PathBuf,
    /// `HOME` of the tools.
    pub home: PathBuf,
    /// `ORC_STATE_DIR` of the tools (created by the tools or the seeders).
    pub state: PathBuf,
    /// The git repository, canonical, with one commit on `main`.
    pub repo: PathBuf,
}

impl TestEnv {
    /// A fresh environment with an initialised repository.
    pub fn new() -> TestEnv {
        let tmp = tempfile::Builder::new()
            .prefix("orc-test-")
            .tempdir()
            .expect("create a temporary directory");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        let home = root.join("home");
        let repo = root.join("repo");
        fs::create_dir_all(&home).expect("create HOME");
        fs::create_dir_all(&repo).expect("create the repository directory");
        let env = TestEnv {
            tmp,
            state: root.join("state"),
            root,
            home,
            repo,
        };
        env.git(&["init", "-q", "-b", "main"]);
        env.git(&["config", "user.name", "orc tests"]);
        env.git(&["config", "user.email", "tests@orc.invalid"]);
        env.git(&["config", "commit.gpgsign", "false"]);
        fs::write(env.repo.join("README.md"), "# test repository\n").expect("write README");
        env.git(&["add", "README.md"]);
        env.git(&["commit", "-q", "-m", "initial commit"]);
        env
    }

    /// Run git in the repository with the test's `HOME`; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.repo)
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A command for the built tool `name` (`orc`, `orc-lock`, …) with a
    /// cleared environment: only `PATH` (the binaries, then the system),
    /// `HOME` and `ORC_STATE_DIR`; the working directory is the repository.
    pub fn cmd(&self, name: &str) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.env_clear()
            .env("PATH", path_var())
            .env("HOME", &self.home)
            .env("ORC_STATE_DIR", &self.state)
            .current_dir(&self.repo);
        cmd
    }

    /// [`TestEnv::cmd`] for a worker-side tool run by worker `kind`-`issue`
    /// (through `ORC_ISSUE` and `ORC_KIND`, as `orc-spawn` sets them).
    pub fn worker_cmd(&self, name: &str, issue: u32, kind: Kind) -> Command {
        let mut cmd = self.cmd(name);
        cmd.env("ORC_ISSUE", issue.to_string())
            .env("ORC_KIND", kind.as_str());
        cmd
    }

    /// `sh -c SCRIPT` with the tools' environment (see [`TestEnv::cmd`]).
    pub fn shell(&self, script: &str) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", path_var())
            .env("HOME", &self.home)
            .env("ORC_STATE_DIR", &self.state)
            .current_dir(&self.repo);
        cmd
    }

    /// The repository as the kernel sees it.
    pub fn kernel_repo(&self) -> Repo {
        Repo::at(&self.repo).expect("the test repository is a repository")
    }

    /// The session the tools compute for the repository.
    pub fn session_name(&self) -> String {
        self.kernel_repo().default_session()
    }

    /// The state directory as the kernel sees it.
    pub fn state_dir(&self) -> StateDir {
        StateDir::at(&self.state)
    }

    /// The repository's session, created (directory and `meta.json`).
    pub fn session(&self) -> Session {
        self.named_session(&self.session_name())
    }

    /// Another session `name` of the same repository, created.
    pub fn named_session(&self, name: &str) -> Session {
        let session = Session::open(&self.state_dir(), name).expect("a valid session name");
        session
            .ensure(Some(&self.kernel_repo()))
            .expect("create the session");
        session
    }

    /// Seed worker `kind`-`issue` in the repository's session with a record
    /// in `state` (a result of `failed` for TERMINATED, `suspended` for
    /// SUSPENDED), its proc directory and wake FIFO.
    pub fn seed_worker(&self, issue: u32, kind: Kind, state: State) -> Proc {
        self.seed_worker_with(issue, kind, state, |_| {})
    }

    /// [`TestEnv::seed_worker`], letting `edit` change the record first.
    pub fn seed_worker_with(
        &self,
        issue: u32,
        kind: Kind,
        state: State,
        edit: impl FnOnce(&mut Record),
    ) -> Proc {
        self.seed_in(&self.session(), issue, kind, state, edit)
    }

    /// Seed a worker in `session` (see [`TestEnv::seed_worker`]).
    pub fn seed_in(
        &self,
        session: &Session,
        issue: u32,
        kind: Kind,
        state: State,
        edit: impl FnOnce(&mut Record),
    ) -> Proc {
        let now = orc_kernel::clock::now_rfc3339().expect("clock");
        let mut record = Record::new(Issue::from(issue), kind, session.name(), &now);
        record.state = state;
        record.repo = Some(self.kernel_repo().root.display().to_string());
        record.result = match state {
            State::Terminated => Some(Outcome::Failed),
            State::Suspended => Some(Outcome::Suspended),
            _ => None,
        };
        if matches!(state, State::Running | State::Waiting) {
            record.detail = "phase1:implement".to_string();
        }
        edit(&mut record);
        let proc = Proc::new(session, kind, Issue::from(issue));
        proc.create(&record).expect("create the proc directory");
        proc
    }

    /// The proc directory of `kind`-`issue` in the repository's session.
    pub fn proc(&self, issue: u32, kind: Kind) -> Proc {
        let session = Session::open(&self.state_dir(), &self.session_name()).expect("session");
        Proc::new(&session, kind, Issue::from(issue))
    }

    /// The record of `kind`-`issue`, which must exist and parse.
    pub fn record(&self, issue: u32, kind: Kind) -> Record {
        self.proc(issue, kind)
            .read()
            .expect("a readable record")
            .expect("a record")
    }

    /// The issue lock of `issue` in the repository.
    pub fn issue_lock(&self, issue: u32) -> IssueLock {
        IssueLock::new(&self.state_dir(), &self.kernel_repo(), Issue::from(issue))
    }

    /// Seed the lock of `issue`, held by `holder` on behalf of `session`.
    pub fn seed_lock(&self, issue: u32, holder: Holder, session: &str) -> LockRecord {
        orc_kernel::fsutil::ensure_private_dir(&self.state).expect("create the state dir");
        self.issue_lock(issue)
            .acquire(holder, session)
            .expect("seed the issue lock")
    }

    /// Seed the lock of `issue` held by the repository's session.
    pub fn seed_session_lock(&self, issue: u32) -> LockRecord {
        let session = self.session_name();
        let holder = Holder::Session {
            session: session.clone(),
        };
        self.seed_lock(issue, holder, &session)
    }

    /// Seed the lock of `issue` held by process `pid` (pid + start time),
    /// for the repository's session.
    pub fn seed_process_lock(&self, issue: u32, pid: u32) -> LockRecord {
        self.seed_lock(issue, process_holder(pid), &self.session_name())
    }

    /// The lock record of `issue` as it is on disk, if any.
    pub fn lock_record(&self, issue: u32) -> Option<LockRecord> {
        let path = self.issue_lock(issue).record_path().to_path_buf();
        match fs::read(&path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("a readable lock record")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("read {}: {e}", path.display()),
        }
    }

    /// The session's `events.jsonl` as parsed lines (empty when missing).
    pub fn events(&self) -> Vec<serde_json::Value> {
        let path = self.session().events_path();
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an event is one JSON line"))
            .collect()
    }

    /// Every file under the environment's root (home, state dir, repo).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.root)
    }
}

/// A process holder with `pid`'s current start time.
pub fn process_holder(pid: u32) -> Holder {
    Holder::Process {
        id: ProcessId::of(pid as i32).expect("the holder process exists"),
    }
}

/// The directory of the built binaries.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_orc"))
        .parent()
        .expect("the binaries live in a directory")
        .to_path_buf()
}

/// The built binary `name`.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(path.is_file(), "no binary {}", path.display());
    path
}

/// `PATH` for the tools: the binaries first, then the system.
pub fn path_var() -> OsString {
    let mut path = bin_dir().into_os_string();
    path.push(":");
    path.push(SYSTEM_PATH);
    path
}

pub mod life;
