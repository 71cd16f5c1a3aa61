//! A schedule runs exactly as it was set up: `add` captures the settings a
//! run depends on, the runner restores them under an empty environment,
//! `run ID` by hand goes through the same runner, the preflight checks
//! what the run will need, and `repair` reinstalls a drifted entry. The OS
//! schedulers are the recording fakes of tests/sched_env.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sched_env;

use std::fs;

use sched_env::{AT, CRON, Env, assert_fails, ok, stderr};

fn env() -> Env {
    let mut e = Env::new();
    e.fake_crontab();
    e.fake_at();
    e.fake_agent("claude");
    e.set("ORC_NOW", "2026-11-30T08:05:00Z");
    e
}

/// `NAME=value` lines of a file written by `env`.
fn vars(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_run_gets_the_settings_of_add_time_and_nothing_of_the_callers() {
    let mut e = env();
    e.set("ORC_TRACKER", "local");
    e.set("ORC_MAX_WORKERS", "2");
    e.set("NOT_CAPTURED", "x");
    let dump = e.root.join("env.txt");
    let script = format!("env > '{}'; exit 3", dump.display());
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "c",
            "--",
            "sh",
            "-c",
            &script,
        ],
    ));
    let entry = e.entry("c");
    assert_eq!(entry["env"]["ORC_TRACKER"], "local", "{entry}");
    assert_eq!(entry["env"]["HOME"], e.home.display().to_string());

    // Later, from another shell with other settings: the run is the same.
    e.set("ORC_TRACKER", "github");
    e.set("ORC_MAX_WORKERS", "9");
    e.set("CLAUDECODE", "1");
    let out = e.run(CRON, &["run", "--json", "c"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let outcome: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    assert_eq!(outcome["exit"], 3);
    let got = vars(&fs::read_to_string(&dump).unwrap());
    assert_eq!(get(&got, "ORC_TRACKER"), Some("local"));
    assert_eq!(get(&got, "ORC_MAX_WORKERS"), Some("2"));
    assert_eq!(get(&got, "ORC_SCHEDULE_ID"), Some("c"));
    assert_eq!(get(&got, "ORC_ENV"), Some("default"));
    assert_eq!(get(&got, "PATH"), Some(e.path().as_str()));
    assert_eq!(
        get(&got, "HOME"),
        Some(e.home.display().to_string().as_str())
    );
    assert!(get(&got, "ORC_ROOT").is_some() && get(&got, "ORC_BIN_DIR").is_some());
    for gone in ["NOT_CAPTURED", "CLAUDECODE", "ORC_NOW"] {
        assert_eq!(get(&got, gone), None, "{gone} leaked into the run");
    }
    // By hand, through the runner: its log says so.
    let log = fs::read_to_string(e.state.join("logs/c.run.log")).unwrap();
    assert!(log.contains("run c started (by hand)"), "{log}");
    assert_eq!(e.entry("c")["last_exit"], 3);

    // What cron starts: the runner, with next to nothing in its environment.
    fs::remove_file(&dump).unwrap();
    let fired = std::process::Command::new(e.state.join("runners/c.sh"))
        .env_clear()
        .env("SHELL", "/bin/sh")
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(fired.status.code(), Some(3));
    assert_eq!(
        vars(&fs::read_to_string(&dump).unwrap()),
        got.into_iter().collect::<Vec<_>>()
    );
}

#[test]
fn the_preflight_checks_what_the_run_will_need() {
    let mut e = env();
    // A label schedule on the GitHub tracker needs gh on the run's PATH.
    let before = e.snapshot();
    let out = e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "g",
            "--label",
            "ready",
        ],
    );
    assert_fails(
        &out,
        1,
        &format!(
            "orc-cron: error: cannot schedule: gh (the GitHub tracker's CLI) is not on PATH ({})",
            e.repo.display()
        ),
    );
    assert!(
        stderr(&out).contains("hint: install gh"),
        "{}",
        stderr(&out)
    );
    assert_eq!(e.snapshot(), before, "a refused add changed something");
    e.fake("gh", "exit 0\n");
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "g",
            "--label",
            "ready",
        ],
    ));
    // A Claude agent needs the orc plugin, or orc:worker would not exist.
    e.set("ORC_ROOT", &e.root.join("nowhere").display().to_string());
    let out = e.run(
        AT,
        &[
            "add",
            "--at",
            "now + 1 day",
            "--id",
            "p",
            "--prompt",
            "triage",
        ],
    );
    assert_fails(
        &out,
        1,
        &format!(
            "orc-at: error: cannot schedule: the orc plugin (agents/, .claude-plugin/) is not found ({})",
            e.repo.display()
        ),
    );
    assert!(
        stderr(&out).contains("hint: set ORC_ROOT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn repair_reinstalls_a_drifted_entry_and_its_runner() {
    let e = env();
    ok(&e.run(
        CRON,
        &["add", "--schedule", "0 9 * * *", "--id", "r", "--", "true"],
    ));
    let line = e.fake_file("crontab.txt").unwrap();
    let runner = fs::read_to_string(e.state.join("runners/r.sh")).unwrap();
    // The crontab lost its line and the runner is gone.
    fs::write(e.fakes.join("crontab.txt"), "MAILTO=\"\"\n").unwrap();
    fs::remove_file(e.state.join("runners/r.sh")).unwrap();
    let out = e.run(CRON, &["list", "--json"]);
    let row: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(row["state"], "drifted");
    assert!(
        stderr(&out).contains("`orc-cron repair ID` reinstalls it"),
        "{}",
        stderr(&out)
    );
    let out = e.run(CRON, &["run", "r"]);
    assert_fails(
        &out,
        1,
        &format!(
            "orc-cron: error: the schedule's runner is missing ({})",
            e.state.join("runners/r.sh").display()
        ),
    );
    ok(&e.run(CRON, &["repair", "r"]));
    assert_eq!(
        fs::read_to_string(e.state.join("runners/r.sh")).unwrap(),
        runner
    );
    let now = e.fake_file("crontab.txt").unwrap();
    assert!(now.starts_with("MAILTO=\"\"\n"), "{now}");
    assert_eq!(
        now.lines().filter(|l| l.contains("# orc:r")).count(),
        1,
        "{now}"
    );
    assert!(
        line.lines()
            .any(|l| now.contains(l) && l.contains("# orc:r"))
    );
    let row: serde_json::Value =
        serde_json::from_str(&ok(&e.run(CRON, &["list", "--json"]))).unwrap();
    assert_eq!(row["state"], "scheduled");
    // Repairing a healthy entry changes nothing.
    ok(&e.run(CRON, &["repair", "r"]));
    assert_eq!(e.fake_file("crontab.txt").unwrap(), now);
    // Bad input.
    assert_fails(
        &e.run(CRON, &["repair", "nosuch"]),
        1,
        "orc-cron: error: no such schedule (nosuch)",
    );
    assert_fails(
        &e.run(AT, &["repair", "r"]),
        2,
        "orc-at: error: this schedule belongs to orc-cron (r)",
    );
}
