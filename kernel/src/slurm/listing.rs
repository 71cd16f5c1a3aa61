//! What the controller says about many jobs, asked once: one `squeue` lists
//! every job of this user it holds, so a listing of many workers whose local
//! shims are gone (a login node rebooted under running jobs) costs one
//! client run instead of one `scontrol` per worker.
//!
//! The listing is kept for [`FRESH`] and shared by every caller in the
//! process. A job it does not list is asked about on its own
//! ([`super::lookup`]): absence from a listing is never taken for "ended",
//! and a listing that fails falls back the same way.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{JobInfo, JobState, Lookup, lookup};

/// How long one listing answers for.
pub const FRESH: Duration = Duration::from_secs(1);

/// The last listing and when it was taken.
static LAST: Mutex<Option<(Instant, HashMap<u64, JobInfo>)>> = Mutex::new(None);

/// What the controller says about job `id`: from a listing of at most
/// [`FRESH`] ago when it lists the job, otherwise from `scontrol`.
pub fn status(id: u64) -> Lookup {
    if let Some(info) = listed(id) {
        return Lookup::Known(info);
    }
    lookup(id)
}

/// Job `id` in the current listing, taking a new one when the last is stale.
fn listed(id: u64) -> Option<JobInfo> {
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let stale = last
        .as_ref()
        .is_none_or(|(taken, _)| taken.elapsed() >= FRESH);
    if stale {
        *last = take().map(|jobs| (Instant::now(), jobs));
    }
    last.as_ref()?.1.get(&id).cloned()
}

/// One `squeue` of this user's jobs in every state the controller still
/// holds; `None` when it cannot be run or fails.
fn take() -> Option<HashMap<u64, JobInfo>> {
    let out = Command::new("squeue")
        .args(["--noheader", "--me", "--all", "--states=all"])
        .args(["--format=%i|%T|%r|%N"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(parse_line)
            .map(|info| (info.id, info))
            .collect(),
    )
}

/// One line of the listing: `ID|STATE|REASON|NODES`. Array and
/// heterogeneous jobs (`12_3`, `12+1`) are not orc's and do not parse.
pub fn parse_line(line: &str) -> Option<JobInfo> {
    let mut fields = line.trim().split('|');
    let id = fields.next()?.parse().ok()?;
    let state = JobState::parse(fields.next()?);
    let reason = fields
        .next()
        .filter(|r| !r.is_empty() && *r != "None")
        .map(str::to_string);
    let nodes = fields
        .next()
        .filter(|n| !n.is_empty() && *n != "(null)")
        .map(str::to_string);
    Some(JobInfo {
        id,
        state,
        reason,
        exit: None,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_lines_parse() {
        let running = parse_line("41|RUNNING|None|node1").unwrap();
        assert_eq!(running.id, 41);
        assert_eq!(running.state, JobState::Running);
        assert_eq!(running.reason, None);
        assert_eq!(running.nodes.as_deref(), Some("node1"));
        let pending = parse_line("42|PENDING|Resources|\n").unwrap();
        assert_eq!(pending.state, JobState::Pending);
        assert_eq!(pending.reason.as_deref(), Some("Resources"));
        assert_eq!(pending.nodes, None);
        let ended = parse_line("43|CANCELLED|None|node1").unwrap();
        assert!(!ended.state.is_live());
        assert_eq!(parse_line("44_1|RUNNING|None|node1"), None);
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line("45"), None);
    }
}
