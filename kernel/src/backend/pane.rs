//! The shim's side of a terminal backend (tmux, WezTerm): who is the
//! pane's process, who owns the keyboard, and what a hang-up does.
//!
//! The pane's process is a small keeper, the shim's first process; the
//! supervisor is its child. Closing a tmux window hangs up the terminal,
//! which sends SIGHUP to the pane's process; closing a WezTerm tab sends it
//! SIGHUP and, a fifth of a second later, SIGKILL. The keeper forwards
//! SIGHUP (and TERM, INT) to the supervisor, and the supervisor, not being
//! the pane's process, lives on through the SIGKILL to end the worker the
//! way TERM does: SIGTERM to the agent's group, grace, SIGKILL, record.
//!
//! The agent runs in its own process group (the shim signals that group),
//! so it must also be the terminal's foreground group: otherwise the
//! keyboard, Ctrl-C included, would reach the shim, and the agent would be
//! stopped by SIGTTIN the first time it read its terminal.

use std::io::stdin;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, killpg, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpgrp, tcgetpgrp, tcsetpgrp};

use crate::error::{Error, Result};
use crate::supervise;

/// Split the shim in two. Returns `None` in the child, which goes on to
/// supervise the agent, and `Some(exit code)` in the pane's process once
/// the child has ended. Call it first thing, while single-threaded.
pub fn keep() -> Result<Option<i32>> {
    // Handlers before the fork: a hang-up at any moment is caught by one
    // of the two processes, never lost to a default action.
    let wake = supervise::self_pipe()?;
    supervise::catch(&[
        Signal::SIGHUP,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGCHLD,
    ])?;
    // SAFETY: the shim has started no thread yet, so the child inherits no
    // lock held by another thread; it installs its own handlers next.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => Ok(None),
        Ok(ForkResult::Parent { child }) => wait_forwarding(child, &wake).map(Some),
        Err(e) => Err(Error::failure(format!("fork failed: {e}"), "orc-shim")),
    }
}

/// The keeper: wait for the supervisor, passing it every termination signal.
fn wait_forwarding(child: Pid, wake: &OwnedFd) -> Result<i32> {
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                return Ok(supervise::exit_code(status).unwrap_or(1));
            }
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::failure(
                    format!("cannot wait for the shim: {e}"),
                    child.to_string(),
                ));
            }
        }
        for sig in supervise::take_signals() {
            if sig != Signal::SIGCHLD {
                let _ = kill(child, sig);
            }
        }
        // A signal caught after take_signals writes to the pipe: poll
        // returns at once, nothing waits a full second for it.
        let mut fds = [PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(1000u16));
        supervise::drain_pipe(wake);
    }
}

/// In the agent, between fork and exec: make its process group the
/// foreground group of its controlling terminal, if it has one on stdin.
/// Only async-signal-safe calls (tcgetpgrp, sigaction, tcsetpgrp).
pub fn take_terminal() -> std::io::Result<()> {
    // SAFETY: fd 0 is open for the whole call (an unusable one only makes
    // the calls fail), and nothing closes it meanwhile.
    let tty = unsafe { BorrowedFd::borrow_raw(0) };
    if tcgetpgrp(tty).is_err() {
        // Not a terminal, or not ours: there is no foreground to take.
        return Ok(());
    }
    with_sigttou_ignored(|| tcsetpgrp(tty, getpgrp())).map_err(std::io::Error::from)
}

/// After the agent: give the terminal back to the shim's own group. A
/// hung-up or absent terminal is left alone.
pub fn reclaim_terminal() {
    let tty = stdin();
    let mine = getpgrp();
    if tcgetpgrp(&tty).is_ok_and(|fg| fg != mine) {
        let _ = with_sigttou_ignored(|| tcsetpgrp(&tty, mine));
    }
}

/// The agent stopped: a keystroke (Ctrl-Z) or a read from the terminal
/// out of turn. No shell in the pane would ever continue it, so the shim
/// does: the terminal goes back to the agent's group, then SIGCONT.
/// Returns whether `sig` was such a stop.
pub fn continue_stopped(agent: Pid, sig: Signal) -> bool {
    if !matches!(sig, Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU) {
        return false;
    }
    let tty = stdin();
    if tcgetpgrp(&tty).is_ok() {
        let _ = with_sigttou_ignored(|| tcsetpgrp(&tty, agent));
    }
    let _ = killpg(agent, Signal::SIGCONT);
    true
}

/// Run `f` with SIGTTOU ignored: a process outside the foreground group
/// that changes it gets SIGTTOU, which would stop it.
fn with_sigttou_ignored<T>(f: impl FnOnce() -> nix::Result<T>) -> nix::Result<T> {
    let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN installs no handler code; the previous action is
    // restored right after.
    let old = unsafe { sigaction(Signal::SIGTTOU, &ignore) }?;
    let result = f();
    // SAFETY: restores the action that was in place before.
    let _ = unsafe { sigaction(Signal::SIGTTOU, &old) };
    result
}
