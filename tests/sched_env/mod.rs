//! The harness of the schedule tests (`tests/cron.rs`, `tests/at.rs`,
//! `tests/sched_live.rs`): a temporary HOME, state directory and git
//! repository, a cleared environment, and recording fakes of the OS
//! schedulers' programs that tests put first on PATH.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const CRON: &str = env!("CARGO_BIN_EXE_orc-cron");
pub const AT: &str = env!("CARGO_BIN_EXE_orc-at");

/// One test's world.
pub struct Env {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
    pub state: PathBuf,
    pub repo: PathBuf,
    /// Fakes, first on PATH when `fakes_on_path`.
    pub fakes: PathBuf,
    pub fakes_on_path: bool,
    /// Extra variables for every command.
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let (home, state, repo, fakes) = (
            root.join("home"),
            root.join("state"),
            root.join("repo"),
            root.join("fakes"),
        );
        for d in [&home, &repo, &fakes] {
            fs::create_dir_all(d).unwrap();
        }
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(git.status.success(), "git init: {git:?}");
        Env {
            _tmp: tmp,
            root,
            home,
            state,
            repo,
            fakes,
            fakes_on_path: true,
            vars: vec![("TZ".to_string(), "UTC".to_string())],
        }
    }

    /// Set a variable for every later command.
    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    /// Drop a variable from every later command.
    pub fn unset(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    /// The built binaries' directory, then the system's; the fakes first.
    pub fn path(&self) -> String {
        let bin = Path::new(CRON).parent().unwrap().display().to_string();
        let system = format!("{bin}:/usr/local/bin:/usr/bin:/bin");
        if self.fakes_on_path {
            format!("{}:{system}", self.fakes.display())
        } else {
            system
        }
    }

    /// A command with a cleared environment, run in the repository.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .current_dir(&self.repo)
            .env("HOME", &self.home)
            .env("ORC_STATE_DIR", &self.state)
            .env("PATH", self.path());
        for (k, v) in &self.vars {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.cmd(program).args(args).output().unwrap()
    }

    /// Write an executable script into the fakes directory.
    pub fn fake(&self, name: &str, body: &str) {
        let path = self.fakes.join(name);
        fs::write(&path, format!("#!/bin/sh\nd=$(dirname \"$0\")\n{body}")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// `crontab` backed by `fakes/crontab.txt`.
    pub fn fake_crontab(&self) {
        self.fake(
            "crontab",
            r#"echo "crontab $*" >> "$d/calls.log"
case "$1" in
  -l) if [ -f "$d/crontab.txt" ]; then cat "$d/crontab.txt"; else echo "no crontab for tester" >&2; exit 1; fi ;;
  -r) if [ -f "$d/crontab.txt" ]; then rm -f "$d/crontab.txt"; else echo "no crontab for tester" >&2; exit 1; fi ;;
  -) cat > "$d/crontab.tmp.$$" && mv "$d/crontab.tmp.$$" "$d/crontab.txt" ;;
  *) echo "fake crontab: unexpected $*" >&2; exit 2 ;;
esac
"#,
        );
    }

    /// `at`, `atq`, `atrm` backed by `fakes/at.job.N` files.
    pub fn fake_at(&self) {
        self.fake(
            "at",
            r#"[ "$1" = "-t" ] || { echo "fake at: unexpected $*" >&2; exit 2; }
n=$(( $(cat "$d/at.seq" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$d/at.seq"
cat > "$d/at.job.$n"; echo "$2" > "$d/at.when.$n"; pwd > "$d/at.pwd.$n"
echo "warning: commands will be executed using /bin/sh" >&2
echo "job $n at Tue Dec  1 09:00:00 2026" >&2
"#,
        );
        self.fake(
            "atq",
            r#"for f in "$d"/at.job.*; do [ -f "$f" ] && printf '%s\tTue Dec  1 09:00:00 2026 a tester\n' "${f##*.}"; done; exit 0
"#,
        );
        self.fake(
            "atrm",
            r#"[ -f "$d/at.job.$1" ] || { echo "Cannot find jobid $1" >&2; exit 1; }
rm -f "$d/at.job.$1"
"#,
        );
    }

    /// `launchctl` that records calls and keeps loaded labels as files.
    pub fn fake_launchctl(&self) {
        self.fake(
            "launchctl",
            r#"echo "launchctl $*" >> "$d/calls.log"
case "$1" in
  bootstrap) l=$(basename "$3" .plist); [ -f "$3" ] || exit 5; touch "$d/loaded.$l" ;;
  bootout) l=${2##*/}; [ -f "$d/loaded.$l" ] || { echo "Boot-out failed: 3: No such process" >&2; exit 3; }; rm -f "$d/loaded.$l" ;;
  print) l=${2##*/}; [ -f "$d/loaded.$l" ] || { echo "Could not find service" >&2; exit 113; } ;;
  *) exit 2 ;;
esac
"#,
        );
    }

    /// An agent CLI that records its arguments (NUL-separated) and cwd.
    pub fn fake_agent(&self, name: &str) {
        self.fake(
            name,
            r#"for a in "$@"; do printf '%s\0' "$a"; done > "$d/agent.args"
cat > "$d/agent.stdin"
pwd > "$d/agent.pwd"
echo "fake agent ran"
"#,
        );
    }

    pub fn fake_file(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.fakes.join(name)).ok()
    }

    pub fn registry(&self) -> serde_json::Value {
        match fs::read(self.state.join("schedules.json")) {
            Ok(b) => serde_json::from_slice(&b).unwrap(),
            Err(_) => serde_json::json!({ "schedules": [] }),
        }
    }

    pub fn entry(&self, id: &str) -> serde_json::Value {
        self.registry()["schedules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no schedule {id} in {}", self.registry()))
    }

    /// Everything a failed command must leave as it was.
    pub fn snapshot(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let mut out = vec![(
            "schedules.json".to_string(),
            fs::read(self.state.join("schedules.json")).ok(),
        )];
        for dir in [self.state.join("runners"), self.fakes.clone()] {
            let mut names: Vec<PathBuf> = fs::read_dir(&dir)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            names.sort();
            for p in names.into_iter().filter(|p| !p.ends_with("calls.log")) {
                out.push((p.display().to_string(), fs::read(&p).ok()));
            }
        }
        let agents = self.home.join("Library/LaunchAgents");
        out.push((
            "LaunchAgents".into(),
            fs::read_dir(agents).ok().map(|d| vec![d.count() as u8]),
        ));
        out
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert a failure: its exit code and its exact first stderr line.
pub fn assert_fails(o: &Output, code: i32, first_line: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    assert_eq!(
        stderr(o).lines().next(),
        Some(first_line),
        "stderr: {}",
        stderr(o)
    );
    assert!(o.stdout.is_empty(), "stdout on failure: {}", stdout(o));
}

/// Assert success and return stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Wait until `done` holds, polling, or panic with `what` at the deadline.
pub fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !done() {
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}
