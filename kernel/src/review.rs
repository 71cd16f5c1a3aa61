//! Review rounds: a reviewer (a second agent, started by the launch
//! pipeline's reviewer plan) reads a worker's change and says `approved`,
//! `changes-requested` or `failed`. Requested changes become the worker's
//! resume reason, up to `ORC_REVIEW_MAX_ROUNDS` rounds, then the issue is
//! escalated to a person. This module keeps that history; it starts nothing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::context::{Context, TASK_FILE};
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::fsutil::write_atomic;
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::record::{Outcome, Record};
use crate::repo::Repo;

/// The worker's review history, `review.json` in the worker's proc dir.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewLog {
    /// How many rounds asked for changes.
    pub rounds: u32,
    /// The reason the next resume should address, until it is taken.
    #[serde(default)]
    pub pending: Option<String>,
    /// Whether the rounds ran out and a person must decide.
    #[serde(default)]
    pub escalated: bool,
}

pub(crate) fn log_path(worker: &Proc) -> PathBuf {
    worker.dir().join("review.json")
}

/// Read the worker's review log (empty when it has none).
pub fn read_log(worker: &Proc) -> Result<ReviewLog> {
    Ok(crate::fsutil::read_json(&log_path(worker), "review log")?.unwrap_or_default())
}

fn write_log(worker: &Proc, log: &ReviewLog) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(log).map_err(|e| {
        Error::failure(
            format!("cannot encode review log: {e}"),
            worker.dir().display().to_string(),
        )
    })?;
    write_atomic(&log_path(worker), &bytes, 0o600)
}

/// Where a reviewer of `issue` looks at the change.
pub fn review_path(repo: &Repo, issue: Issue) -> PathBuf {
    repo.root
        .join(".worktrees")
        .join("review")
        .join(issue.to_string())
}

/// After a reviewer's result: a change request becomes the worker's resume
/// reason (and a section of its task file); too many rounds escalate.
pub(crate) fn after_review(ctx: &Context, reviewer: &Record) -> Result<()> {
    if reviewer.result != Some(Outcome::ChangesRequested) {
        return Ok(());
    }
    let worker = Proc::new(&ctx.session, Kind::Worker, reviewer.issue);
    if !worker.exists() {
        return Ok(());
    }
    let _guard = worker.guard()?;
    let mut log = read_log(&worker)?;
    log.rounds += 1;
    log.pending = Some(reviewer.detail.clone());
    let max = ctx.config.number("ORC_REVIEW_MAX_ROUNDS")?;
    log.escalated = u64::from(log.rounds) >= max;
    write_log(&worker, &log)?;
    if let Some(dir) = worker.read()?.and_then(|w| w.worktree) {
        let task = Path::new(&dir).join(TASK_FILE);
        if task.exists() {
            let section = format!(
                "\n## Review round {}: changes requested\n\n{}\n",
                log.rounds, reviewer.detail
            );
            crate::fsutil::append_line(&task, section.trim_end())?;
        }
    }
    if log.escalated {
        let mut event = Event::of("escalated", reviewer)?;
        event.detail = format!(
            "{} review rounds (ORC_REVIEW_MAX_ROUNDS={max}); a person decides",
            log.rounds
        );
        events::append(&ctx.session, &event)?;
    }
    Ok(())
}

/// Take the pending review reason for a worker's resume. Refuses once the
/// rounds are exhausted: the issue waits for a person.
pub(crate) fn take_reason(worker: &Proc) -> Result<Option<String>> {
    let _guard = worker.guard()?;
    let mut log = read_log(worker)?;
    if log.escalated {
        return Err(Error::failure(
            format!(
                "issue {} was escalated after {} review rounds",
                worker.issue(),
                log.rounds
            ),
            log_path(worker).display().to_string(),
        )
        .hint("a person decides now; remove review.json to allow another round"));
    }
    let reason = log.pending.take();
    if reason.is_some() {
        write_log(worker, &log)?;
    }
    Ok(reason)
}
