//! Live: real cron and atd fire orc's schedules. Both tests sit in one
//! file so that cargo runs them in parallel (each waits up to a minute or
//! two for its daemon).
//!
//! They never touch the invoking user's crontab or at queue: each test
//! creates a throw-away system user (useradd), runs orc-cron / orc-at as
//! that user (runuser) with its own HOME and state directory, and removes
//! the user's crontab, at jobs and the user itself however the test ends.
//! So they need root, a running cron daemon or atd, and binaries that user
//! can execute. Outside CI, anything missing skips the test with one line;
//! under CI (`.ci/run` installs and starts cron and atd) it is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use chrono::{Datelike, Local, Timelike};

const CRON: &str = env!("CARGO_BIN_EXE_orc-cron");
const AT: &str = env!("CARGO_BIN_EXE_orc-at");
/// Cron looks at the clock once a minute, so a run registered for the next
/// minute fires within about two.
const DEADLINE: Duration = Duration::from_secs(150);
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Skip (one line) or, under CI, fail.
fn skip(why: &str) -> Option<User> {
    assert!(
        std::env::var_os("CI").is_none_or(|v| v.is_empty()),
        "CI must run the live scheduler tests, but {why} (see .ci/run)"
    );
    eprintln!("skipped: a live scheduler test: {why}");
    None
}

/// Whether a process named one of `names` runs (`/proc/*/comm`).
fn daemon_running(names: &[&str]) -> bool {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path().join("comm")).ok())
        .any(|comm| names.contains(&comm.trim()))
}

fn installed(program: &str) -> bool {
    [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .any(|d| Path::new(d).join(program).is_file())
}

/// A throw-away system user with a private world: HOME, state directory
/// and a work directory, all its own. Removed (with its crontab and at
/// jobs) on drop.
struct User {
    name: String,
    root: PathBuf,
    home: PathBuf,
    state: PathBuf,
    _tmp: tempfile::TempDir,
}

impl User {
    /// The user, or None (after one line) when a live test cannot run here.
    fn create(programs: &[&str], daemons: &[&str]) -> Option<User> {
        let missing: Vec<&str> = programs
            .iter()
            .chain(&["useradd", "userdel", "runuser"])
            .copied()
            .filter(|p| !installed(p))
            .collect();
        if !missing.is_empty() {
            return skip(&format!("{missing:?} not installed"));
        }
        if !daemon_running(daemons) {
            return skip(&format!("the {} daemon is not running", daemons[0]));
        }
        if !nix::unistd::geteuid().is_root() {
            return skip("it creates a throw-away user, which needs root");
        }
        let tmp = tempfile::Builder::new()
            .prefix("orc-live-")
            .tempdir()
            .unwrap();
        let root = tmp.path().canonicalize().unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        let name = format!(
            "orclive{}{}",
            std::process::id(),
            root.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(['-', '.', '_'], "")
        )
        .to_lowercase();
        let name: String = name.chars().take(31).collect();
        let home = root.join("home");
        let state = root.join("state");
        fs::create_dir_all(&home).unwrap();
        let out = Command::new("useradd")
            .args(["--system", "--shell", "/bin/sh", "--home-dir"])
            .arg(&home)
            .arg(&name)
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {out:?}");
        let user = User {
            name,
            root,
            home,
            state,
            _tmp: tmp,
        };
        let chown = Command::new("chown")
            .arg("-R")
            .arg(format!("{0}:", user.name))
            .arg(&user.root)
            .output()
            .unwrap();
        assert!(chown.status.success(), "chown: {chown:?}");
        // The test build must be reachable by another user.
        let probe = user.run("test", &["-x", CRON]);
        if !probe.status.success() {
            drop(user);
            return skip("the test binaries are not executable by another user");
        }
        Some(user)
    }

    /// `program args` as this user, with only its own environment.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new("runuser")
            .args(["-u", &self.name, "--", "/usr/bin/env", "-i"])
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("ORC_STATE_DIR={}", self.state.display()))
            .arg(format!("PATH={SYSTEM_PATH}"))
            .arg("LANG=C")
            .arg(program)
            .args(args)
            .current_dir(&self.root)
            .output()
            .unwrap()
    }

    fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn crontab(&self) -> String {
        String::from_utf8_lossy(&self.run("crontab", &["-l"]).stdout).into_owned()
    }

    fn entry(&self, id: &str) -> serde_json::Value {
        let text = fs::read_to_string(self.state.join("schedules.json")).unwrap_or_default();
        let registry: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        registry["schedules"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_default()
    }

    /// This user's at jobs (`atq` as the user lists only its own).
    fn jobs(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.run("atq", &[]).stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect()
    }

    fn wait_for_run(&self, id: &str, daemon: &str) {
        let end = Instant::now() + DEADLINE;
        while !matches!(self.entry(id)["last_status"].as_str(), Some("ok" | "error")) {
            assert!(
                Instant::now() < end,
                "{daemon} did not run schedule {id} within {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("crontab")
            .args(["-u", &self.name, "-r"])
            .output();
        for job in self.jobs() {
            let _ = Command::new("atrm").arg(&job).output();
        }
        let _ = Command::new("userdel").arg(&self.name).output();
        // The temporary directory is owned by the user: give it back so
        // that TempDir can remove it.
        let _ = Command::new("chown")
            .args(["-R", "0:0"])
            .arg(&self.root)
            .output();
    }
}

#[test]
fn cron_fires_a_schedule() {
    let Some(user) = User::create(&["crontab", "cron"], &["cron", "crond"]) else {
        return;
    };
    let id = "live-cron";
    // The next minute in cron's (local) time, or the one after when this
    // one is nearly over, pinned to today's date so it fires once.
    let now = Local::now();
    let lead = if now.second() < 50 { 1 } else { 2 };
    let t = now + chrono::Duration::minutes(lead);
    let expr = format!("{} {} {} {} *", t.minute(), t.hour(), t.day(), t.month());
    let marker = user.root.join("cron-ran");
    let script = format!("printf '%s' \"$ORC_SCHEDULE_ID\" > '{}'", marker.display());
    user.ok(
        CRON,
        &[
            "add",
            "--schedule",
            &expr,
            "--id",
            id,
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    assert!(user.crontab().contains(&format!(" # orc:{id}\n")));

    user.wait_for_run(id, "cron");
    let entry = user.entry(id);
    assert_eq!(entry["last_status"], "ok", "{entry}");
    assert!(
        entry["last_fired_at"].is_string(),
        "cron's run counts as fired: {entry}"
    );
    assert_eq!(fs::read_to_string(&marker).unwrap(), id);
    let log = fs::read_to_string(user.state.join(format!("logs/{id}.run.log"))).unwrap();
    assert!(log.contains("started (scheduled)"), "{log}");

    user.ok(CRON, &["rm", id]);
    assert!(!user.crontab().contains("# orc:"), "{}", user.crontab());
    assert!(!user.state.join(format!("runners/{id}.sh")).exists());
    assert!(
        user.state.join(format!("logs/{id}.run.log")).exists(),
        "the log stays"
    );
}

#[test]
fn atd_fires_a_job() {
    let Some(user) = User::create(&["at", "atq", "atrm", "atd"], &["atd"]) else {
        return;
    };
    let id = "live-at";
    let marker = user.root.join("at-ran");
    let script = format!("printf '%s' \"$ORC_SCHEDULE_ID\" > '{}'", marker.display());
    user.ok(
        AT,
        &[
            "add",
            "--at",
            "now + 1 minute",
            "--id",
            id,
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    let job = user.entry(id)["handle"].as_str().unwrap().to_string();
    assert!(user.jobs().contains(&job), "job {job} is in the at queue");

    user.wait_for_run(id, "atd");
    let entry = user.entry(id);
    assert_eq!(entry["last_status"], "ok", "{entry}");
    assert_eq!(fs::read_to_string(&marker).unwrap(), id);
    let end = Instant::now() + Duration::from_secs(30);
    while user.jobs().contains(&job) {
        assert!(Instant::now() < end, "atd did not finish job {job}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let listed: serde_json::Value = serde_json::from_str(&user.ok(AT, &["list"])).unwrap();
    assert_eq!(listed["state"], "done");

    user.ok(AT, &["rm", id]);
    assert!(!user.jobs().contains(&job));
    assert!(
        user.state.join(format!("logs/{id}.run.log")).exists(),
        "the log stays"
    );

    // A job removed before it runs leaves the queue clean.
    user.ok(
        AT,
        &["add", "--at", "now + 2 days", "--id", "later", "--", "true"],
    );
    let later = user.entry("later")["handle"].as_str().unwrap().to_string();
    assert!(user.jobs().contains(&later));
    user.ok(AT, &["rm", "later"]);
    assert!(!user.jobs().contains(&later), "atrm removed job {later}");
}
