//! Item 1: one resolver checks every `ORC_*` setting before anything is
//! created; empty means unset everywhere; `orc-ctl env` shows each origin.

use std::fs;

use serde_json::Value;

use crate::common::life::{Life, json_lines};
use crate::common::{TestEnv, assert_fails, assert_ok, run};

/// Run `tool ARGS` with `var=value` and assert exit 2 with `message` (the
/// first line) and `hint`, and that nothing under the test's root changed.
fn refused(
    env: &Life,
    tool: &str,
    args: &[&str],
    var: &str,
    value: &str,
    message: &str,
    hint: &str,
) {
    let before = env.snapshot();
    let out = run(env.tool(tool).env(var, value).args(args));
    assert_fails(
        &out,
        2,
        &format!("{tool}: error: {message}\nhint: {hint}\n"),
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn bad_numbers_are_refused_before_anything_is_created() {
    let env = Life::new();
    env.issue(7, "ok");
    // The state directory does not exist yet: a refusal must not make it.
    assert!(!env.state.exists());
    let timeout = "ORC_WORKER_TIMEOUT accepts a whole number of seconds from 0 to 31536000 (0 means no timeout)";
    for bad in ["garbage", "-1", "1.5", "0x10", "010", " 5", "99999999999"] {
        refused(
            &env,
            "orc-spawn",
            &["7"],
            "ORC_WORKER_TIMEOUT",
            bad,
            &format!("invalid ORC_WORKER_TIMEOUT=\"{bad}\" set in the environment"),
            timeout,
        );
    }
    let workers = "ORC_MAX_WORKERS accepts a whole number of workers from 1 to 1000";
    for bad in ["abc", "0", "-3", "1001"] {
        refused(
            &env,
            "orc-spawn",
            &["7"],
            "ORC_MAX_WORKERS",
            bad,
            &format!("invalid ORC_MAX_WORKERS=\"{bad}\" set in the environment"),
            workers,
        );
    }
    refused(
        &env,
        "orc-spawn",
        &["7"],
        "ORC_TERM_GRACE",
        "0",
        "invalid ORC_TERM_GRACE=\"0\" set in the environment",
        "ORC_TERM_GRACE accepts a whole number of seconds from 1 to 86400",
    );
    refused(
        &env,
        "orc-spawn",
        &["7"],
        "ORC_BACKEND",
        "Tmux",
        "invalid ORC_BACKEND=\"Tmux\" set in the environment",
        "ORC_BACKEND accepts one of: headless, tmux, wezterm",
    );
    // The same refusal from every tool, not only orc-spawn.
    for (tool, args) in [
        ("orc-ps", &[][..]),
        ("orc-watch", &["--any"][..]),
        ("orc-lock", &["acquire", "7"][..]),
        ("orc-ctl", &["env"][..]),
        ("orc-dispatch", &["--once", "7"][..]),
    ] {
        refused(
            &env,
            tool,
            args,
            "ORC_POLL_INTERVAL",
            "soon",
            "invalid ORC_POLL_INTERVAL=\"soon\" set in the environment",
            "ORC_POLL_INTERVAL accepts a whole number of seconds from 1 to 3600",
        );
    }
}

#[test]
fn a_bad_profile_value_names_its_file() {
    let env = Life::new();
    env.issue(7, "ok");
    let dir = env.repo.join(".orc/envs");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("default.env");
    fs::write(&file, "ORC_MAX_WORKERS=many\n").unwrap();
    refused(
        &env,
        "orc-spawn",
        &["7"],
        "ORC_BASE",
        "",
        &format!("invalid ORC_MAX_WORKERS=\"many\" set in {}", file.display()),
        "ORC_MAX_WORKERS accepts a whole number of workers from 1 to 1000",
    );
    // The environment wins over the profile, so a good value there is used.
    let out = run(env
        .tool("orc-ctl")
        .env("ORC_MAX_WORKERS", "3")
        .args(["env", "--json"]));
    let rows = json_lines(&assert_ok(&out));
    assert!(rows.contains(
        &serde_json::json!({"name": "ORC_MAX_WORKERS", "value": "3", "origin": "environment"})
    ));
}

fn row(rows: &[Value], name: &str) -> Value {
    rows.iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
        .clone()
}

#[test]
fn empty_means_unset_for_every_variable() {
    let env = Life::new();
    let dir = env.repo.join(".orc/envs");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("default.env");
    fs::write(&file, "ORC_TERM_GRACE=9\nORC_POLL_INTERVAL=\n").unwrap();
    let mut cmd = env.tool("orc-ctl");
    for var in orc_kernel::profile::CATALOGUE {
        cmd.env(var.name, "");
    }
    let rows = json_lines(&assert_ok(&run(cmd.args(["env", "--json"]))));
    // An exported empty value falls back to the profile, then the default.
    assert_eq!(row(&rows, "ORC_MAX_WORKERS")["value"], "5");
    assert_eq!(row(&rows, "ORC_MAX_WORKERS")["origin"], "default");
    assert_eq!(row(&rows, "ORC_WORKER_TIMEOUT")["value"], "3600");
    assert_eq!(row(&rows, "ORC_TERM_GRACE")["value"], "9");
    assert_eq!(
        row(&rows, "ORC_TERM_GRACE")["origin"],
        file.display().to_string()
    );
    // An empty line in a profile is unset too.
    assert_eq!(row(&rows, "ORC_POLL_INTERVAL")["value"], "1");
    assert_eq!(row(&rows, "ORC_POLL_INTERVAL")["origin"], "default");
    assert_eq!(row(&rows, "ORC_BASE")["origin"], "unset");
}

#[test]
fn env_shows_the_derived_session_and_state_dir() {
    let env = TestEnv::new();
    let rows = json_lines(&assert_ok(&run(env.cmd("orc-ctl").args(["env", "--json"]))));
    assert_eq!(
        row(&rows, "ORC_SESSION"),
        serde_json::json!({
            "name": "ORC_SESSION",
            "value": env.session_name(),
            "origin": format!("derived from the repository {}", env.repo.display()),
        })
    );
    assert_eq!(row(&rows, "ORC_STATE_DIR")["origin"], "environment");
    let rows = json_lines(&assert_ok(&run(env
        .cmd("orc-ctl")
        .env("ORC_SESSION", "mine")
        .args(["env", "--json"]))));
    assert_eq!(row(&rows, "ORC_SESSION")["value"], "mine");
    assert_eq!(row(&rows, "ORC_SESSION")["origin"], "environment");
}

#[test]
fn a_zero_timeout_means_no_timeout() {
    let env = Life::new();
    env.issue(7, "ok 2");
    let w = env.spawn_cmd(
        env.tool("orc-spawn")
            .env("ORC_WORKER_TIMEOUT", "0")
            .arg("7"),
    );
    assert_eq!(w.issue, 7);
    let record = env.wait_ended(7);
    assert_eq!(
        record.result.map(|r| r.as_str()),
        Some("merged"),
        "the agent ran to its end: {record:?}"
    );
}
