//! The worker record (`state.json`) and its state machine.
//!
//! `NEW → READY → RUNNING ⇄ WAITING → TERMINATED`, and
//! `RUNNING/WAITING → SUSPENDED → READY` on resume. The record is the truth;
//! a terminal record is written once and only an explicit resume (a new
//! attempt) replaces it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};

/// A worker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// The proc directory exists; nothing started yet.
    New,
    /// Ready to run: the shim is starting the agent.
    Ready,
    /// The agent is working on a phase.
    Running,
    /// The agent waits on something outside (CI, a review).
    Waiting,
    /// Stopped at a checkpoint; resumable.
    Suspended,
    /// Ended; `result` says how.
    Terminated,
}

impl State {
    /// The name as it appears in records and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "NEW",
            State::Ready => "READY",
            State::Running => "RUNNING",
            State::Waiting => "WAITING",
            State::Suspended => "SUSPENDED",
            State::Terminated => "TERMINATED",
        }
    }

    /// Whether the worker still occupies a slot (counts against the limit).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            State::New | State::Ready | State::Running | State::Waiting
        )
    }

    /// Whether `self → next` is an edge of the state machine. Staying in
    /// RUNNING or WAITING is allowed: it reports a new phase.
    pub fn can_become(self, next: State) -> bool {
        use State::*;
        matches!(
            (self, next),
            (New, Ready)
                | (New | Ready | Running | Waiting, Running | Waiting)
                | (Running | Waiting, Suspended)
                | (Suspended, Ready)
                | (New | Ready | Running | Waiting, Terminated)
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "NEW" => State::New,
            "READY" => State::Ready,
            "RUNNING" => State::Running,
            "WAITING" => State::Waiting,
            "SUSPENDED" => State::Suspended,
            "TERMINATED" => State::Terminated,
            _ => {
                let hint = if s.chars().any(|c| c.is_ascii_lowercase())
                    && s.to_ascii_uppercase().parse::<State>().is_ok()
                {
                    format!("states are upper case: {}", s.to_ascii_uppercase())
                } else {
                    "states are NEW, READY, RUNNING, WAITING, SUSPENDED, TERMINATED".to_string()
                };
                return Err(Error::usage("unknown state", crate::text::escaped(s, 40)).hint(hint));
            }
        })
    }
}

/// How a worker ended: its own word, or the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Worker: its PR was merged.
    Merged,
    /// Worker: its PR's checks passed.
    CiPassed,
    /// Reviewer: the change is approved.
    Approved,
    /// Reviewer: the change needs more work.
    ChangesRequested,
    /// The agent gave up.
    Failed,
    /// The agent stopped on a TERM request.
    Cancelled,
    /// The agent stopped on a SUSPEND request at a checkpoint.
    Suspended,
    /// The agent hit a usage or rate limit; retry later.
    Throttled,
    /// Kernel: the agent or its shim died without a result.
    Crashed,
    /// Kernel: the agent ran past `ORC_WORKER_TIMEOUT`.
    Timeout,
    /// Kernel: the worker cannot proceed (permission prompt, missing input).
    Blocked,
    /// Kernel: orc itself failed to run the worker.
    Error,
    /// Kernel: stopped with `orc-signal KILL` / `orc-ctl kill`.
    Killed,
}

impl Outcome {
    /// Every outcome, for messages.
    pub const ALL: [Outcome; 13] = [
        Outcome::Merged,
        Outcome::CiPassed,
        Outcome::Approved,
        Outcome::ChangesRequested,
        Outcome::Failed,
        Outcome::Cancelled,
        Outcome::Suspended,
        Outcome::Throttled,
        Outcome::Crashed,
        Outcome::Timeout,
        Outcome::Blocked,
        Outcome::Error,
        Outcome::Killed,
    ];

    /// The name in records and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Merged => "merged",
            Outcome::CiPassed => "ci-passed",
            Outcome::Approved => "approved",
            Outcome::ChangesRequested => "changes-requested",
            Outcome::Failed => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Suspended => "suspended",
            Outcome::Throttled => "throttled",
            Outcome::Crashed => "crashed",
            Outcome::Timeout => "timeout",
            Outcome::Blocked => "blocked",
            Outcome::Error => "error",
            Outcome::Killed => "killed",
        }
    }

    /// The results a worker of `kind` may report with `orc-notify`.
    pub fn reportable(kind: Kind) -> &'static [Outcome] {
        match kind {
            Kind::Worker => &[
                Outcome::Merged,
                Outcome::CiPassed,
                Outcome::Failed,
                Outcome::Cancelled,
                Outcome::Suspended,
                Outcome::Throttled,
            ],
            Kind::Reviewer => &[
                Outcome::Approved,
                Outcome::ChangesRequested,
                Outcome::Failed,
            ],
        }
    }

    /// Parse a result a worker of `kind` reports.
    pub fn parse_reported(text: &str, kind: Kind) -> Result<Outcome> {
        let allowed = Outcome::reportable(kind);
        let names: Vec<&str> = allowed.iter().map(|o| o.as_str()).collect();
        allowed
            .iter()
            .copied()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| {
                Error::usage(format!("unknown result for a {kind}"), text)
                    .hint(format!("results are: {}", names.join(", ")))
            })
    }

    /// Whether this result keeps the issue lock (handed to the session)
    /// instead of releasing it: the work is not finished with.
    pub fn keeps_lock(self) -> bool {
        matches!(
            self,
            Outcome::CiPassed | Outcome::Approved | Outcome::ChangesRequested | Outcome::Suspended
        )
    }

    /// The state a record takes with this result.
    pub fn state(self) -> State {
        if self == Outcome::Suspended {
            State::Suspended
        } else {
            State::Terminated
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record of one worker, `procs/<kind>-<N>/state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The issue number.
    pub issue: Issue,
    /// worker or reviewer.
    pub kind: Kind,
    /// Where in the state machine it is.
    pub state: State,
    /// The phase or a short explanation.
    #[serde(default)]
    pub detail: String,
    /// Set once the worker ended (or suspended).
    #[serde(default)]
    pub result: Option<Outcome>,
    /// `critical`, `high`, `normal`, `low` or a nice value 0-19.
    #[serde(default = "default_priority")]
    pub priority: String,
    /// The agent's process id (leader of its process group), once started.
    #[serde(default)]
    pub pid: Option<i32>,
    /// When this attempt started.
    pub started_at: String,
    /// When the record last changed.
    pub updated_at: String,
    /// The worker's worktree.
    #[serde(default)]
    pub worktree: Option<String>,
    /// The worker's branch.
    #[serde(default)]
    pub branch: Option<String>,
    /// The branch it started from.
    #[serde(default)]
    pub base: Option<String>,
    /// The agent CLI.
    #[serde(default)]
    pub agent: Option<String>,
    /// 1 for the first run, +1 for each resume or retry.
    #[serde(default = "one")]
    pub attempt: u32,
    /// The session the worker belongs to.
    #[serde(default)]
    pub session: String,
    /// The main repository root (the issue lock's key).
    #[serde(default)]
    pub repo: Option<String>,
    /// The agent's own session id (claude's `--session-id`), for resuming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session: Option<String>,
    /// The exit status of the agent, when the shim saw it end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// The Slurm job that runs this attempt's agent (backend `slurm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<crate::slurm::SlurmJob>,
}

fn default_priority() -> String {
    "normal".to_string()
}

fn one() -> u32 {
    1
}

impl Record {
    /// A fresh record in state NEW.
    pub fn new(issue: Issue, kind: Kind, session: &str, now: &str) -> Record {
        Record {
            issue,
            kind,
            state: State::New,
            detail: String::new(),
            result: None,
            priority: default_priority(),
            pid: None,
            started_at: now.to_string(),
            updated_at: now.to_string(),
            worktree: None,
            branch: None,
            base: None,
            agent: None,
            attempt: 1,
            session: session.to_string(),
            repo: None,
            agent_session: None,
            exit: None,
            slurm: None,
        }
    }

    /// Whether this record is final for its attempt.
    pub fn is_terminal(&self) -> bool {
        self.state == State::Terminated
    }

    /// Move to `next` with `detail`, enforcing the state machine and the
    /// write-once rule for terminal records.
    pub fn transition(&mut self, next: State, detail: &str, now: &str) -> Result<()> {
        if self.is_terminal() {
            return Err(Error::failure(
                format!(
                    "{} {} already ended with {}",
                    self.kind,
                    self.issue,
                    self.result_name()
                ),
                "TERMINATED",
            )
            .hint("a terminal record is written once; resume starts a new attempt"));
        }
        if !self.state.can_become(next) {
            return Err(Error::failure(
                format!("cannot go from {} to {}", self.state, next),
                format!("{}-{}", self.kind, self.issue),
            ));
        }
        self.state = next;
        self.detail = detail.to_string();
        self.updated_at = now.to_string();
        Ok(())
    }

    /// End this attempt (or suspend it) with `outcome`.
    pub fn finish(&mut self, outcome: Outcome, detail: &str, now: &str) -> Result<()> {
        self.transition(outcome.state(), detail, now)?;
        self.result = Some(outcome);
        Ok(())
    }

    /// Start a new attempt from SUSPENDED or a terminal record (resume).
    pub fn new_attempt(&mut self, now: &str) {
        self.state = State::Ready;
        self.result = None;
        self.exit = None;
        self.slurm = None;
        self.detail = "resumed".to_string();
        self.attempt += 1;
        self.started_at = now.to_string();
        self.updated_at = now.to_string();
    }

    /// The result's name, or `-`.
    pub fn result_name(&self) -> &'static str {
        self.result.map_or("-", Outcome::as_str)
    }

    /// The record as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Map a priority name or nice value to the nice value the shim applies.
pub fn nice_of(priority: &str) -> Result<i32> {
    match priority {
        "critical" => Ok(0),
        "high" => Ok(5),
        "normal" => Ok(10),
        "low" => Ok(15),
        n => match n.parse::<i32>() {
            Ok(v) if (0..=19).contains(&v) && !n.starts_with('+') => Ok(v),
            _ => Err(Error::usage("unknown priority", n)
                .hint("use critical, high, normal, low or a nice value 0-19")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_records_are_written_once() {
        let mut r = Record::new(Issue::from(7), Kind::Worker, "s", "t0");
        assert!(r.transition(State::Ready, "", "t1").is_ok());
        assert!(r.transition(State::Running, "phase1", "t2").is_ok());
        assert!(r.finish(Outcome::Merged, "PR 3", "t3").is_ok());
        let before = r.clone();
        assert!(r.finish(Outcome::Crashed, "", "t4").is_err());
        assert!(r.transition(State::Running, "", "t4").is_err());
        assert_eq!(r, before);
        r.new_attempt("t5");
        assert_eq!((r.state, r.attempt, r.result), (State::Ready, 2, None));
    }

    #[test]
    fn suspended_is_not_terminal() {
        let mut r = Record::new(Issue::from(7), Kind::Worker, "s", "t0");
        assert!(r.transition(State::Running, "", "t1").is_ok());
        assert!(r.finish(Outcome::Suspended, "at phase 2", "t2").is_ok());
        assert_eq!(r.state, State::Suspended);
        assert!(!r.is_terminal());
        assert!(r.transition(State::Running, "", "t3").is_err());
        assert!(r.transition(State::Ready, "", "t3").is_ok());
    }

    #[test]
    fn reviewers_and_workers_report_different_results() {
        assert!(Outcome::parse_reported("approved", Kind::Reviewer).is_ok());
        assert!(Outcome::parse_reported("approved", Kind::Worker).is_err());
        assert!(Outcome::parse_reported("merged", Kind::Reviewer).is_err());
        assert!(Outcome::parse_reported("crashed", Kind::Worker).is_err());
    }

    #[test]
    fn priorities_map_to_nice() {
        assert_eq!(nice_of("critical").ok(), Some(0));
        assert_eq!(nice_of("low").ok(), Some(15));
        assert_eq!(nice_of("19").ok(), Some(19));
        for bad in ["20", "-1", "+3", "urgent", ""] {
            assert!(nice_of(bad).is_err(), "{bad}");
        }
    }
}
