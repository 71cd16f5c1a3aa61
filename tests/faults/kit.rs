//! The fault-injection kit: random kill points, iteration counts, and the
//! invariants checked after every injected fault.
//!
//! After each fault the world must satisfy:
//! - every record parses (state.json, shim.pid, lock records, event lines);
//! - no lock is held by a dead holder (a dead process's lock is stale, or
//!   kept by its worker's result), and none is lost by a live one (a live
//!   shim that started its agent holds its worker's lock; a result that
//!   keeps the lock keeps it);
//! - no process of a cleaned worker is alive;
//! - no commit that existed before is unreachable;
//! - `orc-watch` returns for every worker once their processes are gone.

use std::collections::BTreeSet;
use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::liveness::Liveness;
use orc_kernel::lock::{Holder, IssueLock, LockRecord, LockStatus};
use orc_kernel::procdir::{Proc, ShimIds};
use orc_kernel::record::Record;
use orc_kernel::session::Session;

use crate::common::life::{Life, describe, processes_of};
use crate::common::{PATIENCE, run, strict_parse, wait_until};

/// Iterations of a scenario: `ci` under CI (env CI set), `local` otherwise;
/// `ORC_FAULT_ITERATIONS` overrides both.
pub fn iterations(ci: u32, local: u32) -> u32 {
    if let Some(n) = std::env::var("ORC_FAULT_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return n;
    }
    match std::env::var("CI") {
        Ok(v) if !v.is_empty() => ci,
        _ => local,
    }
}

/// A small xorshift generator; its seed is printed so a failure can be
/// replayed with `ORC_FAULT_SEED`.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `ORC_FAULT_SEED`, else the clock.
    pub fn new(what: &str) -> Rng {
        let seed = std::env::var("ORC_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("{what}: ORC_FAULT_SEED={seed}");
        Rng(seed | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How long `cmd` takes to run to the end, at least 1 ms: the span random
/// kills are spread over.
pub fn span_of(cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let _ = run(cmd);
    started.elapsed().max(Duration::from_millis(1))
}

/// Start `cmd` and SIGKILL it after a random part of `span` (a little
/// beyond it too, so some runs finish). Whether it was killed before it
/// ended by itself.
pub fn kill_at_random(cmd: &mut Command, span: Duration, rng: &mut Rng) -> bool {
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the writer");
    let micros = span.as_micros() as u64;
    std::thread::sleep(Duration::from_micros(rng.below(micros + micros / 4)));
    let killed = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    killed
}

/// Wait until no `git` the test started is still running: a SIGKILLed
/// tool's git child runs on to its end, and reading the repository while
/// it writes (an empty `commondir` mid-`git worktree add`) would be the
/// test's race, not orc's.
pub fn wait_for_orphaned_git(env: &Life) {
    let mut left = Vec::new();
    let none = wait_until(PATIENCE, || {
        left = processes_of(&env.state)
            .into_iter()
            .filter(|p| {
                fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "git")
            })
            .collect();
        left.is_empty()
    });
    assert!(none, "git still runs: {}", describe(&left));
}

/// Every commit reachable from a ref or a worktree's HEAD.
pub fn commits(env: &Life) -> BTreeSet<String> {
    let mut heads = vec!["--all".to_string()];
    let list = env.git(&["worktree", "list", "--porcelain"]);
    heads.extend(
        list.lines()
            .filter_map(|l| l.strip_prefix("HEAD "))
            .map(str::to_string),
    );
    let mut args = vec!["rev-list"];
    args.extend(heads.iter().map(String::as_str));
    env.git(&args).lines().map(str::to_string).collect()
}

/// Every proc directory of every session.
fn procs(env: &Life) -> Vec<Proc> {
    Session::list(&env.state_dir())
        .unwrap_or_default()
        .iter()
        .flat_map(|s| Proc::list(s).unwrap_or_default())
        .collect()
}

/// Every lock record file with its lock.
fn locks(env: &Life) -> Vec<(IssueLock, std::path::PathBuf)> {
    let mut out = Vec::new();
    let state = env.state_dir();
    for dir in fs::read_dir(env.state.join("locks"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if dir.file_name() == "named" {
            continue;
        }
        for f in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let path = f.path();
            let issue = path
                .extension()
                .filter(|x| *x == "json")
                .and_then(|_| path.file_stem())
                .and_then(|s| Issue::parse(&s.to_string_lossy()).ok());
            if let Some(issue) = issue {
                let lock = IssueLock::in_dir(&state, &dir.path(), issue, Default::default());
                out.push((lock, path));
            }
        }
    }
    out
}

/// Every record parses: state.json, shim.pid, lock records, and each line
/// of every session's event log (strictly: no key twice).
pub fn assert_records_parse(env: &Life, when: &str) {
    for proc in procs(env) {
        if let Err(e) = proc.read() {
            panic!("{when}: a record does not parse: {e}");
        }
        if let Err(e) = proc.shim() {
            panic!("{when}: shim.pid does not parse: {e}");
        }
    }
    for (lock, path) in locks(env) {
        if let Err(e) = lock.peek() {
            panic!("{when}: lock record {} does not parse: {e}", path.display());
        }
    }
    for session in Session::list(&env.state_dir()).unwrap_or_default() {
        let events = fs::read_to_string(session.events_path()).unwrap_or_default();
        for line in events.lines() {
            strict_parse(line).unwrap_or_else(|e| panic!("{when}: event line {line:?}: {e}"));
        }
    }
}

/// No lock held by a dead holder, none lost by a live one.
pub fn assert_locks_consistent(env: &Life, when: &str) {
    for (lock, path) in locks(env) {
        match lock.status() {
            Ok(LockStatus::Unknown(r)) => {
                panic!("{when}: {}: holder unknown: {r:?}", path.display())
            }
            Ok(LockStatus::Held(LockRecord {
                holder: Holder::Process { id },
                ..
            })) => assert_eq!(
                id.liveness(),
                Liveness::Alive,
                "{when}: {} held by a dead process",
                path.display()
            ),
            Ok(_) => {}
            Err(e) => panic!("{when}: {e}"),
        }
    }
    let repo = env.kernel_repo();
    for proc in procs(env).into_iter().filter(|p| p.kind() == Kind::Worker) {
        let Ok(Some(record)) = proc.read() else {
            continue;
        };
        let lock = IssueLock::new(&env.state_dir(), &repo, record.issue);
        let status = lock.status().unwrap();
        if record.result.is_some_and(|o| o.keeps_lock()) && !record.state.is_active() {
            assert!(
                matches!(status, LockStatus::Held(_)),
                "{when}: worker {} ended {} but its lock is {status:?}",
                record.issue,
                record.result_name()
            );
        }
        if let Some(shim) = running_shim(&proc, &record) {
            assert!(
                matches!(&status, LockStatus::Held(r) if r.holder == Holder::Process { id: shim }),
                "{when}: worker {} runs (shim {}) but its lock is {status:?}",
                record.issue,
                shim.pid
            );
        }
    }
}

/// The shim of an active worker that started its agent and still runs.
fn running_shim(proc: &Proc, record: &Record) -> Option<orc_kernel::liveness::ProcessId> {
    let ids: ShimIds = proc.shim().ok().flatten()?;
    (record.state.is_active() && ids.agent.is_some() && ids.shim.liveness() == Liveness::Alive)
        .then_some(ids.shim)
}

/// The processes of worker `n` (by `ORC_ISSUE` in their environment).
pub fn processes_of_issue(env: &Life, n: u32) -> Vec<i32> {
    let needle = format!("ORC_ISSUE={n}");
    processes_of(&env.state)
        .into_iter()
        .filter(|&p| {
            // A process may be gone between the listing and this read.
            fs::read(format!("/proc/{p}/environ"))
                .unwrap_or_default()
                .split(|&b| b == 0)
                .any(|v| v == needle.as_bytes())
        })
        .collect()
}

/// No process of a cleaned worker is alive (within the test's patience).
pub fn assert_no_process_of(env: &Life, n: u32, when: &str) {
    let mut left = Vec::new();
    let none = wait_until(PATIENCE, || {
        left = processes_of_issue(env, n);
        left.is_empty()
    });
    assert!(
        none,
        "{when}: worker {n} was cleaned but runs: {}",
        describe(&left)
    );
}

/// No commit of `before` is unreachable now.
pub fn assert_commits_kept(env: &Life, before: &BTreeSet<String>, when: &str) {
    let now = commits(env);
    let lost: Vec<&String> = before.difference(&now).collect();
    assert!(
        lost.is_empty(),
        "{when}: commits became unreachable: {lost:?}"
    );
}

/// `orc-watch` returns for each of `issues` that has a record, with one
/// line each, at exit 0. With `kill_first`, their shims are SIGKILLed first
/// (their agents die with them), so none can still be running.
pub fn assert_watch_returns(env: &Life, issues: &[u32], kill_first: bool, when: &str) {
    let mut watched = Vec::new();
    for &n in issues {
        let proc = env.proc(n, Kind::Worker);
        if kill_first
            && let Ok(Some(ids)) = proc.shim()
            && ids.shim.liveness() == Liveness::Alive
        {
            let _ = kill(Pid::from_raw(ids.shim.pid), Signal::SIGKILL);
        }
        if proc.state_path().exists() {
            watched.push(n.to_string());
        }
    }
    if watched.is_empty() {
        return;
    }
    let out = run(env
        .tool("orc-watch")
        .env("ORC_WATCH_CHECKS", "3")
        .args(["--timeout", "25"])
        .args(&watched));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{when}: orc-watch {watched:?} did not return: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), watched.len(), "{when}: {text}");
}

/// The invariants that hold at any moment (no watch, nothing killed).
pub fn assert_consistent(env: &Life, before: &BTreeSet<String>, when: &str) {
    assert_records_parse(env, when);
    assert_locks_consistent(env, when);
    assert_commits_kept(env, before, when);
}
