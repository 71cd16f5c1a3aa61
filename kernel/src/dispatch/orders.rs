//! A person's orders (`orc-queue retry|skip|requeue|prio|hold|release`):
//! taken from the control inbox by a running dispatcher at its next step,
//! or applied to `queue.json` (and the issue's journal) directly when no
//! dispatcher runs. Every order is in the event stream: the dispatcher's
//! (an `order` step) or, without one, the session's event log.

use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::queue::inbox::{self, Order, Reply};
use crate::queue::{self, State};
use crate::record::nice_of;
use crate::session::Session;

use super::engine::Dispatcher;
use super::journal::{self, End, Phase};
use super::step::{Line, Step};

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Apply the orders waiting in the inbox, oldest first.
    pub(super) fn take_orders(&mut self) -> Result<()> {
        let session = self.ctx.session.clone();
        for req in inbox::pending(&session)? {
            let reply = match self.items.iter().position(|it| it.issue() == req.issue) {
                Some(i) => self.apply(i, &req.order),
                None => Err(format!("#{} is not in this queue", req.issue)),
            };
            let reply = match reply {
                Ok(detail) => Reply { ok: true, detail },
                Err(detail) => Reply { ok: false, detail },
            };
            let level = match &req.order {
                Order::Prio { level } => Some(level.clone()),
                _ => None,
            };
            self.emit(Step::Order {
                issue: req.issue,
                order: req.order.name().into(),
                level,
                applied: reply.ok,
                detail: reply.detail.clone(),
            })?;
            if reply.ok {
                self.sort_items();
            }
            // What `orc-queue` shows next is what the order did.
            self.judge_holds()?;
            self.publish(true, true)?;
            inbox::answer(&session, &req, &reply)?;
        }
        Ok(())
    }

    /// Apply one order to item `i`: what was done, or why not.
    fn apply(&mut self, i: usize, order: &Order) -> std::result::Result<String, String> {
        let issue = self.items[i].issue();
        let phase = self.items[i].j.phase.clone();
        let busy = matches!(
            phase,
            Phase::Running { .. } | Phase::Stopping { .. } | Phase::Merging | Phase::Verify { .. }
        );
        let done_with = |ends: &[End]| matches!(phase, Phase::Done { end } if ends.contains(&end));
        match order {
            Order::Retry | Order::Requeue => {
                if busy {
                    return Err(format!(
                        "#{issue} runs now ({})",
                        super::engine::phase_name(&phase)
                    ));
                }
                if done_with(&[End::Merged]) {
                    return Err(format!("#{issue} is merged"));
                }
                let ended = done_with(&[End::GaveUp, End::Unverified, End::Escalated]);
                if matches!(order, Order::Requeue) && !ended {
                    return Err(format!(
                        "#{issue} has not given up, been escalated or found unverified ({}); `orc-queue retry {issue}` retries it now",
                        super::engine::phase_name(&phase)
                    ));
                }
                let it = &mut self.items[i];
                it.j.failures = 0;
                it.j.throttles = 0;
                it.j.stalls = 0;
                it.skip = false;
                it.j.detail = format!("{} ordered by a person", order.name());
                let next = if self.worker(issue).exists() {
                    Phase::Retry
                } else {
                    Phase::Queued
                };
                self.alerts.forget(issue);
                self.set_phase(i, next).map_err(|e| e.to_string())?;
                Ok(format!(
                    "#{issue} is queued to start now, its attempt count reset"
                ))
            }
            Order::Skip => {
                if busy {
                    return Err(format!(
                        "#{issue} runs now; stop it first (`orc-ctl term {issue}`), then skip it"
                    ));
                }
                if done_with(&[End::Merged]) {
                    return Err(format!("#{issue} is merged"));
                }
                self.items[i].skip = true;
                self.items[i].j.detail = "skipped by a person".into();
                self.set_phase(i, Phase::Done { end: End::Skipped })
                    .map_err(|e| e.to_string())?;
                Ok(format!(
                    "#{issue} is skipped; `orc-queue retry {issue}` takes it back"
                ))
            }
            Order::Prio { level } => {
                nice_of(level).map_err(|e| e.to_string())?;
                self.items[i].prio = Some(level.clone());
                self.dirty = true;
                Ok(format!("#{issue} runs at priority {level}"))
            }
            Order::Hold => {
                self.items[i].hold = true;
                self.dirty = true;
                Ok(if busy {
                    format!("#{issue} runs now; the hold applies to its next start")
                } else {
                    format!("#{issue} is held; `orc-queue release {issue}` frees it")
                })
            }
            Order::Release => {
                if !self.items[i].hold {
                    return Err(format!("#{issue} is not held"));
                }
                self.items[i].hold = false;
                self.dirty = true;
                Ok(format!("#{issue} is released"))
            }
        }
    }
}

/// How long `orc-queue` waits for a running dispatcher's answer.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Give `order` about `issue`: to the running dispatcher through its
/// inbox (answered at its next step), or, when none runs, to `queue.json`
/// directly. Bad input changes nothing.
pub fn give(session: &Session, issue: Issue, order: Order) -> Result<Reply> {
    if let Order::Prio { level } = &order {
        nice_of(level)?;
    }
    if let Some(_idle) = super::lock_if_idle(session)? {
        return apply_offline(session, issue, &order);
    }
    let req = inbox::post(session, issue, order)?;
    match inbox::wait_reply(session, &req, PATIENCE)? {
        Some(reply) => Ok(reply),
        None => {
            let pid = super::running_pid(session)
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            Err(Error::failure(
                format!("the dispatcher{pid} did not answer within {}s", PATIENCE.as_secs()),
                inbox::dir(session).display().to_string(),
            )
            .hint("the order stays in its inbox and is applied at its next step; `orc-queue` shows the result"))
        }
    }
}

/// Apply `order` to the last queue of `session` while no dispatcher runs
/// (the caller holds the session's dispatch lock). The next dispatcher
/// keeps the person's orders (`hold`, `skip`, `priority_override`) and
/// starts a retried issue from its journal.
pub fn apply_offline(session: &Session, issue: Issue, order: &Order) -> Result<Reply> {
    let Some(mut file) = queue::load(session)? else {
        return Err(Error::failure(
            "no queue in this session yet",
            queue::path(session).display().to_string(),
        )
        .hint("start one with `orc-dispatch --label L`"));
    };
    let Some(entry) = file.entry_mut(issue) else {
        return Err(
            Error::usage(format!("#{issue} is not in the queue"), issue.to_string())
                .hint("`orc-queue` lists the queue"),
        );
    };
    let refuse = |why: String| {
        Ok(Reply {
            ok: false,
            detail: why,
        })
    };
    let detail = match order {
        Order::Retry | Order::Requeue => {
            if entry.state == State::Landed {
                return refuse(format!("#{issue} is merged"));
            }
            let ended = matches!(entry.state, State::GaveUp | State::Escalated);
            if matches!(order, Order::Requeue) && !ended {
                return refuse(format!(
                    "#{issue} has not given up or been escalated ({}); `orc-queue retry {issue}` retries it",
                    entry.state.as_str()
                ));
            }
            entry.state = State::Queued;
            entry.until = None;
            entry.failures = 0;
            entry.stalls = 0;
            entry.throttles = 0;
            entry.skip = false;
            entry.reason = format!("{} ordered by a person", order.name());
            reset_journal(session, issue, &entry.reason)?;
            crate::alert::forget(session, issue)?;
            format!("#{issue} is queued; the next orc-dispatch starts it, its attempt count reset")
        }
        Order::Skip => {
            if entry.state == State::Landed {
                return refuse(format!("#{issue} is merged"));
            }
            entry.skip = true;
            entry.state = State::Skipped;
            entry.reason = "skipped by a person".into();
            format!("#{issue} is skipped; `orc-queue retry {issue}` takes it back")
        }
        Order::Prio { level } => {
            nice_of(level)?;
            entry.priority_override = Some(level.clone());
            entry.priority = level.clone();
            format!("#{issue} runs at priority {level}")
        }
        Order::Hold => {
            entry.hold = true;
            format!("#{issue} is held; `orc-queue release {issue}` frees it")
        }
        Order::Release => {
            if !entry.hold {
                return refuse(format!("#{issue} is not held"));
            }
            entry.hold = false;
            format!("#{issue} is released")
        }
    };
    file.updated_at = crate::clock::now_rfc3339()?;
    queue::save(session, &file)?;
    let event = Event {
        ts: crate::clock::now_rfc3339()?,
        event: "order".into(),
        issue: Some(issue),
        kind: None,
        state: None,
        result: Some(order.name().into()),
        detail: detail.clone(),
        discarded: None,
        pid: std::process::id(),
    };
    events::append(session, &event)?;
    Ok(Reply { ok: true, detail })
}

/// A retried issue starts again from its journal: a new attempt, the
/// failure counts reset.
fn reset_journal(session: &Session, issue: Issue, why: &str) -> Result<()> {
    let proc = Proc::new(session, Kind::Worker, issue);
    let Some(mut j) = journal::load(&proc)? else {
        return Ok(());
    };
    j.phase = Phase::Retry;
    j.failures = 0;
    j.throttles = 0;
    j.stalls = 0;
    j.detail = why.to_string();
    journal::save(&proc, &j)
}
