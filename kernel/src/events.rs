//! The session event log, `events.jsonl`: one JSON line per lifecycle
//! event, appended in a single write so concurrent writers never mix lines.

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::fsutil::append_line;
use crate::ids::{Issue, Kind};
use crate::record::Record;
use crate::session::Session;

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened.
    pub ts: String,
    /// What happened: `spawned`, `state`, `notify`, `signal`, `crashed`, …
    pub event: String,
    /// The issue, if the event concerns a worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<Issue>,
    /// The worker kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// The worker's state after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The worker's result, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// What a forced cleanup discarded, so a person can get it back with
    /// `git branch <name> <tip>` until git's own gc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discarded: Option<Discarded>,
    /// The process that wrote the event.
    pub pid: u32,
}

/// Work a forced cleanup discarded: a branch's tip, or a worktree's HEAD
/// (and a commit of its uncommitted changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discarded {
    /// The branch deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The worktree removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<String>,
    /// The commit the branch or the worktree's HEAD pointed at.
    pub tip: String,
    /// A commit of the worktree's uncommitted changes, untracked files
    /// included (`git checkout <sha> -- .` restores them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<String>,
}

impl Event {
    /// An event about a worker, from its record.
    pub fn of(event: &str, record: &Record) -> Result<Event> {
        Ok(Event {
            ts: clock::now_rfc3339()?,
            event: event.to_string(),
            issue: Some(record.issue),
            kind: Some(record.kind),
            state: Some(record.state.to_string()),
            result: record.result.map(|r| r.to_string()),
            detail: record.detail.clone(),
            discarded: None,
            pid: std::process::id(),
        })
    }
}

/// Append `event` to the session's log.
pub fn append(session: &Session, event: &Event) -> Result<()> {
    let line = serde_json::to_string(event)
        .map_err(|e| Error::failure(format!("cannot encode event: {e}"), event.event.clone()))?;
    // A session may have no directory yet: one that only held a lock taken
    // with `orc-lock acquire` (its cleanup still logs what it released).
    crate::fsutil::ensure_private_dir(session.dir())?;
    append_line(&session.events_path(), &crate::secret::redact(&line))
}
