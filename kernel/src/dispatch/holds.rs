//! Dependencies: an issue is held while any issue it depends on is neither
//! closed in the tracker nor merged by its worker in this session (local
//! issues are never closed by anyone, so the merge is what counts there).

use crate::error::Result;
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::record::Outcome;
use crate::tracker;

use super::engine::{Dispatcher, Item};
use super::journal::{self, End, Phase};
use super::step::{Line, Step};

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Judge the dependencies that are not in the queue, once: the tracker
    /// or this session's records decide, and nothing in this run changes
    /// them.
    pub(super) fn judge_outside(&mut self) -> Result<()> {
        let mut wanted: Vec<Issue> = Vec::new();
        for it in &self.items {
            for dep in &it.deps {
                let inside = self.items.iter().any(|o| o.issue() == *dep);
                if !inside && !wanted.contains(dep) {
                    wanted.push(*dep);
                }
            }
        }
        let root = self.ctx.repo()?.root.clone();
        for dep in wanted {
            let verdict = if merged_in_session(self, dep) {
                Ok(())
            } else {
                match tracker::fetch(self.tracker, &root, self.opts.repo_slug.as_deref(), dep) {
                    Ok(d) if !d.open => Ok(()),
                    Ok(_) => Err(format!("#{dep} (open, not in this queue)")),
                    Err(e) => Err(format!("#{dep} (cannot be read: {})", e.what())),
                }
            };
            self.outside.insert(dep, verdict);
        }
        Ok(())
    }

    /// What holds `it` back: each unsatisfied dependency, and whether it
    /// may still be satisfied in this run.
    pub(super) fn blockers(&self, it: &Item) -> Vec<(String, bool)> {
        self.blockers_seen(it, &mut vec![it.issue()])
    }

    /// [`Self::blockers`], following held dependencies down their own
    /// dependencies: a chain that ends in a hopeless wait, or a cycle, is
    /// hopeless all along.
    fn blockers_seen(&self, it: &Item, seen: &mut Vec<Issue>) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for dep in &it.deps {
            match self.items.iter().find(|o| o.issue() == *dep) {
                Some(o) => match &o.j.phase {
                    Phase::Done { end: End::Merged } => {}
                    Phase::Done { end: End::Skipped } if !o.data.open => {}
                    Phase::Done { end } => out.push((format!("#{dep} ({})", end.as_str()), false)),
                    Phase::Queued if seen.contains(dep) => {
                        out.push((format!("#{dep} ({})", cycle_words(seen, *dep)), false));
                    }
                    Phase::Queued => {
                        seen.push(*dep);
                        let sub = self.blockers_seen(o, seen);
                        seen.pop();
                        if sub.is_empty() {
                            out.push((format!("#{dep} (not merged yet)"), true));
                        } else if let Some((cycle, _)) =
                            sub.iter().find(|(w, _)| w.contains("a dependency cycle"))
                        {
                            // Name the cycle where it is met, not just "held".
                            let cycle = cycle.split_once('(').map_or("", |(_, c)| c);
                            out.push((format!("#{dep} ({}", cycle), false));
                        } else {
                            let hope = sub.iter().all(|(_, h)| *h);
                            out.push((format!("#{dep} (held)"), hope));
                        }
                    }
                    _ => out.push((format!("#{dep} (not merged yet)"), true)),
                },
                None => match self.outside.get(dep) {
                    Some(Ok(())) => {}
                    Some(Err(why)) => out.push((why.clone(), false)),
                    None => out.push((format!("#{dep} (unknown)"), false)),
                },
            }
        }
        out
    }

    /// The words for a held issue's blockers.
    pub(super) fn held_reason(&self, blockers: &[(String, bool)]) -> String {
        let parts: Vec<&str> = blockers.iter().map(|(why, _)| why.as_str()).collect();
        format!("waits for {}", parts.join("; "))
    }

    /// Report issues that became held, or ready, since the last turn.
    pub(super) fn judge_holds(&mut self) -> Result<()> {
        for i in 0..self.items.len() {
            if self.items[i].j.phase != Phase::Queued {
                continue;
            }
            let blockers = self.blockers(&self.items[i]);
            let issue = self.items[i].issue();
            if blockers.is_empty() {
                if self.items[i].held.take().is_some() {
                    self.emit(Step::Ready { issue })?;
                }
                continue;
            }
            let reason = self.held_reason(&blockers);
            if self.items[i].held.as_deref() != Some(reason.as_str()) {
                self.items[i].held = Some(reason.clone());
                let waiting_for = waiting_for(&self.items[i].deps, &blockers);
                self.emit(Step::Held {
                    issue,
                    waiting_for,
                    reason,
                })?;
            }
        }
        Ok(())
    }
}

/// The dependencies among `deps` that an issue's blockers name (each blocker
/// reads `#N (why)`).
pub(super) fn waiting_for(deps: &[Issue], blockers: &[(String, bool)]) -> Vec<Issue> {
    deps.iter()
        .copied()
        .filter(|d| {
            let named = format!("#{d} ");
            blockers.iter().any(|(why, _)| why.starts_with(&named))
        })
        .collect()
}

/// A cycle named as one: `a dependency cycle: #3 -> #4 -> #3`, from the
/// chain of issues followed so far.
fn cycle_words(seen: &[Issue], back_to: Issue) -> String {
    let from = seen.iter().position(|n| *n == back_to).unwrap_or(0);
    let mut names: Vec<String> = seen[from..].iter().map(|n| format!("#{n}")).collect();
    names.push(format!("#{back_to}"));
    format!("a dependency cycle: {}", names.join(" -> "))
}

/// Whether `issue`'s worker in this session ended merged: dispatch's
/// journal says so, or (a worker started by hand) its record does.
fn merged_in_session<E>(d: &Dispatcher<'_, E>, issue: Issue) -> bool {
    let proc = Proc::new(&d.ctx.session, Kind::Worker, issue);
    match journal::load(&proc) {
        Ok(Some(j)) => j.phase == Phase::Done { end: End::Merged },
        Ok(None) => proc
            .read()
            .ok()
            .flatten()
            .is_some_and(|r| r.result == Some(Outcome::Merged)),
        Err(_) => false,
    }
}
