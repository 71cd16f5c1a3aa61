//! orc-cron against recording fakes of crontab, launchctl, the agent CLI
//! and notify-send. The live crontab test is in tests/sched_live.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod sched_env;

use std::fs;
use std::time::Duration;

use sched_env::{CRON, Env, assert_fails, mode, ok, stderr, stdout, wait_for};

const USER_CRONTAB: &str =
    "# my jobs\nMAILTO=me@example.com\n*/5 * * * * /usr/bin/backup # orc:someone-else\n";

fn env() -> Env {
    let mut e = Env::new();
    e.fake_crontab();
    e.fake_agent("claude");
    e.set("ORC_NOW", "2026-11-30T08:05:00Z");
    fs::write(e.fakes.join("crontab.txt"), USER_CRONTAB).unwrap();
    e
}

#[test]
fn next_prints_fire_times_from_the_clock() {
    let e = env();
    let out = ok(&e.run(CRON, &["next", "0 9 1 * mon", "-n", "4"]));
    assert_eq!(
        out,
        "2026-11-30T09:00:00+00:00\n2026-12-01T09:00:00+00:00\n\
         2026-12-07T09:00:00+00:00\n2026-12-14T09:00:00+00:00\n"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(
        &e.run(CRON, &["next", "*/30 * * * *", "--json", "-n", "2"])
    ))
    .unwrap();
    assert_eq!(
        json["next"],
        serde_json::json!(["2026-11-30T08:30:00+00:00", "2026-11-30T09:00:00+00:00"])
    );
}

#[test]
fn bad_expressions_name_the_field_and_exit_2() {
    let e = env();
    for (expr, line) in [
        (
            "*/0 * * * *",
            "orc-cron: error: invalid cron expression: field 1 (minute) \"*/0\": step 0 is not allowed (*/0 * * * *)",
        ),
        (
            "0 24 * * *",
            "orc-cron: error: invalid cron expression: field 2 (hour) \"24\": value 24 is out of range 0-23 (0 24 * * *)",
        ),
        (
            "0 9 * *",
            "orc-cron: error: invalid cron expression: expected 5 fields, found 4 (0 9 * *)",
        ),
        (
            "0 9 5-1 * *",
            "orc-cron: error: invalid cron expression: field 3 (day-of-month) \"5-1\": range 5-1 is reversed (0 9 5-1 * *)",
        ),
    ] {
        assert_fails(&e.run(CRON, &["next", expr]), 2, line);
        let before = e.snapshot();
        let add = e.run(
            CRON,
            &["add", "--schedule", expr, "--id", "bad", "--", "true"],
        );
        assert_fails(&add, 2, line);
        assert_eq!(
            e.snapshot(),
            before,
            "{expr}: a failed add changed something"
        );
    }
}

#[test]
fn add_list_rm_keep_the_users_crontab() {
    let e = env();
    let out = ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * mon-fri",
            "--id",
            "nightly",
            "--",
            "make",
            "check",
        ],
    ));
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(added["id"], "nightly");
    assert_eq!(added["next"], "2026-11-30T09:00:00+00:00");
    assert_eq!(added["backend"], "crontab");
    let runner = e.state.join("runners/nightly.sh");
    let line = format!("0 9 * * 1-5 '{}' # orc:nightly\n", runner.display());
    assert_eq!(
        e.fake_file("crontab.txt").unwrap(),
        format!("{USER_CRONTAB}{line}")
    );
    assert_eq!(mode(&runner), 0o700);
    let script = fs::read_to_string(&runner).unwrap();
    assert!(
        !script.contains("make"),
        "the command leaked into the runner:\n{script}"
    );
    assert_eq!(
        e.entry("nightly")["action"],
        serde_json::json!({"type": "command", "argv": ["make", "check"]})
    );
    assert_eq!(e.entry("nightly")["repo"], e.repo.display().to_string());

    let listed: serde_json::Value =
        serde_json::from_str(&ok(&e.run(CRON, &["list", "--json"]))).unwrap();
    assert_eq!(
        (listed["id"].as_str(), listed["state"].as_str()),
        (Some("nightly"), Some("scheduled"))
    );
    assert_eq!(listed["next"], "2026-11-30T09:00:00+00:00");

    ok(&e.run(CRON, &["rm", "nightly"]));
    assert_eq!(e.fake_file("crontab.txt").unwrap(), USER_CRONTAB);
    assert!(!runner.exists());
    assert_eq!(e.registry()["schedules"], serde_json::json!([]));

    let before = e.snapshot();
    assert_fails(
        &e.run(CRON, &["rm", "nightly"]),
        1,
        "orc-cron: error: no such schedule (nightly)",
    );
    assert_eq!(e.snapshot(), before);
}

#[test]
fn drift_from_the_crontab_is_flagged() {
    let e = env();
    ok(&e.run(
        CRON,
        &["add", "--schedule", "@hourly", "--id", "h", "--", "true"],
    ));
    fs::write(e.fakes.join("crontab.txt"), USER_CRONTAB).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&ok(&e.run(CRON, &["list"]))).unwrap();
    assert_eq!(listed["state"], "drifted");
    // A crontab that cannot be read is "unknown", never "drifted".
    e.fake(
        "crontab",
        "echo 'crontab: your account has expired' >&2; exit 1\n",
    );
    let out = e.run(CRON, &["list"]);
    let listed: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(listed["state"], "unknown");
    assert!(
        stderr(&out).starts_with(
            "orc-cron: warning: cannot tell whether schedules are in the OS scheduler"
        ),
        "{}",
        stderr(&out)
    );
    e.fake_crontab();
    // rm still cleans up what is left, and the crontab is not rewritten.
    ok(&e.run(CRON, &["rm", "h"]));
    assert_eq!(e.fake_file("crontab.txt").unwrap(), USER_CRONTAB);
    assert!(
        !e.fake_file("calls.log")
            .unwrap()
            .lines()
            .rev()
            .take(1)
            .any(|l| l == "crontab -")
    );
}

#[test]
fn bad_requests_change_nothing() {
    let mut e = env();
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "* * * * *",
            "--id",
            "taken",
            "--",
            "true",
        ],
    ));
    let cases: Vec<(Vec<&str>, i32, String)> = vec![
        (
            vec!["--id", "../x", "--", "true"],
            2,
            "orc-cron: error: invalid schedule id (../x)".into(),
        ),
        (
            vec!["--id", "taken", "--", "true"],
            2,
            "orc-cron: error: a schedule with this id exists (taken)".into(),
        ),
        (vec![], 2, "orc-cron: error: nothing to run (add)".into()),
        (
            vec!["--prompt", "p", "--", "true"],
            2,
            "orc-cron: error: more than one thing to run (add)".into(),
        ),
        (
            vec!["--prompt", "  "],
            2,
            "orc-cron: error: the prompt is empty (--prompt)".into(),
        ),
        (
            vec!["--repo", "/nonexistent/repo", "--", "no-such-program-x"],
            1,
            "orc-cron: error: cannot schedule: the command no-such-program-x is not on PATH; \
             the repository /nonexistent/repo does not exist (/nonexistent/repo)"
                .into(),
        ),
    ];
    for (args, code, line) in cases {
        let before = e.snapshot();
        let mut all = vec!["add", "--schedule", "* * * * *"];
        all.extend(args.iter());
        assert_fails(&e.run(CRON, &all), code, &line);
        assert_eq!(e.snapshot(), before, "{args:?} changed something");
    }

    // Every preflight problem at once: agent, scheduler tool, repository.
    e.set("ORC_AGENT", "custom");
    e.set("ORC_AGENT_CMD", "no-such-agent-x --task {prompt}");
    e.set("ORC_SCHED_BACKEND", "launchd");
    let before = e.snapshot();
    let out = e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--repo",
            "/nope",
            "--prompt",
            "hi",
        ],
    );
    assert_fails(
        &out,
        1,
        "orc-cron: error: cannot schedule: the agent CLI no-such-agent-x is not on PATH; \
         launchctl (launchd) is not on PATH; the repository /nope does not exist (/nope)",
    );
    assert!(stderr(&out).contains("hint: "), "{}", stderr(&out));
    assert_eq!(e.snapshot(), before);

    e.set("ORC_SCHED_BACKEND", "atd");
    assert_fails(
        &e.run(CRON, &["add", "--schedule", "* * * * *", "--", "true"]),
        2,
        "orc-cron: error: atd runs one-shot jobs only; orc-cron needs crontab or launchd (ORC_SCHED_BACKEND=atd)",
    );
    e.set("ORC_SCHED_BACKEND", "systemd");
    assert_fails(
        &e.run(CRON, &["add", "--schedule", "* * * * *", "--", "true"]),
        2,
        "orc-cron: error: invalid ORC_SCHED_BACKEND=\"systemd\" set in the environment",
    );
    assert_eq!(e.snapshot(), before);
}

#[test]
fn a_corrupt_registry_is_kept_and_refused() {
    let e = env();
    fs::create_dir_all(&e.state).unwrap();
    fs::write(e.state.join("schedules.json"), "{not json").unwrap();
    let before = e.snapshot();
    let out = e.run(
        CRON,
        &["add", "--schedule", "* * * * *", "--id", "x", "--", "true"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("orc-cron: error: corrupt schedule registry: "),
        "{}",
        stderr(&out)
    );
    assert_eq!(e.snapshot(), before);
    assert_eq!(
        fs::read_to_string(e.state.join("schedules.json")).unwrap(),
        "{not json"
    );
    assert!(!e.state.join("runners/x.sh").exists());
}

#[test]
fn a_prompt_runs_as_text_with_the_captured_path() {
    let e = env();
    let prompt = "it's $(touch pwned) `touch pwned2`\nsecond line; touch pwned3 \"$HOME\"";
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "p",
            "--prompt",
            prompt,
        ],
    ));
    let runner = e.state.join("runners/p.sh");
    assert!(!fs::read_to_string(&runner).unwrap().contains("pwned"));
    // Run the runner as cron would: a bare environment without the fakes
    // on PATH. It finds the fake agent through the PATH it captured.
    let out = std::process::Command::new(&runner)
        .env_clear()
        .env("HOME", &e.home)
        .env("PATH", "/usr/bin:/bin")
        .current_dir("/")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The prompt reaches `claude -p` on its standard input, never its argv.
    let args = e.fake_file("agent.args").expect("the agent ran");
    assert!(!args.contains("pwned"), "args: {args:?}");
    assert_eq!(e.fake_file("agent.stdin").as_deref(), Some(prompt));
    assert_eq!(
        e.fake_file("agent.pwd").unwrap().trim(),
        e.repo.display().to_string()
    );
    for dir in [&e.repo, &e.home, &e.fakes] {
        for name in ["pwned", "pwned2", "pwned3"] {
            assert!(!dir.join(name).exists(), "{name} in {}", dir.display());
        }
    }
    let entry = e.entry("p");
    assert_eq!(
        (entry["last_status"].as_str(), entry["runs"].as_u64()),
        (Some("ok"), Some(1))
    );
    assert!(
        entry["last_fired_at"].is_string(),
        "a scheduled run is recorded as fired"
    );
    let log = fs::read_to_string(e.state.join("logs/p.run.log")).unwrap();
    assert!(
        log.contains("fake agent ran") && log.contains("started (scheduled)"),
        "{log}"
    );
}

#[test]
fn a_failing_run_is_recorded_and_notified() {
    let mut e = env();
    e.fake("notify-send", "printf '%s\\n' \"$@\" > \"$d/notified\"\n");
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "f",
            "--",
            "sh",
            "-c",
            "echo oops; exit 3",
        ],
    ));
    let out = e.run(CRON, &["run", "f"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let outcome: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (outcome["status"].as_str(), outcome["exit"].as_i64()),
        (Some("error"), Some(3))
    );
    let entry = e.entry("f");
    assert_eq!(
        (entry["last_status"].as_str(), entry["last_exit"].as_i64()),
        (Some("error"), Some(3))
    );
    assert!(
        entry["last_fired_at"].is_null(),
        "a run by hand is not a firing"
    );
    let notified = e.fake_file("notified").expect("notify-send was called");
    assert!(notified.contains("orc: schedule f failed"), "{notified}");
    assert!(
        fs::read_to_string(e.state.join("logs/f.run.log"))
            .unwrap()
            .contains("oops\n")
    );

    // Without a notifier the run is the same, only silent.
    fs::remove_file(e.fakes.join("notify-send")).unwrap();
    e.fakes_on_path = false;
    let out = e.run(CRON, &["run", "f"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(e.entry("f")["runs"], 2);
}

#[test]
fn a_label_schedule_runs_orc_dispatch() {
    let e = env();
    // A local tracker with no issue labelled `ready`: an empty run is a
    // successful one. (A GitHub one would need gh: see sched_capture.rs.)
    fs::create_dir_all(e.repo.join(".orc/issues")).unwrap();
    let out = e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "l",
            "--label",
            "ready",
        ],
    );
    ok(&out);
    // Nothing to warn about, unless this machine's cron daemon is down.
    let warnings: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| !l.contains("the cron daemon is not running") && !l.starts_with("hint: start"))
        .map(String::from)
        .collect();
    assert!(warnings.is_empty(), "{}", stderr(&out));
    let out = e.run(CRON, &["run", "l"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(e.entry("l")["last_status"], "ok");
    let log = fs::read_to_string(e.state.join("logs/l.run.log")).unwrap();
    assert!(
        log.contains("orc-dispatch: ran 0 issue(s): nothing to do"),
        "{log}"
    );
}

#[test]
fn a_nightly_batch_is_one_line() {
    let e = env();
    fs::create_dir_all(e.repo.join(".orc/issues")).unwrap();
    let add = |args: &[&str]| {
        let mut all = vec!["add", "--schedule", "0 2 * * *"];
        all.extend_from_slice(args);
        e.run(CRON, &all)
    };
    // --max and --once are orc-dispatch's: they need --label.
    let bad = add(&["--id", "x", "--max", "3", "--", "true"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).starts_with("orc-cron: error: "),
        "{}",
        stderr(&bad)
    );
    let zero = add(&["--id", "x", "--label", "ready", "--max", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", stderr(&zero));
    assert!(stderr(&zero).contains("at least 1"), "{}", stderr(&zero));

    ok(&add(&[
        "--id", "n", "--label", "ready", "--max", "3", "--once",
    ]));
    let action = &e.entry("n")["action"];
    assert_eq!(action["label"], "ready");
    assert_eq!(action["max"], 3);
    assert_eq!(action["once"], true);
    let out = e.run(CRON, &["run", "n"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = fs::read_to_string(e.state.join("logs/n.run.log")).unwrap();
    assert!(log.contains("orc-dispatch: ran 0 issue(s)"), "{log}");
}

#[test]
fn two_runs_of_one_schedule_never_overlap() {
    let e = env();
    let script = "touch started; while [ ! -f go ]; do sleep 0.05; done";
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 * * *",
            "--id",
            "o",
            "--",
            "sh",
            "-c",
            script,
        ],
    ));
    let mut first = e
        .cmd(CRON)
        .args(["run", "o"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first run to start", Duration::from_secs(20), || {
        e.repo.join("started").exists()
    });
    let second = e.run(CRON, &["run", "o"]);
    assert_eq!(second.status.code(), Some(5));
    assert!(
        stderr(&second).starts_with("orc-cron: error: a run of this schedule is still going (o)")
    );
    fs::write(e.repo.join("go"), "").unwrap();
    assert!(first.wait().unwrap().success());
    assert_eq!(e.entry("o")["runs"], 1);
    let log = fs::read_to_string(e.state.join("logs/o.run.log")).unwrap();
    assert!(
        log.contains("skipped: the previous run of this schedule is still going"),
        "{log}"
    );
}

#[test]
fn fifty_concurrent_adds_lose_nothing() {
    let e = env();
    let children: Vec<_> = (0..50)
        .map(|i| {
            e.cmd(CRON)
                .args([
                    "add",
                    "--schedule",
                    "*/5 * * * *",
                    "--id",
                    &format!("s{i}"),
                    "--json",
                    "--",
                    "true",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(e.registry()["schedules"].as_array().unwrap().len(), 50);
    let crontab = e.fake_file("crontab.txt").unwrap();
    assert!(crontab.starts_with(USER_CRONTAB));
    for i in 0..50 {
        assert_eq!(
            crontab.matches(&format!(" # orc:s{i}\n")).count(),
            1,
            "s{i}"
        );
        assert!(e.state.join(format!("runners/s{i}.sh")).exists());
    }
}

#[test]
fn launchd_gets_a_plist_per_schedule() {
    let mut e = env();
    e.fake_launchctl();
    e.set("ORC_SCHED_BACKEND", "launchd");
    ok(&e.run(
        CRON,
        &[
            "add",
            "--schedule",
            "0 9 1 * mon",
            "--id",
            "ld",
            "--",
            "true",
        ],
    ));
    let plist = e
        .home
        .join("Library/LaunchAgents/dev.orc.schedule.ld.plist");
    let xml = fs::read_to_string(&plist).unwrap();
    // The OR rule: the 1st of the month and every Monday, in separate dicts.
    assert_eq!(xml.matches("<key>Day</key>").count(), 1, "{xml}");
    assert_eq!(xml.matches("<key>Weekday</key>").count(), 1, "{xml}");
    let calls = e.fake_file("calls.log").unwrap();
    let uid = nix::unistd::getuid();
    assert!(
        calls.contains(&format!(
            "launchctl bootstrap gui/{uid} {}",
            plist.display()
        )),
        "{calls}"
    );
    let listed: serde_json::Value = serde_json::from_str(&ok(&e.run(CRON, &["list"]))).unwrap();
    assert_eq!(listed["state"], "scheduled");
    ok(&e.run(CRON, &["rm", "ld"]));
    assert!(!plist.exists());
    assert!(
        e.fake_file("calls.log")
            .unwrap()
            .contains(&format!("launchctl bootout gui/{uid}/dev.orc.schedule.ld"))
    );

    let before = e.snapshot();
    assert_fails(
        &e.run(
            CRON,
            &[
                "add",
                "--schedule",
                "0 0 */2 * 1",
                "--id",
                "and",
                "--",
                "true",
            ],
        ),
        2,
        "orc-cron: error: launchd cannot fire on days that match both day-of-month and day-of-week (0 0 */2 * 1)",
    );
    assert_eq!(e.snapshot(), before);
}

#[test]
fn the_longest_ids_and_repo_relative_commands_run() {
    let e = env();
    let script = e.repo.join("hello.sh");
    fs::write(&script, "#!/bin/sh\necho hello from $ORC_SCHEDULE_ID\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let id = "a".repeat(64);
    let elsewhere = e.root.join("home");
    let add = e
        .cmd(CRON)
        .current_dir(&elsewhere)
        .args([
            "add",
            "--schedule",
            "@daily",
            "--id",
            &id,
            "--repo",
            "../repo",
            "--",
            "./hello.sh",
        ])
        .output()
        .unwrap();
    ok(&add);
    assert_eq!(e.entry(&id)["repo"], e.repo.display().to_string());
    ok(&e.run(CRON, &["run", &id]));
    let log = fs::read_to_string(e.state.join(format!("logs/{id}.run.log"))).unwrap();
    assert!(log.contains(&format!("hello from {id}\n")), "{log}");
    let longer = "a".repeat(65);
    let out = e.run(
        CRON,
        &["add", "--schedule", "@daily", "--id", &longer, "--", "true"],
    );
    assert_fails(
        &out,
        2,
        &format!("orc-cron: error: invalid schedule id ({longer})"),
    );
}

#[test]
fn help_documents_environment_and_exit_codes() {
    let e = env();
    let help = ok(&e.run(CRON, &["--help"]));
    for needle in [
        "ORC_SCHED_BACKEND",
        "Exit codes:",
        "orc-cron next",
        "day-of-week",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
