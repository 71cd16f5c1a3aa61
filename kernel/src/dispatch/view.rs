//! The queue as people see it: `queue.json` in the session (see
//! [`crate::queue`] for the format), rewritten whenever something changed,
//! and the effective priorities (a held urgent issue lends its priority to
//! the dependencies it waits for).

use crate::error::Result;
use crate::ids::{Issue, Kind};
use crate::queue::{self, DispatcherInfo, Entry, QueueFile, State};

use super::Source;
use super::engine::{Dispatcher, Item, PUBLISH_EVERY};
use super::holds::waiting_for;
use super::journal::{End, Phase, Stop};
use super::step::Line;

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Write `queue.json` if anything changed (always when `running` is
    /// false: the dispatcher is stopping and says so; at once when
    /// `force`).
    pub(super) fn publish(&mut self, running: bool, force: bool) -> Result<()> {
        if self.opts.dry_run || (running && !self.dirty) {
            return Ok(());
        }
        // A thousand issues are a few hundred kilobytes: written at most
        // every PUBLISH_EVERY while the queue churns (the wait is cut short
        // so a change is never later than that), at once on a person's
        // order and when the dispatcher stops.
        let now = std::time::Instant::now();
        if running
            && !force
            && self
                .published
                .is_some_and(|t| now.duration_since(t) < PUBLISH_EVERY)
        {
            return Ok(());
        }
        self.published = Some(now);
        self.dirty = false;
        let nices = self.effective_nices();
        let issues = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| self.entry(it, i + 1, nices[i]))
            .collect();
        let file = QueueFile {
            version: queue::VERSION,
            session: self.ctx.session.name().to_string(),
            updated_at: self.clock.stamp(),
            dispatcher: Some(DispatcherInfo {
                pid: std::process::id(),
                running,
                follow: self.opts.follow,
                source: source_name(&self.opts.source),
                max: self.set.max,
                max_reviewers: self.set.max_reviewers,
                started_at: self.started_at.clone(),
                stopped_at: (!running).then(|| self.clock.stamp()),
            }),
            issues,
        };
        queue::save(&self.ctx.session, &file)
    }

    /// Keep the items in queue order: by effective priority, then age,
    /// then number.
    pub(super) fn sort_items(&mut self) {
        let nices = self.effective_nices();
        let mut keyed: Vec<(i32, Item)> = nices.into_iter().zip(self.items.drain(..)).collect();
        keyed.sort_by(|(na, a), (nb, b)| {
            na.cmp(nb)
                .then_with(|| super::queue::by_age(&a.data, &b.data))
                .then(a.issue().cmp(&b.issue()))
        });
        self.items = keyed.into_iter().map(|(_, it)| it).collect();
        self.dirty = true;
    }

    /// The nice value each item runs at: its own, or that of the most
    /// urgent issue held waiting for it, directly or down a chain.
    pub(super) fn effective_nices(&self) -> Vec<i32> {
        let mut nices: Vec<i32> = self.items.iter().map(Item::nice).collect();
        for (i, it) in self.items.iter().enumerate() {
            if it.j.phase != Phase::Queued || it.deps.is_empty() {
                continue;
            }
            let lend = nices[i].min(it.nice());
            let mut stack: Vec<Issue> = it.deps.clone();
            let mut seen: Vec<Issue> = vec![it.issue()];
            while let Some(dep) = stack.pop() {
                if seen.contains(&dep) {
                    continue;
                }
                seen.push(dep);
                if let Some(j) = self.items.iter().position(|o| o.issue() == dep)
                    && !matches!(self.items[j].j.phase, Phase::Done { .. })
                {
                    nices[j] = nices[j].min(lend);
                    stack.extend(self.items[j].deps.iter().copied());
                }
            }
        }
        nices
    }

    fn entry(&self, it: &Item, position: usize, nice: i32) -> Entry {
        let mut e = Entry::new(it.issue());
        e.position = position;
        e.title.clone_from(&it.data.title);
        e.priority = it.priority();
        e.effective_priority = if nice < it.nice() {
            priority_name(nice)
        } else {
            e.priority.clone()
        };
        e.pr = it.j.pr;
        e.attempts = it.attempts;
        e.failures = it.j.failures;
        e.stalls = it.j.stalls;
        e.throttles = it.j.throttles;
        e.hold = it.hold;
        e.skip = it.skip;
        e.priority_override.clone_from(&it.prio);
        let detail = it.j.detail.clone();
        let (state, reason) = match &it.j.phase {
            Phase::Done { end: End::Held } => {
                // Ended held: its reason was judged while the others still waited.
                let blockers = self.blockers(it);
                e.waiting_for = waiting_for(&it.deps, &blockers);
                (State::Blocked, detail)
            }
            Phase::Queued | Phase::Retry | Phase::Resume => {
                let blockers = self.blockers(it);
                e.waiting_for = waiting_for(&it.deps, &blockers);
                if !blockers.is_empty() {
                    let hopeless = blockers.iter().any(|(_, hope)| !hope);
                    let state = if hopeless {
                        State::Blocked
                    } else {
                        State::Held
                    };
                    (state, self.held_reason(&blockers))
                } else if it.hold {
                    (
                        State::Held,
                        format!(
                            "held by a person; `orc-queue release {}` frees it",
                            it.issue()
                        ),
                    )
                } else {
                    let why = match it.j.phase {
                        Phase::Retry => format!("to retry: {detail}"),
                        Phase::Resume => format!("to resume: {detail}"),
                        _ => detail,
                    };
                    (State::Queued, why)
                }
            }
            Phase::Running { kind: Kind::Worker } => (State::Running, detail),
            Phase::Running {
                kind: Kind::Reviewer,
            } => {
                e.kind = Some(Kind::Reviewer);
                (State::InReview, "a reviewer looks at it".into())
            }
            Phase::Stopping { kind, why } => {
                e.kind = Some(*kind);
                let why = match why {
                    Stop::Stall => "no progress: asked to checkpoint and stop, to be retried",
                    Stop::Cancel => "no longer in the queue: asked to checkpoint and stop",
                };
                (State::Running, why.into())
            }
            Phase::Wait { until, .. } => {
                e.until = Some(until.clone());
                (State::WaitingRetry, detail)
            }
            Phase::Review => (State::InReview, "waits for a reviewer".into()),
            Phase::Verify { until } => {
                e.until = Some(until.clone());
                (
                    State::WaitingCi,
                    format!("its pull request's checks: {detail}"),
                )
            }
            Phase::Merging => (State::WaitingCi, "merging its pull request".into()),
            Phase::Done { end } => match end {
                End::Merged => (State::Landed, detail),
                End::Approved => (
                    State::InReview,
                    format!("approved, waits for a person to merge: {detail}"),
                ),
                End::GaveUp => (State::GaveUp, detail),
                End::Escalated => (State::Escalated, detail),
                End::Unverified => (State::Escalated, format!("unverified: {detail}")),
                End::Suspended => (State::Held, format!("suspended: {detail}")),
                End::Skipped => (State::Skipped, detail),
                End::Held => (State::Blocked, detail),
                End::Pending => (State::Queued, detail),
            },
        };
        if let Phase::Running { kind: Kind::Worker } = it.j.phase {
            e.kind = Some(Kind::Worker);
        }
        e.state = state;
        e.reason = reason;
        e
    }
}

/// The name of a nice value: `critical`, `high`, `normal`, `low`, or the number.
fn priority_name(nice: i32) -> String {
    match nice {
        0 => "critical".into(),
        5 => "high".into(),
        10 => "normal".into(),
        15 => "low".into(),
        n => n.to_string(),
    }
}

/// How `queue.json` names a source.
fn source_name(source: &Source) -> String {
    match source {
        Source::Label(l) => format!("label:{l}"),
        Source::Query(q) => format!("query:{q}"),
        Source::Issues(ns) => {
            let ns: Vec<String> = ns.iter().map(ToString::to_string).collect();
            format!("issues:{}", ns.join(","))
        }
    }
}
