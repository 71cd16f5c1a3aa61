//! Writers on a full disk: the state directory is a small tmpfs filled to
//! within a random few kilobytes, and every writer either succeeds or fails
//! with a clear error, leaving every record readable and every lock
//! consistent; once space returns, the workers are watched and cleaned up
//! as usual. Skipped (with a message) where a tmpfs cannot be mounted.

use std::fs;
use std::process::Command;

use orc_kernel::ids::Kind::Worker;
use orc_kernel::record::State;

use crate::common::life::{Life, stderr};
use crate::common::{KillOnDrop, Tmpfs, assert_ok, process_holder, run};
use crate::kit::{
    Rng, assert_consistent, assert_no_process_of, assert_watch_returns, commits, iterations,
};

const WRITERS: [&str; 7] = [
    "state",
    "notify-ci",
    "notify-failed",
    "signal",
    "lock",
    "gc",
    "spawn",
];

fn writer(env: &Life, which: &str, n: u32) -> Command {
    let issue = n.to_string();
    let mut cmd = match which {
        "state" => env.worker_cmd("orc-state", n, Worker),
        "notify-ci" | "notify-failed" => env.worker_cmd("orc-notify", n, Worker),
        "signal" => env.tool("orc-signal"),
        "lock" => env.tool("orc-lock"),
        "spawn" => env.tool("orc-spawn"),
        _ => env.tool("orc-ctl"),
    };
    match which {
        "state" => cmd.args(["RUNNING", "phase2: next"]),
        "notify-ci" => cmd.args(["ci-passed", "PR #1"]),
        "notify-failed" => cmd.args(["failed", "gave up"]),
        "signal" => cmd.args([issue.as_str(), "TERM"]),
        "lock" => cmd.args(["acquire", &(n + 5000).to_string()]),
        "spawn" => cmd.arg((n + 1000).to_string()),
        _ => cmd.arg("gc"),
    };
    cmd
}

#[test]
fn every_writer_on_a_full_disk_fails_cleanly_or_succeeds() {
    let env = Life::new();
    let Some(tmpfs) = Tmpfs::mount(&env.state, "8m") else {
        return;
    };
    let before = commits(&env);
    let mut rng = Rng::new("enospc");
    let total = iterations(60, 10);
    let (mut ok, mut refused) = (0, 0);
    for i in 0..total {
        let n = 10 + i;
        let w = *rng.pick(&WRITERS);
        env.issue(n + 1000, "fail");
        // A running worker (stand-in shim holding its lock), then the disk
        // fills to within a few kilobytes.
        let shim = KillOnDrop::sleeper();
        env.seed_worker(n, Worker, State::Running);
        env.proc(n, Worker)
            .write_shim(&orc_kernel::procdir::ShimIds {
                shim: process_holder(shim.id()).process().unwrap(),
                agent: None,
            })
            .unwrap();
        env.seed_process_lock(n, shim.id());
        // Half the time no room at all, else up to a few pages.
        let free = if rng.below(2) == 0 {
            0
        } else {
            rng.below(16 * 1024)
        };
        let filler = tmpfs.fill_leaving("filler", free);
        let out = run(&mut writer(&env, w, n));
        let when = format!("iteration {i}: {w} with {free} bytes free");
        match out.status.code() {
            Some(0) => ok += 1,
            Some(code) => {
                refused += 1;
                let err = stderr(&out);
                assert!(
                    err.contains(": error: ") && code != 101,
                    "{when}: exit {code}: {err}"
                );
            }
            None => panic!("{when}: the writer died of a signal"),
        }
        assert_consistent(&env, &before, &when);
        fs::remove_file(&filler).unwrap();
        drop(shim);
        let spawned = n + 1000;
        assert_watch_returns(&env, &[n, spawned], false, &when);
        for m in [n, spawned] {
            assert_ok(&run(env
                .tool("orc-cleanup")
                .args(["--force", &m.to_string()])));
            assert_no_process_of(&env, m, &when);
        }
        let _ = run(env
            .tool("orc-lock")
            .args(["release", &(n + 5000).to_string()]));
        assert_consistent(&env, &before, &when);
    }
    eprintln!(
        "enospc: {total} iterations on {}: {ok} succeeded, {refused} refused cleanly",
        tmpfs.path().display()
    );
}

#[test]
fn a_line_the_disk_has_no_room_for_is_taken_back_whole() {
    let env = Life::new();
    let Some(tmpfs) = Tmpfs::mount(&env.state, "1m") else {
        return;
    };
    let log = tmpfs.path().join("events.jsonl");
    orc_kernel::fsutil::append_line(&log, r#"{"event":"first"}"#).unwrap();
    let before = fs::read_to_string(&log).unwrap();
    let filler = tmpfs.fill("filler");
    // Longer than what is left of the log's last page: part of it would fit.
    let long = format!(r#"{{"event":"{}"}}"#, "x".repeat(8192));
    let err = orc_kernel::fsutil::append_line(&log, &long).unwrap_err();
    assert!(err.to_string().contains("append to"), "{err}");
    let after = fs::read_to_string(&log).unwrap();
    assert_eq!(after.len(), before.len(), "nothing of the line is left");
    assert_eq!(after, before);
    fs::remove_file(&filler).unwrap();
    orc_kernel::fsutil::append_line(&log, r#"{"event":"next"}"#).unwrap();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "{\"event\":\"first\"}\n{\"event\":\"next\"}\n"
    );
}
