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

const TOOLS: [&str; 6] = [
    "orc-lock",
    "orc-state",
    "orc-signal",
    "orc-notify",
    "orc-ps",
    "orc-top",
];

#[test]
fn help_lists_the_tools_and_the_exit_codes() {
    let env = TestEnv::new();
    for flag in ["--help", "-h", "help"] {
        let out = assert_ok(&run(env.cmd("orc").arg(flag)));
        assert!(out.starts_with("usage: orc TOOL [ARGS...]"), "{out}");
        for tool in [
            "spawn", "watch", "signal", "ps", "top", "lock", "state", "notify",
        ] {
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
    let out = run(env.cmd("orc").args(["nosuchtool", "x"]));
    assert_fails(
        &out,
        2,
        "orc: error: unknown tool (nosuchtool)\nhint: the tools are: spawn, watch, signal, ps, top, ctl, cleanup, dispatch, queue, cron, at, lock, state, notify, ci, shim, hook, completions, man\n",
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

/// Every tool, as `orc --help` lists it.
const ALL_TOOLS: [&str; 16] = [
    "spawn", "watch", "signal", "ps", "top", "ctl", "cleanup", "dispatch", "cron", "at", "lock",
    "state", "notify", "ci", "shim", "hook",
];

#[test]
fn help_has_examples_and_the_common_environment() {
    let env = TestEnv::new();
    let out = assert_ok(&run(env.cmd("orc").arg("--help")));
    for tool in ALL_TOOLS.iter().chain(&["completions", "man"]) {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("  {tool} ")))
            .unwrap_or_else(|| panic!("no line for {tool}:\n{out}"));
        assert!(line.len() > tool.len() + 10, "{line}");
    }
    assert!(out.contains("Examples:\n  orc spawn 42"), "{out}");
    for var in [
        "ORC_STATE_DIR",
        "ORC_SESSION",
        "ORC_ENV",
        "ORC_ROOT",
        "ORC_AGENT",
    ] {
        assert!(out.contains(&format!("\n  {var} ")), "{var}:\n{out}");
    }
}

#[test]
fn bash_completions_cover_every_tool_and_parse() {
    let env = TestEnv::new();
    let out = assert_ok(&run(env.cmd("orc").args(["completions", "bash"])));
    for tool in ALL_TOOLS {
        assert!(
            out.contains(&format!(" orc-{tool}\n")) || out.contains(&format!(" orc-{tool} ")),
            "no completion registered for orc-{tool}"
        );
    }
    assert!(out.contains("--priority"), "orc-spawn's flags are missing");
    let script = env.root.join("orc.bash");
    fs::write(&script, &out).unwrap();
    // bash parses it, and completing `orc-spawn --pri` offers --priority.
    let probe = format!(
        "source '{}'; COMP_WORDS=(orc-spawn --pri); COMP_CWORD=1; \
         spec=$(complete -p orc-spawn); f=${{spec#*-F }}; f=${{f%% *}}; \
         \"$f\" orc-spawn --pri orc-spawn; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let got = run(std::process::Command::new("bash").args(["-c", &probe]));
    assert_eq!(assert_ok(&got).trim(), "--priority");
    // One tool only, and orc's own tool names.
    let one = assert_ok(&run(env.cmd("orc").args(["completions", "bash", "ps"])));
    assert!(
        one.contains("orc-ps") && !one.contains("orc-spawn"),
        "{one}"
    );
    let own = assert_ok(&run(env.cmd("orc").args(["completions", "fish", "orc"])));
    assert!(
        own.contains("dispatch") && own.contains("completions"),
        "{own}"
    );
    for shell in ["zsh", "fish"] {
        let out = assert_ok(&run(env.cmd("orc").args(["completions", shell, "spawn"])));
        assert!(out.contains("priority"), "{shell}:\n{out}");
    }
}

#[test]
fn completions_and_man_refuse_bad_input() {
    let env = TestEnv::new();
    let out = run(env.cmd("orc").args(["completions", "tcsh"]));
    assert_fails(
        &out,
        2,
        "orc: error: no completions for this shell (tcsh)\nhint: ",
    );
    let out = run(env.cmd("orc").arg("completions"));
    assert_fails(&out, 2, "orc: error: which shell? (orc completions)\n");
    let out = run(env.cmd("orc").args(["completions", "bash", "nosuchtool"]));
    assert_fails(&out, 2, "orc: error: unknown tool (nosuchtool)\n");
    let out = run(env.cmd("orc").args(["man", "nosuchtool"]));
    assert_fails(&out, 2, "orc: error: unknown tool (nosuchtool)\n");
    let out = run(env.cmd("orc").arg("man"));
    assert_fails(&out, 2, "orc: error: which tool? (orc man)\n");
}

#[test]
fn every_tool_has_a_man_page_that_renders() {
    let env = TestEnv::new();
    let spawn = assert_ok(&run(env.cmd("orc").args(["man", "spawn"])));
    assert!(spawn.contains("priority"), "{spawn}");
    for tool in ALL_TOOLS
        .iter()
        .map(|t| format!("orc-{t}"))
        .chain(["orc".into()])
    {
        let page = assert_ok(&run(env.cmd("orc").args(["man", &tool])));
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{tool}:\n{page}"
        );
        assert!(page.contains(&format!(".TH {tool} 1")), "{tool}:\n{page}");
        let roff = env.root.join(format!("{tool}.1"));
        fs::write(&roff, &page).unwrap();
        if !has_program("groff") {
            eprintln!("skipped: rendering the man pages: groff is not installed");
            return;
        }
        {
            let text = run(std::process::Command::new("groff")
                .args(["-man", "-Tutf8"])
                .arg(&roff));
            assert!(text.status.success(), "{tool}: groff failed");
            assert!(!text.stdout.is_empty(), "{tool}: groff printed nothing");
        }
    }
}

/// Whether `program` is on PATH (groff renders the man pages when it is).
fn has_program(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
