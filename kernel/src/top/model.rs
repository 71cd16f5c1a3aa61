//! What `orc-top` knows about each thing it shows: a worker row, a queue
//! entry, a schedule, an event; how each reads (its tone, whether it needs
//! a person) and the header's counts.

use crate::health::Verdict;
use crate::ids::{Issue, Kind};
use crate::record::{Outcome, State};

/// Which worker a row is: session, kind and issue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The session.
    pub session: String,
    /// worker or reviewer.
    pub kind: Kind,
    /// The issue.
    pub issue: Issue,
}

/// How a thing reads at a glance; the colour, where there is colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A person should look: blocked, zombie, unreadable, escalated.
    Alert,
    /// Working.
    Active,
    /// Waiting on something outside (CI, a review, a backoff).
    Waiting,
    /// Stopped, resumable (suspended), or queued.
    Paused,
    /// Ended well.
    Good,
    /// Ended badly.
    Bad,
}

/// One worker or reviewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRow {
    /// Which one.
    pub key: Key,
    /// The issue's title, when its task file says it.
    pub title: String,
    /// The record's state; `None` when the record is missing or unreadable.
    pub state: Option<State>,
    /// The phase, or how it ended.
    pub detail: String,
    /// The result, once it ended or suspended.
    pub result: Option<Outcome>,
    /// The health verdict of a running worker (`None` once it ended).
    pub health: Option<Verdict>,
    /// When this attempt started, in seconds since the epoch.
    pub started: Option<i64>,
    /// When it ended or suspended (its record's last change then).
    pub ended: Option<i64>,
    /// The attempt number.
    pub attempt: u32,
    /// critical, high, normal, low or a nice value.
    pub priority: String,
    /// Resident memory of the agent's process group, where it is known.
    pub memory_kb: Option<u64>,
    /// The last line of its log.
    pub last_log: String,
    /// Why the record could not be read.
    pub error: Option<String>,
}

impl WorkerRow {
    /// A row for a worker whose record is not read yet.
    pub fn empty(key: Key) -> WorkerRow {
        WorkerRow {
            key,
            title: String::new(),
            state: None,
            detail: String::new(),
            result: None,
            health: None,
            started: None,
            ended: None,
            attempt: 0,
            priority: String::new(),
            memory_kb: None,
            last_log: String::new(),
            error: None,
        }
    }

    /// Whether it still occupies a slot.
    pub fn is_active(&self) -> bool {
        self.state.is_some_and(State::is_active)
    }

    /// Whether a person should look at it: its record cannot be read, it
    /// is blocked or a zombie, or it ended blocked or in error.
    pub fn needs_person(&self) -> bool {
        self.error.is_some()
            || matches!(self.health, Some(Verdict::Blocked | Verdict::Zombie))
            || matches!(self.result, Some(Outcome::Blocked | Outcome::Error))
    }

    /// How it reads.
    pub fn tone(&self) -> Tone {
        if self.needs_person() {
            return Tone::Alert;
        }
        match (self.state, self.result) {
            (Some(State::Waiting), _) => Tone::Waiting,
            (Some(s), _) if s.is_active() => Tone::Active,
            (Some(State::Suspended), _) => Tone::Paused,
            (_, Some(o)) if is_good(o) => Tone::Good,
            _ => Tone::Bad,
        }
    }

    /// The state column: the state, or `?` for an unreadable record.
    pub fn state_text(&self) -> &'static str {
        self.state.map_or("?", State::as_str)
    }

    /// The phase column: the phase of a running worker, `result: detail`
    /// of an ended one, the error of an unreadable one.
    pub fn phase_text(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        match self.result {
            Some(r) if self.detail.is_empty() => r.to_string(),
            Some(r) => format!("{r}: {}", self.detail),
            None => self.detail.clone(),
        }
    }

    /// How long this attempt has run: to now, or to its end. An ended
    /// row's age stands still, so a screen of ended workers is still.
    pub fn age(&self, now: i64) -> Option<u64> {
        let end = self.ended.unwrap_or(now);
        self.started.map(|s| (end - s).max(0).unsigned_abs())
    }
}

/// Whether a result is a success.
pub fn is_good(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::Merged | Outcome::CiPassed | Outcome::Approved | Outcome::ChangesRequested
    )
}

/// One issue of the dispatcher's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    /// The issue.
    pub issue: Issue,
    /// Its place in the order, when the queue says it.
    pub position: Option<usize>,
    /// Its title, when known.
    pub title: String,
    /// Its priority.
    pub priority: String,
    /// queued, held, running, waiting-retry, waiting-ci, in-review,
    /// landed, gave-up, escalated, blocked, skipped (or a journal's phase).
    pub state: String,
    /// For a wait: until when (RFC 3339).
    pub until: Option<String>,
    /// Why, in words.
    pub reason: String,
}

impl QueueRow {
    /// Whether the issue waits to run: queued, held, or waiting to retry.
    pub fn is_waiting(&self) -> bool {
        matches!(
            self.state.as_str(),
            "queued" | "held" | "waiting-retry" | "wait" | "retry"
        )
    }

    /// Whether a person must decide about it.
    pub fn needs_person(&self) -> bool {
        matches!(
            self.state.as_str(),
            "gave-up" | "escalated" | "blocked" | "unverified"
        )
    }

    /// How it reads.
    pub fn tone(&self) -> Tone {
        match self.state.as_str() {
            _ if self.needs_person() => Tone::Alert,
            "running" => Tone::Active,
            "waiting-retry" | "waiting-ci" | "in-review" | "wait" | "review" | "merging" => {
                Tone::Waiting
            }
            "landed" | "merged" | "approved" => Tone::Good,
            "skipped" | "suspended" => Tone::Bad,
            _ => Tone::Paused,
        }
    }

    /// The state with its wait: `waiting-retry until 17:00:30`.
    pub fn state_text(&self) -> String {
        match &self.until {
            Some(t) => format!("{} until {}", self.state, t.get(11..19).unwrap_or(t)),
            None => self.state.clone(),
        }
    }
}

/// One schedule of `orc-cron` or `orc-at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedRow {
    /// Its id.
    pub id: String,
    /// The cron expression or the time.
    pub when: String,
    /// The next fire time (local), if there is one.
    pub next: Option<String>,
    /// The last run in a word: ok, error, running, interrupted, `-`.
    pub last: String,
    /// When it last ran.
    pub last_run_at: Option<String>,
    /// What it runs.
    pub what: String,
}

/// One line of the event tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLine {
    /// When (RFC 3339).
    pub ts: String,
    /// The line as shown.
    pub text: String,
}

/// The header's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Workers and reviewers occupying a slot.
    pub running: usize,
    /// The session's limit, when one session is shown.
    pub capacity: Option<u64>,
    /// Workers in WAITING, and queued issues waiting to run.
    pub waiting: usize,
    /// Workers and queue entries a person should look at.
    pub needs_person: usize,
    /// Every row.
    pub total: usize,
}

/// Count `rows` and `queue`. An issue the queue shows as needing a person
/// and whose worker does too is counted once.
pub fn counts<'a>(
    rows: impl IntoIterator<Item = &'a WorkerRow>,
    queue: &[QueueRow],
    capacity: Option<u64>,
) -> Counts {
    let mut c = Counts {
        capacity,
        ..Counts::default()
    };
    let mut alerted = Vec::new();
    for row in rows {
        c.total += 1;
        if row.is_active() {
            c.running += 1;
        }
        if row.state == Some(State::Waiting) {
            c.waiting += 1;
        }
        if row.needs_person() {
            c.needs_person += 1;
            alerted.push(row.key.issue);
        }
    }
    for q in queue {
        if q.is_waiting() {
            c.waiting += 1;
        }
        if q.needs_person() && !alerted.contains(&q.issue) {
            c.needs_person += 1;
        }
    }
    c
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn row(issue: u32, state: State, result: Option<Outcome>) -> WorkerRow {
        WorkerRow {
            state: Some(state),
            result,
            started: Some(1000),
            attempt: 1,
            priority: "normal".into(),
            ..WorkerRow::empty(Key {
                session: "s".into(),
                kind: Kind::Worker,
                issue: Issue::from(issue),
            })
        }
    }

    fn queued(issue: u32, state: &str) -> QueueRow {
        QueueRow {
            issue: Issue::from(issue),
            position: None,
            title: String::new(),
            priority: "normal".into(),
            state: state.into(),
            until: None,
            reason: String::new(),
        }
    }

    #[test]
    fn tones_follow_state_health_and_result() {
        assert_eq!(row(1, State::Running, None).tone(), Tone::Active);
        assert_eq!(row(1, State::Waiting, None).tone(), Tone::Waiting);
        let suspended = row(1, State::Suspended, Some(Outcome::Suspended));
        assert_eq!(suspended.tone(), Tone::Paused);
        let merged = row(1, State::Terminated, Some(Outcome::Merged));
        assert_eq!(merged.tone(), Tone::Good);
        let crashed = row(1, State::Terminated, Some(Outcome::Crashed));
        assert_eq!(crashed.tone(), Tone::Bad);
        let mut zombie = row(1, State::Running, None);
        zombie.health = Some(Verdict::Zombie);
        assert_eq!(zombie.tone(), Tone::Alert);
        let mut unreadable = WorkerRow::empty(zombie.key.clone());
        unreadable.error = Some("bad json".into());
        assert_eq!(
            (unreadable.tone(), unreadable.state_text()),
            (Tone::Alert, "?")
        );
        assert_eq!(unreadable.phase_text(), "bad json");
    }

    #[test]
    fn phase_reads_as_result_and_detail() {
        let mut r = row(3, State::Terminated, Some(Outcome::CiPassed));
        r.detail = "PR #7".into();
        assert_eq!(r.phase_text(), "ci-passed: PR #7");
        r.detail.clear();
        assert_eq!(r.phase_text(), "ci-passed");
        assert_eq!(r.age(1042), Some(42));
        assert_eq!(r.age(10), Some(0));
        r.ended = Some(1100);
        assert_eq!(r.age(5000), Some(100));
    }

    #[test]
    fn counts_do_not_count_one_issue_twice() {
        let mut blocked = row(1, State::Running, None);
        blocked.health = Some(Verdict::Blocked);
        let rows = [
            blocked,
            row(2, State::Waiting, None),
            row(3, State::Terminated, Some(Outcome::Failed)),
        ];
        let queue = [
            queued(1, "escalated"),
            queued(4, "queued"),
            queued(5, "held"),
            queued(6, "gave-up"),
            queued(7, "landed"),
        ];
        let c = counts(&rows, &queue, Some(5));
        assert_eq!(
            c,
            Counts {
                running: 2,
                capacity: Some(5),
                waiting: 3,
                needs_person: 2,
                total: 3,
            }
        );
    }

    #[test]
    fn queue_waits_show_until_when() {
        let mut q = queued(4, "waiting-retry");
        q.until = Some("2026-12-04T17:00:30.000Z".into());
        assert_eq!(q.state_text(), "waiting-retry until 17:00:30");
        assert_eq!(q.tone(), Tone::Waiting);
        assert!(q.is_waiting());
        assert_eq!(queued(4, "escalated").tone(), Tone::Alert);
    }
}
