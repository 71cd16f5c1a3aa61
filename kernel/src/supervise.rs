//! Child processes: run one, forward termination signals to it, reap it,
//! and turn its end into an exit code (`128 + n` for a signal `n`).
//!
//! Signal handlers only store the signal number in an atomic and write a
//! byte to a self-pipe; everything else happens in the main loop.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, kill, sigaction};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::exit;

static PENDING: AtomicU64 = AtomicU64::new(0);
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: i32) {
    if (1..64).contains(&sig) {
        PENDING.fetch_or(1 << sig, Ordering::SeqCst);
    }
    let fd = WAKE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the fd is a non-blocking
        // pipe owned by the process for its whole life, and a full pipe
        // only means a wake-up is already pending.
        unsafe {
            nix::libc::write(fd, [1u8].as_ptr().cast(), 1);
        }
    }
}

/// Install `on_signal` for `signals` (no SA_RESTART, so blocking calls
/// return EINTR and the caller notices at once).
pub fn catch(signals: &[Signal]) -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for &sig in signals {
        // SAFETY: the handler only touches atomics and calls write(2).
        unsafe { sigaction(sig, &action) }
            .map_err(|e| Error::failure(format!("cannot install a handler: {e}"), sig.as_str()))?;
    }
    Ok(())
}

/// A self-pipe that caught signals write to; poll its read end.
pub fn self_pipe() -> Result<OwnedFd> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::failure(format!("cannot create a pipe: {e}"), "self-pipe"))?;
    // The write end lives as long as the process: handlers may fire at any time.
    WAKE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
    std::mem::forget(write);
    Ok(read)
}

/// Take every signal caught since the previous call, lowest number first.
pub fn take_signals() -> Vec<Signal> {
    let bits = PENDING.swap(0, Ordering::SeqCst);
    (1..64)
        .filter(|n| bits & (1 << n) != 0)
        .filter_map(|n| Signal::try_from(n).ok())
        .collect()
}

/// Read and discard whatever the self-pipe holds.
pub fn drain_pipe(fd: &OwnedFd) {
    let mut buf = [0u8; 64];
    while matches!(nix::unistd::read(fd, &mut buf), Ok(n) if n > 0) {}
}

/// The exit code a wait status maps to: the code, or `128 + n` for signal n.
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(exit::SIGNAL_BASE + sig as i32),
        _ => None,
    }
}

/// Run `cmd` as a child and wait for it, forwarding SIGTERM, SIGINT and
/// SIGHUP to it so the caller's locks are held exactly while it runs.
/// Returns the child's exit code (or `128 + n`), truncated to a byte.
///
/// The signals (and SIGCHLD) are blocked before the child starts and taken
/// with `sigwait`, so one that arrives at any moment, even before the wait
/// begins, is forwarded rather than lost. The child gets them unblocked
/// again (a mask is inherited across exec). A signal still pending when
/// the mask is restored only reaches a handler that sets a flag: it does
/// not end this process.
pub fn run_forwarding(cmd: &[String]) -> Result<u8> {
    let (program, args) = cmd.split_first().ok_or_else(|| {
        Error::usage("no command given", "--").hint("orc-lock run NAME -- CMD ARGS...")
    })?;
    let forwarded = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];
    catch(&forwarded)?;
    // A handler, not the default, so SIGCHLD is never discarded as ignored.
    catch(&[Signal::SIGCHLD])?;
    let mut set = SigSet::empty();
    for sig in forwarded.into_iter().chain([Signal::SIGCHLD]) {
        set.add(sig);
    }
    set.thread_block()
        .map_err(|e| Error::failure(format!("cannot block signals: {e}"), program.clone()))?;
    let result = spawn_and_wait(program, args, &set);
    let _ = set.thread_unblock();
    result
}

fn spawn_and_wait(program: &str, args: &[String], set: &SigSet) -> Result<u8> {
    let mut command = Command::new(program);
    command.args(args);
    let blocked = *set;
    // SAFETY: the closure runs between fork and exec, where only
    // async-signal-safe calls are allowed: it calls pthread_sigmask (which
    // is) and allocates nothing.
    unsafe {
        command.pre_exec(move || blocked.thread_unblock().map_err(std::io::Error::from));
    }
    let child = command
        .spawn()
        .map_err(|e| Error::failure(format!("cannot run the command: {e}"), program))?;
    let pid = Pid::from_raw(child.id() as i32);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(u8::try_from(code).unwrap_or(exit::FAILURE));
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::failure(
                    format!("cannot wait for the command: {e}"),
                    program,
                ));
            }
        }
        match set.wait() {
            Ok(Signal::SIGCHLD) | Err(Errno::EINTR) => {}
            Ok(sig) => {
                let _ = kill(pid, sig);
            }
            Err(e) => {
                return Err(Error::failure(
                    format!("cannot wait for a signal: {e}"),
                    program,
                ));
            }
        }
    }
}

/// Close every descriptor above standard error that the process inherited:
/// a supervisor that lives for hours must not keep its caller's pipes open
/// (`$(orc-spawn 4 5>&1)` would wait for the agent's whole life), and its
/// children must not inherit them. Call it first thing in `main`, before
/// anything of the process's own is open.
pub fn close_inherited_fds() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range(2) only closes descriptors; nothing of this
        // process is open above 2 yet.
        let done = unsafe { nix::libc::syscall(nix::libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
        if done == 0 {
            return;
        }
    }
    // Older kernels and other systems: what /dev/fd lists.
    let fds: Vec<i32> = std::fs::read_dir("/dev/fd")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: closing a descriptor the process inherited and does not
        // use; the one read_dir had open is closed already (EBADF).
        unsafe {
            nix::libc::close(fd);
        }
    }
}

/// Double fork: the caller's child exits at once (so the caller reaps it
/// and leaves no zombie); the grandchild runs in a new session, detached
/// from the caller's terminal, and is adopted by init. Returns true in the
/// process that should exit now. Call it while single-threaded.
pub fn detach() -> Result<bool> {
    use nix::unistd::{ForkResult, fork, setsid};
    // SAFETY: callers run this first thing in main, single-threaded, so the
    // child inherits no lock held by another thread.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => Ok(true),
        Ok(ForkResult::Child) => {
            setsid().map_err(|e| Error::failure(format!("setsid failed: {e}"), "detach"))?;
            Ok(false)
        }
        Err(e) => Err(Error::failure(format!("fork failed: {e}"), "detach")),
    }
}
