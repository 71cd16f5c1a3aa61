//! Reaping: the agent's end, its orphans, and everything it left behind.
//!
//! The shim is a child subreaper, so every descendant of the agent whose
//! parent dies is re-parented to the shim: all of them end as its children,
//! and "no child left" (`ECHILD`) means nothing of the worker is alive.
//! Waiting is driven by SIGCHLD on the self-pipe, never by a fixed sleep.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

use crate::contain::Container;
use crate::liveness::ProcessId;
use crate::supervise;

/// How long the shim keeps killing and reaping what the agent left before
/// it gives up on a process that does not die (one stuck in the kernel).
const GIVE_UP: Duration = Duration::from_secs(30);

/// How often the sweep looks again while it waits: only for a process
/// forked between a look and the kill, which no SIGCHLD announces.
const RESWEEP: Duration = Duration::from_millis(20);

/// Whether the agent has ended, leaving it waitable (a zombie): while it
/// is one, its pid and process group id cannot be reused.
pub fn ended(agent: Pid) -> Option<WaitStatus> {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::Pid(agent), flags) {
        Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => Some(status),
        _ => None,
    }
}

/// Reap adopted orphans (the shim is a child subreaper) without touching
/// the agent: peek with WNOWAIT at who is waitable, reap only others.
pub fn orphans_except(agent: Pid) {
    loop {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::All, flags) {
            Ok(status) => match status.pid() {
                Some(p) if p != agent => {
                    let _ = waitpid(p, None);
                }
                _ => return,
            },
            Err(_) => return,
        }
    }
}

/// The agent has ended (still a zombie): SIGKILL everything else of the
/// worker at once, then reap the agent. Nothing here waits, so a process
/// that lingers cannot delay the record the shim writes next.
pub fn kill_rest(container: &Container, shim: ProcessId, agent: ProcessId) {
    // The cgroup and the agent's group, while the zombie holds its pgid.
    container.kill_all(shim, agent, false);
    let _ = waitpid(Pid::from_raw(agent.pid), None);
    // In a cgroup, cgroup.kill has reached every process already. Else:
    // orphans of the agent are the shim's children by now; none means the
    // agent left nothing behind and the process table need not be read.
    if container.cgroup.is_none() && any_child_left() {
        container.kill_all(shim, agent, true);
    }
}

/// After the record: kill and reap until the shim has no child left,
/// woken by SIGCHLD. Returns the pids still alive when it gave up.
pub fn drain(container: &Container, shim: ProcessId, agent: ProcessId, wake: &OwnedFd) -> usize {
    let deadline = Instant::now() + GIVE_UP;
    loop {
        if !any_child_left() {
            container.remove();
            return 0;
        }
        let alive = container.kill_all(shim, agent, true);
        if Instant::now() >= deadline {
            return alive;
        }
        let ms = RESWEEP.as_millis() as i32;
        let mut fds = [PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        let _ = poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        supervise::drain_pipe(wake);
    }
}

/// Reap every child that has ended; whether any child is left.
fn any_child_left() -> bool {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}
