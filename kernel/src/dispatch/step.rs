//! The events `orc-dispatch` streams, one JSON line per step, and the
//! summary that ends the stream.

use serde::Serialize;

use crate::ids::{Issue, Kind};

use super::journal::End;

/// One step of the run queue. Serialised with `"event"` naming the variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Step {
    /// The issue is in the queue, at `position` (1 runs first).
    Queued {
        /// The issue.
        issue: Issue,
        /// Its place in the order.
        position: usize,
        /// Its priority.
        priority: String,
        /// Its title.
        title: String,
    },
    /// The issue waits for dependencies that are not merged or closed.
    Held {
        /// The issue.
        issue: Issue,
        /// What it waits for.
        waiting_for: Vec<Issue>,
        /// Why, in words.
        reason: String,
    },
    /// The dependencies of a held issue are satisfied.
    Ready {
        /// The issue.
        issue: Issue,
    },
    /// The issue is left out.
    Skipped {
        /// The issue.
        issue: Issue,
        /// Why (closed, locked by another session, …).
        reason: String,
    },
    /// A worker found running (a restart) is watched, not started again.
    Adopted {
        /// The issue.
        issue: Issue,
        /// worker or reviewer.
        kind: Kind,
        /// Its record's state.
        state: String,
    },
    /// An issue dispatch decided about in an earlier run keeps that state.
    Restored {
        /// The issue.
        issue: Issue,
        /// Its phase, as the journal has it.
        phase: String,
    },
    /// A worker or reviewer started.
    Spawned {
        /// The issue.
        issue: Issue,
        /// worker or reviewer.
        kind: Kind,
        /// Its attempt number.
        attempt: u32,
        /// Whether it continues an earlier attempt in the same worktree.
        resumed: bool,
        /// Workers and reviewers running now, this one included.
        running: usize,
        /// The limit.
        max: usize,
    },
    /// A worker or reviewer ended.
    Finished {
        /// The issue.
        issue: Issue,
        /// worker or reviewer.
        kind: Kind,
        /// Its result.
        result: String,
        /// Its detail.
        detail: String,
    },
    /// A failed attempt will be retried after `delay_s`.
    Retried {
        /// The issue.
        issue: Issue,
        /// Failed attempts so far.
        failures: u32,
        /// The backoff, in seconds.
        delay_s: u64,
        /// When the retry may start.
        at: String,
    },
    /// A throttled worker or reviewer waits for its usage limit to reset;
    /// not a failure.
    Requeued {
        /// The issue.
        issue: Issue,
        /// worker or reviewer.
        kind: Kind,
        /// Requeues for a usage limit so far.
        throttles: u32,
        /// The wait, in seconds.
        delay_s: u64,
        /// When it may start again.
        at: String,
        /// Where the time came from.
        reason: String,
    },
    /// The evidence confirmed the worker's claim.
    Verified {
        /// The issue.
        issue: Issue,
        /// The pull request (none when orc merges locally).
        #[serde(skip_serializing_if = "Option::is_none")]
        pr: Option<u32>,
        /// What was checked.
        detail: String,
    },
    /// orc ran the project's check command (`ORC_CHECK_CMD`) on the
    /// branch's tip.
    Checked {
        /// The issue.
        issue: Issue,
        /// Whether it passed.
        passed: bool,
        /// The command, how it ended, and where its output is.
        detail: String,
    },
    /// The pull request's checks are still running: dispatch waits for
    /// them (or GitHub could not be reached, and dispatch tries again).
    Waiting {
        /// The issue.
        issue: Issue,
        /// The pull request, once known.
        #[serde(skip_serializing_if = "Option::is_none")]
        pr: Option<u32>,
        /// What it waits for.
        detail: String,
        /// When it looks again.
        until: String,
    },
    /// The issue's run is over. On the wire the event is named after the
    /// end (`"event":"gave-up","end":"gave-up"`): `merged`, `approved`,
    /// `gave-up`, `escalated`, `unverified`, `suspended`, or `held` (its
    /// dependencies will not be merged in this run). Every issue that ends
    /// in a run has exactly one event with an `end`; one that had ended
    /// before is `restored`, and the summary has them all.
    Ended {
        /// The issue.
        issue: Issue,
        /// How.
        end: End,
        /// Why, in words.
        detail: String,
    },
    /// A person's order (`orc-queue`), and what came of it.
    Order {
        /// The issue.
        issue: Issue,
        /// retry, skip, requeue, prio, hold or release.
        order: String,
        /// The level of a `prio` order.
        #[serde(skip_serializing_if = "Option::is_none")]
        level: Option<String>,
        /// Whether it was applied.
        applied: bool,
        /// What was done, or why not.
        detail: String,
    },
    /// A worker made no progress for `ORC_STALL_TIMEOUT`: it was asked to
    /// checkpoint and stop, and is retried (not counted as a failure).
    Stalled {
        /// The issue.
        issue: Issue,
        /// Stalls so far.
        stalls: u32,
        /// Seconds without progress.
        idle_s: u64,
    },
    /// An issue no longer in the tracker's queue (closed, unlabelled, no
    /// longer matching) whose worker runs: it is asked to checkpoint and
    /// stop, and its worktree is kept.
    Cancelled {
        /// The issue.
        issue: Issue,
        /// Why.
        reason: String,
    },
    /// A person was told (desktop, webhook, issue comment).
    Notified {
        /// The issue, if one is concerned.
        #[serde(skip_serializing_if = "Option::is_none")]
        issue: Option<Issue>,
        /// Why: the end or event that needs a person.
        reason: String,
        /// Where it went: desktop, webhook, github.
        channels: Vec<String>,
    },
    /// `--follow` stopped on SIGTERM or SIGINT; workers keep running, for
    /// the next dispatcher to adopt.
    Stopping {
        /// Workers and reviewers left running.
        running: usize,
    },
    /// Something went wrong that does not stop the run (a comment that
    /// could not be posted, a spawn that will be retried).
    Warning {
        /// The issue, if one is concerned.
        #[serde(skip_serializing_if = "Option::is_none")]
        issue: Option<Issue>,
        /// What happened.
        detail: String,
    },
    /// The last line: what became of every issue.
    Summary(Summary),
}

/// What became of one issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The issue.
    pub issue: Issue,
    /// How it ended.
    pub end: End,
    /// The worker's attempts (0: never started).
    pub attempts: u32,
    /// Why, in words.
    pub detail: String,
}

/// The summary of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Whether every issue ended well (the exit status is 0); always true
    /// for a plan.
    pub ok: bool,
    /// A plan only (`--dry-run`): nothing was started.
    pub dry_run: bool,
    /// How many issues ended each way, by name.
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    /// Every issue, in queue order.
    pub issues: Vec<Outcome>,
    /// Wall-clock seconds the run took.
    pub elapsed_s: f64,
    /// The gh calls the run made (issues, pull requests, merges, comments):
    /// the GitHub call budget.
    pub gh_calls: u64,
}

impl Summary {
    /// Build the summary of `issues`.
    pub fn of(issues: Vec<Outcome>, dry_run: bool, elapsed_s: f64) -> Summary {
        let mut counts = std::collections::BTreeMap::new();
        for o in &issues {
            *counts.entry(o.end.as_str()).or_insert(0) += 1;
        }
        Summary {
            // A plan is a success once it is printed; what it foresees is
            // in the counts.
            ok: dry_run || issues.iter().all(|o| o.end.is_good()),
            dry_run,
            counts,
            issues,
            elapsed_s,
            gh_calls: crate::tracker::github::calls(),
        }
    }

    /// The one line for stderr: `orc-dispatch: 5 issues: 3 merged, 2 gave-up`.
    pub fn line(&self) -> String {
        let mut parts: Vec<String> = self
            .counts
            .iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect();
        if parts.is_empty() {
            parts.push("nothing to do".to_string());
        }
        let what = if self.dry_run { "plan for" } else { "ran" };
        let mut line = format!(
            "{what} {} issue(s): {}",
            self.issues.len(),
            parts.join(", ")
        );
        let bad: Vec<String> = self
            .issues
            .iter()
            .filter(|o| !o.end.is_good())
            .map(|o| format!("#{} {}", o.issue, o.end.as_str()))
            .collect();
        if !bad.is_empty() && !self.dry_run {
            line.push_str(&format!(" (needs a person: {})", bad.join(", ")));
        }
        line
    }
}

/// One line on stdout: the time, then the step's own fields.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// When (the dispatcher's clock: virtual under `ORC_NOW`).
    pub ts: String,
    /// The step.
    pub step: &'a Step,
}

impl Serialize for Line<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut map = serde_json::Map::new();
        map.insert("ts".into(), self.ts.clone().into());
        if let serde_json::Value::Object(fields) =
            serde_json::to_value(self.step).map_err(S::Error::custom)?
        {
            map.extend(fields);
        }
        if let Step::Ended { end, .. } = self.step {
            map.insert("event".into(), end.as_str().into());
        }
        map.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_named_after_themselves() {
        let step = Step::Ended {
            issue: Issue::from(4),
            end: End::GaveUp,
            detail: "x".into(),
        };
        let line = Line {
            ts: "t".into(),
            step: &step,
        };
        assert_eq!(
            serde_json::to_string(&line).unwrap_or_default(),
            r#"{"ts":"t","event":"gave-up","issue":4,"end":"gave-up","detail":"x"}"#
        );
    }
}
