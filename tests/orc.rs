//! orc: `orc TOOL ARGS` runs `orc-TOOL ARGS` (like git), and what every
//! tool shares: help with the exit-code table, version, error format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::*;
use orc_kernel::exit;
use orc_kernel::ids::Kind::Worker;
use orc_kernel::record::{Outcome, State};

const TOOLS: [&str; 5] = [
    "orc-lock",
    "orc-state",
    "orc-signal",
    "orc-notify",
    "orc-ps",
];

#[test]
fn help_lists_the_tools_and_the_exit_codes() {
    let env = TestEnv::new();
    for flag in ["--help", "-h", "help"] {
        let out = assert_ok(&run(env.cmd("orc").arg(flag)));
        assert!(out.starts_with("usage: orc TOOL [ARGS...]"), "{out}");
        for tool in ["spawn", "watch", "signal", "ps", "lock", "state", "notify"] {
            assert!(
                out.contains(&format!("\n  {tool} ")),
                "{flag} lacks {tool}:\n{out}"
            );
        }
        assert!(
            out.contains(exit::TABLE),
            "{flag} lacks the exit codes:\n{out}"
        );
    }
    let out = assert_ok(&run(env.cmd("orc").arg("--version")));
    assert_eq!(out, format!("orc {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn no_tool_is_a_usage_error() {
    let env = TestEnv::new();
    let out = run(&mut env.cmd("orc"));
    assert_fails(&out, 2, "orc: error: missing arguments\n\nusage: orc TOOL");
}

#[test]
fn orc_lock_runs_orc_lock() {
    let env = TestEnv::new();
    assert_ok(&run(env.cmd("orc").args(["lock", "acquire", "7"])));
    assert!(env.lock_record(7).is_some());
    // The exit status, stdout and stderr are the tool's own.
    let out = run(env.cmd("orc").args(["lock", "check", "7"]));
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "held\n");
    let out = run(env.cmd("orc").args(["lock", "acquire", "--", "../x"]));
    assert_fails(&out, 2, "orc-lock: error: not an issue number (../x)");
    let out = run(env
        .cmd("orc")
        .args(["lock", "run", "m", "--", "sh", "-c", "exit 42"]));
    assert_eq!(out.status.code(), Some(42));
    assert_ok(&run(env.cmd("orc").args(["lock", "release", "7"])));
    assert!(env.lock_record(7).is_none());
}

#[test]
fn worker_side_tools_run_through_orc() {
    let env = TestEnv::new();
    env.seed_worker(7, Worker, State::Running);
    assert_ok(&run(env
        .worker_cmd("orc", 7, Worker)
        .args(["state", "WAITING", "ci"])));
    assert_eq!(env.record(7, Worker).state, State::Waiting);
    assert_ok(&run(env.cmd("orc").args(["signal", "7", "TERM"])));
    let out = run(env
        .worker_cmd("orc", 7, Worker)
        .args(["state", "RUNNING", "x"]));
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "TERM\n");
    let out = run(env.worker_cmd("orc", 7, Worker).args(["signal", "check"]));
    assert_eq!(assert_ok(&out), "TERM\n");
    assert_ok(&run(env
        .worker_cmd("orc", 7, Worker)
        .args(["notify", "cancelled"])));
    assert_eq!(env.record(7, Worker).result, Some(Outcome::Cancelled));
    let out = assert_ok(&run(env.cmd("orc").args(["ps", "--json"])));
    assert!(out.contains("\"result\":\"cancelled\""), "{out}");
}

/// `orc` runs the tools of its own build, not whatever comes first on PATH.
#[test]
fn the_sibling_tool_wins_over_path() {
    let env = TestEnv::new();
    let fake_bin = env.root.join("fake-bin");
    fs::create_dir(&fake_bin).unwrap();
    let impostor = fake_bin.join("orc-lock");
    fs::write(&impostor, "#!/bin/sh\necho impostor\nexit 99\n").unwrap();
    fs::set_permissions(&impostor, fs::Permissions::from_mode(0o755)).unwrap();
    let mut path = fake_bin.into_os_string();
    path.push(":");
    path.push(path_var());
    let out = run(env
        .cmd("orc")
        .args(["lock", "check", "7"])
        .env("PATH", path));
    assert_eq!(assert_ok(&out), "free\n");
}

#[test]
fn unknown_or_malformed_tools_are_usage_errors() {
    let env = TestEnv::new();
    let out = run(env.cmd("orc").args(["nosuch", "x"]));
    assert_fails(
        &out,
        2,
        "orc: error: cannot run orc-nosuch: No such file or directory (os error 2) (orc-nosuch)\nhint: run `orc --help`",
    );
    for bad in ["../lock", "LOCK", "lock/../ps", "lock2", " lock"] {
        let out = run(env.cmd("orc").arg(bad));
        assert_fails(
            &out,
            2,
            &format!("orc: error: not a tool name ({bad})\nhint: run `orc --help`"),
        );
    }
    let out = run(env.cmd("orc").arg(""));
    assert_fails(&out, 2, "orc: error: not a tool name\nhint: ");
}

#[test]
fn every_tool_documents_the_exit_codes_and_its_environment() {
    let env = TestEnv::new();
    for tool in TOOLS {
        let out = assert_ok(&run(env.cmd(tool).arg("--help")));
        assert!(
            out.contains(exit::TABLE),
            "{tool} --help lacks the exit codes:\n{out}"
        );
        assert!(
            out.contains("Environment:\n  ORC_STATE_DIR"),
            "{tool}:\n{out}"
        );
        assert!(out.contains("Examples:\n  "), "{tool}:\n{out}");
        // Short help points at the long one; both go to stdout.
        let short = assert_ok(&run(env.cmd(tool).arg("-h")));
        assert!(short.contains("Usage: "), "{tool} -h:\n{short}");
        let version = assert_ok(&run(env.cmd(tool).arg("--version")));
        assert_eq!(version, format!("{tool} {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn every_tool_reports_bad_flags_in_one_format() {
    let env = TestEnv::new();
    for tool in TOOLS {
        let out = run(env.cmd(tool).arg("--no-such-flag"));
        assert_fails(
            &out,
            2,
            &format!("{tool}: error: unexpected argument '--no-such-flag' found"),
        );
    }
}
