//! The shim: the one supervisor of one agent process (like conmon).
//!
//! It holds the issue lock while the agent runs, starts the agent as its
//! only child in a new process group (and a cgroup of its own where it
//! can: see [`crate::contain`]), applies the priority, sends the agent's
//! output to the log, enforces the timeout and signal escalation, reaps
//! the agent, kills whatever it left behind, and writes `crashed` (or
//! `timeout`, `killed`, `blocked`) when the agent ends without a terminal
//! record — then rings the wake FIFO at once.

mod reap;
mod slurm;

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use crate::backend::pane;
use crate::contain::{self, Container, Mode};
use crate::context::Context;
use crate::ending;
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::ids::{Issue, Kind};
use crate::liveness::ProcessId;
use crate::lock::Holder;
use crate::procdir::{Proc, ShimIds};
use crate::record::{Outcome, State, nice_of};
use crate::signal;
use crate::supervise;
use crate::worker;

/// What the shim runs, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The worker's kind.
    pub kind: Kind,
    /// The worker's issue.
    pub issue: Issue,
    /// The agent's program.
    pub program: String,
    /// The agent's arguments (never a shell string; the prompt is not among
    /// them unless a custom template asked for `{prompt}`).
    pub args: Vec<String>,
    /// Attached to a terminal (tmux, wezterm) rather than writing to the log.
    pub interactive: bool,
    /// The agent reads the worker's prompt file on its standard input.
    pub stdin_prompt: bool,
    /// Where the agent runs: here, in a Slurm job, or here as the node side
    /// of a Slurm job.
    pub place: Place,
}

/// Where a shim's agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A child of this shim, on this host.
    Local,
    /// In a Slurm job: this shim's child is `srun`, which runs a node-side
    /// shim (`orc-shim --slurm`).
    Submit,
    /// The node side of a Slurm job, started by `srun` (`orc-shim --node`):
    /// it supervises the agent, and the local shim keeps the lock and the
    /// shim identity.
    Node,
}

/// Why the shim stopped the agent itself, if it did.
#[derive(Debug, Clone)]
struct Stop {
    outcome: Outcome,
    why: String,
    kill_at: Instant,
}

/// Supervise the agent until it ends; returns the exit code the shim exits
/// with (the agent's, or `128 + n` when a signal killed it).
pub fn run(ctx: &Context, opts: &Options) -> Result<i32> {
    // In a pane, the pane's process only keeps the pane open and passes on
    // hang-ups; its child supervises (see backend::pane).
    if opts.interactive
        && let Some(code) = pane::keep()?
    {
        return Ok(code);
    }
    let proc = Proc::new(&ctx.session, opts.kind, opts.issue);
    let me = ProcessId::current();
    #[cfg(target_os = "linux")]
    {
        // Orphans of the agent are re-parented to the shim, which reaps them.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let wake = supervise::self_pipe()?;
    supervise::catch(&[
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGCHLD,
    ])?;
    let node = opts.place == Place::Node;
    // On a node, the local shim supervises already.
    let record = match node {
        true => proc.load()?,
        false => proc.begin_supervision(me)?,
    };

    // Reviewers read a worker's change; the issue lock stays the worker's.
    // On a node, the local shim has it already.
    let lock = worker::lock_of(ctx, &record)
        .filter(|_| record.kind == Kind::Worker)
        .filter(|_| !node);
    if let Some(lock) = lock {
        let session = record.session.clone();
        let took = lock.hand_over(|l| l.session == session, Holder::Process { id: me }, None)?;
        if !took && let Err(e) = lock.acquire(Holder::Process { id: me }, &record.session) {
            worker::end(
                ctx,
                &proc,
                Outcome::Error,
                &format!("shim could not take the issue lock: {e}"),
                "orc-shim",
                None,
            )?;
            return Err(e);
        }
        if opts.place == Place::Submit {
            // The job may outlive this shim (a SIGKILL here leaves it
            // running): its session holds the lock while it lives, and
            // whoever ends the worker releases it.
            let session = record.session.clone();
            let holder = Holder::Session {
                session: session.clone(),
            };
            lock.hand_over(|l| l.session == session, holder, None)?;
        }
    }

    if let Some(pending) = signal::peek(&proc)? {
        let outcome = if pending.signal == signal::Signal::Kill {
            Outcome::Killed
        } else {
            Outcome::Cancelled
        };
        worker::end(
            ctx,
            &proc,
            outcome,
            &format!("{} before the agent started", pending.signal),
            "orc-shim",
            None,
        )?;
        return Ok(0);
    }

    let config = &ctx.config;
    // ORC_WORKER_TIMEOUT=0 means no timeout: a deadline a century away.
    let timeout = config
        .timeout("ORC_WORKER_TIMEOUT")?
        .unwrap_or(Duration::from_secs(100 * 365 * 24 * 3600));
    let grace = Duration::from_secs(config.number("ORC_TERM_GRACE")?);
    let nice = nice_of(&record.priority)?;
    let worktree = record.worktree.clone().map(PathBuf::from);
    let submitted = match opts.place {
        Place::Submit => match slurm::submit_command(ctx, opts, &record, timeout + grace) {
            Ok(pair) => Some(pair),
            Err(e) => {
                worker::end(ctx, &proc, Outcome::Error, &e.to_string(), "orc-shim", None)?;
                return Err(e);
            }
        },
        _ => None,
    };
    let opts = submitted.as_ref().map_or(opts, |(srun, _)| srun);

    let mode = Mode::parse(config.get("ORC_CONTAIN").unwrap_or("auto"))?;
    let name = contain::cgroup_name(opts.kind, opts.issue, me.pid);
    let mut container = match Container::new(mode, &name) {
        Ok(c) => c,
        Err(e) => {
            worker::end(ctx, &proc, Outcome::Error, &e.to_string(), "orc-shim", None)?;
            return Err(e);
        }
    };
    let launch = Launch {
        opts,
        proc: &proc,
        worktree,
        nice,
        shim: me,
    };
    // Claude Code rewrites ~/.claude.json as it starts: one start-up at a
    // time (startup.rs). A lock that cannot be taken only costs the guard.
    let guard = if crate::startup::needs_guard(&opts.program) {
        match crate::startup::Guard::take(&ctx.state) {
            Ok(guard) => Some((guard, crate::clock::now_rfc3339()?)),
            Err(e) => {
                proc.log("orc-shim", &format!("no launch lock: {e}"))?;
                None
            }
        }
    } else {
        None
    };
    let child = match start_contained(&launch, &mut container, mode) {
        Ok(child) => child,
        Err(e) => {
            container.remove();
            worker::end(
                ctx,
                &proc,
                Outcome::Error,
                &e.to_string(),
                "orc-shim",
                Some(127),
            )?;
            return Ok(127);
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    let agent = ProcessId::of(pid.as_raw()).unwrap_or(ProcessId {
        pid: pid.as_raw(),
        start_time: 0,
    });
    if !node {
        proc.write_shim(&ShimIds {
            shim: me,
            agent: Some(agent),
        })?;
    }
    let job = match &submitted {
        // READY until the node-side shim starts the agent: the job may wait.
        Some((_, job)) => Some(slurm::find_job(&proc, job, pid)?),
        None => {
            let started = proc.update(|r| {
                if r.state.is_active() {
                    // The pid of an agent on a node means nothing here.
                    if !node {
                        r.pid = Some(pid.as_raw());
                    }
                    if matches!(r.state, State::New | State::Ready) {
                        r.transition(
                            State::Running,
                            "agent started",
                            &crate::clock::now_rfc3339()?,
                        )?;
                    }
                }
                Ok(())
            })?;
            if node {
                slurm::node_started(&proc);
            }
            events::append(&ctx.session, &Event::of("started", &started)?)?;
            None
        }
    };
    proc.log(
        "orc-shim",
        &format!(
            "started {} (pid {pid}, nice {nice}); {}",
            opts.program,
            container.describe()
        ),
    )?;
    if let Some((guard, taken)) = guard {
        let log_len = || std::fs::metadata(proc.log_path()).map_or(0, |m| m.len());
        let quiet_len = log_len();
        let held = guard.release_after_startup(
            || agent.liveness() != crate::liveness::Liveness::Dead,
            || log_len() > quiet_len,
        );
        proc.log(
            "orc-shim",
            &format!(
                "launch lock held from {taken} to {} ({:.1}s) around {}'s start-up",
                crate::clock::now_rfc3339()?,
                held.as_secs_f64(),
                opts.program
            ),
        )?;
    }

    let sup = Supervised {
        proc: &proc,
        pid,
        job,
        timeout,
        grace,
        wake: &wake,
        interactive: opts.interactive,
        node,
    };
    let (status, stop) = supervise_until_exit(&sup)?;
    // Nothing the agent started outlives it, and nothing that lingers
    // delays the record: everything is sent SIGKILL now, reaped after.
    reap::kill_rest(&container, me, agent);
    if opts.interactive {
        pane::reclaim_terminal();
    }
    let code = supervise::exit_code(status).unwrap_or(crate::exit::FAILURE.into());
    let detail = match status {
        WaitStatus::Signaled(_, sig, _) => format!("agent killed by {sig}"),
        _ => format!("agent exited with code {code} without a result"),
    };
    let tail = proc.log_tail();
    let detail = match job {
        Some(id) => slurm::fate(id, status),
        None => detail,
    };
    let (outcome, detail) = match stop {
        Some(stop) => (stop.outcome, format!("{}; {detail}", stop.why)),
        None if crate::agent::looks_throttled(Some(code), &tail) => {
            (Outcome::Throttled, format!("usage or rate limit; {detail}"))
        }
        // Waiting on a person is not a crash: a retry would stop at the
        // same prompt; orc-dispatch escalates a blocked worker instead.
        None => match crate::agent::blocked_reason(&tail) {
            Some(why) => (Outcome::Blocked, format!("{why}; {detail}")),
            None => (Outcome::Crashed, detail),
        },
    };
    // A full disk must not lose the end: it is announced to orc-watch and
    // written once space returns (unless the shim itself is told to stop).
    let end = ending::End {
        outcome,
        detail: &detail,
        who: "orc-shim",
        exit: Some(code),
    };
    let stop_asked = || {
        supervise::take_signals()
            .iter()
            .any(|s| matches!(s, Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP))
    };
    let ended = ending::end_until_written(ctx, &proc, end, Duration::from_secs(1), stop_asked);
    let left = reap::drain(&container, me, agent, &wake);
    if left > 0 {
        let _ = proc.log(
            "orc-shim",
            &format!("{left} process(es) of the agent survived SIGKILL for 30 s"),
        );
    }
    if ended?.is_none() {
        proc.log(
            "orc-shim",
            &format!("agent ended (code {code}) after its result"),
        )?;
    }
    Ok(code)
}

/// What the agent is started with.
struct Launch<'a> {
    opts: &'a Options,
    proc: &'a Proc,
    worktree: Option<PathBuf>,
    nice: i32,
    shim: ProcessId,
}

/// Start the agent inside the container. In `auto` mode, an agent that
/// cannot enter the cgroup (a hierarchy that refuses the move) is started
/// again without it, contained by its process group.
fn start_contained(
    launch: &Launch<'_>,
    container: &mut Container,
    mode: Mode,
) -> Result<std::process::Child> {
    let Some(cgroup) = &container.cgroup else {
        // An earlier attempt's cgroup, still on record, would speak for an
        // agent it never held (contain::stop_worker reads it).
        if launch.proc.cgroup().is_some() {
            launch.proc.clear_cgroup()?;
        }
        return start_agent(launch, None);
    };
    launch.proc.write_cgroup(cgroup.path())?;
    let procs = cgroup.procs_for_writing();
    let first = match &procs {
        Ok(fd) => start_agent(launch, Some(fd.as_raw_fd())),
        Err(e) => Err(e.clone()),
    };
    match first {
        Ok(child) => Ok(child),
        Err(e) if mode == Mode::Auto => {
            // No longer a record of a cgroup: this agent has none, and the
            // sweep is what finds its processes (contain::stop_worker).
            launch.proc.clear_cgroup()?;
            container.fall_back(format!("could not enter the cgroup: {e}"));
            start_agent(launch, None)
        }
        Err(e) => Err(e),
    }
}

fn start_agent(launch: &Launch<'_>, cgroup_procs: Option<RawFd>) -> Result<std::process::Child> {
    let Launch {
        opts,
        proc,
        nice,
        shim,
        ..
    } = *launch;
    let shim_pid = shim.pid;
    // srun is not tied to this shim's life: the job it submitted survives a
    // SIGKILLed shim and is found again by its id.
    let tied = opts.place != Place::Submit;
    let mut cmd = Command::new(&opts.program);
    cmd.args(&opts.args)
        .process_group(0)
        .env(contain::TAG_VAR, contain::tag_value(shim));
    if let Some(dir) = &launch.worktree {
        cmd.current_dir(dir);
    }
    if !opts.interactive {
        let log = crate::fsutil::open_append(&proc.log_path())?;
        let err = log
            .try_clone()
            .map_err(|e| Error::io("open the log", &proc.log_path(), e))?;
        let stdin = if opts.stdin_prompt {
            Stdio::from(
                crate::fsutil::open_read(&proc.prompt_path())
                    .map_err(|e| crate::fsutil::open_error("read", &proc.prompt_path(), e))?,
            )
        } else {
            Stdio::null()
        };
        cmd.stdin(stdin).stdout(log).stderr(err);
    }
    let interactive = opts.interactive;
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe system calls (write, prctl, getppid,
    // setpriority, and for a terminal tcgetpgrp, sigaction, tcsetpgrp).
    // `cgroup_procs` is open in the shim until `spawn` returns.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = cgroup_procs {
                // Enter the worker's cgroup before anything runs ("0" is
                // the writing process itself).
                if nix::libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            #[cfg(target_os = "linux")]
            if tied {
                // If the shim dies, even by SIGKILL, the agent goes with it.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                if nix::unistd::getppid().as_raw() != shim_pid {
                    return Err(std::io::Error::other(
                        "the shim died before the agent started",
                    ));
                }
            }
            #[cfg(not(target_os = "linux"))]
            let _ = (shim_pid, tied);
            if nix::libc::setpriority(nix::libc::PRIO_PROCESS, 0, nice) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if interactive {
                // The keyboard goes to the agent, not to the shim.
                pane::take_terminal()?;
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Error::failure(format!("cannot start the agent: {e}"), opts.program.clone()))
}

/// What the shim supervises: the agent (or, for a Slurm job, `srun` and
/// the job), with its limits.
struct Supervised<'a> {
    proc: &'a Proc,
    /// The agent, or `srun`.
    pid: Pid,
    /// The Slurm job (`Some(None)`: submitted, id not found).
    job: Option<Option<u64>>,
    timeout: Duration,
    grace: Duration,
    wake: &'a std::os::fd::OwnedFd,
    interactive: bool,
    /// The node side of a Slurm job: TERM comes from Slurm (a cancelled or
    /// preempted job), not from orc.
    node: bool,
}

impl Supervised<'_> {
    /// Ask the agent to stop: SIGTERM to its group, or TERM through Slurm.
    fn term(&self) {
        match self.job {
            Some(id) => slurm::term(self.proc, id, self.pid),
            None => {
                let _ = killpg(self.pid, Signal::SIGTERM);
            }
        }
    }

    /// Stop it now: SIGKILL to its group, or cancel the job.
    fn kill(&self) {
        match self.job {
            Some(id) => slurm::kill(self.proc, id, self.pid),
            None => {
                let _ = killpg(self.pid, Signal::SIGKILL);
            }
        }
    }

    /// What TERM or KILL became, for the log: a signal to the agent's
    /// group, or a request to Slurm.
    fn what(&self, sig: &str) -> String {
        match self.job {
            Some(Some(id)) => format!("{sig} to slurm job {id}"),
            Some(None) => format!("SIG{sig} to srun"),
            None => format!("SIG{sig} to the agent's group"),
        }
    }
}

/// Wait for the agent, escalating on timeout, on an ignored cooperative
/// signal, and on TERM/INT/HUP sent to the shim itself. On a terminal, an
/// agent stopped by job control is continued. A Slurm job waiting for
/// resources has its state and reason refreshed in the record.
fn supervise_until_exit(sup: &Supervised<'_>) -> Result<(WaitStatus, Option<Stop>)> {
    let Supervised {
        proc,
        pid,
        timeout,
        grace,
        wake,
        interactive,
        ..
    } = *sup;
    let started = Instant::now();
    let mut requested: Option<Instant> = None;
    let mut stop: Option<Stop> = None;
    let mut killed = false;
    let mut refreshed = started;
    let submitted = sup.job.is_some();
    loop {
        // The agent stays a zombie until the rest of its group is killed.
        if let Some(status) = reap::ended(pid) {
            return Ok((status, stop));
        }
        if interactive {
            let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG;
            match waitid(Id::Pid(pid), flags) {
                Ok(WaitStatus::Stopped(_, sig)) if pane::continue_stopped(pid, sig) => {
                    let _ = proc.log("orc-shim", &format!("agent stopped by {sig}: continued"));
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => {
                    return Err(Error::failure(
                        format!("cannot wait for the agent: {e}"),
                        pid.to_string(),
                    ));
                }
            }
        }
        reap::orphans_except(pid);
        let now = Instant::now();
        if let Some(Some(id)) = sup.job
            && now >= refreshed + slurm::REFRESH
        {
            refreshed = now;
            if proc
                .read()
                .ok()
                .flatten()
                .is_some_and(|r| r.state == State::Ready)
            {
                slurm::refresh(proc, id);
            }
        }
        let terminate = |outcome: Outcome, why: String, stop: &mut Option<Stop>| {
            if stop.is_none() {
                sup.term();
                let _ = proc.log("orc-shim", &format!("{why}: {}", sup.what("TERM")));
                *stop = Some(Stop {
                    outcome,
                    why,
                    kill_at: now + grace,
                });
            }
        };
        for sig in supervise::take_signals() {
            match sig {
                Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP if sup.node => terminate(
                    Outcome::Crashed,
                    format!("slurm stopped the job ({sig} to the node-side shim)"),
                    &mut stop,
                ),
                Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP => {
                    terminate(Outcome::Killed, format!("shim received {sig}"), &mut stop)
                }
                Signal::SIGUSR1 if !submitted => {
                    requested.get_or_insert(now);
                }
                _ => {}
            }
        }
        // A Slurm job's cooperative signals and timeout are the node-side
        // shim's to enforce (and the job's time limit backs it up).
        if requested.is_none() && !submitted && signal::peek(proc)?.is_some() {
            requested = Some(now);
        }
        let active = || {
            proc.read()
                .ok()
                .flatten()
                .is_some_and(|r| r.state.is_active())
        };
        if let Some(at) = requested
            && now >= at + grace
            && stop.is_none()
            && active()
        {
            terminate(
                Outcome::Killed,
                format!("no result {}s after a signal", grace.as_secs()),
                &mut stop,
            );
        }
        // The timeout bounds a headless agent's life, not just its work:
        // one that reported and then hangs is stopped too (its result
        // stays). An interactive session that reported is its person's to
        // close (or orc-cleanup's).
        let working = active();
        if now >= started + timeout && !submitted && stop.is_none() && (working || !interactive) {
            let after = if working { "" } else { " after its result" };
            terminate(
                Outcome::Timeout,
                format!(
                    "ran past ORC_WORKER_TIMEOUT ({}s){after}",
                    timeout.as_secs()
                ),
                &mut stop,
            );
        }
        if let Some(s) = &stop
            && now >= s.kill_at
            && !killed
        {
            sup.kill();
            let _ = proc.log(
                "orc-shim",
                &format!("grace period over: {}", sup.what("KILL")),
            );
            killed = true;
        }
        let mut deadlines = vec![now + Duration::from_secs(1), started + timeout];
        if sup.job.is_some() {
            deadlines.push(refreshed + slurm::REFRESH);
        }
        deadlines.extend(requested.map(|at| at + grace));
        deadlines.extend(stop.as_ref().filter(|_| !killed).map(|s| s.kill_at));
        let next = deadlines
            .into_iter()
            .filter(|d| *d > now)
            .min()
            .unwrap_or(now + Duration::from_secs(1));
        let ms = next
            .saturating_duration_since(now)
            .as_millis()
            .clamp(1, 1000) as i32;
        let mut fds = [PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(_) | Err(Errno::EINTR) => supervise::drain_pipe(wake),
            Err(e) => return Err(Error::failure(format!("poll failed: {e}"), "orc-shim")),
        }
    }
}
