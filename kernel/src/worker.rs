//! What happens when a worker reports a phase, ends, or is made to end:
//! shared by `orc-state`, `orc-notify`, `orc-signal`, the shim and the
//! control tools, so every path writes the record, the lock, the doorbell,
//! the event log and the worker log the same way.

use nix::sys::signal::{Signal as NixSignal, kill, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::context::{Context, WorkerContext};
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::events::{self, Event};
use crate::fsutil::write_atomic;
use crate::ids::Issue;
use crate::liveness::Liveness;
use crate::lock::{Holder, IssueLock};
use crate::procdir::Proc;
use crate::record::{Outcome, Record, State};
use crate::repo::Repo;
use crate::signal::{self, Pending, Signal};
use crate::wake;

/// The longest detail accepted, in bytes.
pub const MAX_DETAIL: usize = 1024;

/// Check a detail: one line of canonical text ([`crate::text`]: no control,
/// bidirectional or separator characters), at most [`MAX_DETAIL`] bytes.
/// Quotes and any other printable character are kept as they are.
pub fn check_detail(detail: &str) -> Result<()> {
    if detail.len() > MAX_DETAIL {
        return Err(Error::usage(
            format!(
                "detail is {} bytes; the limit is {MAX_DETAIL}",
                detail.len()
            ),
            format!("{}…", detail.chars().take(40).collect::<String>()),
        )
        .hint("keep the detail to one short line; put long text in the PR or the log"));
    }
    crate::text::check_line("detail", detail)
}

/// The outcome of `orc-state STATE DETAIL`.
#[derive(Debug)]
pub enum Report {
    /// The record was updated.
    Written(Box<Record>),
    /// A signal is pending: nothing was written.
    SignalPending(Pending),
}

/// Report a phase: RUNNING or WAITING with a detail, unless a signal is
/// pending, in which case nothing is written.
pub fn report(w: &WorkerContext, state: State, detail: &str) -> Result<Report> {
    if !matches!(state, State::Running | State::Waiting) {
        return Err(
            Error::usage("orc-state reports RUNNING or WAITING", state.as_str())
                .hint("end the worker with orc-notify RESULT"),
        );
    }
    check_detail(detail)?;
    let proc = w.proc();
    if let Some(pending) = signal::peek(&proc)? {
        return Ok(Report::SignalPending(pending));
    }
    let now = clock::now_rfc3339()?;
    let record = proc.update(|r| r.transition(state, detail, &now))?;
    events::append(&w.ctx.session, &Event::of("state", &record)?)?;
    proc.log("orc-state", &format!("{state} {detail}"))?;
    Ok(Report::Written(Box::new(record)))
}

/// `checkpoint.json`: where a resumed worker picks up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The phase reached.
    pub phase: String,
    /// What is done.
    #[serde(default)]
    pub done: String,
    /// What comes next.
    #[serde(default)]
    pub next: String,
    /// The attempt that wrote it.
    pub attempt: u32,
    /// When.
    pub at: String,
}

/// Write the worker's checkpoint.
pub fn checkpoint(w: &WorkerContext, phase: &str, done: &str, next: &str) -> Result<Checkpoint> {
    for text in [phase, done, next] {
        check_detail(text)?;
    }
    if phase.is_empty() {
        return Err(Error::usage("a checkpoint needs a phase", "--phase"));
    }
    let proc = w.proc();
    let record = proc.load()?;
    let cp = Checkpoint {
        phase: phase.to_string(),
        done: done.to_string(),
        next: next.to_string(),
        attempt: record.attempt,
        at: clock::now_rfc3339()?,
    };
    let bytes = serde_json::to_vec_pretty(&cp)
        .map_err(|e| Error::failure(format!("cannot encode checkpoint: {e}"), phase.to_string()))?;
    {
        // Under the proc lock: `Proc::update` clears temporary files it finds.
        let _guard = proc.guard()?;
        write_atomic(&proc.checkpoint_path(), &bytes, 0o600)?;
    }
    proc.log("orc-state", &format!("checkpoint {phase}"))?;
    Ok(cp)
}

/// The worker's exit(): write the terminal (or suspended) record once, then
/// settle the lock, ring the doorbell and log.
pub fn notify(w: &WorkerContext, result: &str, detail: &str) -> Result<Record> {
    let outcome = Outcome::parse_reported(result, w.kind)?;
    check_detail(detail)?;
    let proc = w.proc();
    let now = clock::now_rfc3339()?;
    let record = proc.update(|r| r.finish(outcome, detail, &now))?;
    after_end(&w.ctx, &proc, &record, "orc-notify")?;
    Ok(record)
}

/// End a worker on the kernel's behalf (crashed, timeout, killed, error).
/// Returns `None` when the record was already terminal: a terminal record
/// is written once, and the worker's own word wins.
pub fn end(
    ctx: &Context,
    proc: &Proc,
    outcome: Outcome,
    detail: &str,
    who: &str,
    exit: Option<i32>,
) -> Result<Option<Record>> {
    let now = clock::now_rfc3339()?;
    let finish = |r: &mut Record| {
        r.finish(outcome, detail, &now)?;
        r.exit = exit.or(r.exit);
        Ok(())
    };
    match proc.update(finish) {
        Ok(record) => {
            after_end(ctx, proc, &record, who)?;
            Ok(Some(record))
        }
        Err(e) if e.kind() == ErrorKind::Failure => match proc.read()? {
            Some(record) if !record.state.is_active() => {
                // The worker's own result was written first; if whoever
                // wrote it was killed before handing the lock over, finish
                // that now (it is idempotent).
                if record.kind == crate::ids::Kind::Worker
                    && record.result.is_some_and(Outcome::keeps_lock)
                {
                    settle_lock(ctx, &record)?;
                }
                Ok(None)
            }
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// After the record says the worker ended or suspended: the lock (released,
/// or handed to the session when the result keeps it), then the doorbell,
/// the event log and the worker log. The lock is settled before the
/// doorbell rings so that whoever wakes finds it in its final state.
pub fn after_end(ctx: &Context, proc: &Proc, record: &Record, who: &str) -> Result<()> {
    if record.result != Some(Outcome::Suspended) {
        signal::clear(proc)?;
        retire_checkpoint(proc, record)?;
    }
    if record.kind == crate::ids::Kind::Worker {
        settle_lock(ctx, record)?;
    } else {
        crate::review::after_review(ctx, record)?;
    }
    let message = serde_json::json!({
        "issue": record.issue, "kind": record.kind, "state": record.state,
        "result": record.result, "attempt": record.attempt,
    });
    // The record and the lock are final already; a doorbell that cannot be
    // rung only makes a waiter learn it at its next poll.
    if let Err(e) = wake::ring(&proc.wake_path(), &message.to_string()) {
        crate::cli::warn(who, &e);
        proc.log(who, &format!("wake FIFO not rung: {e}"))?;
    }
    events::append(
        &ctx.session,
        &Event::of(
            if who == "orc-notify" {
                "notify"
            } else {
                "ended"
            },
            record,
        )?,
    )?;
    proc.log(
        who,
        &format!(
            "{} {} {}",
            record.state,
            record.result_name(),
            record.detail
        ),
    )
}

/// The issue lock of a record's worker, if its repository is known.
pub fn lock_of(ctx: &Context, record: &Record) -> Option<IssueLock> {
    let repo = match &record.repo {
        Some(root) => Repo::at(std::path::Path::new(root)).ok(),
        None => ctx.repo.clone(),
    }?;
    Some(IssueLock::new(&ctx.state, &repo, record.issue))
}

fn settle_lock(ctx: &Context, record: &Record) -> Result<()> {
    let Some(lock) = lock_of(ctx, record) else {
        return Ok(());
    };
    let ours = |l: &crate::lock::LockRecord| l.session == record.session;
    match record.result {
        Some(outcome) if outcome.keeps_lock() => {
            let holder = Holder::Session {
                session: record.session.clone(),
            };
            lock.hand_over(ours, holder, Some(outcome.as_str()))?;
        }
        _ => {
            lock.release(ours)?;
        }
    }
    Ok(())
}

/// Send `sig` to a worker. TERM and SUSPEND are left pending for the worker
/// and the shim is poked so its escalation clock starts; KILL also ends the
/// record as `killed` and kills the agent's process group now.
pub fn send_signal(ctx: &Context, proc: &Proc, sig: Signal) -> Result<Pending> {
    let record = proc.load()?;
    if !record.state.is_active() {
        return Err(Error::failure(
            format!(
                "{} {} is not running (state {})",
                record.kind, record.issue, record.state
            ),
            proc.dir().display().to_string(),
        ));
    }
    let pending = signal::send(proc, sig)?;
    let ids = proc.shim()?;
    if sig == Signal::Kill {
        end(
            ctx,
            proc,
            Outcome::Killed,
            "killed by orc-signal KILL",
            "orc-signal",
            None,
        )?;
        if let Some(job) = proc.slurm_job() {
            let _ = crate::slurm::cancel(job, None);
        }
        match ids {
            // The shim kills the rest of the worker once its agent is dead.
            Some(i) if i.shim.liveness() == Liveness::Alive => {
                if let Some(agent) = i.agent.filter(|a| a.liveness() == Liveness::Alive) {
                    let _ = killpg(Pid::from_raw(agent.pid), NixSignal::SIGKILL);
                }
            }
            // No shim to do it: everything of the worker, here and now.
            Some(i) => {
                let _ = crate::contain::stop_worker(proc, &i, std::time::Duration::from_secs(10));
            }
            None => {}
        }
    }
    if let Some(shim) = ids
        .map(|i| i.shim)
        .filter(|s| s.liveness() == Liveness::Alive)
    {
        let _ = kill(Pid::from_raw(shim.pid), NixSignal::SIGUSR1);
    }
    events::append(
        &ctx.session,
        &Event {
            detail: format!("signal {sig}"),
            ..Event::of("signal", &proc.load()?)?
        },
    )?;
    proc.log("orc-signal", sig.as_str())?;
    Ok(pending)
}

/// Worker side: take the pending signal, if any, and say so in the
/// worker's log and the session's event stream (`signal-consumed`).
pub fn consume_signal(w: &WorkerContext) -> Result<Option<Pending>> {
    let proc = w.proc();
    let Some(pending) = signal::consume(&proc)? else {
        return Ok(None);
    };
    let what = format!("consumed {} (sent at {})", pending.signal, pending.sent_at);
    if let Some(record) = proc.read()? {
        events::append(
            &w.ctx.session,
            &Event {
                detail: format!("signal {} consumed", pending.signal),
                ..Event::of("signal-consumed", &record)?
            },
        )?;
    }
    proc.log("orc-signal", &what)?;
    Ok(Some(pending))
}

/// Look a worker up in the orchestrator's session.
pub fn find(ctx: &Context, kind: crate::ids::Kind, issue: Issue) -> Result<(Proc, Record)> {
    let proc = Proc::new(&ctx.session, kind, issue);
    let record = proc.read()?.ok_or_else(|| {
        Error::failure(
            format!(
                "no {kind} for issue {issue} in session {}",
                ctx.session.name()
            ),
            proc.dir().display().to_string(),
        )
        .hint("orc-ps --all lists the workers of every session")
    })?;
    Ok((proc, record))
}

/// Once a resumed attempt ends (other than by suspending again), its
/// checkpoint is retired, so a later unrelated spawn never resumes from it.
fn retire_checkpoint(proc: &Proc, record: &Record) -> Result<()> {
    let path = proc.checkpoint_path();
    if record.attempt < 2 || !path.exists() {
        return Ok(());
    }
    let retired = proc
        .dir()
        .join(format!("checkpoint.{}.retired.json", record.attempt));
    std::fs::rename(&path, &retired).map_err(|e| Error::io("retire checkpoint", &path, e))
}
