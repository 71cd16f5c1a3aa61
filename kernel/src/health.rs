//! Health verdicts for `orc-ps --health`: healthy, zombie (the record says
//! it runs, its shim is gone), blocked (the agent waits on a permission
//! prompt), unknown (cannot tell). Unknown is never coerced to either.

use std::fmt;

use serde::Serialize;

use crate::liveness::Liveness;
use crate::procdir::Proc;
use crate::record::Record;

/// A worker's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Running with a live shim, or ended (nothing to watch over).
    Healthy,
    /// The record says it runs but its shim is verifiably dead.
    Zombie,
    /// The agent waits on a person (a permission prompt).
    Blocked,
    /// Cannot tell: no shim identity yet, or liveness unreadable.
    Unknown,
}

impl Verdict {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Zombie => "zombie",
            Verdict::Blocked => "blocked",
            Verdict::Unknown => "unknown",
        }
    }

    /// Whether this verdict makes `orc-ps --health` exit 1.
    pub fn is_unhealthy(self) -> bool {
        self != Verdict::Healthy
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a running worker has waited on a person, and why: its output
/// shows it blocked (see [`verdict`]) and the log has not changed since
/// (an agent at a prompt prints nothing more). `None` when not blocked.
pub fn blocked_for(proc: &Proc) -> Option<(std::time::Duration, String)> {
    let why = crate::agent::blocked_reason(&proc.log_tail())?;
    let changed = std::fs::metadata(proc.log_path())
        .and_then(|m| m.modified())
        .ok()?;
    let waited = std::time::SystemTime::now()
        .duration_since(changed)
        .unwrap_or_default();
    Some((waited, why))
}

/// The verdict on one worker. Blocked is read from the end of the agent's
/// output in the proc log (a permission prompt on screen, or a headless
/// Claude turn whose tools were refused for permission).
pub fn verdict(proc: &Proc, record: Option<&Record>) -> Verdict {
    let Some(record) = record else {
        return Verdict::Unknown;
    };
    if !record.state.is_active() {
        return Verdict::Healthy;
    }
    let Ok(Some(ids)) = proc.shim() else {
        return Verdict::Unknown;
    };
    match ids.shim.liveness() {
        Liveness::Dead => Verdict::Zombie,
        Liveness::Unknown => Verdict::Unknown,
        Liveness::Alive if crate::agent::looks_blocked(&proc.log_tail()) => Verdict::Blocked,
        Liveness::Alive => Verdict::Healthy,
    }
}
