//! Live: real cron and atd fire orc's schedules. Both tests sit in one
//! file so that cargo runs them in parallel (each waits up to a minute or
//! two for its daemon). `.ci/run` installs and starts cron and atd; outside
//! CI the tests skip, saying why, when `crontab` or `at` is not installed.
//!
//! They use their own HOME and state directory, touch only crontab lines
//! and at jobs they made, and remove those even when they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sched_env;

use std::fs;
use std::process::Command;
use std::time::Duration;

use chrono::{Datelike, Local, Timelike};
use sched_env::{AT, CRON, Env, ok, wait_for};

/// Cron looks at the clock once a minute, so a run registered for the next
/// minute fires within about two.
const DEADLINE: Duration = Duration::from_secs(150);

/// Whether the live tests can run here; panics in CI when they cannot.
fn available(programs: &[&str]) -> bool {
    let dirs = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| {
            !dirs
                .iter()
                .any(|d| std::path::Path::new(d).join(p).is_file())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the live scheduler tests, but {missing:?} are missing (see .ci/run)"
    );
    eprintln!("skipping a live scheduler test: {missing:?} not installed and CI is unset");
    false
}

fn crontab_text() -> String {
    let out = Command::new("crontab").arg("-l").output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The crontab without the lines of other runs of these live tests, which
/// may come and go meanwhile when two checkouts test on one machine: every
/// other line must be kept byte for byte.
fn crontab_but_other_live_tests(own: &str) -> String {
    crontab_text()
        .lines()
        .filter(|l| !l.contains(" # orc:live-") || l.ends_with(&format!(" # orc:{own}")))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Removes this test's crontab lines however the test ends.
struct CrontabGuard(String);

impl Drop for CrontabGuard {
    fn drop(&mut self) {
        let tag = format!(" # orc:{}", self.0);
        let text = crontab_text();
        if !text.lines().any(|l| l.ends_with(&tag)) {
            return;
        }
        let kept: String = text
            .split_inclusive('\n')
            .filter(|l| !l.trim_end().ends_with(&tag))
            .collect();
        let mut child = Command::new("crontab")
            .arg("-")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(kept.as_bytes())
            .unwrap();
        let _ = child.wait();
    }
}

/// Removes the at jobs in this test's registry however the test ends.
struct AtGuard(std::path::PathBuf);

impl Drop for AtGuard {
    fn drop(&mut self) {
        let Ok(bytes) = fs::read(self.0.join("schedules.json")) else {
            return;
        };
        let registry: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        for s in registry["schedules"].as_array().into_iter().flatten() {
            if let Some(job) = s["handle"].as_str() {
                let _ = Command::new("atrm").arg(job).output();
            }
        }
    }
}

fn queued(job: &str) -> bool {
    let out = Command::new("atq").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(job))
}

fn wait_for_run(e: &Env, id: &str, daemon: &str) {
    let what = format!("{daemon} to run schedule {id} (is {daemon} running? .ci/run starts it)");
    wait_for(&what, DEADLINE, || {
        matches!(e.entry(id)["last_status"].as_str(), Some("ok" | "error"))
    });
}

#[test]
fn cron_fires_a_schedule() {
    if !available(&["crontab", "cron"]) {
        return;
    }
    let mut e = Env::new();
    e.fakes_on_path = false;
    // Fire times in the system's zone, the one cron and atd use.
    e.unset("TZ");
    let id = format!("live-cron-{}", std::process::id());
    let _guard = CrontabGuard(id.clone());
    let before = crontab_but_other_live_tests(&id);
    // The next minute in cron's (local) time, or the one after when this
    // one is nearly over, pinned to today's date so it fires once.
    let now = Local::now();
    let lead = if now.second() < 50 { 1 } else { 2 };
    let t = now + chrono::Duration::minutes(lead);
    let expr = format!("{} {} {} {} *", t.minute(), t.hour(), t.day(), t.month());
    let marker = e.root.join("cron-ran");
    let script = format!("printf '%s' \"$ORC_SCHEDULE_ID\" > '{}'", marker.display());
    e.set("LANG", "C");
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            &expr,
            "--id",
            &id,
            "--",
            "sh",
            "-c",
            &script,
        ],
    ));
    assert!(crontab_text().contains(&format!(" # orc:{id}\n")));

    wait_for_run(&e, &id, "cron");
    let entry = e.entry(&id);
    assert_eq!(entry["last_status"], "ok", "{entry}");
    assert!(
        entry["last_fired_at"].is_string(),
        "cron's run counts as fired: {entry}"
    );
    assert_eq!(fs::read_to_string(&marker).unwrap(), id);
    let log = fs::read_to_string(e.state.join(format!("logs/{id}.run.log"))).unwrap();
    assert!(log.contains("started (scheduled)"), "{log}");

    ok(&e.run(CRON, &["rm", &id]));
    assert_eq!(
        crontab_but_other_live_tests(&id),
        before,
        "rm left the crontab as it found it"
    );
    assert_eq!(e.registry()["schedules"], serde_json::json!([]));
    assert!(!e.state.join(format!("runners/{id}.sh")).exists());
    assert!(
        e.state.join(format!("logs/{id}.run.log")).exists(),
        "the log stays"
    );
}

#[test]
fn atd_fires_a_job() {
    if !available(&["at", "atq", "atrm", "atd"]) {
        return;
    }
    let mut e = Env::new();
    e.fakes_on_path = false;
    // Fire times in the system's zone, the one cron and atd use.
    e.unset("TZ");
    let _guard = AtGuard(e.state.clone());
    let id = format!("live-at-{}", std::process::id());
    let marker = e.root.join("at-ran");
    let script = format!("printf '%s' \"$ORC_SCHEDULE_ID\" > '{}'", marker.display());
    e.set("LANG", "C");
    ok(&e.run(
        AT,
        &[
            "add",
            "--at",
            "now + 1 minute",
            "--id",
            &id,
            "--",
            "sh",
            "-c",
            &script,
        ],
    ));
    let job = e.entry(&id)["handle"].as_str().unwrap().to_string();
    assert!(queued(&job), "job {job} is in the at queue");

    wait_for_run(&e, &id, "atd");
    let entry = e.entry(&id);
    assert_eq!(entry["last_status"], "ok", "{entry}");
    assert_eq!(fs::read_to_string(&marker).unwrap(), id);
    wait_for("atd to finish the job", Duration::from_secs(30), || {
        !queued(&job)
    });
    let listed: serde_json::Value = serde_json::from_str(&ok(&e.run(AT, &["list"]))).unwrap();
    assert_eq!(listed["state"], "done");

    ok(&e.run(AT, &["rm", &id]));
    assert!(!queued(&job));
    assert_eq!(e.registry()["schedules"], serde_json::json!([]));
    assert!(
        e.state.join(format!("logs/{id}.run.log")).exists(),
        "the log stays"
    );

    // A job removed before it runs leaves the queue clean.
    ok(&e.run(
        AT,
        &["add", "--at", "now + 2 days", "--id", "later", "--", "true"],
    ));
    let later = e.entry("later")["handle"].as_str().unwrap().to_string();
    assert!(queued(&later));
    ok(&e.run(AT, &["rm", "later"]));
    assert!(!queued(&later), "atrm removed job {later}");
}
