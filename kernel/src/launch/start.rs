//! Starting the agent: its command line, its shim through the backend, and
//! the wait until the shim reports the agent started.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::agent::{self, Mode};
use crate::backend::{self, Backend, ShimLaunch};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::liveness::Liveness;
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::record::Outcome;

use super::target::Target;

/// How long a launch waits for the shim to start the agent.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// What the agent is told and which of its sessions it continues.
#[derive(Debug, Clone)]
pub(crate) struct AgentStart {
    /// The prompt.
    pub prompt: String,
    /// The agent's session id (Claude Code), new or continued.
    pub session_id: Option<String>,
    /// Whether `session_id` is an earlier session to continue.
    pub resume: bool,
}

/// The agent's command line for `t` in `worktree`.
pub(crate) fn command(
    ctx: &Context,
    t: &Target,
    worktree: &Path,
    start: &AgentStart,
    prompt_file: &Path,
) -> Result<agent::Launch> {
    let mode = if t.backend.is_interactive() {
        Mode::Interactive
    } else {
        Mode::Headless
    };
    let spec = agent::Spec {
        kind: t.kind,
        issue: t.issue,
        worktree: worktree.to_path_buf(),
        prompt: start.prompt.clone(),
        prompt_file: Some(prompt_file.to_path_buf()),
        session_id: start.session_id.clone(),
        resume: start.resume,
        custom_template: ctx.config.get("ORC_AGENT_CMD").map(str::to_string),
        plugin_dir: agent::claude_plugin_dir(),
    };
    agent::command(t.agent, mode, &spec)
}

/// Start the shim for `t` through its backend.
pub(crate) fn shim(
    ctx: &Context,
    t: &Target,
    proc: &Proc,
    worktree: &Path,
    launch: &agent::Launch,
    env: Vec<(String, String)>,
) -> Result<()> {
    let mut args = vec![
        "--session".to_string(),
        ctx.session.name().to_string(),
        "--issue".to_string(),
        t.issue.to_string(),
        "--kind".to_string(),
        t.kind.to_string(),
    ];
    if t.backend.is_interactive() {
        args.push("--interactive".to_string());
    }
    if t.backend == Backend::Slurm {
        args.push("--slurm".to_string());
    }
    if launch.stdin_prompt {
        // The shim feeds the worker's prompt file to the agent's stdin; its
        // own arguments carry no prompt text.
        args.push("--stdin-prompt".to_string());
    }
    find_program(&launch.program, &env, worktree)?;
    args.push("--".to_string());
    args.push(launch.program.clone());
    args.extend(launch.args.iter().cloned());
    let l = ShimLaunch {
        program: t.shim.clone(),
        args,
        env,
        cwd: worktree.to_path_buf(),
        log: proc.log_path(),
    };
    backend::launch(t.backend, &l)
}

/// The agent's program must exist (on the worker's PATH, or relative to the
/// worktree) before a shim is started for it: a shim that cannot start its
/// agent has already ended the worker and logged to the session, which a
/// rollback cannot take back.
fn find_program(program: &str, env: &[(String, String)], cwd: &Path) -> Result<()> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    which::which_in(program, Some(path), cwd)
        .map(drop)
        .map_err(|_| {
            Error::failure("cannot find the agent's program", program)
                .hint("install it, or set ORC_AGENT / ORC_AGENT_CMD to one on PATH")
        })
}

/// The longest a launch waits while other agents' start-ups hold the
/// launch lock (startup.rs) ahead of its own.
const QUEUE_DEADLINE: Duration = Duration::from_secs(900);

/// Wait until the shim has started the agent. Returns (agent pid, shim pid).
/// If the shim died first, or ended the worker with `error`, that is the
/// launch's failure. Time spent queued for the launch lock, while other
/// Claude start-ups hold it, does not count against the start deadline.
pub(crate) fn wait(state: &StateDir, proc: &Proc) -> Result<(Option<i32>, Option<i32>)> {
    let mut deadline = Instant::now() + START_DEADLINE;
    let queue_end = Instant::now() + QUEUE_DEADLINE;
    loop {
        let ids = proc.shim()?;
        if let Some(ids) = ids
            && let Some(agent) = ids.agent
        {
            return Ok((Some(agent.pid), Some(ids.shim.pid)));
        }
        if let Some(record) = proc.read()?
            && !record.state.is_active()
        {
            if record.result == Some(Outcome::Error) {
                return Err(Error::failure(
                    format!("the worker could not start: {}", record.detail),
                    proc.log_path().display().to_string(),
                ));
            }
            return Ok((record.pid, ids.map(|i| i.shim.pid)));
        }
        if ids.is_some_and(|i| i.shim.liveness() == Liveness::Dead) {
            return Err(Error::failure(
                "the shim died before starting the agent",
                proc.log_path().display().to_string(),
            )
            .hint("the log says why"));
        }
        if Instant::now() >= deadline
            && Instant::now() < queue_end
            && ids.is_some_and(|i| i.shim.liveness() == Liveness::Alive)
            && launch_lock_busy(state)
        {
            deadline = Instant::now() + START_DEADLINE;
        }
        if Instant::now() >= deadline {
            if let Some(shim) = ids
                .map(|i| i.shim)
                .filter(|s| s.liveness() == Liveness::Alive)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(shim.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(Error::failure(
                "the shim did not start the agent in time",
                proc.log_path().display().to_string(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether another start-up (or an edit of `~/.claude.json`) holds the
/// launch lock now.
fn launch_lock_busy(state: &StateDir) -> bool {
    matches!(
        crate::lock::named(state, crate::trust::LOCK, false),
        Ok(None)
    )
}

/// Wait until the shim of a Slurm worker has found its job's id (or the
/// worker ended first); `None` when it has not within the start deadline.
pub(crate) fn wait_job(proc: &Proc) -> Option<u64> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let record = proc.read().ok().flatten()?;
        if let Some(job) = record.slurm.as_ref().and_then(|j| j.job) {
            return Some(job);
        }
        if !record.state.is_active() || Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
