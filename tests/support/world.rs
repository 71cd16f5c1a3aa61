//! A private world for the plugin's tests: a temporary `HOME`, state
//! directory and git repository with local issues, the built binaries, the
//! real `claude` CLI when it is installed, and bounded process handling
//! (every child waited for with a deadline, ended by its pid).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The system directories after the tools' own on `PATH`.
pub const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The plugin root: this checkout.
pub fn plugin_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of the built `orc-*` binaries (cargo builds every binary
/// of the package before the integration tests).
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_orc"))
        .parent()
        .expect("binary directory")
        .to_path_buf()
}

/// The first `name` on the current `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The CLI `program` (from the npm `package`) on PATH, or `None` after one
/// line on stderr when it is missing and `CI` is unset. Under CI a missing
/// CLI fails the test: `.ci/run` installs it.
pub fn npm_cli(program: &str, package: &str) -> Option<PathBuf> {
    let found = on_path(program);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "{program} is not on PATH under CI: .ci/run installs {package}"
        );
        eprintln!("skipped: {program} is not on PATH (npm install -g {package})");
    }
    found
}

/// The `claude` CLI, or `None` (see [`npm_cli`]).
pub fn claude() -> Option<PathBuf> {
    npm_cli("claude", "@anthropic-ai/claude-code@2.1.328")
}

/// `PATH` for a `claude` child: the CLI's directory, then the system's.
pub fn claude_path(claude: &Path) -> String {
    let dir = claude.parent().expect("claude's directory");
    format!("{}:{SYSTEM_PATH}", dir.display())
}

/// A temporary `HOME`, state directory and repository.
pub struct World {
    _tmp: tempfile::TempDir,
    /// The canonical temporary root.
    pub root: PathBuf,
    /// `HOME` (with a `.gitconfig` naming a committer).
    pub home: PathBuf,
    /// `ORC_STATE_DIR`.
    pub state: PathBuf,
    /// A git repository on `main` with one commit.
    pub repo: PathBuf,
}

impl World {
    /// A fresh world.
    pub fn new() -> World {
        let tmp = tempfile::Builder::new()
            .prefix("orc-plugin-")
            .tempdir()
            .expect("temporary directory");
        let root = tmp.path().canonicalize().expect("canonical root");
        let (home, state, repo) = (root.join("home"), root.join("state"), root.join("repo"));
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&repo).unwrap();
        fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = orc-test\n\temail = orc-test@example.invalid\n\
             [init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        let w = World {
            _tmp: tmp,
            root,
            home,
            state,
            repo,
        };
        w.git(&["init", "-q", "-b", "main"]);
        fs::write(w.repo.join("README.md"), "# demo\n").unwrap();
        w.git(&["add", "-A"]);
        w.git(&["commit", "-q", "-m", "initial commit"]);
        w
    }

    /// Add local issue `n` (`.orc/issues/<n>.md`) and commit it.
    pub fn issue(&self, n: u32, title: &str, body: &str) {
        let dir = self.repo.join(".orc").join("issues");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(format!("{n}.md")),
            format!("---\ntitle: {title}\n---\n{body}\n"),
        )
        .unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", &format!("issue {n}")]);
    }

    /// Run git in the repository; its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.repo)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", SYSTEM_PATH)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A built orc tool, in the repository, with a cleared environment.
    pub fn orc(&self, tool: &str) -> Command {
        let mut cmd = Command::new(bin_dir().join(tool));
        cmd.current_dir(&self.repo)
            .env_clear()
            .env("HOME", &self.home)
            .env("ORC_STATE_DIR", &self.state)
            // A bound on any worker a failing test leaves behind.
            .env("ORC_WORKER_TIMEOUT", "300")
            .env("PATH", format!("{}:{SYSTEM_PATH}", bin_dir().display()));
        cmd
    }

    /// The environment of a `claude` child talking to `base_url`.
    pub fn claude_env(&self, claude: &Path, base_url: &str) -> Vec<(String, String)> {
        let s = |p: &Path| p.display().to_string();
        vec![
            ("PATH".into(), claude_path(claude)),
            ("HOME".into(), s(&self.home)),
            ("ANTHROPIC_API_KEY".into(), "dummy".into()),
            ("ANTHROPIC_BASE_URL".into(), base_url.into()),
            ("ORC_STATE_DIR".into(), s(&self.state)),
            // The launchers run the test build; nothing builds in a test.
            ("ORC_BIN_DIR".into(), s(&bin_dir())),
            ("DISABLE_AUTOUPDATER".into(), "1".into()),
            ("DISABLE_TELEMETRY".into(), "1".into()),
            ("DISABLE_ERROR_REPORTING".into(), "1".into()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                "1".into(),
            ),
        ]
    }
}

/// Poll `cond` until it holds or `limit` passes; whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a bounded run produced.
pub struct Bounded {
    /// Exit code (None: killed by a signal, or by us at the deadline).
    pub code: Option<i32>,
    /// Whether the deadline passed and the child was killed.
    pub timed_out: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Run `cmd` (stdin closed) and wait at most `limit`; on expiry kill it by
/// its pid (SIGKILL) and reap it.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Bounded {
    cmd.stdin(Stdio::null());
    run_bounded_with_stdin(cmd, limit)
}

/// [`run_bounded`] with the stdin the caller set up.
pub fn run_bounded_with_stdin(mut cmd: Command, limit: Duration) -> Bounded {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn a bounded child");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill_pid(child.id() as i32);
            break child.wait().expect("reap the killed child");
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    Bounded {
        code: status.code(),
        timed_out,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Output of a command that must finish within `limit`.
pub fn output_within(cmd: Command, limit: Duration) -> Output {
    use std::os::unix::process::ExitStatusExt;
    let b = run_bounded(cmd, limit);
    assert!(!b.timed_out, "command timed out; stderr: {}", b.stderr);
    Output {
        status: std::process::ExitStatus::from_raw(b.code.unwrap_or(1) << 8),
        stdout: b.stdout.into_bytes(),
        stderr: b.stderr.into_bytes(),
    }
}

/// Whether process `pid` exists (and is not a zombie we could reap).
pub fn alive(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state letter follows the ")" that ends the command name.
    let state = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.trim_start().chars().next());
    !stat.is_empty() && state != Some(Some('Z'))
}

/// SIGKILL `pid` if it is alive.
pub fn kill_pid(pid: i32) {
    if pid > 1 && alive(pid) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

impl World {
    /// The proc directory `<kind>-<n>` in whichever session holds it.
    pub fn proc_dir(&self, name: &str) -> Option<PathBuf> {
        let sessions = fs::read_dir(self.state.join("sessions")).ok()?;
        sessions
            .flatten()
            .map(|s| s.path().join("procs").join(name))
            .find(|p| p.is_dir())
    }

    /// The record `<kind>-<n>` as JSON, if it exists and parses.
    pub fn record(&self, name: &str) -> Option<serde_json::Value> {
        let text = fs::read_to_string(self.proc_dir(name)?.join("state.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The worker's log (the agent's output and lifecycle lines).
    pub fn log(&self, name: &str) -> String {
        self.proc_dir(name)
            .and_then(|d| fs::read_to_string(d.join("log")).ok())
            .unwrap_or_default()
    }

    /// The session event log (`events.jsonl`) of the session holding
    /// `<kind>-<n>`.
    pub fn events(&self, name: &str) -> String {
        self.proc_dir(name)
            .and_then(|d| Some(d.parent()?.parent()?.join("events.jsonl")))
            .and_then(|f| fs::read_to_string(f).ok())
            .unwrap_or_default()
    }

    /// Every live process (not this test process) whose environment holds
    /// this world's `ORC_STATE_DIR`: the shims and agents of its workers,
    /// and whatever they started.
    pub fn processes(&self) -> Vec<i32> {
        let needle = format!("ORC_STATE_DIR={}", self.state.display());
        let me = std::process::id() as i32;
        fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
            .filter(|&pid| pid != me && alive(pid))
            .filter(|pid| {
                fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
            })
            .collect()
    }

    /// The pids of a worker's shim and agent, from `shim.pid`.
    pub fn pids(&self, name: &str) -> Vec<i32> {
        let Some(text) = self
            .proc_dir(name)
            .and_then(|d| fs::read_to_string(d.join("shim.pid")).ok())
        else {
            return Vec::new();
        };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        ["shim", "agent"]
            .iter()
            .filter_map(|k| v[k]["pid"].as_i64())
            .map(|p| p as i32)
            .collect()
    }

    /// End a worker's shim and agent (and the agent's process group) by
    /// pid, if they still run.
    pub fn end_worker(&self, name: &str) {
        for pid in self.pids(name) {
            if alive(pid) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                kill_pid(pid);
            }
        }
    }
}

impl Drop for World {
    /// Every worker started in this world ends with it, even when the test
    /// failed half-way: each shim and agent by its pid.
    fn drop(&mut self) {
        let Ok(sessions) = fs::read_dir(self.state.join("sessions")) else {
            return;
        };
        for session in sessions.flatten() {
            for proc in fs::read_dir(session.path().join("procs"))
                .into_iter()
                .flatten()
                .flatten()
            {
                self.end_worker(&proc.file_name().to_string_lossy());
            }
        }
    }
}
