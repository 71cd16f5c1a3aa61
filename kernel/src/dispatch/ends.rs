//! Acting on ends: a worker's or reviewer's result moves its issue on —
//! verified and reviewed, retried after a backoff, requeued after a usage
//! limit, merged, or handed to a person.

use crate::error::Result;
use crate::ids::Kind;
use crate::land::Where;
use crate::procdir::Proc;
use crate::record::{Outcome, Record};
use crate::review;
use crate::watch;

use super::engine::Dispatcher;
use super::journal::{End, Phase, Then};
use super::policy::{self, Next};
use super::step::{Line, Step};
use super::verify::{self, Evidence};

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Act on every running worker or reviewer that has ended, and on
    /// merges left half-done by an earlier run. Each freed slot is filled
    /// at once, before the next end is looked at: when many workers end
    /// together, the first slot does not wait for the last verification.
    pub(super) fn collect(&mut self) -> Result<()> {
        for i in 0..self.items.len() {
            let acted = match self.items[i].j.phase {
                Phase::Running { kind } => self.check_one(i, kind)?,
                Phase::Merging => self.merge(i).map(|()| true)?,
                _ => false,
            };
            if acted && !self.opts.once {
                self.judge_holds()?;
                self.start_ready()?;
                // Under load one turn lands dozens of workers, each taking
                // a tenth of a second: a stop or an order waiting for the
                // turn's end would wait seconds, not the step it is owed.
                self.stop |= self.bells.stop_requested();
                if self.stop {
                    return Ok(());
                }
                self.take_orders()?;
            }
        }
        Ok(())
    }

    /// Act on item `i`'s worker or reviewer if it ended; whether it had.
    fn check_one(&mut self, i: usize, kind: Kind) -> Result<bool> {
        let issue = self.items[i].issue();
        let proc = Proc::new(&self.ctx.session, kind, issue);
        let Some(report) = watch::check(&self.ctx, &proc, "record")? else {
            return Ok(false);
        };
        self.bells.forget(kind, issue);
        self.emit(Step::Finished {
            issue,
            kind,
            result: report.result.clone(),
            detail: report.detail.clone(),
        })?;
        let Some(record) = proc.read().ok().flatten() else {
            let why = format!("the {kind}'s record is gone: {}", report.detail);
            return self.end(i, End::GaveUp, why).map(|()| true);
        };
        match kind {
            Kind::Worker => self.worker_ended(i, &record)?,
            Kind::Reviewer => {
                self.items[i].j.handled_review = proc.shim()?.map(|ids| ids.shim);
                // Its verdict is read; its detached copy of the branch goes
                // (the log is kept) before the verdict is acted on, so a
                // merge reaps a tidy repository.
                let opts = crate::cleanup::Options::default();
                if let Err(e) = crate::cleanup::cleanup(&self.ctx, Kind::Reviewer, issue, opts) {
                    self.emit(Step::Warning {
                        issue: Some(issue),
                        detail: format!("could not clean up the reviewer: {e}"),
                    })?;
                }
                self.reviewer_ended(i, &record)?;
            }
        }
        Ok(true)
    }

    fn worker_ended(&mut self, i: usize, rec: &Record) -> Result<()> {
        self.items[i].attempts = rec.attempt;
        self.items[i].j.handled_attempt = rec.attempt;
        let Some(outcome) = rec.result else {
            return self.failure(i, format!("ended {} without a result", rec.state));
        };
        let said = format!("{outcome}: {}", rec.detail);
        match policy::after_worker(outcome) {
            Next::Verify => self.verify_claim(i, rec, outcome),
            Next::Failure => self.failure(i, said),
            Next::Throttle => self.throttle(i, Kind::Worker, rec),
            Next::Escalate => self.escalate(i, said),
            Next::Stopped => self.end(i, End::GaveUp, format!("stopped by a person ({said})")),
            Next::Suspended => self.end(
                i,
                End::Suspended,
                format!("{said}; `orc-ctl resume {}` continues it", rec.issue),
            ),
        }
    }

    pub(super) fn verify_claim(&mut self, i: usize, rec: &Record, claim: Outcome) -> Result<()> {
        if self.set.land.place == Where::Local {
            return self.verify_local(i, rec, claim);
        }
        let issue = self.items[i].issue();
        let snap = self.pr_snapshot();
        match verify::check(&self.ctx, &self.gh, &snap, rec, claim) {
            Evidence::Missing(why) => {
                self.end(i, End::Unverified, format!("{claim} claimed, but {why}"))
            }
            Evidence::Pending { pr, why } => self.wait_for_checks(i, pr, &why),
            Evidence::Unreachable(why) => self.wait_for_github(i, false, &why),
            Evidence::Red { pr, why } if claim == Outcome::CiPassed => {
                self.items[i].j.pr = Some(pr);
                let said = format!("PR #{pr}: {why}");
                let reason = format!(
                    "the checks of your pull request #{pr} are red ({why}). Read them with \
                     `gh pr checks {pr}`, fix the cause, push, and report ci-passed again when \
                     they are green."
                );
                self.resume_with(i, &said, reason)
            }
            Evidence::Red { pr, why } => self.end(
                i,
                End::Unverified,
                format!("{claim} claimed, but PR #{pr}: {why}"),
            ),
            Evidence::Verified {
                pr,
                merged,
                head,
                detail,
            } => {
                self.items[i].j.pr = Some(pr);
                self.items[i].j.pr_head.clone_from(&head);
                self.items[i].j.waiting_since = None;
                self.items[i].j.gh_errors = 0;
                self.emit(Step::Verified {
                    issue,
                    pr: Some(pr),
                    detail: detail.clone(),
                })?;
                if merged {
                    return self.merged_on_github(i, pr, head, detail);
                }
                self.items[i].j.detail = detail;
                self.after_verified(i)
            }
        }
    }

    /// Item `i`'s claim waited for its pull request's checks (or for
    /// GitHub): look again.
    pub(super) fn verify_again(&mut self, i: usize) -> Result<()> {
        let issue = self.items[i].issue();
        let rec = self.worker(issue).read()?;
        match rec {
            Some(rec) => match rec.result {
                Some(claim) => self.verify_claim(i, &rec, claim),
                None => self.failure(i, "the worker's record lost its result".into()),
            },
            None => self.end(i, End::GaveUp, "the worker's record is gone".into()),
        }
    }

    /// Verified work goes to a reviewer (`ORC_REVIEW`), else straight to
    /// the merge (`ORC_AUTO_MERGE`), else to a person.
    pub(super) fn after_verified(&mut self, i: usize) -> Result<()> {
        let issue = self.items[i].issue();
        if self.set.land.review {
            let log = review::read_log(&self.worker(issue))?;
            if log.escalated {
                return self.escalate(i, format!("{} review rounds ran out", log.rounds));
            }
            return self.set_phase(i, Phase::Review);
        }
        if self.set.auto_merge {
            return self.merge_verified(i);
        }
        let detail = format!(
            "{}; not reviewed (ORC_REVIEW is off), left for a person to merge (ORC_AUTO_MERGE \
             is off)",
            self.items[i].j.detail
        );
        self.end(i, End::Approved, detail)
    }

    fn reviewer_ended(&mut self, i: usize, rec: &Record) -> Result<()> {
        let pr = self.items[i]
            .j
            .pr
            .map_or("the PR".into(), |n| format!("PR #{n}"));
        match rec.result {
            Some(Outcome::Approved) if self.set.auto_merge => {
                self.set_phase(i, Phase::Merging)?;
                self.merge(i)
            }
            Some(Outcome::Approved) => {
                let what = match self.set.land.place {
                    Where::Local => "the branch".to_string(),
                    Where::Github => pr,
                };
                self.end(
                    i,
                    End::Approved,
                    format!(
                        "{what} approved; left for a person to merge (ORC_AUTO_MERGE is off; \
                         `ORC_AUTO_MERGE=true orc-dispatch land {}` merges it)",
                        rec.issue
                    ),
                )
            }
            Some(Outcome::ChangesRequested) => {
                let log = review::read_log(&self.worker(rec.issue))?;
                if log.escalated {
                    let why = format!(
                        "changes still requested after {} review rounds (ORC_REVIEW_MAX_ROUNDS={}): {}",
                        log.rounds, self.set.review_max, rec.detail
                    );
                    return self.escalate(i, why);
                }
                self.items[i].j.detail = format!("changes requested: {}", rec.detail);
                self.set_phase(i, Phase::Resume)
            }
            Some(Outcome::Throttled) => self.throttle(i, Kind::Reviewer, rec),
            _ => self.escalate(
                i,
                format!(
                    "the review of {pr} ended {}: {}",
                    rec.result_name(),
                    rec.detail
                ),
            ),
        }
    }

    /// A failed attempt: retry after the backoff, or give up.
    pub(super) fn failure(&mut self, i: usize, why: String) -> Result<()> {
        let issue = self.items[i].issue();
        let failures = self.items[i].j.failures + 1;
        self.items[i].j.failures = failures;
        if failures > self.set.retry_max {
            let detail = format!("{why} (gave up after {failures} failed attempt(s))");
            return self.end(i, End::GaveUp, detail);
        }
        let delay_s = policy::backoff(self.set.backoff, failures);
        let until = self.clock.now() + chrono::Duration::seconds(secs(delay_s));
        let at = crate::clock::format(&until);
        self.items[i].j.detail = why;
        self.set_phase(
            i,
            Phase::Wait {
                until: at.clone(),
                then: Then::Retry,
            },
        )?;
        self.emit(Step::Retried {
            issue,
            failures,
            delay_s,
            at,
        })
    }

    /// A usage limit: wait for its reset (or a cooldown); not a failure.
    fn throttle(&mut self, i: usize, kind: Kind, rec: &Record) -> Result<()> {
        let issue = self.items[i].issue();
        let throttles = self.items[i].j.throttles + 1;
        self.items[i].j.throttles = throttles;
        if throttles > policy::MAX_THROTTLES {
            let why = format!("throttled {throttles} times in a row: {}", rec.detail);
            return self.end(i, End::GaveUp, why);
        }
        let tail = Proc::new(&self.ctx.session, kind, issue).log_tail();
        let now = self.clock.now();
        let (until, reason) = policy::throttle_until(now, &rec.detail, &tail, self.set.cooldown);
        let delay_s = (until - now).num_seconds().max(0).unsigned_abs();
        let at = crate::clock::format(&until);
        let then = match kind {
            Kind::Worker => Then::Retry,
            Kind::Reviewer => Then::Review,
        };
        self.items[i].j.detail = format!("throttled: {}", rec.detail);
        self.set_phase(
            i,
            Phase::Wait {
                until: at.clone(),
                then,
            },
        )?;
        self.emit(Step::Requeued {
            issue,
            kind,
            throttles,
            delay_s,
            at,
            reason,
        })
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 4)
}
