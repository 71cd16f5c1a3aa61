//! Is a process alive? Judged by pid *and* start time, so a reused pid is
//! never mistaken for the original, and never "dead" on doubt.

use std::fmt;

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// A process identity that survives pid reuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The process id.
    pub pid: i32,
    /// Its start time in clock ticks since boot (`/proc/<pid>/stat` field
    /// 22), or 0 where the platform cannot tell.
    pub start_time: u64,
}

/// The verdict on a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// It runs (and is the same process).
    Alive,
    /// Verifiably gone: no such pid, a zombie, or a different process now.
    Dead,
    /// Cannot tell; never coerced to dead.
    Unknown,
}

impl Liveness {
    /// `yes`, `no` or `unknown`, as `orc-ps` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "yes",
            Liveness::Dead => "no",
            Liveness::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Liveness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ProcessId {
    /// The identity of `pid` now, if it exists.
    pub fn of(pid: i32) -> Option<ProcessId> {
        let stat = read_stat(pid)?;
        Some(ProcessId {
            pid,
            start_time: stat.start_time,
        })
    }

    /// The identity of the calling process.
    pub fn current() -> ProcessId {
        let pid = std::process::id() as i32;
        ProcessId::of(pid).unwrap_or(ProcessId { pid, start_time: 0 })
    }

    /// Whether this exact process still runs.
    pub fn liveness(&self) -> Liveness {
        if self.pid <= 0 {
            return Liveness::Unknown;
        }
        match kill(Pid::from_raw(self.pid), None) {
            Err(Errno::ESRCH) => return Liveness::Dead,
            Ok(()) | Err(Errno::EPERM) => {}
            Err(_) => return Liveness::Unknown,
        }
        match read_stat(self.pid) {
            Some(stat) if stat.zombie => Liveness::Dead,
            Some(stat) if self.start_time != 0 && stat.start_time != self.start_time => {
                Liveness::Dead
            }
            Some(_) => Liveness::Alive,
            // The pid existed a moment ago; it may have just exited, or /proc
            // is not readable here. Look once more before judging.
            None => match kill(Pid::from_raw(self.pid), None) {
                Err(Errno::ESRCH) => Liveness::Dead,
                _ if cfg!(target_os = "linux") => Liveness::Unknown,
                _ => Liveness::Alive,
            },
        }
    }
}

struct Stat {
    start_time: u64,
    zombie: bool,
}

/// Parse `/proc/<pid>/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
#[cfg(target_os = "linux")]
fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?;
    // After the state (field 3), start time is field 22: 19 more fields on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(Stat {
        start_time,
        zombie: state == "Z" || state == "X",
    })
}

#[cfg(not(target_os = "linux"))]
fn read_stat(pid: i32) -> Option<Stat> {
    kill(Pid::from_raw(pid), None).ok()?;
    Some(Stat {
        start_time: 0,
        zombie: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive_and_a_reaped_child_is_dead() {
        assert_eq!(ProcessId::current().liveness(), Liveness::Alive);
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let id = ProcessId::of(child.id() as i32);
        let _ = child.wait();
        if let Some(id) = id {
            assert_eq!(id.liveness(), Liveness::Dead);
        }
    }

    #[test]
    fn a_different_start_time_is_another_process() {
        let me = ProcessId::current();
        let impostor = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert_eq!(impostor.liveness(), Liveness::Dead);
    }
}
