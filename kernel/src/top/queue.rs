//! The dispatcher's queue as `orc-top` shows it: `queue.json` in the
//! session when a dispatcher wrote one (the format `orc-queue` reads, read
//! here leniently: fields it does not know are ignored), else what the
//! dispatcher's journals (`dispatch.json` beside each worker's record)
//! say of the issues it started. No queue, no panel.

use serde::Deserialize;

use super::model::QueueRow;
use crate::dispatch::journal::{self, Phase};
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::session::Session;

/// `queue.json` in `session`.
pub fn path(session: &Session) -> std::path::PathBuf {
    session.dir().join("queue.json")
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    issues: Vec<Entry>,
    #[serde(default)]
    dispatcher: Option<Dispatcher>,
}

#[derive(Deserialize)]
struct Dispatcher {
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    running: bool,
    #[serde(default)]
    source: String,
}

#[derive(Deserialize)]
struct Entry {
    issue: Issue,
    #[serde(default)]
    position: Option<usize>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    priority: String,
    state: String,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    reason: String,
}

/// The queue of `session`, and a word on its dispatcher.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Queue {
    /// The issues, in the queue's order.
    pub rows: Vec<QueueRow>,
    /// `running (pid N, label:ready)`, `stopped`, or empty when unknown.
    pub dispatcher: String,
}

/// The queue of `session`: from `queue.json`, else from the journals.
/// A `queue.json` that cannot be read is said so in `dispatcher`.
pub fn load(session: &Session) -> Queue {
    let text = match crate::fsutil::read_string_nofollow(&path(session)) {
        Ok(text) => text,
        Err(_) => return from_journals(session),
    };
    match serde_json::from_str::<File>(&text) {
        Ok(file) => Queue {
            rows: file.issues.into_iter().map(row).collect(),
            dispatcher: match file.dispatcher {
                Some(d) if d.running => format!("running (pid {}, {})", d.pid, d.source),
                Some(_) => "stopped".to_string(),
                None => String::new(),
            },
        },
        Err(e) => Queue {
            rows: Vec::new(),
            dispatcher: format!("queue.json unreadable: {e}"),
        },
    }
}

fn row(e: Entry) -> QueueRow {
    QueueRow {
        issue: e.issue,
        position: e.position,
        title: e.title,
        priority: if e.priority.is_empty() {
            "normal".to_string()
        } else {
            e.priority
        },
        state: e.state,
        until: e.until,
        reason: e.reason,
    }
}

/// What the journals say: one row per worker dispatch decided about.
fn from_journals(session: &Session) -> Queue {
    let mut rows = Vec::new();
    for proc in Proc::list(session).unwrap_or_default() {
        if proc.kind() != Kind::Worker {
            continue;
        }
        let Ok(Some(j)) = journal::load(&proc) else {
            continue;
        };
        let record = proc.read().ok().flatten();
        let (state, until) = phase_words(&j.phase);
        rows.push(QueueRow {
            issue: proc.issue(),
            position: None,
            title: String::new(),
            priority: record.map_or_else(|| "normal".to_string(), |r| r.priority),
            state,
            until,
            reason: j.detail,
        });
    }
    Queue {
        dispatcher: if rows.is_empty() {
            String::new()
        } else {
            "journals".to_string()
        },
        rows,
    }
}

/// A journal's phase in the queue's words.
pub fn phase_words(phase: &Phase) -> (String, Option<String>) {
    match phase {
        Phase::Queued => ("queued".into(), None),
        Phase::Running { kind: Kind::Worker } => ("running".into(), None),
        Phase::Running {
            kind: Kind::Reviewer,
        }
        | Phase::Review => ("in-review".into(), None),
        Phase::Wait { until, .. } => ("waiting-retry".into(), Some(until.clone())),
        Phase::Retry | Phase::Resume => ("queued".into(), None),
        Phase::Verify { until } => ("waiting-ci".into(), Some(until.clone())),
        Phase::Merging => ("waiting-ci".into(), None),
        Phase::Stopping { .. } => ("running".into(), None),
        Phase::Done { end } => (
            match end.as_str() {
                "merged" => "landed",
                "gave-up" => "gave-up",
                "escalated" | "unverified" => "escalated",
                "approved" => "in-review",
                other => other,
            }
            .to_string(),
            None,
        ),
    }
}

/// Proc of the worker of `issue` in `session`, where its journal lives.
pub fn worker_proc(session: &Session, issue: Issue) -> Proc {
    Proc::new(session, Kind::Worker, issue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::journal::{End, Journal, Then};
    use crate::paths::StateDir;
    use crate::record::Record;

    #[test]
    fn queue_json_is_read_leniently_and_journals_are_the_fallback() -> crate::Result<()> {
        let dir = tempfile::tempdir()
            .map_err(|e| crate::Error::io("tempdir", std::path::Path::new("."), e))?;
        let state = StateDir::at(dir.path());
        let session = Session::open(&state, "s1")?;
        session.ensure(None)?;
        assert_eq!(load(&session), Queue::default());

        let proc = worker_proc(&session, Issue::from(4));
        proc.create(&Record::new(Issue::from(4), Kind::Worker, "s1", "t"))?;
        let j = Journal {
            phase: Phase::Wait {
                until: "2026-12-04T17:00:30.000Z".into(),
                then: Then::Retry,
            },
            detail: "failed: tests".into(),
            ..Journal::new()
        };
        journal::save(&proc, &j)?;
        let q = load(&session);
        assert_eq!(q.rows.len(), 1);
        assert_eq!(q.rows[0].state_text(), "waiting-retry until 17:00:30");
        assert_eq!(q.rows[0].reason, "failed: tests");

        let file = path(&session);
        let json = r#"{"version":1,"future":true,"dispatcher":{"pid":7,"running":true,"source":"label:ready","max":3},
            "issues":[{"issue":12,"position":1,"title":"Fix","priority":"high","state":"held",
            "reason":"waits for #4","waiting_for":[4],"hold":false}]}"#;
        std::fs::write(&file, json).map_err(|e| crate::Error::io("write", &file, e))?;
        let q = load(&session);
        assert_eq!(q.dispatcher, "running (pid 7, label:ready)");
        assert_eq!(
            (
                q.rows[0].issue.get(),
                q.rows[0].state.as_str(),
                q.rows[0].position
            ),
            (12, "held", Some(1))
        );
        std::fs::write(&file, "{").map_err(|e| crate::Error::io("write", &file, e))?;
        assert!(
            load(&session)
                .dispatcher
                .starts_with("queue.json unreadable")
        );
        assert_eq!(phase_words(&Phase::Done { end: End::GaveUp }).0, "gave-up");
        Ok(())
    }
}
