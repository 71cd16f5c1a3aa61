//! orc-at against recording fakes of at, atq, atrm and launchctl. The
//! live atd test is in tests/sched_live.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sched_env;

use std::fs;

use sched_env::{AT, CRON, Env, assert_fails, mode, ok, stderr};

fn env() -> Env {
    let mut e = Env::new();
    e.fake_at();
    e.set("ORC_NOW", "2026-11-30T08:05:30Z");
    e
}

/// Run the runner as the OS scheduler would, with `now` as the clock.
fn fire(e: &Env, id: &str, now: &str) -> std::process::Output {
    std::process::Command::new(e.state.join(format!("runners/{id}.sh")))
        .env_clear()
        .env("HOME", &e.home)
        .env("ORC_NOW", now)
        .current_dir("/")
        .output()
        .unwrap()
}

#[test]
fn add_list_rm_with_the_at_queue() {
    let e = env();
    let out = ok(&e.run(
        AT,
        &[
            "add",
            "--at",
            "2026-12-01T09:00",
            "--id",
            "rel",
            "--",
            "make",
            "release",
        ],
    ));
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["at"], "2026-12-01T09:00:00+00:00");
    assert_eq!(
        (added["backend"].as_str(), added["handle"].as_str()),
        (Some("atd"), Some("1"))
    );
    assert_eq!(
        e.fake_file("at.when.1").unwrap(),
        "202612010900\n",
        "the year reaches at"
    );
    let runner = e.state.join("runners/rel.sh");
    assert_eq!(
        e.fake_file("at.job.1").unwrap(),
        format!("exec '{}'\n", runner.display())
    );
    assert_eq!(e.fake_file("at.pwd.1").unwrap().trim(), "/");
    assert_eq!(mode(&runner), 0o700);

    let listed: serde_json::Value =
        serde_json::from_str(&ok(&e.run(AT, &["list", "--json"]))).unwrap();
    assert_eq!(
        (listed["state"].as_str(), listed["next"].as_str()),
        (Some("scheduled"), Some("2026-12-01T09:00:00+00:00"))
    );
    // orc-cron lists recurring schedules only, and will not remove this one.
    assert_eq!(ok(&e.run(CRON, &["list", "--json"])), "");
    assert_fails(
        &e.run(CRON, &["rm", "rel"]),
        2,
        "orc-cron: error: this schedule belongs to orc-at (rel)",
    );

    ok(&e.run(AT, &["rm", "rel"]));
    assert!(e.fake_file("at.job.1").is_none(), "atrm removed the job");
    assert!(!runner.exists());
    assert_eq!(e.registry()["schedules"], serde_json::json!([]));
    assert_fails(
        &e.run(AT, &["rm", "rel"]),
        1,
        "orc-at: error: no such schedule (rel)",
    );
}

#[test]
fn relative_times_count_from_the_minute() {
    let e = env();
    let out = ok(&e.run(
        AT,
        &["add", "--at", "now + 90 minutes", "--id", "r", "--", "true"],
    ));
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["at"], "2026-11-30T09:35:00+00:00");
    assert_eq!(e.fake_file("at.when.1").unwrap(), "202611300935\n");
}

#[test]
fn past_and_malformed_times_change_nothing() {
    let e = env();
    for (when, line) in [
        (
            "2026-11-30T08:05",
            "orc-at: error: the time is in the past (2026-11-30T08:05)",
        ),
        (
            "2025-12-01T09:00",
            "orc-at: error: the time is in the past (2025-12-01T09:00)",
        ),
        (
            "12-01T09:00",
            "orc-at: error: not a time orc-at understands (12-01T09:00)",
        ),
        (
            "2026-02-30T09:00",
            "orc-at: error: no such date or time (2026-02-30T09:00)",
        ),
        (
            "09:00",
            "orc-at: error: not a time orc-at understands (09:00)",
        ),
        (
            "now + 0 minutes",
            "orc-at: error: N must be between 1 and 1000000 (now + 0 minutes)",
        ),
        (
            "now + 3 fortnights",
            "orc-at: error: not a time orc-at understands (now + 3 fortnights)",
        ),
    ] {
        let before = e.snapshot();
        let out = e.run(AT, &["add", "--at", when, "--id", "x", "--", "true"]);
        assert_fails(&out, 2, line);
        assert!(stderr(&out).contains("\nhint: "), "{}", stderr(&out));
        assert_eq!(
            e.snapshot(),
            before,
            "{when}: a failed add changed something"
        );
    }
    assert!(e.fake_file("at.seq").is_none(), "at was never called");
}

#[test]
fn a_one_shot_runs_once_and_never_early() {
    let e = env();
    ok(&e.run(
        AT,
        &[
            "add",
            "--at",
            "2026-12-01T09:00",
            "--id",
            "once",
            "--",
            "sh",
            "-c",
            "echo ran >> ran.txt",
        ],
    ));
    // Fired a day early (launchd's calendar has no year): nothing runs.
    assert!(fire(&e, "once", "2026-11-30T09:00:00Z").status.success());
    assert!(!e.repo.join("ran.txt").exists());
    assert!(e.entry("once")["last_run_at"].is_null());
    assert!(fire(&e, "once", "2026-12-01T09:00:01Z").status.success());
    assert!(fire(&e, "once", "2027-12-01T09:00:01Z").status.success());
    assert_eq!(fs::read_to_string(e.repo.join("ran.txt")).unwrap(), "ran\n");
    let entry = e.entry("once");
    assert_eq!(
        (entry["runs"].as_u64(), entry["last_status"].as_str()),
        (Some(1), Some("ok"))
    );
    let log = fs::read_to_string(e.state.join("logs/once.run.log")).unwrap();
    assert!(
        log.contains("skipped: it is due at 2026-12-01T09:00:00+00:00, not yet"),
        "{log}"
    );
    assert!(
        log.contains("skipped: this one-shot schedule has fired already"),
        "{log}"
    );
    // The job left the queue when it ran (here: by hand); it is done, not drifted.
    fs::remove_file(e.fakes.join("at.job.1")).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&ok(&e.run(AT, &["list"]))).unwrap();
    assert_eq!(listed["state"], "done");
}

#[test]
fn a_job_missing_from_the_queue_is_drift() {
    let e = env();
    ok(&e.run(
        AT,
        &["add", "--at", "now + 1 day", "--id", "d", "--", "true"],
    ));
    fs::remove_file(e.fakes.join("at.job.1")).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&ok(&e.run(AT, &["list"]))).unwrap();
    assert_eq!(listed["state"], "drifted");
    ok(&e.run(AT, &["rm", "d"]));
}

#[test]
fn launchd_one_shots_unload_themselves() {
    let mut e = env();
    e.fake_launchctl();
    e.set("ORC_SCHED_BACKEND", "launchd");
    ok(&e.run(
        AT,
        &[
            "add",
            "--at",
            "2026-12-01T09:30",
            "--id",
            "l1",
            "--",
            "true",
        ],
    ));
    let plist = e
        .home
        .join("Library/LaunchAgents/dev.orc.schedule.l1.plist");
    let xml = fs::read_to_string(&plist).unwrap();
    let dict = "<dict>\n\t\t\t<key>Day</key>\n\t\t\t<integer>1</integer>\n\t\t\t<key>Hour</key>\n\
                \t\t\t<integer>9</integer>\n\t\t\t<key>Minute</key>\n\t\t\t<integer>30</integer>\n\
                \t\t\t<key>Month</key>\n\t\t\t<integer>12</integer>\n\t\t</dict>";
    assert!(xml.contains(dict), "{xml}");
    assert!(e.fakes.join("loaded.dev.orc.schedule.l1").exists());
    assert!(fire(&e, "l1", "2026-12-01T09:30:00Z").status.success());
    assert!(!plist.exists(), "the plist goes after the run");
    let uid = nix::unistd::getuid();
    let wanted = format!("launchctl bootout gui/{uid}/dev.orc.schedule.l1");
    sched_env::wait_for(
        "the job to boot itself out",
        std::time::Duration::from_secs(20),
        || {
            e.fake_file("calls.log")
                .unwrap_or_default()
                .contains(&wanted)
        },
    );
}
