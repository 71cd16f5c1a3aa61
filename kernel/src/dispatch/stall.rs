//! Stalls and stops: a worker that shows no progress — no change to its
//! record, no growth of its log, no new commit — for `ORC_STALL_TIMEOUT`
//! is asked to checkpoint and stop (TERM), then retried as `stalled`,
//! counted apart from failures. The same stop serves `--follow` when an
//! issue leaves the queue while its worker runs (`cancelled`).

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::record::Outcome;
use crate::signal::Signal;
use crate::watch;

use super::engine::Dispatcher;
use super::journal::{End, Phase, Stop};
use super::progress::{Progress, gitdir_of, marks};
use super::step::{Line, Step};

/// Stall checks happen at most this often: each one reads a few file
/// sizes per running worker.
const CHECK_EVERY: Duration = Duration::from_secs(1);

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Ask the workers that made no progress for the stall timeout to stop.
    pub(super) fn check_stalls(&mut self) -> Result<()> {
        if self.set.stall.is_zero() || self.opts.dry_run {
            return Ok(());
        }
        let now = Instant::now();
        if self
            .stall_checked
            .is_some_and(|t| now.duration_since(t) < CHECK_EVERY)
        {
            return Ok(());
        }
        self.stall_checked = Some(now);
        let running: Vec<Issue> = self
            .items
            .iter()
            .filter(|it| it.j.phase == Phase::Running { kind: Kind::Worker })
            .map(|it| it.issue())
            .collect();
        self.progress.retain(|issue, _| running.contains(issue));
        for issue in running {
            let proc = self.worker(issue);
            let gitdir = match self.progress.get(&issue) {
                Some(p) => p.gitdir.clone(),
                None => gitdir_of(&proc),
            };
            let mark = marks(&proc, gitdir.as_deref());
            let entry = self.progress.entry(issue).or_insert_with(|| Progress {
                mark: mark.clone(),
                since: now,
                gitdir,
            });
            if entry.mark != mark {
                entry.mark = mark;
                entry.since = now;
                continue;
            }
            let idle = now.duration_since(entry.since);
            if idle >= self.set.stall {
                self.progress.remove(&issue);
                self.stop_worker(issue, Kind::Worker, Stop::Stall, idle)?;
            }
        }
        Ok(())
    }

    /// Ask `issue`'s worker or reviewer to checkpoint and stop.
    pub(super) fn stop_worker(
        &mut self,
        issue: Issue,
        kind: Kind,
        why: Stop,
        idle: Duration,
    ) -> Result<()> {
        let Some(i) = self.items.iter().position(|it| it.issue() == issue) else {
            return Ok(());
        };
        let proc = Proc::new(&self.ctx.session, kind, issue);
        if let Err(e) = crate::worker::send_signal(&self.ctx, &proc, Signal::Term) {
            // It ended meanwhile: the next look at the records acts on it.
            return self.emit(Step::Warning {
                issue: Some(issue),
                detail: format!("could not ask the {kind} to stop: {e}"),
            });
        }
        self.set_phase(i, Phase::Stopping { kind, why })?;
        if why == Stop::Stall {
            let stalls = self.items[i].j.stalls + 1;
            self.emit(Step::Stalled {
                issue,
                stalls,
                idle_s: idle.as_secs(),
            })?;
        }
        Ok(())
    }

    /// Act on the stopped workers that have ended: a stall is retried, a
    /// cancel leaves the issue (its worktree kept). A worker that ended
    /// with a success claim before it saw the TERM goes the usual way.
    pub(super) fn settle_stops(&mut self) -> Result<()> {
        for i in 0..self.items.len() {
            let Phase::Stopping { kind, why } = self.items[i].j.phase else {
                continue;
            };
            let issue = self.items[i].issue();
            let proc = Proc::new(&self.ctx.session, kind, issue);
            let Some(report) = watch::check(&self.ctx, &proc, "record")? else {
                continue;
            };
            let record = proc.read().ok().flatten();
            let claimed = record.as_ref().and_then(|r| r.result).is_some_and(|r| {
                matches!(
                    r,
                    Outcome::Merged
                        | Outcome::CiPassed
                        | Outcome::Approved
                        | Outcome::ChangesRequested
                )
            });
            if claimed {
                // Its claim is acted on by the usual path, this same turn.
                self.set_phase(i, Phase::Running { kind })?;
                continue;
            }
            self.bells.forget(kind, issue);
            self.emit(Step::Finished {
                issue,
                kind,
                result: report.result.clone(),
                detail: report.detail.clone(),
            })?;
            if kind == Kind::Worker
                && let Some(r) = &record
            {
                self.items[i].attempts = r.attempt;
                self.items[i].j.handled_attempt = r.attempt;
            }
            match why {
                Stop::Stall => self.stalled(i)?,
                Stop::Cancel => {
                    let detail = format!(
                        "left the queue while its {kind} ran: stopped ({}); its worktree and branch are kept",
                        report.result
                    );
                    self.items[i].j.detail.clone_from(&detail);
                    self.set_phase(i, Phase::Done { end: End::Skipped })?;
                    self.emit(Step::Skipped {
                        issue,
                        reason: detail,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// A stalled attempt: retried at once, not counted as a failure; after
    /// more stalls than the retries allow, the issue gives up.
    fn stalled(&mut self, i: usize) -> Result<()> {
        let issue = self.items[i].issue();
        let stalls = self.items[i].j.stalls + 1;
        self.items[i].j.stalls = stalls;
        let timeout = self.set.stall.as_secs();
        if stalls > self.set.retry_max {
            let why = format!("stalled {stalls} times (no progress for {timeout}s each time)");
            return self.end(i, End::GaveUp, why);
        }
        self.items[i].j.detail = format!("stalled: no progress for {timeout}s (stall {stalls})");
        self.set_phase(i, Phase::Retry)?;
        if stalls >= 2 {
            let detail =
                format!("stalled {stalls} times; retried each time (no progress for {timeout}s)");
            self.tell_a_person(issue, "stalled", &detail)?;
        }
        Ok(())
    }
}
