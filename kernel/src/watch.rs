//! waitpid for workers: report each one as it ends, in the order they end.
//!
//! A worker is done when its record is terminal (or SUSPENDED). The wake
//! FIFO makes a waiter notice at once; between rings the records and the
//! shims' liveness are checked every `ORC_POLL_INTERVAL`, so a shim killed
//! with SIGKILL is found within one interval and reported as `crashed`.
//!
//! A watch never waits forever: a worker whose fate cannot be told (a
//! record left NEW by a spawner that died, a shim whose liveness stays
//! unknown, an unreadable record) is reported as `error` after
//! `ORC_WATCH_CHECKS` checks in a row, and one such worker never stops the
//! others being watched. An end the disk had no room for is reported from
//! its announcement on the doorbell (see [`crate::ending`]).

use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::Serialize;

use crate::context::Context;
use crate::ending;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::liveness::Liveness;
use crate::lock::Holder;
use crate::procdir::Proc;
use crate::record::{Outcome, Record};
use crate::wake::Doorbell;
use crate::worker;

mod follow;
pub use follow::follow;

/// One finished worker, as `orc-watch` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The issue.
    pub issue: Issue,
    /// worker or reviewer.
    pub kind: Kind,
    /// The result: the worker's own or the kernel's.
    pub result: String,
    /// The record's detail.
    pub detail: String,
    /// How the end was learned: `record` (read from the record), `wake`
    /// (the doorbell rang), `exit` (the shim was found dead), `health`
    /// (blocked on a prompt past `ORC_BLOCKED_AFTER`, still running).
    pub via: &'static str,
}

/// How a watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every watched worker (or the first, with `any`) was reported.
    Done,
    /// The timeout passed first; records were left as they were.
    TimedOut,
}

/// An end heard on the doorbell but not written: result, detail, why.
type Announced = (String, String, String);

struct Target {
    proc: Proc,
    bell: Option<Doorbell>,
    done: bool,
    /// Checks in a row that could not tell whether the worker lives.
    doubts: u32,
    announced: Option<Announced>,
}

/// Options of one watch.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Give up after this long (exit 124).
    pub timeout: Option<Duration>,
    /// Return after the first report.
    pub any: bool,
    /// How often to check records and shims between rings.
    pub poll: Duration,
    /// Checks in a row of a worker whose fate cannot be told before it is
    /// reported as `error` (`ORC_WATCH_CHECKS`).
    pub checks: u32,
}

/// Watch `workers` until they end. `emit` is called once per worker as it
/// ends; `progress` (if any) gets the still-running records each round.
/// A worker with no record at all is refused at once; any other trouble
/// with one worker is that worker's `error` line.
pub fn watch(
    ctx: &Context,
    workers: &[(Kind, Issue)],
    opts: Options,
    mut emit: impl FnMut(&Report) -> Result<()>,
    mut progress: impl FnMut(&[Record]),
) -> Result<Ending> {
    let mut targets = Vec::new();
    for &(kind, issue) in workers {
        let proc = Proc::new(&ctx.session, kind, issue);
        // The doorbell is opened before the record is read, so a ring
        // between the two is never missed.
        let bell = Doorbell::open(&proc.wake_path()).ok();
        if let Err(e) = worker::find(ctx, kind, issue)
            && !proc.state_path().exists()
        {
            return Err(e);
        }
        targets.push(Target {
            proc,
            bell,
            done: false,
            doubts: 0,
            announced: None,
        });
    }
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut rung = vec![false; targets.len()];
    loop {
        let mut running = Vec::new();
        for (i, t) in targets.iter_mut().enumerate().filter(|(_, t)| !t.done) {
            let via = if rung[i] { "wake" } else { "record" };
            match judge(ctx, t, via, opts.checks) {
                Some(report) => {
                    t.done = true;
                    emit(&report)?;
                    if opts.any {
                        return Ok(Ending::Done);
                    }
                }
                None => running.extend(t.proc.read().ok().flatten()),
            }
        }
        if targets.iter().all(|t| t.done) {
            return Ok(Ending::Done);
        }
        progress(&running);
        let now = Instant::now();
        let mut wait = opts.poll;
        if let Some(d) = deadline {
            if now >= d {
                return Ok(Ending::TimedOut);
            }
            wait = wait.min(d - now);
        }
        rung = wait_for_rings(&mut targets, wait)?;
    }
}

/// One check of one target: its report once it has ended, or once its fate
/// could not be told `checks` times in a row.
fn judge(ctx: &Context, t: &mut Target, via: &'static str, checks: u32) -> Option<Report> {
    if let Some((result, detail, why)) = &t.announced {
        match t.proc.read() {
            Ok(Some(r)) if !r.state.is_active() => return Some(report(&r, via)),
            _ => {
                return Some(Report {
                    issue: t.proc.issue(),
                    kind: t.proc.kind(),
                    result: result.clone(),
                    detail: format!("{detail} (not recorded yet: {why})"),
                    via: "wake",
                });
            }
        }
    }
    match assess(ctx, &t.proc, via) {
        Verdict::Ended(report) => Some(report),
        Verdict::Running => {
            t.doubts = 0;
            None
        }
        Verdict::Doubt { why, .. } => {
            t.doubts += 1;
            (t.doubts >= checks.max(1)).then(|| {
                let detail = format!("{why} ({} checks in a row; ORC_WATCH_CHECKS)", t.doubts);
                report_error(&t.proc, &detail, via)
            })
        }
    }
}

/// Block until a doorbell rings or `wait` passes; which targets rang.
/// An announced end that is not written yet is kept on its target.
fn wait_for_rings(targets: &mut [Target], wait: Duration) -> Result<Vec<bool>> {
    let polled: Vec<usize> = targets
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.done && t.bell.is_some())
        .map(|(i, _)| i)
        .collect();
    let mut rung = vec![false; targets.len()];
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
    let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
    let ready: Vec<bool> = {
        let mut fds: Vec<PollFd> = polled
            .iter()
            .filter_map(|&i| targets[i].bell.as_ref())
            .map(|b| PollFd::new(b.fd(), PollFlags::POLLIN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(wait);
            return Ok(rung);
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Error::failure(format!("poll failed: {e}"), "wake FIFOs")),
        }
        fds.iter()
            .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .collect()
    };
    for (&i, ready) in polled.iter().zip(ready) {
        if ready {
            let t = &mut targets[i];
            if let Some(bell) = t.bell.as_mut() {
                for line in bell.drain() {
                    if let Some(announced) = ending::parse_announcement(&line) {
                        t.announced = Some(announced);
                    }
                }
            }
            rung[i] = true;
        }
    }
    Ok(rung)
}

/// What one look at a worker tells.
enum Verdict {
    /// It has ended (or must be reported as if it had).
    Ended(Report),
    /// It runs, or is being started by a live spawner.
    Running,
    /// Whether it lives cannot be told now.
    Doubt {
        /// Why, for the report.
        why: String,
        /// Its record cannot be read.
        unreadable: bool,
    },
}

/// Whether the worker has ended, judging by its record and its shim. An
/// unreadable record is reported as `error` at once (callers that can wait
/// use [`watch`], which gives it `ORC_WATCH_CHECKS` checks).
pub fn check(ctx: &Context, proc: &Proc, via: &'static str) -> Result<Option<Report>> {
    Ok(match assess(ctx, proc, via) {
        Verdict::Ended(report) => Some(report),
        Verdict::Doubt {
            why,
            unreadable: true,
        } => Some(report_error(proc, &why, via)),
        Verdict::Running | Verdict::Doubt { .. } => None,
    })
}

fn assess(ctx: &Context, proc: &Proc, via: &'static str) -> Verdict {
    let record = match proc.read() {
        Ok(Some(r)) => r,
        Ok(None) => {
            let why = "the worker's record is gone (cleaned up?)";
            return Verdict::Ended(report_error(proc, why, via));
        }
        Err(e) => {
            return match proc.shim() {
                Ok(Some(ids)) if ids.shim.liveness() == Liveness::Dead => {
                    let why = format!("{e}; its shim (pid {}) is gone", ids.shim.pid);
                    Verdict::Ended(report_error(proc, &why, via))
                }
                _ => Verdict::Doubt {
                    why: e.to_string(),
                    unreadable: true,
                },
            };
        }
    };
    if !record.state.is_active() {
        return Verdict::Ended(report(&record, via));
    }
    let doubt = |why: String| Verdict::Doubt {
        why,
        unreadable: false,
    };
    let ids = match proc.shim() {
        Ok(Some(ids)) => ids,
        Ok(None) if spawner_lives(ctx, &record) => return Verdict::Running,
        Ok(None) => {
            return doubt(format!(
                "{} with no shim, and no live process holds its issue lock",
                record.state
            ));
        }
        Err(e) => return doubt(format!("its shim identity cannot be read: {e}")),
    };
    match proc.supervisor_liveness(&ids) {
        Liveness::Alive => {
            return blocked(ctx, proc, &record).map_or(Verdict::Running, Verdict::Ended);
        }
        Liveness::Unknown => {
            if let Some(report) = blocked(ctx, proc, &record) {
                return Verdict::Ended(report);
            }
            return doubt(format!(
                "whether its shim (pid {}) lives cannot be told",
                ids.shim.pid
            ));
        }
        Liveness::Dead => {}
    }
    // The shim is verifiably gone and nobody wrote a result: whatever of
    // the worker survived it (the agent, what it started) is stopped, and
    // the worker recorded as crashed.
    let _ = crate::contain::stop_worker(proc, &ids, Duration::from_secs(10));
    let detail = match proc.slurm_job() {
        Some(job) => format!(
            "the shim (pid {}) died and slurm job {job} ended",
            ids.shim.pid
        ),
        None => format!("the shim (pid {}) died", ids.shim.pid),
    };
    match worker::end(ctx, proc, Outcome::Crashed, &detail, "orc-watch", None) {
        Ok(Some(record)) => Verdict::Ended(report(&record, "exit")),
        Ok(None) | Err(_)
            if proc
                .read()
                .ok()
                .flatten()
                .is_some_and(|r| !r.state.is_active()) =>
        {
            match proc.read() {
                Ok(Some(r)) => Verdict::Ended(report(&r, "record")),
                _ => doubt("its record changed while it was read".to_string()),
            }
        }
        // The crash was seen even if it cannot be written now (the disk is
        // full): it is reported, and written by the next orc-watch or
        // orc-ctl gc once space returns.
        Ok(None) => doubt("its record is neither ended nor writable".to_string()),
        Err(e) => Verdict::Ended(Report {
            issue: proc.issue(),
            kind: proc.kind(),
            result: Outcome::Crashed.to_string(),
            detail: format!("{detail} (not recorded yet: {e})"),
            via: "exit",
        }),
    }
}

/// Whether a worker with no shim yet is being started: a live process of
/// its session (the spawner, or the shim about to record itself) holds its
/// issue lock. Reviewers hold no lock, so for them this cannot be told.
fn spawner_lives(ctx: &Context, record: &Record) -> bool {
    if record.kind != Kind::Worker {
        return false;
    }
    let Some(lock) = worker::lock_of(ctx, record) else {
        return false;
    };
    matches!(lock.peek(), Ok(Some(l)) if l.session == record.session
        && matches!(l.holder, Holder::Process { id } if id.liveness() == Liveness::Alive))
}

/// A running worker that has waited on a permission prompt for longer
/// than `ORC_BLOCKED_AFTER` is reported `blocked` (via `health`); it keeps
/// running, and its record is left as it is.
fn blocked(ctx: &Context, proc: &Proc, record: &Record) -> Option<Report> {
    let after = Duration::from_secs(ctx.config.number("ORC_BLOCKED_AFTER").ok()?);
    let (waited, why) = crate::health::blocked_for(proc)?;
    (waited >= after).then(|| Report {
        issue: record.issue,
        kind: record.kind,
        result: Outcome::Blocked.to_string(),
        detail: format!("{why} (for {}s; still running)", waited.as_secs()),
        via: "health",
    })
}

fn report(record: &Record, via: &'static str) -> Report {
    Report {
        issue: record.issue,
        kind: record.kind,
        result: record.result.map_or_else(
            || record.state.to_string().to_lowercase(),
            |r| r.to_string(),
        ),
        detail: record.detail.clone(),
        via,
    }
}

fn report_error(proc: &Proc, detail: &str, via: &'static str) -> Report {
    Report {
        issue: proc.issue(),
        kind: proc.kind(),
        result: Outcome::Error.to_string(),
        detail: detail.to_string(),
        via,
    }
}
