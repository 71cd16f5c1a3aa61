//! `queue.json`: the dispatcher's queue, its states and reasons.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{read_json, write_atomic};
use crate::ids::{Issue, Kind};
use crate::session::Session;

/// The format version of `queue.json`.
pub const VERSION: u32 = 1;

/// Where an issue stands, as people see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Waiting for a free slot.
    Queued,
    /// Waiting for its dependencies, or held by a person (`orc-queue hold`).
    Held,
    /// A worker works on it.
    Running,
    /// Waiting until `until` to try again (a backoff, a usage limit, a stall).
    WaitingRetry,
    /// Its pull request waits for its checks, or is being merged.
    WaitingCi,
    /// A reviewer looks at it, or will; or it is approved and waits for a
    /// person to merge.
    InReview,
    /// Merged.
    Landed,
    /// Failed more often than the retries allow, or was stopped.
    GaveUp,
    /// A person must decide (review rounds ran out, a claim without
    /// evidence, a conflict).
    Escalated,
    /// Waits for something that will not come in this run: a dependency
    /// that gave up, a dependency cycle, an open issue outside the queue.
    Blocked,
    /// Left out: closed, unlabelled, locked elsewhere, or skipped by a person.
    Skipped,
}

impl State {
    /// The name in `queue.json` and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Queued => "queued",
            State::Held => "held",
            State::Running => "running",
            State::WaitingRetry => "waiting-retry",
            State::WaitingCi => "waiting-ci",
            State::InReview => "in-review",
            State::Landed => "landed",
            State::GaveUp => "gave-up",
            State::Escalated => "escalated",
            State::Blocked => "blocked",
            State::Skipped => "skipped",
        }
    }

    /// Whether the issue's run is over (nothing more happens without an order).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Landed | State::GaveUp | State::Escalated | State::Skipped
        )
    }
}

/// The dispatcher that wrote the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatcherInfo {
    /// Its process id.
    pub pid: u32,
    /// Whether it was running when it wrote the file (false once it stopped).
    pub running: bool,
    /// Whether it follows the tracker (`--follow`).
    pub follow: bool,
    /// Where its issues come from: `label:L`, `query:Q` or `issues:1,2`.
    pub source: String,
    /// Workers and reviewers at once.
    pub max: usize,
    /// Reviewers at once (`ORC_MAX_REVIEWERS`, at most `max`).
    pub max_reviewers: usize,
    /// When it started.
    pub started_at: String,
    /// When it stopped, once it has.
    #[serde(default)]
    pub stopped_at: Option<String>,
}

/// One issue of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The issue.
    pub issue: Issue,
    /// Its place in the order (1 starts first).
    pub position: usize,
    /// Its title.
    pub title: String,
    /// Its priority: a person's override, else the tracker's (`normal`
    /// when it has none).
    pub priority: String,
    /// The priority it runs at: raised to that of an urgent issue held
    /// waiting for it.
    pub effective_priority: String,
    /// Where it stands.
    pub state: State,
    /// For `waiting-retry`: when it may run again.
    #[serde(default)]
    pub until: Option<String>,
    /// Why, in words.
    #[serde(default)]
    pub reason: String,
    /// The dependencies it waits for.
    #[serde(default)]
    pub waiting_for: Vec<Issue>,
    /// What runs for it now: worker or reviewer.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// Its pull request, once known.
    #[serde(default)]
    pub pr: Option<u32>,
    /// The worker's attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Failed attempts counted against the retries.
    #[serde(default)]
    pub failures: u32,
    /// Attempts stopped for making no progress (counted apart).
    #[serde(default)]
    pub stalls: u32,
    /// Requeues after a usage limit.
    #[serde(default)]
    pub throttles: u32,
    /// A person's order: do not start it (`orc-queue hold`).
    #[serde(default)]
    pub hold: bool,
    /// A person's order: leave it out (`orc-queue skip`).
    #[serde(default)]
    pub skip: bool,
    /// A person's order: this priority instead of the tracker's.
    #[serde(default)]
    pub priority_override: Option<String>,
}

impl Entry {
    /// An entry for `issue` about which nothing is known yet.
    pub fn new(issue: Issue) -> Entry {
        Entry {
            issue,
            position: 0,
            title: String::new(),
            priority: "normal".into(),
            effective_priority: "normal".into(),
            state: State::Queued,
            until: None,
            reason: String::new(),
            waiting_for: Vec::new(),
            kind: None,
            pr: None,
            attempts: 0,
            failures: 0,
            stalls: 0,
            throttles: 0,
            hold: false,
            skip: false,
            priority_override: None,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueFile {
    /// [`VERSION`].
    pub version: u32,
    /// The session.
    pub session: String,
    /// When it was written.
    pub updated_at: String,
    /// Who wrote it (absent when only `orc-queue` has written it).
    #[serde(default)]
    pub dispatcher: Option<DispatcherInfo>,
    /// The issues, in queue order.
    pub issues: Vec<Entry>,
}

impl QueueFile {
    /// The entry of `issue`.
    pub fn entry_mut(&mut self, issue: Issue) -> Option<&mut Entry> {
        self.issues.iter_mut().find(|e| e.issue == issue)
    }
}

/// `queue.json` of `session`.
pub fn path(session: &Session) -> PathBuf {
    session.dir().join("queue.json")
}

/// The queue of `session`, if a dispatcher ever wrote one.
pub fn load(session: &Session) -> Result<Option<QueueFile>> {
    let file: Option<QueueFile> = read_json(&path(session), "queue file")?;
    if let Some(f) = &file
        && f.version > VERSION
    {
        return Err(Error::failure(
            format!(
                "queue.json has format version {}, this orc reads {VERSION}",
                f.version
            ),
            path(session).display().to_string(),
        )
        .hint("a newer orc wrote it; use that version's orc-queue"));
    }
    Ok(file)
}

/// Replace the queue of `session`, atomically.
pub fn save(session: &Session, file: &QueueFile) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| {
        Error::failure(
            format!("cannot encode the queue: {e}"),
            path(session).display().to_string(),
        )
    })?;
    crate::fsutil::ensure_private_dir(session.dir())?;
    write_atomic(&path(session), &bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_have_the_documented_names() {
        let text = serde_json::to_string(&State::WaitingRetry).unwrap_or_default();
        assert_eq!(text, "\"waiting-retry\"");
        assert_eq!(State::InReview.as_str(), "in-review");
        let back: State = serde_json::from_str("\"waiting-ci\"").unwrap_or(State::Queued);
        assert_eq!(back, State::WaitingCi);
    }

    #[test]
    fn an_entry_round_trips_and_old_files_read() {
        let mut e = Entry::new(Issue::from(7));
        e.state = State::Blocked;
        e.reason = "waits for #3 (a dependency cycle: #3 -> #7 -> #3)".into();
        let text = serde_json::to_string(&e).unwrap_or_default();
        let back: Entry = serde_json::from_str(&text).unwrap_or(Entry::new(Issue::from(1)));
        assert_eq!(back, e);
        let minimal = r#"{"issue":3,"position":1,"title":"t","priority":"high",
            "effective_priority":"high","state":"queued"}"#;
        let m: Entry = serde_json::from_str(minimal).unwrap_or(Entry::new(Issue::from(1)));
        assert_eq!(m.issue, Issue::from(3));
        assert!(!m.hold);
    }
}
