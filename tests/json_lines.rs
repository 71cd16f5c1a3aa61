//! Every JSON line orc prints is strict JSON: no object names a key twice.
//!
//! `common::run` checks the stdout of every tool every test runs; this file
//! makes sure each tool that prints JSON is run at least once, in the
//! shapes that once repeated keys (`orc-ps --json` flattened the record
//! over the row's own issue, kind and session), and checks the event log
//! and the doorbell's messages too.

mod common;

use std::fs;

use common::life::{Life, json_lines};
use common::{assert_ok, assert_strict_json_lines, run, strict_parse};
use orc_kernel::ids::Kind;
use orc_kernel::record::State;

#[test]
fn the_strict_check_rejects_a_key_given_twice() {
    assert!(strict_parse(r#"{"a":1,"b":[{"c":2}]}"#).is_ok());
    assert!(strict_parse(r#"{"a":1,"a":2}"#).is_err());
    assert!(strict_parse(r#"{"x":[{"a":1,"b":{"a":1,"a":1}}]}"#).is_err());
    assert!(strict_parse("{").is_err());
    // serde_json itself takes both: that is why the check exists.
    assert!(serde_json::from_str::<serde_json::Value>(r#"{"a":1,"a":2}"#).is_ok());
}

#[test]
fn orc_ps_json_names_each_key_once() {
    let env = Life::new();
    env.seed_worker(3, Kind::Worker, State::Running);
    env.seed_worker(4, Kind::Reviewer, State::Terminated);
    let broken = env.seed_worker(5, Kind::Worker, State::Running);
    fs::write(broken.state_path(), "{not json").unwrap();
    for args in [
        &["--json"][..],
        &["--json", "--all"],
        &["--json", "--health"],
    ] {
        let out = run(env.tool("orc-ps").args(args));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "one line per worker: {text}");
        for line in &lines {
            strict_parse(line).unwrap_or_else(|e| panic!("orc-ps {args:?}: {e}: {line}"));
        }
        let rows = json_lines(&text);
        assert_eq!(rows[0]["issue"], 3);
        assert_eq!(rows[0]["kind"], "worker");
        assert_eq!(rows[0]["session"], env.session_name());
        assert_eq!(rows[0]["state"], "RUNNING");
        assert_eq!(rows[1]["kind"], "reviewer");
        assert!(
            rows[2]["error"]
                .as_str()
                .unwrap()
                .contains("corrupt record")
        );
    }
}

#[test]
fn every_tool_that_prints_json_prints_strict_json() {
    let env = Life::new();
    env.issue(7, "ci");
    env.issue(8, "hang");
    let spawned = assert_ok(&env.run("orc-spawn", &["7"]));
    assert_strict_json_lines(&spawned, "orc-spawn");
    let watched = assert_ok(&env.run("orc-watch", &["--timeout", "25", "7"]));
    assert_eq!(json_lines(&watched)[0]["result"], "ci-passed");
    env.wait_until_settled(7);
    env.spawn(8, &[]);

    // The worker-side tools, on a worker of their own.
    env.seed_worker(9, Kind::Worker, State::Running);
    let worker = |name: &str, args: &[&str]| {
        let mut cmd = env.worker_cmd(name, 9, Kind::Worker);
        run(cmd.args(args)).status.code()
    };
    let quoted = "phase2: a \"quoted\" phase";
    assert_eq!(worker("orc-state", &["--json", "RUNNING", quoted]), Some(0));
    assert_ok(&env.run("orc-signal", &["--json", "9", "TERM"]));
    assert_eq!(
        worker("orc-state", &["--json", "RUNNING", "phase3"]),
        Some(3)
    );
    let end = ["--json", "cancelled", "stopped as asked"];
    assert_eq!(worker("orc-notify", &end), Some(0));

    for args in [
        &["orc-ps", "--json"][..],
        &["orc-ps", "--json", "--all", "--health"],
        &["orc-lock", "acquire", "--json", "11"],
        &["orc-lock", "holder", "--json", "11"],
        &["orc-lock", "holder", "--json", "7"],
        &["orc-ctl", "gc", "--dry-run", "--json"],
        &["orc-ctl", "env", "--json"],
        &["orc-ctl", "kill", "8"],
        &["orc-watch", "--timeout", "25", "7", "8", "9"],
        &["orc-watch", "--follow", "--timeout", "0"],
        &["orc-cleanup", "--json", "9"],
        &["orc-ctl", "gc", "--json"],
    ] {
        let out = env.run(args[0], &args[1..]);
        let timed_out = args.contains(&"--follow") && out.status.code() == Some(124);
        assert!(
            out.status.code() == Some(0) || timed_out,
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let quiet = args[1] == "kill" || args.contains(&"--follow");
        assert!(!out.stdout.is_empty() || quiet, "{args:?} printed nothing");
    }
    let events = fs::read_to_string(env.session().events_path()).unwrap();
    assert!(events.lines().count() >= 6, "{events}");
    for line in events.lines() {
        strict_parse(line).unwrap_or_else(|e| panic!("events.jsonl: {e}: {line}"));
    }
    env.wait_until_settled(8);
    env.cleanup(7, &["--force"]);
    env.cleanup(8, &["--force"]);
    env.assert_no_processes();
}
