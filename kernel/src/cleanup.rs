//! Reaping: stop a worker if it runs, then remove its worktree, branch,
//! trust entry and proc directory and release its lock, keeping the
//! lifecycle log. Idempotent, and it works when the worktree is gone.
//! Nothing found nowhere else is deleted without `--force` (see
//! `cleanup/worktrees.rs`).

mod worktrees;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::fsutil::ensure_private_dir;
use crate::ids::{Issue, Kind};
use crate::liveness::Liveness;
use crate::lock::IssueLock;
use crate::paths;
use crate::procdir::Proc;
use crate::record::{Outcome, Record};
use crate::trust;
use crate::worker;
use crate::worktree;

/// What to keep and how hard to push.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep the worktree and its branch (and their trust entry).
    pub keep_worktree: bool,
    /// Discard uncommitted changes, commits on no branch and unmerged
    /// branches (each tip logged first), and clean up a worker whose record
    /// cannot be read. A branch orc did not create is never deleted.
    pub force: bool,
}

/// What cleanup did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleaned {
    /// The issue.
    pub issue: u32,
    /// The worker's kind.
    pub kind: String,
    /// Whether a running worker was stopped.
    pub stopped: bool,
    /// Worktrees removed.
    pub worktrees: Vec<String>,
    /// Branches deleted.
    pub branches: Vec<String>,
    /// Branches kept because they hold commits found nowhere else.
    pub kept_branches: Vec<String>,
    /// Branches of the issue's shape that orc did not create: left alone.
    pub foreign_branches: Vec<String>,
    /// What `--force` discarded, each tip recorded first.
    pub discarded: Vec<crate::events::Discarded>,
    /// Whether the proc directory was removed.
    pub proc_removed: bool,
    /// Whether the issue lock was released.
    pub lock_released: bool,
    /// Where the worker's log was kept.
    pub log: Option<String>,
}

/// Clean up `kind`-`issue` of the context's session.
pub fn cleanup(ctx: &Context, kind: Kind, issue: Issue, opts: Options) -> Result<Cleaned> {
    let repo = ctx.repo()?.clone();
    let proc = Proc::new(&ctx.session, kind, issue);
    let mut done = Cleaned {
        issue: issue.get(),
        kind: kind.to_string(),
        ..Cleaned::default()
    };
    let record = match proc.read() {
        Ok(r) => r,
        Err(e) if opts.force => {
            crate::cli::warn("orc-cleanup", &e);
            None
        }
        Err(e) => return Err(e.hint("`orc-cleanup --force` removes it anyway")),
    };

    match &record {
        Some(r) => done.stopped = stop(ctx, &proc, r, opts.force)?,
        // No record to go by (corrupt, or never written): its shim and
        // agent, if shim.pid names them, are stopped all the same before
        // anything is removed or the lock freed.
        None => {
            if let Ok(Some(ids)) = proc.shim() {
                let runs = ids.shim.liveness() != Liveness::Dead
                    || ids.agent.is_some_and(|a| a.liveness() != Liveness::Dead);
                if runs {
                    done.stopped = kill_and_wait(&proc, Some(ids))?;
                }
            }
        }
    }
    if !opts.keep_worktree && kind == Kind::Worker {
        let removed = worktrees::remove(ctx, &repo, issue, record.as_ref(), &proc, opts.force)?;
        done.worktrees = removed.worktrees;
        done.branches = removed.branches;
        done.kept_branches = removed.kept_branches;
        done.foreign_branches = removed.foreign_branches;
        done.discarded = removed.discarded;
    }
    if !opts.keep_worktree && kind == Kind::Reviewer {
        // The reviewer's detached copy holds nothing of its own, unless it
        // committed there against its instructions.
        let path = crate::review::review_path(&repo, issue);
        if path.exists() {
            if let Some(head) = worktrees::reviewer_head_unheld(&repo, &path)? {
                if opts.force {
                    let d = crate::events::Discarded {
                        branch: None,
                        worktree: Some(path.display().to_string()),
                        tip: head,
                        changes: None,
                    };
                    worktrees::record_discard(ctx, &proc, issue, &d)?;
                    done.discarded.push(d);
                } else {
                    return Err(Error::new(
                    crate::error::Kind::WorkKept,
                    format!("the review worktree's HEAD ({head}) has commits found on no branch"),
                    path.display().to_string(),
                )
                .hint(format!(
                    "keep them with `git -C {} branch <name>`, or `orc-cleanup --force --kind reviewer {issue}` discards them",
                    path.display()
                )));
                }
            }
            worktree::remove_worktree(&repo, &path, "")?;
            if let Ok(home) = paths::home() {
                trust::revoke(&ctx.state, &home, &path)?;
            }
            done.worktrees.push(path.display().to_string());
        }
    }
    if proc.exists() {
        done.log = keep_log(ctx, &proc, record.as_ref())?;
        std::fs::remove_dir_all(proc.dir()).map_err(|e| Error::io("remove", proc.dir(), e))?;
        done.proc_removed = true;
    }
    if kind == Kind::Worker && !opts.keep_worktree {
        let lock = IssueLock::new(&ctx.state, &repo, issue);
        let session = ctx.session.name().to_string();
        done.lock_released = lock.release(|l| opts.force || l.session == session)?;
    }
    if done.stopped || done.proc_removed || done.lock_released || !done.worktrees.is_empty() {
        let mut event = match &record {
            Some(r) => Event::of("cleaned", r)?,
            None => Event {
                issue: Some(issue),
                kind: Some(kind),
                ..Event::of("cleaned", &Record::new(issue, kind, ctx.session.name(), ""))?
            },
        };
        event.detail = format!(
            "worktrees {:?}, branches {:?}, kept {:?}",
            done.worktrees, done.branches, done.kept_branches
        );
        events::append(&ctx.session, &event)?;
    }
    Ok(done)
}

/// Stop a worker that runs: record `killed` if its record says it runs,
/// SIGKILL the agent's group and the shim, and wait until both are gone.
/// A worker whose record has ended may still have live processes (an
/// agent that goes on after `orc-notify`, a shim finishing its log): they
/// are stopped too, and the record keeps its result.
fn stop(ctx: &Context, proc: &Proc, record: &Record, force: bool) -> Result<bool> {
    let ids = proc.shim()?;
    if !record.state.is_active() {
        // Only what verifiably runs: a pid of unknown fate is never killed.
        let alive = ids.is_some_and(|i| {
            i.shim.liveness() == Liveness::Alive
                || i.agent.is_some_and(|a| a.liveness() == Liveness::Alive)
        });
        // What a shim killed after the record was written left behind is
        // swept too (by identities with start times, never a bare pid).
        kill_and_wait(proc, ids)?;
        return Ok(alive);
    }
    if ids.is_none() && !force {
        return Err(Error::failure(
            format!(
                "{} {} is {} and has no shim yet (being spawned?)",
                record.kind, record.issue, record.state
            ),
            proc.dir().display().to_string(),
        )
        .hint("wait for orc-spawn to finish, or pass --force"));
    }
    worker::end(
        ctx,
        proc,
        Outcome::Killed,
        "stopped by orc-cleanup",
        "orc-cleanup",
        None,
    )?;
    kill_and_wait(proc, ids)
}

/// SIGKILL the shim and everything of its worker (the cgroup, the agent's
/// group, every process the sweep finds: also when the agent, the group's
/// leader, is already dead), and wait until all of it is gone.
fn kill_and_wait(proc: &Proc, ids: Option<crate::procdir::ShimIds>) -> Result<bool> {
    let Some(ids) = ids else { return Ok(true) };
    let left = crate::contain::stop_worker(proc, &ids, Duration::from_secs(10));
    if !left.is_empty() {
        return Err(Error::failure(
            format!("the worker did not stop within 10 s (pids {left:?} remain)"),
            proc.dir().display().to_string(),
        ));
    }
    Ok(true)
}

/// Move the worker's log to `sessions/<s>/logs/<kind>-<N>.<attempt>.log`.
fn keep_log(ctx: &Context, proc: &Proc, record: Option<&Record>) -> Result<Option<String>> {
    let log = proc.log_path();
    if !log.exists() {
        return Ok(None);
    }
    let dir = ctx.session.dir().join("logs");
    ensure_private_dir(&dir)?;
    let attempt = record.map_or(0, |r| r.attempt);
    let stem = format!("{}-{}.{attempt}", proc.kind(), proc.issue());
    let mut target: PathBuf = dir.join(format!("{stem}.log"));
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("{stem}.{n}.log"));
        n += 1;
    }
    std::fs::rename(&log, &target).map_err(|e| Error::io("keep the log at", &target, e))?;
    Ok(Some(target.display().to_string()))
}
