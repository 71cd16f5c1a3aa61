//! SIGKILL of the writers that run real workers: orc-spawn mid-spawn,
//! orc-cleanup mid-reap, and the shim at any point of its agent's life.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::Kind::Worker;
use orc_kernel::record::State;

use crate::common::life::{Life, stderr};
use crate::common::{PATIENCE, run, wait_until};
use crate::kit::{
    Rng, assert_consistent, assert_no_process_of, assert_watch_returns, commits, iterations,
    kill_at_random, wait_for_orphaned_git,
};

/// `orc-cleanup N` (no force) succeeds, or refuses only to keep work that
/// exists nowhere else; either way nothing of the worker runs after.
fn clean(env: &Life, n: u32, when: &str) {
    let out = run(env.tool("orc-cleanup").arg(n.to_string()));
    assert!(
        out.status.code() == Some(0) || stderr(&out).contains("commit"),
        "{when}: orc-cleanup {n}: {}",
        stderr(&out)
    );
}

#[test]
fn sigkill_of_orc_spawn_at_any_point() {
    let env = Life::new();
    let mut rng = Rng::new("orc-spawn");
    // A whole spawn, start to the agent running, measured once.
    env.issue(1, "fail");
    let started = Instant::now();
    env.spawn(1, &[]);
    let span = started.elapsed();
    assert_watch_returns(&env, &[1], false, "probe");
    clean(&env, 1, "probe");
    let before = commits(&env);
    let total = iterations(40, 5);
    let mut killed = 0;
    for i in 0..total {
        let n = 10 + i;
        env.issue(n, "fail");
        let mut spawn = env.tool("orc-spawn");
        spawn.arg(n.to_string());
        killed += u32::from(kill_at_random(&mut spawn, span, &mut rng));
        wait_for_orphaned_git(&env);
        let when = format!("iteration {i}: orc-spawn {n} killed");
        assert_consistent(&env, &before, &when);
        // What a user does next: gc the leftovers, wait, clean up.
        assert_ok_or_kept(&run(env.tool("orc-ctl").arg("gc")), &when);
        assert_consistent(&env, &before, &when);
        assert_watch_returns(&env, &[n], false, &when);
        clean(&env, n, &when);
        assert_no_process_of(&env, n, &when);
        assert_consistent(&env, &before, &when);
    }
    eprintln!("orc-spawn: {total} iterations, {killed} killed mid-spawn");
}

fn assert_ok_or_kept(out: &std::process::Output, when: &str) {
    assert_eq!(out.status.code(), Some(0), "{when}: {}", stderr(out));
}

#[test]
fn sigkill_of_orc_cleanup_at_any_point() {
    let env = Life::new();
    let mut rng = Rng::new("orc-cleanup");
    // A cleanup of a running worker, measured once.
    env.issue(1, "hang");
    env.spawn(1, &[]);
    env.wait_record(1, Worker, |r| r.state == State::Running);
    let started = Instant::now();
    clean(&env, 1, "probe");
    let span = started.elapsed();
    let total = iterations(30, 4);
    let mut killed = 0;
    for i in 0..total {
        let n = 10 + i;
        // Alternately a running worker, and one that crashed after a commit
        // (its branch holds the only copy of that commit).
        let mode = if i % 2 == 0 { "hang" } else { "crash" };
        env.issue(n, mode);
        env.spawn(n, &[]);
        if mode == "hang" {
            env.wait_record(n, Worker, |r| r.state == State::Running);
        } else {
            env.wait_until_settled(n);
        }
        let before = commits(&env);
        let mut cleanup = env.tool("orc-cleanup");
        cleanup.arg(n.to_string());
        killed += u32::from(kill_at_random(&mut cleanup, span, &mut rng));
        wait_for_orphaned_git(&env);
        let when = format!("iteration {i}: orc-cleanup {n} ({mode}) killed");
        assert_consistent(&env, &before, &when);
        clean(&env, n, &when);
        assert_no_process_of(&env, n, &when);
        assert_consistent(&env, &before, &when);
        assert_watch_returns(&env, &[n], false, &when);
    }
    eprintln!("orc-cleanup: {total} iterations, {killed} killed mid-cleanup");
}

#[test]
fn sigkill_of_the_shim_at_any_point() {
    let env = Life::new();
    let mut rng = Rng::new("orc-shim");
    let total = iterations(40, 5);
    let modes = ["fail", "ci", "hang", "crash"];
    let mut by_mode = [0u32; 4];
    for i in 0..total {
        let n = 10 + i;
        let m = rng.below(modes.len() as u64) as usize;
        by_mode[m] += 1;
        env.issue(n, modes[m]);
        let before = commits(&env);
        let w = env.spawn(n, &[]);
        // Anywhere from at once to after the agent ended by itself.
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        let _ = kill(Pid::from_raw(w.shim), Signal::SIGKILL);
        let when = format!("iteration {i}: the shim of {n} ({}) killed", modes[m]);
        // The agent dies with its shim (it may have committed first).
        let gone = wait_until(PATIENCE, || {
            crate::common::life::gone(w.pid) && crate::common::life::gone(w.shim)
        });
        assert!(gone, "{when}: the agent outlived its shim");
        assert_watch_returns(&env, &[n], false, &when);
        let record = env.record(n, Worker);
        assert!(!record.state.is_active(), "{when}: {record:?}");
        assert_consistent(&env, &before, &when);
        clean(&env, n, &when);
        assert_no_process_of(&env, n, &when);
        assert_consistent(&env, &before, &when);
    }
    eprintln!(
        "orc-shim: {total} iterations ({})",
        modes
            .iter()
            .zip(by_mode)
            .map(|(m, k)| format!("{m} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
