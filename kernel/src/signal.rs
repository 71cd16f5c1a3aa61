//! Cooperative signals: a pending-signal file in the proc directory that the
//! worker checks at phase boundaries, consumed atomically by rename.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::procdir::Proc;

/// A signal the orchestrator can send a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// Stop at a checkpoint so the worker can be resumed later.
    Suspend,
    /// Stop soon and cleanly (result `cancelled`).
    Term,
    /// Stop now (the process group gets SIGKILL).
    Kill,
}

impl Signal {
    /// The name on the command line and in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Suspend => "SUSPEND",
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Signal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "TERM" => Ok(Signal::Term),
            "SUSPEND" => Ok(Signal::Suspend),
            "KILL" => Ok(Signal::Kill),
            _ => Err(Error::usage("unknown signal", s).hint("signals are TERM, SUSPEND, KILL")),
        }
    }
}

/// The content of the `signal` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Which signal.
    pub signal: Signal,
    /// When it was sent.
    pub sent_at: String,
    /// The process that sent it.
    pub from_pid: u32,
}

impl Pending {
    /// The line a worker sees: `TERM` plus when it was sent.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Leave `signal` pending for the worker. A stronger signal replaces a
/// weaker one (KILL > TERM > SUSPEND); the same one again leaves the
/// pending one as it is; a weaker one never downgrades it and is an error
/// of kind `NotApplied` (exit 6), with nothing written.
pub fn send(proc: &Proc, signal: Signal) -> Result<Pending> {
    let _guard = proc.guard()?;
    if let Some(current) = peek(proc)? {
        if current.signal == signal {
            return Ok(current);
        }
        if current.signal > signal {
            return Err(Error::new(
                crate::error::Kind::NotApplied,
                format!("{signal} not applied: {} is pending", current.signal),
                format!("{} {}", proc.kind(), proc.issue()),
            )
            .hint(format!(
                "the pending {} (sent at {}) stands; a weaker signal never replaces it",
                current.signal, current.sent_at
            )));
        }
    }
    let pending = Pending {
        signal,
        sent_at: clock::now_rfc3339()?,
        from_pid: std::process::id(),
    };
    write_atomic(&proc.signal_path(), pending.to_json().as_bytes(), 0o600)?;
    Ok(pending)
}

/// The pending signal, without consuming it.
pub fn peek(proc: &Proc) -> Result<Option<Pending>> {
    read(&proc.signal_path())
}

/// Take the pending signal: renamed away first, so of two consumers exactly
/// one gets it.
pub fn consume(proc: &Proc) -> Result<Option<Pending>> {
    // A file that does not parse is reported and kept, never taken away.
    if read(&proc.signal_path())?.is_none() {
        return Ok(None);
    }
    let taken = proc
        .dir()
        .join(format!(".signal-taken-{}", std::process::id()));
    match std::fs::rename(proc.signal_path(), &taken) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("take signal", &proc.signal_path(), e)),
    }
    let pending = read(&taken);
    let _ = std::fs::remove_file(&taken);
    pending
}

/// Drop any pending signal (a new attempt starts clean).
pub fn clear(proc: &Proc) -> Result<()> {
    match std::fs::remove_file(proc.signal_path()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &proc.signal_path(), e)),
    }
}

fn read(path: &std::path::Path) -> Result<Option<Pending>> {
    crate::fsutil::read_json(path, "signal file")
}
