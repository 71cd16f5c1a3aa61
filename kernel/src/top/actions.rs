//! What `orc-top`'s keys do to a worker, through the calls `orc-ctl` and
//! `orc-cleanup` make, and to a queued issue, through the orders
//! `orc-queue` gives: the same state checks, locks, records and events,
//! so acting from the screen is acting from the command line.

use super::model::Key;
use crate::cleanup;
use crate::ctl;
use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::paths::StateDir;
use crate::queue::inbox::Order;
use crate::session::Session;
use crate::target::{self, Target};

/// An action on the selected worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask it to checkpoint and stop (`orc-ctl suspend`).
    Suspend,
    /// Start a new attempt in its worktree (`orc-ctl resume`).
    Resume,
    /// Ask it to stop (`orc-ctl term`).
    Term,
    /// Stop it now (`orc-ctl kill`).
    Kill,
    /// Change its priority (`orc-ctl nice`).
    Priority(String),
    /// Remove its worktree, branch and proc directory (`orc-cleanup`).
    Cleanup,
}

impl Action {
    /// The verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::Term => "terminate",
            Action::Kill => "kill",
            Action::Priority(_) => "renice",
            Action::Cleanup => "clean up",
        }
    }

    /// Whether a person must confirm it first: it stops work or removes
    /// files.
    pub fn destructive(&self) -> bool {
        matches!(self, Action::Term | Action::Kill | Action::Cleanup)
    }

    /// The question asked before a destructive action.
    pub fn question(&self, key: &Key) -> String {
        let what = match self {
            Action::Term => "ask it to stop (TERM, escalated after the grace period)",
            Action::Kill => "stop it now (KILL)",
            Action::Cleanup => "remove its worktree, branch and proc directory (the log is kept)",
            _ => "go ahead",
        };
        format!(
            "{} {} #{} ({}): {what}? y/N",
            capitalised(self.verb()),
            key.kind,
            key.issue,
            key.session
        )
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// The worker `key` names, resolved as `orc-ctl --session S N` does.
pub fn target(state: &StateDir, key: &Key) -> Result<Target> {
    target::resolve(state, &key.issue.to_string(), Some(&key.session), key.kind)
}

/// Do `action` to `key`; a line saying what was done.
pub fn act(state: &StateDir, key: &Key, action: &Action) -> Result<String> {
    let t = target(state, key)?;
    let who = format!("{} #{}", key.kind, key.issue);
    Ok(match action {
        Action::Suspend => {
            ctl::suspend(&t)?;
            format!("asked {who} to suspend at its next checkpoint")
        }
        Action::Term => {
            ctl::term(&t)?;
            format!("asked {who} to stop")
        }
        Action::Kill => match ctl::kill(&t)? {
            Some(_) => format!("killed {who}"),
            None => format!("{who} had already ended; its record is kept"),
        },
        Action::Resume => {
            let s = ctl::resume(&t, None)?;
            format!("resumed {who}: attempt {}", s.attempt)
        }
        Action::Priority(level) => {
            let r = ctl::nice(&t, level)?;
            format!("{who} now runs at priority {}", r.priority)
        }
        Action::Cleanup => {
            let record = t.proc.read()?;
            if record.as_ref().is_some_and(|r| r.state.is_active()) {
                return Err(Error::failure(
                    format!("cannot clean up {who}: it is still running"),
                    format!("session {}", key.session),
                )
                .hint("stop it first (t or K), then clean it up"));
            }
            let ctx = t.context()?;
            let done = cleanup::cleanup(&ctx, key.kind, key.issue, cleanup::Options::default())?;
            let mut line = format!("cleaned up {who}");
            if !done.kept_branches.is_empty() {
                line.push_str(&format!(
                    "; kept branch {} (commits found nowhere else)",
                    done.kept_branches.join(", ")
                ));
            }
            if let Some(log) = done.log {
                line.push_str(&format!("; log kept at {log}"));
            }
            line
        }
    })
}

/// An order about an issue of the dispatcher's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// Try again now, the attempt count reset (`orc-queue retry`).
    Retry,
    /// Leave the issue out (`orc-queue skip`).
    Skip,
}

impl QueueAction {
    /// The verb, for messages.
    pub fn verb(self) -> &'static str {
        match self {
            QueueAction::Retry => "retry",
            QueueAction::Skip => "skip",
        }
    }

    /// Whether a person must confirm it first: skipping drops the issue
    /// from the run.
    pub fn destructive(self) -> bool {
        self == QueueAction::Skip
    }

    /// The question asked before it.
    pub fn question(self, session: &str, issue: Issue) -> String {
        format!(
            "{} #{issue} ({session}): leave it out of the queue? y/N",
            capitalised(self.verb())
        )
    }
}

/// Give `action` about `issue` to the queue of `session`: to its running
/// dispatcher (answered at its next step), or to `queue.json` when none
/// runs, as `orc-queue` does. The dispatcher's answer.
pub fn order(state: &StateDir, session: &str, issue: Issue, action: QueueAction) -> Result<String> {
    let session = Session::open(state, session)?;
    let order = match action {
        QueueAction::Retry => Order::Retry,
        QueueAction::Skip => Order::Skip,
    };
    let reply = crate::dispatch::orders::give(&session, issue, order)?;
    if reply.ok {
        Ok(reply.detail)
    } else {
        Err(Error::failure(reply.detail, format!("#{issue}")))
    }
}

/// The priorities offered by the priority key, in order.
pub const PRIORITIES: [&str; 4] = ["critical", "high", "normal", "low"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Kind;

    #[test]
    fn destructive_actions_ask_first() {
        let key = Key {
            session: "s1".into(),
            kind: Kind::Worker,
            issue: Issue::from(12),
        };
        assert!(Action::Kill.destructive() && Action::Term.destructive());
        assert!(Action::Cleanup.destructive());
        assert!(!Action::Suspend.destructive() && !Action::Resume.destructive());
        assert!(!Action::Priority("low".into()).destructive());
        assert_eq!(
            Action::Kill.question(&key),
            "Kill worker #12 (s1): stop it now (KILL)? y/N"
        );
        assert!(QueueAction::Skip.destructive() && !QueueAction::Retry.destructive());
        assert_eq!(
            QueueAction::Skip.question("s1", Issue::from(4)),
            "Skip #4 (s1): leave it out of the queue? y/N"
        );
    }

    #[test]
    fn acting_on_a_missing_worker_says_so_and_changes_nothing() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| Error::io("tempdir", std::path::Path::new("."), e))?;
        let state = StateDir::at(dir.path());
        let key = Key {
            session: "s1".into(),
            kind: Kind::Worker,
            issue: Issue::from(3),
        };
        let err = act(&state, &key, &Action::Suspend).err();
        assert!(err.is_some());
        assert!(!dir.path().join("sessions").exists());
        Ok(())
    }
}
