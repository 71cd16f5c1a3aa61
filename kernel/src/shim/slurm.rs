//! The shim's side of the `slurm` backend.
//!
//! The local shim (`orc-shim --slurm`) runs on the host of the state
//! directory. Its child is `srun`, which submits the job, blocks until it
//! ends and returns the task's exit status; the task is a node-side shim
//! (`orc-shim --node`) that supervises the agent on the node exactly as a
//! headless shim does here, and writes the worker's terminal record itself
//! into the shared state directory when the agent ends without a result.
//!
//! So the agent's exit is reported by the shim that saw it, wherever it ran.
//! The local shim only adds what the node cannot see: that the job was
//! cancelled, that the node-side shim died, or that `srun` itself failed —
//! when `srun` returns and the record is still active, the local shim ends
//! it `crashed`, with the job's fate from `scontrol`.
//!
//! Signals go through Slurm: SIGTERM to `srun` would make it SIGKILL the
//! task, so TERM is `scancel --signal=TERM <job>` (the node-side shim then
//! TERMs the agent's group and escalates after its grace) and KILL is
//! `scancel <job>`. `srun` is not tied to the local shim's life (no parent
//! death signal) and the issue lock is held by the session while the job
//! lives: a SIGKILLed local shim leaves the job running, and `orc-watch`,
//! `orc-ps` and `orc-ctl recover` judge the worker by its job (see
//! [`crate::procdir::Proc::supervisor_liveness`]).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::procdir::Proc;
use crate::record::{Record, State};
use crate::slurm::{self, JobState, Lookup, SlurmJob};

use super::Options;

/// How long the local shim looks for the job's id after starting `srun`.
const FIND_DEADLINE: Duration = Duration::from_secs(30);

/// How often the local shim refreshes a pending job's state and reason.
pub(super) const REFRESH: Duration = Duration::from_secs(2);

/// The job's name: unique per worker attempt, so `squeue -n` finds it
/// before its id is known.
fn job_name(ctx: &Context, record: &Record) -> String {
    format!(
        "orc-{}-{}-{}-{}",
        ctx.session.name(),
        record.kind,
        record.issue,
        record.attempt
    )
}

/// The `srun` command line that runs the node-side shim for `opts`, and
/// the job as the record will carry it.
pub(super) fn submit_command(
    ctx: &Context,
    opts: &Options,
    record: &Record,
    limit: Duration,
) -> Result<(Options, SlurmJob)> {
    let words = slurm::split_args(ctx.config.get("ORC_SLURM_ARGS").unwrap_or(""))?;
    let shim = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find orc-shim itself: {e}"), "orc-shim"))?;
    let worktree = record.worktree.clone().ok_or_else(|| {
        Error::failure(
            "the worker has no worktree",
            format!("{}-{}", record.kind, record.issue),
        )
    })?;
    let job = SlurmJob {
        job: None,
        name: job_name(ctx, record),
        state: None,
        reason: None,
        node: None,
        time: slurm::time_limit(limit.as_secs()),
        args: words.clone(),
    };
    let mut args = words;
    args.extend([
        format!("--job-name={}", job.name),
        format!("--time={}", job.time),
        "--ntasks=1".to_string(),
        format!("--chdir={worktree}"),
        // srun's own chatter ("job N queued and waiting") stays out of the
        // agent's log; errors are still printed.
        "--quiet".to_string(),
        "--".to_string(),
        path_text(&shim)?,
        "--node".to_string(),
        "--session".to_string(),
        ctx.session.name().to_string(),
        "--issue".to_string(),
        opts.issue.to_string(),
        "--kind".to_string(),
        opts.kind.to_string(),
    ]);
    if opts.stdin_prompt {
        // The node-side shim reads the prompt file (shared, like the whole
        // proc directory) into the agent's stdin; srun's own stays empty.
        args.push("--stdin-prompt".to_string());
    }
    args.push("--".to_string());
    args.push(opts.program.clone());
    args.extend(opts.args.iter().cloned());
    let srun = Options {
        program: "srun".to_string(),
        args,
        stdin_prompt: false,
        ..opts.clone()
    };
    Ok((srun, job))
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| Error::usage("path is not UTF-8", path.display().to_string()))
}

/// Record the job before its id is known (so a reader sees where the
/// worker went), then look for its id until it appears, `srun` ends or
/// the deadline passes. Returns the id, if found.
pub(super) fn find_job(proc: &Proc, job: &SlurmJob, srun: Pid) -> Result<Option<u64>> {
    proc.update(|r| {
        if r.state.is_active() {
            r.slurm = Some(job.clone());
            r.detail = format!("slurm job {} submitted", job.name);
        }
        Ok(())
    })?;
    let deadline = Instant::now() + FIND_DEADLINE;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Ok(Some(id)) = slurm::find_by_name(&job.name) {
            proc.update(|r| {
                if let Some(j) = r.slurm.as_mut() {
                    j.job = Some(id);
                }
                if r.state == State::Ready {
                    r.detail = format!("slurm job {id} submitted");
                }
                Ok(())
            })?;
            let _ = proc.log("orc-shim", &format!("slurm job {id} ({})", job.name));
            return Ok(Some(id));
        }
        if super::reap::ended(srun).is_some() || Instant::now() >= deadline {
            let _ = proc.log(
                "orc-shim",
                &format!("slurm job {} not found in the queue", job.name),
            );
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// While the job waits for resources, keep its state and Slurm's reason in
/// the record (READY, with the reason in the detail), so `orc-ps` shows
/// why it has not started.
pub(super) fn refresh(proc: &Proc, id: u64) {
    let Lookup::Known(info) = slurm::lookup(id) else {
        return;
    };
    let _ = proc.update(|r| {
        if let Some(j) = r.slurm.as_mut() {
            j.state = Some(info.state.as_str().to_string());
            j.reason = info.reason.clone();
            j.node = info.nodes.clone().or(j.node.take());
        }
        if r.state == State::Ready && info.state == JobState::Pending {
            r.detail = match &info.reason {
                Some(why) => format!("slurm job {id} pending ({why})"),
                None => format!("slurm job {id} pending"),
            };
        }
        Ok(())
    });
}

/// Ask Slurm to deliver TERM to the job's task (the node-side shim).
pub(super) fn term(proc: &Proc, id: Option<u64>, srun: Pid) {
    match id {
        Some(id) => {
            let _ = proc.log("orc-shim", &format!("scancel --signal=TERM {id}"));
            if let Err(e) = slurm::cancel(id, Some("TERM")) {
                let _ = proc.log("orc-shim", &format!("{e}"));
            }
        }
        // No job id: srun is all there is to stop.
        None => {
            let _ = nix::sys::signal::killpg(srun, nix::sys::signal::Signal::SIGTERM);
        }
    }
}

/// Cancel the job (Slurm sends TERM, then KILL after its KillWait), and
/// SIGKILL `srun`'s group here.
pub(super) fn kill(proc: &Proc, id: Option<u64>, srun: Pid) {
    if let Some(id) = id {
        let _ = proc.log("orc-shim", &format!("scancel {id}"));
        let _ = slurm::cancel(id, None);
    }
    let _ = nix::sys::signal::killpg(srun, nix::sys::signal::Signal::SIGKILL);
}

/// Why `srun` ended while the record was still active: the job's fate as
/// the controller tells it, and srun's own status.
pub(super) fn fate(id: Option<u64>, status: WaitStatus) -> String {
    let srun = match status {
        WaitStatus::Exited(_, code) => format!("srun exited with code {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("srun killed by {sig}"),
        _ => "srun ended".to_string(),
    };
    let Some(id) = id else {
        return format!("slurm job never seen in the queue; {srun}");
    };
    match slurm::lookup(id) {
        Lookup::Known(info) if info.state.is_live() => {
            // srun is gone but its job is not (a killed srun leaves it to
            // the controller's InactiveLimit): nothing may outlive the
            // worker.
            let cancelled = match slurm::cancel(id, None) {
                Ok(()) => "cancelled now",
                Err(_) => "could not be cancelled",
            };
            format!(
                "slurm job {id} {} and {cancelled}; {srun}",
                info.state.as_str()
            )
        }
        Lookup::Known(info) => {
            let exit = info
                .exit
                .map(|(c, s)| format!(", exit {c}:{s}"))
                .unwrap_or_default();
            format!("slurm job {id} {}{exit}; {srun}", info.state.as_str())
        }
        Lookup::Gone => format!("slurm job {id} no longer known to the controller; {srun}"),
        Lookup::Unknown(why) => format!("slurm job {id}: {why}; {srun}"),
    }
}

/// The node-side shim, once its agent runs: say where in the record.
pub(super) fn node_started(proc: &Proc) {
    // Slurm tells the task its node and job in its environment.
    let host = std::env::var("SLURMD_NODENAME").ok();
    let job: Option<u64> = std::env::var("SLURM_JOB_ID")
        .ok()
        .and_then(|j| j.parse().ok());
    let _ = proc.update(|r| {
        if let Some(j) = r.slurm.as_mut() {
            j.job = j.job.or(job);
            j.state = Some("RUNNING".to_string());
            j.reason = None;
            j.node = host.clone().or(j.node.take());
        }
        Ok(())
    });
}
