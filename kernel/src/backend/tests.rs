use std::path::PathBuf;

use super::*;

fn launch_with(program: &str, env: &[(&str, &str)]) -> ShimLaunch {
    ShimLaunch {
        program: PathBuf::from(program),
        args: vec![
            "--interactive".into(),
            "--".into(),
            "agent".into(),
            "a prompt;".into(),
        ],
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        cwd: PathBuf::from("/w"),
        log: PathBuf::from("/p/log"),
    }
}

#[test]
fn the_terminal_runs_the_shim_with_exactly_the_workers_environment() {
    let l = launch_with(
        "/bin/orc-shim",
        &[
            ("HOME", "/h"),
            ("TERM", "dumb"),
            ("-odd", "x y"),
            ("ORC_ISSUE", "7"),
        ],
    );
    let words = scrubbed_command(&l, "tmux-256color").unwrap();
    assert_eq!(
        words,
        [
            "/usr/bin/env",
            "-i",
            "--",
            "HOME=/h",
            "-odd=x y",
            "ORC_ISSUE=7",
            "TERM=tmux-256color",
            "/bin/orc-shim",
            "--interactive",
            "--",
            "agent",
            "a prompt;",
        ]
    );
}

#[test]
fn a_shim_path_env_would_misread_is_refused() {
    let l = launch_with("/opt/a=b/orc-shim", &[]);
    let err = scrubbed_command(&l, "screen").unwrap_err();
    assert!(err.what().contains("'='"), "{err}");
}

#[test]
fn workers_are_named_like_their_proc_directory() {
    let l = launch_with(
        "/bin/orc-shim",
        &[("ORC_KIND", "worker"), ("ORC_ISSUE", "12")],
    );
    assert_eq!(l.worker_name().unwrap(), "worker-12");
    assert!(launch_with("/bin/orc-shim", &[]).worker_name().is_err());
}

#[test]
fn a_missing_client_says_how_to_do_without() {
    let Err(err) = client("orc-no-such-terminal-client", &[]) else {
        panic!("a missing program ran");
    };
    assert!(err.what().contains("not installed"), "{err}");
    assert!(err.hint_text().unwrap_or("").contains("headless"), "{err}");
}

#[test]
fn a_failing_client_reports_its_stderr() {
    let reply = Reply {
        ok: false,
        stdout: String::new(),
        stderr: "no server running\nat all\n".into(),
    };
    let err = reply
        .into_result("tmux", "open window worker-1")
        .unwrap_err();
    assert_eq!(
        err.what(),
        "tmux could not open window worker-1: no server running; at all"
    );
}
