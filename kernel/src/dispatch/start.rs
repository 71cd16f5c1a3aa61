//! Starting work as slots free: fresh workers, retries, resumes after a
//! review, and reviewers, all in-process through `spawn::spawn` (the same
//! code `orc-spawn` runs, so a dispatched worker is an ordinary worker:
//! its own shim, lock, worktree and record, and nothing of it depends on
//! the dispatcher staying alive).

use crate::cleanup;
use crate::error::{Kind as ErrorKind, Result};
use crate::ids::Kind;
use crate::procdir::Proc;
use crate::spawn::{self, Request, Spawned};

use super::engine::Dispatcher;
use super::journal::{self, End, Phase};
use super::step::{Line, Step};

/// How one start went.
enum Started {
    /// It runs.
    Yes,
    /// No slot after all (another tool's worker took it): try later.
    NoSlot,
    /// It did not start, and the issue moved on (retry, skip, escalate).
    No,
}

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Start what is ready, most urgent first, while slots are free: work
    /// already under way (retries, resumes, reviews) before new issues.
    pub(super) fn start_ready(&mut self) -> Result<()> {
        if self.stop {
            // Asked to stop: what runs is left for the next dispatcher to
            // adopt, and nothing new is begun.
            return Ok(());
        }
        let mut order: Vec<usize> = Vec::new();
        for continuing in [true, false] {
            for (i, it) in self.items.iter().enumerate() {
                let ready = match it.j.phase {
                    _ if it.hold => false,
                    Phase::Retry | Phase::Resume | Phase::Review => continuing,
                    Phase::Queued => {
                        !continuing
                            && !self.opts.land
                            && it.held.is_none()
                            && self.blockers(it).is_empty()
                    }
                    _ => false,
                };
                if ready {
                    order.push(i);
                }
            }
        }
        for i in order {
            if self.running() >= self.set.max {
                break;
            }
            if self.items[i].j.phase == Phase::Review && self.reviewers() >= self.set.max_reviewers
            {
                // ORC_MAX_REVIEWERS: the slot goes to a worker instead.
                continue;
            }
            if let Started::NoSlot = self.start(i)? {
                break;
            }
        }
        Ok(())
    }

    fn start(&mut self, i: usize) -> Result<Started> {
        let issue = self.items[i].issue();
        let kind = match self.items[i].j.phase {
            Phase::Review => Kind::Reviewer,
            _ => Kind::Worker,
        };
        if kind == Kind::Worker
            && let Some(why) = self.not_wanted(i)?
        {
            self.emit(Step::Skipped {
                issue,
                reason: why.clone(),
            })?;
            self.end(i, End::Skipped, why)?;
            return Ok(Started::No);
        }
        let mut req = Request {
            issue: Some(issue),
            kind: Some(kind),
            priority: Some(self.items[i].priority()),
            repo_slug: self.opts.repo_slug.clone(),
            tracker: Some(self.tracker.as_str().to_string()),
            ..Request::default()
        };
        match self.items[i].j.phase {
            Phase::Review => {
                req.pr = self.items[i].j.pr;
                let reviewer = Proc::new(&self.ctx.session, Kind::Reviewer, issue);
                if reviewer.exists() {
                    // The last round's reviewer: its verdict is acted on.
                    let opts = cleanup::Options::default();
                    if let Err(e) = cleanup::cleanup(&self.ctx, Kind::Reviewer, issue, opts) {
                        return self.not_started(i, kind, e);
                    }
                }
            }
            Phase::Resume => {
                req.resume = true;
                if let Some(reason) = self.items[i].j.reason.clone() {
                    // A failed check: its output is the resume's reason.
                    let checkpoint = self.worker(issue).checkpoint_path();
                    let checkpoint = checkpoint.exists().then_some(checkpoint.as_path());
                    req.prompt = Some(crate::agent::default_prompt(
                        Kind::Worker,
                        issue,
                        checkpoint,
                        Some(&reason),
                    ));
                }
            }
            Phase::Retry => match self.prepare_retry(i) {
                Ok(resume) => req.resume = resume,
                Err(e) => return self.not_started(i, kind, e),
            },
            _ => {}
        }
        match spawn::spawn(&self.ctx, &req) {
            Ok(s) => self.started(i, &s).map(|()| Started::Yes),
            Err(e) => self.not_started(i, kind, e),
        }
    }

    /// A retry continues the last attempt in its worktree when there is
    /// one; a worker whose worktree is gone (or never came to be) starts
    /// afresh once its leftovers are cleaned up. Cleanup keeps a branch
    /// that holds commits found nowhere else, and then spawn refuses to
    /// start over it: work is never lost to a retry.
    fn prepare_retry(&mut self, i: usize) -> Result<bool> {
        let issue = self.items[i].issue();
        let worker = self.worker(issue);
        let Some(rec) = worker.read()? else {
            return Ok(false);
        };
        let has_worktree = rec
            .worktree
            .as_deref()
            .is_some_and(|w| std::path::Path::new(w).is_dir());
        if has_worktree {
            return Ok(true);
        }
        cleanup::cleanup(&self.ctx, Kind::Worker, issue, cleanup::Options::default())?;
        Ok(false)
    }

    fn started(&mut self, i: usize, s: &Spawned) -> Result<()> {
        let resumed =
            matches!(self.items[i].j.phase, Phase::Retry | Phase::Resume) && s.attempt > 1;
        if s.kind == Kind::Worker {
            self.items[i].attempts = s.attempt;
            if s.attempt == 1 {
                // A fresh worker (after its leftovers were cleaned up): its
                // attempts count from one again.
                self.items[i].j.handled_attempt = 0;
            }
        }
        if s.kind == Kind::Worker {
            self.items[i].j.reason = None;
        }
        let running = Phase::Running { kind: s.kind };
        let proc = Proc::new(&self.ctx.session, s.kind, s.issue);
        let mut told = self.items[i].j.clone();
        told.phase = running.clone();
        if journal::says_nothing_new(&proc, &told) {
            self.items[i].j = told;
            self.dirty = true;
        } else {
            self.set_phase(i, running)?;
        }
        self.bells.watch(&proc);
        self.fresh = true;
        let step = Step::Spawned {
            issue: s.issue,
            kind: s.kind,
            attempt: s.attempt,
            resumed,
            running: self.running(),
            max: self.set.max,
        };
        self.emit(step)
    }

    /// A start that failed: wait for a slot, leave the issue to whoever
    /// holds its lock, or count a failure.
    fn not_started(&mut self, i: usize, kind: Kind, e: crate::Error) -> Result<Started> {
        let issue = self.items[i].issue();
        match e.kind() {
            ErrorKind::AtCapacity => return Ok(Started::NoSlot),
            ErrorKind::Locked => {
                self.emit(Step::Skipped {
                    issue,
                    reason: e.to_string(),
                })?;
                self.end(i, End::Skipped, e.to_string())?;
            }
            // Bad input (an issue's priority, a branch name) will not be
            // better on the next try.
            ErrorKind::Usage => {
                self.end(i, End::GaveUp, format!("cannot start: {e}"))?;
            }
            _ if e.what().contains("escalated after") => {
                self.escalate(i, e.what().to_string())?;
            }
            _ if kind == Kind::Reviewer => {
                self.escalate(i, format!("the review could not start: {e}"))?;
            }
            _ => {
                self.emit(Step::Warning {
                    issue: Some(issue),
                    detail: format!("could not start the worker: {e}"),
                })?;
                self.failure(i, format!("could not start: {}", e.what()))?;
            }
        }
        Ok(Started::No)
    }
}
