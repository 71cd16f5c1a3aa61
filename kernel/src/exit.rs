//! The one exit-code table shared by every orc tool.
//!
//! Scripts branch on these numbers, so they never change meaning. The table
//! is also rendered into every tool's `--help` through [`TABLE`].

/// Success.
pub const OK: u8 = 0;
/// The operation failed (a clear message on stderr says why).
pub const FAILURE: u8 = 1;
/// The command line was wrong: unknown flag, bad issue id, unknown state.
pub const USAGE: u8 = 2;
/// `orc-state`: a cooperative signal is pending; the worker must act on it.
pub const SIGNAL_PENDING: u8 = 3;
/// `orc-spawn`: the session already runs `ORC_MAX_WORKERS` workers.
pub const AT_CAPACITY: u8 = 4;
/// `orc-spawn`, `orc-lock`: the issue lock is held by someone else.
pub const LOCKED: u8 = 5;
/// `orc-signal`: not applied, a stronger signal is already pending.
pub const NOT_APPLIED: u8 = 6;
/// `orc-cleanup`, `orc-spawn`: work found nowhere else was kept (a branch,
/// a worktree's changes or commits); `orc-cleanup --force` discards it.
pub const WORK_KEPT: u8 = 7;
/// Temporary failure (the agent was throttled); retry later.
pub const TEMPFAIL: u8 = 75;
/// `orc-watch`: the timeout passed before the workers ended; any tool: a
/// lock wait ran out (`ORC_LOCK_TIMEOUT`).
pub const TIMEOUT: u8 = 124;
/// The shim maps a child killed by signal `n` to `SIGNAL_BASE + n`.
pub const SIGNAL_BASE: i32 = 128;

/// The table as it appears at the end of every tool's long help.
pub const TABLE: &str = "\
Exit codes:
  0    ok
  1    failure
  2    usage error (bad flag, issue id, state or value)
  3    signal pending (orc-state)
  4    at capacity (orc-spawn)
  5    issue locked (orc-spawn, orc-lock)
  6    signal not applied: a stronger one is pending (orc-signal)
  7    work kept: a branch or worktree holds work found nowhere else (orc-cleanup, orc-spawn)
  75   temporary failure (throttled)
  124  timeout (orc-watch; any tool whose lock wait ran out)
  128+n  the agent was killed by signal n (orc-shim)";
