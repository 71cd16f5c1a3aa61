//! Building the run from the tracker and the session's records.
//!
//! On every start, killed or not before, dispatch asks the tracker for the
//! issues and then each issue's records where it stands: a worker that runs
//! is adopted (watched, never started again), an end nobody acted on yet is
//! acted on now, and a decision already written in the journal stands. The
//! issue lock is the final guard: an issue another session holds is left
//! alone.

use std::collections::HashMap;

use crate::error::Result;
use crate::ids::{Issue, Kind};
use crate::liveness::Liveness;
use crate::lock::{IssueLock, LockStatus};
use crate::procdir::Proc;
use crate::queue::Entry;
use crate::record::{Outcome, Record};
use crate::tracker::IssueData;
use crate::worker;

use super::engine::{Dispatcher, Item};
use super::journal::{self, End, Journal, Phase};
use super::queue;
use super::step::{Line, Step};

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Read the queue from the tracker and put every issue in its phase,
    /// with the orders a person gave (kept in `queue.json`).
    pub(super) fn load(&mut self) -> Result<()> {
        let root = self.ctx.repo()?.root.clone();
        let issues = queue::load(
            self.tracker,
            &root,
            self.opts.repo_slug.as_deref(),
            &self.opts.source,
        )?;
        let saved: HashMap<Issue, Entry> = crate::queue::load(&self.ctx.session)
            .ok()
            .flatten()
            .map(|f| f.issues.into_iter().map(|e| (e.issue, e)).collect())
            .unwrap_or_default();
        for data in issues {
            let orders = saved.get(&data.number).cloned();
            self.admit(data, orders.as_ref())?;
        }
        if self.opts.follow && !self.opts.dry_run {
            self.next_poll = std::time::Instant::now() + self.set.tracker_poll;
            if self.tracker == crate::tracker::TrackerKind::Local {
                self.bells.watch_dir(&root.join(".orc/issues"));
            }
        }
        self.judge_outside()?;
        self.sort_items();
        self.judge_holds()
    }

    /// Put one issue of the tracker in the queue, in its phase; `orders`
    /// are a person's, from an earlier run's `queue.json`.
    pub(super) fn admit(&mut self, data: IssueData, orders: Option<&Entry>) -> Result<()> {
        let mut item = Item::new(data);
        if let Some(o) = orders {
            item.hold = o.hold;
            item.skip = o.skip;
            item.prio.clone_from(&o.priority_override);
        }
        let issue = item.issue();
        let skipped = match self.place(&mut item) {
            Ok(skip) => skip,
            Err(e) => Some(format!("cannot read its records: {e}")),
        };
        let skipped = skipped.or_else(|| {
            let idle = !matches!(item.j.phase, Phase::Running { .. } | Phase::Stopping { .. });
            (item.skip && idle).then(|| "skipped by a person".to_string())
        });
        if let Some(reason) = skipped {
            item.j.phase = Phase::Done { end: End::Skipped };
            item.j.detail = reason.clone();
            self.items.push(item);
            return self.emit(Step::Skipped { issue, reason });
        }
        let position = 1 + self
            .items
            .iter()
            .filter(|it| it.j.phase != (Phase::Done { end: End::Skipped }))
            .count();
        let priority = item.priority();
        let title = item.data.title.clone();
        let phase = item.j.phase.clone();
        let adopted = self.adopted_kind(&item);
        self.items.push(item);
        self.emit(Step::Queued {
            issue,
            position,
            priority,
            title,
        })?;
        if let Some((kind, state)) = adopted {
            self.emit(Step::Adopted { issue, kind, state })
        } else if phase != Phase::Queued {
            let phase = super::engine::phase_name(&phase);
            self.emit(Step::Restored { issue, phase })
        } else {
            Ok(())
        }
    }

    /// A worker or reviewer of `item` that runs now (to report it adopted),
    /// and listen to its doorbell.
    fn adopted_kind(&mut self, item: &Item) -> Option<(Kind, String)> {
        let (Phase::Running { kind } | Phase::Stopping { kind, .. }) = item.j.phase else {
            return None;
        };
        let proc = Proc::new(&self.ctx.session, kind, item.issue());
        if !self.opts.dry_run {
            self.bells.watch(&proc);
        }
        let state = proc.read().ok().flatten().map(|r| r.state.to_string());
        Some((kind, state.unwrap_or_default()))
    }

    /// Put `item` in its phase from its records; `Some(reason)` to skip it.
    fn place(&mut self, item: &mut Item) -> Result<Option<String>> {
        if !item.data.open {
            return Ok(Some("closed in the tracker".into()));
        }
        let issue = item.issue();
        let worker = self.worker(issue);
        let record = worker.read()?;
        let lock = self.lock_status(issue)?;
        let ours = self.ctx.session.name().to_string();
        let foreign = lock
            .record()
            .filter(|r| r.session != ours)
            .map(|r| format!("locked by {} of session {}", r.holder.describe(), r.session));
        let Some(mut rec) = record else {
            return Ok(match (&lock, foreign) {
                (_, Some(why)) => Some(why),
                (LockStatus::Free | LockStatus::Stale(_), None) => None,
                (status, None) => Some(format!(
                    "locked ({}) by this session without a worker; `orc-lock release {issue}` frees it",
                    status.as_str()
                )),
            });
        };
        let j = journal::load(&worker)?;
        if rec.state.is_active() && !self.opts.dry_run {
            rec = self.end_orphan(&worker, &lock, rec)?;
        }
        item.attempts = rec.attempt;
        if let Some(stopping) = j
            .as_ref()
            .filter(|j| matches!(j.phase, Phase::Stopping { .. }))
        {
            // Asked to stop by the last dispatcher: its end is acted on as
            // that stop (a stall retried, a cancel left alone).
            item.j = stopping.clone();
            return Ok(None);
        }
        if rec.state.is_active() {
            item.j = j.unwrap_or_default();
            item.j.phase = Phase::Running { kind: Kind::Worker };
            return Ok(None);
        }
        if let Some(why) = foreign {
            return Ok(Some(why));
        }
        item.j = j.unwrap_or_default();
        if rec.attempt > item.j.handled_attempt {
            // An end nobody acted on: the loop's first turn acts on it.
            item.j.phase = Phase::Running { kind: Kind::Worker };
            return Ok(None);
        }
        if matches!(
            item.j.phase,
            Phase::Review
                | Phase::Running {
                    kind: Kind::Reviewer
                }
        ) {
            item.j.phase = self.review_phase(issue, &item.j)?;
        } else if item.j.phase == (Phase::Running { kind: Kind::Worker }) {
            item.j.phase = Phase::Retry;
        }
        match item.j.phase {
            // Never written by a run that ended well; start over.
            Phase::Done {
                end: End::Held | End::Skipped | End::Pending,
            } => item.j.phase = Phase::Retry,
            // Left for a person by a run without ORC_AUTO_MERGE; this run
            // merges.
            Phase::Done { end: End::Approved } if self.set.auto_merge => {
                item.j.phase = Phase::Merging;
            }
            // Merged on GitHub by a run killed before it reaped: the merge
            // step finds the pull request merged and reaps.
            Phase::Done { end: End::Merged }
                if self.set.land.place == crate::land::Where::Github
                    && unreaped(&self.ctx.repo()?.root, &rec) =>
            {
                item.j.phase = Phase::Merging;
            }
            _ => {}
        }
        Ok(None)
    }

    /// The issue lock's status. A plan only peeks at the holder record:
    /// taking the flock would create lock files, and a plan changes nothing.
    fn lock_status(&self, issue: Issue) -> Result<LockStatus> {
        let lock = IssueLock::new(&self.ctx.state, self.ctx.repo()?, issue);
        if !self.opts.dry_run {
            return lock.check();
        }
        Ok(match lock.peek()? {
            None => LockStatus::Free,
            Some(r) => match (r.holder.process(), &r.kept_by) {
                (Some(id), None) => match id.liveness() {
                    Liveness::Dead => LockStatus::Stale(r),
                    Liveness::Alive => LockStatus::Held(r),
                    Liveness::Unknown => LockStatus::Unknown(r),
                },
                _ => LockStatus::Held(r),
            },
        })
    }

    /// Where a review stands: a reviewer that runs, or one whose verdict
    /// nobody acted on, is watched; otherwise a review is still needed.
    fn review_phase(&mut self, issue: Issue, j: &Journal) -> Result<Phase> {
        let proc = Proc::new(&self.ctx.session, Kind::Reviewer, issue);
        let Some(mut rec) = proc.read()? else {
            return Ok(Phase::Review);
        };
        if rec.state.is_active() && proc.shim()?.is_none() && !self.opts.dry_run {
            // Reviewers are started by this session's dispatcher alone, and
            // it was not running: this start was cut short.
            let why = "its start was interrupted (the spawner died before the shim ran)";
            rec = worker::end(&self.ctx, &proc, Outcome::Error, why, "orc-dispatch", None)?
                .unwrap_or(rec);
        }
        if rec.state.is_active() {
            return Ok(Phase::Running {
                kind: Kind::Reviewer,
            });
        }
        let shim = proc.shim()?.map(|ids| ids.shim);
        Ok(if shim != j.handled_review {
            Phase::Running {
                kind: Kind::Reviewer,
            }
        } else {
            Phase::Review
        })
    }

    /// A record that says the worker runs, with no shim and no live
    /// spawner holding the lock, is a spawn that died half-way (a
    /// dispatcher killed inside `orc-spawn`): end it as `error`, so the
    /// loop retries it like any failed start.
    fn end_orphan(&mut self, proc: &Proc, lock: &LockStatus, rec: Record) -> Result<Record> {
        if proc.shim()?.is_some() {
            return Ok(rec);
        }
        let spawner_lives = match lock.record().and_then(|r| r.holder.process()) {
            Some(id) => id.liveness() != Liveness::Dead,
            None => false,
        };
        if spawner_lives {
            return Ok(rec);
        }
        let why = "its start was interrupted (the spawner died before the shim ran)";
        let ended = worker::end(&self.ctx, proc, Outcome::Error, why, "orc-dispatch", None)?;
        Ok(ended.unwrap_or(rec))
    }
}

/// Whether a merged worker's worktree or branch is still there.
fn unreaped(root: &std::path::Path, rec: &Record) -> bool {
    let worktree = rec
        .worktree
        .as_deref()
        .is_some_and(|w| std::path::Path::new(w).is_dir());
    let branch = rec.branch.as_deref().is_some_and(|b| {
        crate::land::Git::at(root)
            .commit_of(&format!("refs/heads/{b}"))
            .ok()
            .flatten()
            .is_some()
    });
    worktree || branch
}
