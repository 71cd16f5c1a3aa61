//! Item 5: the prompt never appears on the process table, and credentials
//! are masked by their value in `orc-ctl env` and in the logs.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use orc_kernel::ids::Kind;
use orc_kernel::record::State;

use crate::common::life::{Life, json_lines};
use crate::common::{PATIENCE, assert_ok, run, wait_until};

const PROMPT: &str = "Fix issue 7; the deploy key is hunter2-not-a-real-secret";

fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[test]
fn the_prompt_reaches_the_agent_on_stdin_never_in_argv() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn_cmd(
        env.tool("orc-spawn")
            .env("FAKE_AGENT_ECHO_ARGS", "1")
            .args(["--prompt", PROMPT, "7"]),
    );
    let proc = env.proc(7, Kind::Worker);
    assert!(wait_until(PATIENCE, || env
        .log(7, Kind::Worker)
        .contains(&format!("fake-agent: stdin: {PROMPT}"))));
    // Neither the agent's nor the shim's argv holds any of it.
    for pid in [w.pid, w.shim] {
        let argv = cmdline(pid);
        assert!(!argv.is_empty(), "pid {pid} runs");
        assert!(!argv.contains("hunter2"), "pid {pid}: {argv}");
    }
    assert!(cmdline(w.shim).contains("--stdin-prompt"));
    // The prompt file is private.
    let mode = fs::metadata(proc.prompt_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(fs::read_to_string(proc.prompt_path()).unwrap(), PROMPT);
    assert_ok(&run(env.tool("orc-cleanup").arg("7")));
}

#[test]
fn a_custom_agent_gets_the_prompt_file_where_it_asks() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn_cmd(
        env.tool("orc-spawn")
            .env("FAKE_AGENT_ECHO_ARGS", "1")
            .env(
                "ORC_AGENT_CMD",
                "fake-agent {issue} --task-file {prompt_file}",
            )
            .args(["--prompt", PROMPT, "7"]),
    );
    let proc = env.proc(7, Kind::Worker);
    let file = proc.prompt_path().display().to_string();
    assert!(wait_until(PATIENCE, || env
        .log(7, Kind::Worker)
        .contains(&format!("fake-agent: arg: {file}"))));
    assert!(!env.log(7, Kind::Worker).contains("fake-agent: stdin: Fix"));
    assert!(!cmdline(w.pid).contains("hunter2"));
    assert!(cmdline(w.pid).contains(&file));
    assert_ok(&run(env.tool("orc-cleanup").arg("7")));
}

#[test]
fn secrets_are_masked_by_value_in_env_and_logs() {
    let env = Life::new();
    let token = format!("ghp_{}", "A1b2C3d4".repeat(5));
    let out = run(env
        .tool("orc-ctl")
        .env(
            "ORC_AGENT_CMD",
            format!("fake-agent --token {token} {{issue}}"),
        )
        .args(["env", "--json"]));
    let text = assert_ok(&out);
    assert!(!text.contains(&token), "{text}");
    let rows = json_lines(&text);
    let row = rows.iter().find(|r| r["name"] == "ORC_AGENT_CMD").unwrap();
    assert_eq!(row["value"], "fake-agent --token ghp_**** {issue}");

    // A detail with a credential: the record keeps what the worker said,
    // the log and the event log mask it.
    env.seed_worker(7, Kind::Worker, State::Running);
    let detail = format!("pushed with sk-ant-api03-{}", "z".repeat(30));
    assert_ok(&run(env
        .worker_cmd("orc-state", 7, Kind::Worker)
        .args(["RUNNING", &detail])));
    let log = env.log(7, Kind::Worker);
    assert!(log.contains("pushed with sk-ant-****"), "{log}");
    assert!(!log.contains("api03"), "{log}");
    let events = fs::read_to_string(env.session().events_path()).unwrap();
    assert!(!events.contains("api03"), "{events}");
    let shown = assert_ok(&run(env.tool("orc-ctl").args(["logs", "7"])));
    assert!(!shown.contains("api03"), "{shown}");
}
