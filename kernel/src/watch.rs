//! waitpid for workers: report each one as it ends, in the order they end.
//!
//! A worker is done when its record is terminal (or SUSPENDED). The wake
//! FIFO makes a waiter notice at once; between rings the records and the
//! shims' liveness are checked every `ORC_POLL_INTERVAL`, so a shim killed
//! with SIGKILL is found within one interval and reported as `crashed`.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::liveness::Liveness;
use crate::procdir::Proc;
use crate::record::{Outcome, Record};
use crate::wake::Doorbell;
use crate::worker;

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

struct Target {
    proc: Proc,
    bell: Option<Doorbell>,
    done: bool,
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
}

/// Watch `workers` until they end. `emit` is called once per worker as it
/// ends; `progress` (if any) gets the still-running records each round.
pub fn watch(
    ctx: &Context,
    workers: &[(Kind, Issue)],
    opts: Options,
    mut emit: impl FnMut(&Report) -> Result<()>,
    mut progress: impl FnMut(&[Record]),
) -> Result<Ending> {
    let mut targets = Vec::new();
    for &(kind, issue) in workers {
        let (proc, _) = worker::find(ctx, kind, issue)?;
        // The doorbell is opened before the record is read, so a ring
        // between the two is never missed.
        let bell = Doorbell::open(&proc.wake_path()).ok();
        targets.push(Target {
            proc,
            bell,
            done: false,
        });
    }
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut rung = vec![false; targets.len()];
    loop {
        let mut running = Vec::new();
        for (i, t) in targets.iter_mut().enumerate().filter(|(_, t)| !t.done) {
            let via = if rung[i] { "wake" } else { "record" };
            match check(ctx, &t.proc, via)? {
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

/// Block until a doorbell rings or `wait` passes; which targets rang.
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
            if let Some(bell) = targets[i].bell.as_mut() {
                bell.drain();
            }
            rung[i] = true;
        }
    }
    Ok(rung)
}

/// Whether the worker has ended, judging by its record and its shim.
pub fn check(ctx: &Context, proc: &Proc, via: &'static str) -> Result<Option<Report>> {
    let record = match proc.read() {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Ok(Some(report_error(
                proc,
                "the worker's record is gone (cleaned up?)",
                via,
            )));
        }
        Err(e) => return Ok(Some(report_error(proc, &e.to_string(), via))),
    };
    if !record.state.is_active() {
        return Ok(Some(report(&record, via)));
    }
    let Some(ids) = proc.shim()? else {
        return Ok(None);
    };
    if ids.shim.liveness() != Liveness::Dead {
        return Ok(blocked(ctx, proc, &record));
    }
    // The shim is verifiably gone and nobody wrote a result: the agent (if
    // it somehow survived) is stopped, and the worker recorded as crashed.
    if let Some(agent) = ids.agent.filter(|a| a.liveness() == Liveness::Alive) {
        let _ = killpg(Pid::from_raw(agent.pid), Signal::SIGKILL);
    }
    let detail = format!("the shim (pid {}) died", ids.shim.pid);
    match worker::end(ctx, proc, Outcome::Crashed, &detail, "orc-watch", None)? {
        Some(record) => Ok(Some(report(&record, "exit"))),
        None => Ok(proc.read()?.map(|r| report(&r, "record"))),
    }
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

/// Follow the session's event log: print each new line as it is appended
/// until `stop` says so or the timeout passes.
pub fn follow(
    ctx: &Context,
    timeout: Option<Duration>,
    mut line: impl FnMut(&str) -> Result<()>,
    mut stop: impl FnMut() -> bool,
) -> Result<Ending> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use std::io::{BufRead, Seek, SeekFrom};
    crate::fsutil::ensure_private_dir(ctx.session.dir())?;
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| Error::failure(format!("inotify failed: {e}"), "events.jsonl"))?;
    inotify
        .add_watch(
            ctx.session.dir(),
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE,
        )
        .map_err(|e| {
            Error::failure(
                format!("inotify failed: {e}"),
                ctx.session.dir().display().to_string(),
            )
        })?;
    let path = ctx.session.events_path();
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Ok(mut file) = std::fs::File::open(&path)
            && file.seek(SeekFrom::Start(offset)).is_ok()
        {
            let mut reader = std::io::BufReader::new(file);
            let mut buf = String::new();
            while reader.read_line(&mut buf).unwrap_or(0) > 0 && buf.ends_with('\n') {
                offset += buf.len() as u64;
                line(buf.trim_end())?;
                buf.clear();
            }
        }
        if stop() {
            return Ok(Ending::Done);
        }
        let mut wait = Duration::from_millis(500);
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return Ok(Ending::TimedOut);
            }
            wait = wait.min(d - now);
        }
        let ms = i32::try_from(wait.as_millis()).unwrap_or(500).max(1);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let _ = poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        let _ = inotify.read_events();
    }
}
