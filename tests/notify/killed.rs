//! SIGKILL of `orc-notify ci-passed` at any point leaves the lock kept once
//! the record says ci-passed: the kept state follows from the durable
//! record, so a notify killed between writing the record and handing the
//! lock to the session (and a shim that dies after it) never leaves a lock
//! another session could take.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{Worker, notify, running_worker};
use crate::common::*;
use orc_kernel::record::{Outcome, State};

/// How many random kills: hundreds under CI, fewer on a developer's machine.
fn iterations() -> u32 {
    match std::env::var("CI") {
        Ok(v) if !v.is_empty() => 200,
        _ => 60,
    }
}

/// A small xorshift generator: random enough to spread kills, and its
/// seed is printed so a failure can be replayed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `ORC_FAULT_SEED`, else the clock.
    pub fn new() -> Rng {
        let seed = std::env::var("ORC_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("random kills with ORC_FAULT_SEED={seed}");
        Rng(seed | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[test]
fn sigkill_of_notify_ci_passed_at_any_point_leaves_the_lock_kept() {
    let env = TestEnv::new();
    // How long a whole notify takes here, to spread kills over all of it.
    let probe = running_worker(&env, 1, Worker);
    let started = Instant::now();
    assert_ok(&notify(&env, 1, Worker, &["ci-passed", "PR #1"]));
    let span = started.elapsed().as_micros().max(1000) as u64;
    drop(probe);

    let mut rng = Rng::new();
    let (mut before, mut after) = (0, 0);
    for n in 2..2 + iterations() {
        let shim = running_worker(&env, n, Worker);
        let mut child = env
            .worker_cmd("orc-notify", n, Worker)
            .args(["ci-passed", &format!("PR #{n}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(span + span / 4)));
        let _ = child.kill();
        let _ = child.wait();
        // The shim dies too, before it could settle anything itself.
        drop(shim);
        let record = env.record(n, Worker);
        let check = run(env.cmd("orc-lock").args(["check", &n.to_string()]));
        let status = String::from_utf8_lossy(&check.stdout).trim().to_string();
        if record.state == State::Terminated {
            after += 1;
            assert_eq!(record.result, Some(Outcome::CiPassed));
            assert_eq!(
                (check.status.code(), status.as_str()),
                (Some(5), "held"),
                "worker {n}: the record says ci-passed, so the lock is kept"
            );
            let other = run(env
                .cmd("orc-lock")
                .env("ORC_SESSION", "another-1")
                .args(["acquire", &n.to_string()]));
            assert_eq!(
                other.status.code(),
                Some(5),
                "worker {n}: taken by another session"
            );
        } else {
            before += 1;
            assert_eq!(record.state, State::Running);
            assert_eq!(check.status.code(), Some(0), "worker {n}: {status}");
        }
    }
    eprintln!("{before} kills before the record was written, {after} after");
}
