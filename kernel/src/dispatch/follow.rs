//! `--follow`: the queue as a service. The tracker is asked again every
//! `ORC_TRACKER_POLL` seconds (and, for the local tracker, whenever a file
//! of `.orc/issues/` changes); issues that newly match are admitted, and
//! issues that no longer match (closed, unlabelled, no longer found by the
//! query) are reconciled: a queued one is dropped, a running one is asked
//! to checkpoint and stop (its worktree is kept: never lose work).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::ids::Issue;
use crate::tracker::IssueData;

use super::engine::Dispatcher;
use super::journal::{End, Phase, Stop};
use super::queue;
use super::step::{Line, Step};

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Ask the tracker again when it is time (or its directory changed),
    /// then admit and reconcile.
    pub(super) fn follow_tracker(&mut self) -> Result<()> {
        let changed = self.bells.take_tracker_changed();
        let now = Instant::now();
        if !changed && now < self.next_poll {
            return Ok(());
        }
        self.next_poll = now + self.set.tracker_poll;
        let root = self.ctx.repo()?.root.clone();
        let slug = self.opts.repo_slug.clone();
        let issues = match queue::load(self.tracker, &root, slug.as_deref(), &self.opts.source) {
            Ok(issues) => issues,
            Err(e) => {
                // A tracker that cannot be read now (network, a file being
                // written) is asked again at the next poll.
                return self.emit(Step::Warning {
                    issue: None,
                    detail: format!("cannot read the tracker: {e}"),
                });
            }
        };
        let matching: HashMap<Issue, IssueData> = issues
            .into_iter()
            .filter(|d| d.open)
            .map(|d| (d.number, d))
            .collect();
        self.reconcile(&matching)?;
        let mut admitted = false;
        let mut numbers: Vec<&Issue> = matching.keys().collect();
        numbers.sort();
        for n in numbers {
            let data = &matching[n];
            match self.items.iter().position(|it| it.issue() == *n) {
                Some(i) => {
                    let back = self.items[i].j.phase == (Phase::Done { end: End::Skipped })
                        && !self.items[i].skip;
                    if back {
                        // Dropped when it left the queue, and back now.
                        self.items.remove(i);
                        self.admit(data.clone(), None)?;
                        admitted = true;
                    } else if self.items[i].data != *data {
                        self.items[i].deps = queue::deps(data);
                        self.items[i].data = data.clone();
                        self.dirty = true;
                        admitted = true;
                    }
                }
                None => {
                    self.admit(data.clone(), None)?;
                    admitted = true;
                }
            }
        }
        if admitted {
            self.judge_outside()?;
            self.sort_items();
        }
        Ok(())
    }

    /// Drop or stop the issues that no longer match the queue.
    fn reconcile(&mut self, matching: &HashMap<Issue, IssueData>) -> Result<()> {
        for i in 0..self.items.len() {
            let issue = self.items[i].issue();
            if matching.contains_key(&issue) {
                continue;
            }
            match self.items[i].j.phase.clone() {
                // Over, already stopping, or being verified or merged (a merge
                // closes the issue on GitHub): nothing to undo.
                Phase::Done { .. }
                | Phase::Stopping { .. }
                | Phase::Merging
                | Phase::Verify { .. } => {}
                Phase::Running { kind } => {
                    let reason =
                        "closed, unlabelled or no longer matching in the tracker".to_string();
                    self.emit(Step::Cancelled { issue, reason })?;
                    self.stop_worker(issue, kind, Stop::Cancel, Duration::ZERO)?;
                }
                _ => {
                    let reason = "closed, unlabelled or no longer matching in the tracker: dropped from the queue".to_string();
                    self.items[i].j.detail.clone_from(&reason);
                    self.set_phase(i, Phase::Done { end: End::Skipped })?;
                    self.emit(Step::Skipped { issue, reason })?;
                }
            }
        }
        Ok(())
    }
}
