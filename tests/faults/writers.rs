//! SIGKILL of the worker-side and control writers (orc-state, orc-notify,
//! orc-signal, orc-ctl kill/suspend/gc) at random points, on a running
//! worker whose shim and agent are live stand-ins holding its lock as a
//! real shim does.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use orc_kernel::ids::Kind::Worker;
use orc_kernel::liveness::ProcessId;
use orc_kernel::procdir::ShimIds;
use orc_kernel::record::State;

use crate::common::life::Life;
use crate::common::{KillOnDrop, SYSTEM_PATH, assert_ok, process_holder, run};
use crate::kit::{
    Rng, assert_consistent, assert_no_process_of, assert_watch_returns, commits, iterations,
    kill_at_random, span_of,
};

/// A worker RUNNING with a live stand-in shim (holding its issue lock)
/// and a live stand-in agent leading its own process group; both are
/// killed when the pair is dropped.
fn running(env: &Life, n: u32) -> (KillOnDrop, KillOnDrop) {
    let shim = KillOnDrop::sleeper();
    let agent = Command::new("sleep")
        .arg("1000")
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .process_group(0)
        .spawn()
        .unwrap();
    let agent = KillOnDrop(agent);
    let id = |p: &KillOnDrop| -> ProcessId { process_holder(p.id()).process().unwrap() };
    let proc = env.seed_worker(n, Worker, State::Running);
    proc.write_shim(&ShimIds {
        shim: id(&shim),
        agent: Some(id(&agent)),
    })
    .unwrap();
    env.seed_process_lock(n, shim.id());
    (shim, agent)
}

/// The writers, as commands on worker `n`.
fn writer(env: &Life, which: &str, n: u32) -> Command {
    let issue = n.to_string();
    let mut cmd = match which {
        "state" => env.worker_cmd("orc-state", n, Worker),
        "notify-ci" | "notify-failed" => env.worker_cmd("orc-notify", n, Worker),
        "signal" => env.tool("orc-signal"),
        _ => env.tool("orc-ctl"),
    };
    match which {
        "state" => cmd.args(["RUNNING", "phase2: next"]),
        "notify-ci" => cmd.args(["ci-passed", "PR #1"]),
        "notify-failed" => cmd.args(["failed", "gave up"]),
        "signal" => cmd.args([issue.as_str(), "TERM"]),
        "kill" => cmd.args(["kill", issue.as_str()]),
        "suspend" => cmd.args(["suspend", issue.as_str()]),
        _ => cmd.args(["gc"]),
    };
    cmd
}

const WRITERS: [&str; 7] = [
    "state",
    "notify-ci",
    "notify-failed",
    "signal",
    "kill",
    "suspend",
    "gc",
];

#[test]
fn sigkill_of_any_writer_at_any_point_keeps_every_invariant() {
    let env = Life::new();
    let before = commits(&env);
    // How long each writer takes here, measured on a worker of its own.
    let spans: Vec<Duration> = WRITERS
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let n = 1 + i as u32;
            let _worker = running(&env, n);
            let span = span_of(&mut writer(&env, w, n));
            assert_ok(&run(env
                .tool("orc-cleanup")
                .args(["--force", &n.to_string()])));
            span
        })
        .collect();
    let mut rng = Rng::new("writers");
    let total = iterations(280, 35);
    let mut killed = vec![0u32; WRITERS.len()];
    for i in 0..total {
        let n = 100 + i;
        let w = rng.below(WRITERS.len() as u64) as usize;
        let worker = running(&env, n);
        if kill_at_random(&mut writer(&env, WRITERS[w], n), spans[w], &mut rng) {
            killed[w] += 1;
        }
        let when = format!("iteration {i}: {} killed", WRITERS[w]);
        assert_consistent(&env, &before, &when);
        // The shim and agent die; the worker's end is then learned.
        drop(worker);
        assert_watch_returns(&env, &[n], false, &when);
        assert_consistent(&env, &before, &when);
        assert_ok(&run(env
            .tool("orc-cleanup")
            .args(["--force", &n.to_string()])));
        assert_no_process_of(&env, n, &when);
        assert_eq!(env.lock_record(n), None, "{when}: cleanup frees the lock");
    }
    let report: Vec<String> = WRITERS
        .iter()
        .zip(&killed)
        .map(|(w, k)| format!("{w} {k}"))
        .collect();
    eprintln!(
        "writers: {total} iterations, killed mid-run: {}",
        report.join(", ")
    );
}
