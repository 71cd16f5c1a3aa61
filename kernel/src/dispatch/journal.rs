//! Where dispatch writes down what it decided about an issue, so a
//! dispatcher killed at any moment picks up where it stopped.
//!
//! The journal of an issue is `dispatch.json` in its worker's proc
//! directory, beside the record it is about: it exists only once a worker
//! does, and `orc-cleanup` removes it with the worker, which is what a
//! fresh start of the issue should mean. An issue with no worker needs no
//! journal: the tracker says all there is to know about it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{read_json, write_atomic};
use crate::ids::Kind;
use crate::liveness::ProcessId;
use crate::procdir::Proc;

/// Where an issue stands in the run queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    /// Waiting for its dependencies or a free slot; starts a fresh worker.
    Queued,
    /// A worker or reviewer of the issue runs.
    Running {
        /// Which one.
        kind: Kind,
    },
    /// Waiting until `until` (a retry's backoff or a usage limit's reset),
    /// then `then`.
    Wait {
        /// RFC 3339.
        until: String,
        /// What comes after the wait.
        then: Then,
    },
    /// Next: a new attempt of the worker (a retry).
    Retry,
    /// Next: the worker resumes with a reviewer's change request.
    Resume,
    /// Next: a reviewer for the worker's pull request.
    Review,
    /// The worker's claim is being verified: its pull request's checks
    /// are still running, or GitHub could not be reached. Looked at again
    /// at `until`.
    Verify {
        /// RFC 3339.
        until: String,
    },
    /// `gh pr merge` was called or is about to be.
    Merging,
    /// The dispatcher asked the worker (or reviewer) to checkpoint and
    /// stop (TERM), and waits for it to end.
    Stopping {
        /// Which one.
        kind: Kind,
        /// Why it was asked.
        why: Stop,
    },
    /// Nothing more to do in this run.
    Done {
        /// How it ended.
        end: End,
    },
}

/// What follows a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Then {
    /// Another attempt of the worker.
    Retry,
    /// Another try at the review (the reviewer was throttled).
    Review,
    /// Another try at the merge (GitHub could not be reached).
    Merge,
}

/// Why the dispatcher stops a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// No progress for `ORC_STALL_TIMEOUT`: retried as `stalled`.
    Stall,
    /// The issue was closed, unlabelled or no longer matches the queue.
    Cancel,
}

/// How an issue's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum End {
    /// Its pull request is merged, and the evidence says so.
    Merged,
    /// Approved, and left for a person to merge (`ORC_AUTO_MERGE` is off).
    Approved,
    /// It failed more often than the retries allow, or was stopped.
    GaveUp,
    /// A person must decide: review rounds ran out, a merge conflict, red
    /// checks after a merge, a blocked or failed review.
    Escalated,
    /// The worker claimed success but the evidence is missing.
    Unverified,
    /// Suspended by someone; `orc-ctl resume` continues it.
    Suspended,
    /// Its dependencies never got merged in this run.
    Held,
    /// Not dispatched: closed, or locked by another session.
    Skipped,
    /// Still running or waiting when a `--once` pass ended.
    Pending,
}

impl End {
    /// The name in events and the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            End::Merged => "merged",
            End::Approved => "approved",
            End::GaveUp => "gave-up",
            End::Escalated => "escalated",
            End::Unverified => "unverified",
            End::Suspended => "suspended",
            End::Held => "held",
            End::Skipped => "skipped",
            End::Pending => "pending",
        }
    }

    /// Whether the issue ended well (exit 0 needs every issue to). Skipped
    /// issues were never part of the run, and pending ones (`--once`) have
    /// not ended.
    pub fn is_good(self) -> bool {
        matches!(
            self,
            End::Merged | End::Approved | End::Skipped | End::Pending
        )
    }
}

/// `dispatch.json`: the phase and the counters that survive a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Where the issue stands.
    #[serde(flatten)]
    pub phase: Phase,
    /// Failed attempts so far (failed, crashed, timeout, error).
    #[serde(default)]
    pub failures: u32,
    /// Usage-limit requeues so far (not failures).
    #[serde(default)]
    pub throttles: u32,
    /// Attempts stopped for making no progress (not failures).
    #[serde(default)]
    pub stalls: u32,
    /// The worker attempt whose end dispatch has acted on: a later one
    /// that ended is news, an earlier one is history.
    #[serde(default)]
    pub handled_attempt: u32,
    /// The shim of the reviewer whose verdict dispatch has acted on.
    #[serde(default)]
    pub handled_review: Option<ProcessId>,
    /// The pull request, once known.
    #[serde(default)]
    pub pr: Option<u32>,
    /// The last thing worth saying about the issue.
    #[serde(default)]
    pub detail: String,
    /// Why the worker resumes (a failed check's output), for its prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The base's new tip of a local merge, written before the base moves:
    /// a run killed after the move finds the merge done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landed: Option<String>,
    /// The pull request's head commit as it was verified: the merge is
    /// asked for with exactly that head (`--match-head-commit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_head: Option<String>,
    /// Since when the pull request's checks (or GitHub) are waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<String>,
    /// GitHub calls that failed in a row (transient: retried with backoff).
    #[serde(default)]
    pub gh_errors: u32,
}

impl Journal {
    /// A journal for an issue that has not started.
    pub fn new() -> Journal {
        Journal {
            phase: Phase::Queued,
            failures: 0,
            throttles: 0,
            stalls: 0,
            handled_attempt: 0,
            handled_review: None,
            pr: None,
            detail: String::new(),
            reason: None,
            landed: None,
            pr_head: None,
            waiting_since: None,
            gh_errors: 0,
        }
    }
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new()
    }
}

fn path(worker: &Proc) -> std::path::PathBuf {
    worker.dir().join("dispatch.json")
}

/// The journal of `worker`, if dispatch wrote one.
pub fn load(worker: &Proc) -> Result<Option<Journal>> {
    read_json(&path(worker), "dispatch journal")
}

/// Write the journal of `worker` (only once the worker's directory exists).
pub fn save(worker: &Proc, journal: &Journal) -> Result<()> {
    if !worker.exists() {
        return Ok(());
    }
    let bytes = serde_json::to_vec_pretty(journal).map_err(|e| {
        Error::failure(
            format!("cannot encode the dispatch journal: {e}"),
            worker.dir().display().to_string(),
        )
    })?;
    // Under the proc lock: writers of the record clear temporary files of
    // the directory, and must not take this write's for a leftover.
    let _guard = worker.guard()?;
    write_atomic(&path(worker), &bytes, 0o600)
}

/// Whether writing `journal` for `worker` would tell the next dispatcher
/// nothing: the worker has no journal yet, and this one says only that
/// its fresh first attempt runs, which is what a worker without a journal
/// means to the next dispatcher (adopt.rs). Such a write is skipped: it
/// costs a synced write an issue, and the next decision writes it all.
pub fn says_nothing_new(worker: &Proc, journal: &Journal) -> bool {
    only_running(journal) && !path(worker).exists()
}

/// A fresh first attempt of a worker runs, and nothing else is known.
fn only_running(journal: &Journal) -> bool {
    journal.phase == (Phase::Running { kind: Kind::Worker })
        && Journal {
            phase: Phase::Queued,
            ..journal.clone()
        } == Journal::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fresh_worker_that_runs_says_nothing_new() {
        let running = Journal {
            phase: Phase::Running { kind: Kind::Worker },
            ..Journal::new()
        };
        assert!(only_running(&running));
        assert!(!only_running(&Journal::new()));
        let reviewer = Journal {
            phase: Phase::Running {
                kind: Kind::Reviewer,
            },
            ..Journal::new()
        };
        assert!(!only_running(&reviewer));
        for known in [
            Journal {
                failures: 1,
                ..running.clone()
            },
            Journal {
                handled_attempt: 1,
                ..running.clone()
            },
            Journal {
                detail: "waits for #5".into(),
                ..running.clone()
            },
            Journal {
                pr: Some(3),
                ..running.clone()
            },
        ] {
            assert!(!only_running(&known), "{known:?}");
        }
    }

    #[test]
    fn round_trips_with_the_phase_flattened() {
        let j = Journal {
            phase: Phase::Wait {
                until: "2026-11-30T08:00:30.000Z".into(),
                then: Then::Retry,
            },
            failures: 1,
            ..Journal::new()
        };
        let text = serde_json::to_string(&j).unwrap_or_default();
        assert!(text.starts_with(r#"{"phase":"wait","until":"#), "{text}");
        let back: Journal = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, j);
        let done: Journal =
            serde_json::from_str(r#"{"phase":"done","end":"gave-up"}"#).unwrap_or_default();
        assert_eq!(done.phase, Phase::Done { end: End::GaveUp });
    }
}
