//! `orc-queue` without an order: the queue as a table or JSON lines, and
//! whether its dispatcher still runs.

use crate::error::Result;
use crate::session::Session;

use super::{Entry, QueueFile, State};

/// The queue of `session` as last written, with `running` corrected: a
/// dispatcher that wrote `running: true` and died (nobody holds the
/// session's dispatch lock) is shown stopped.
pub fn current(session: &Session) -> Result<Option<QueueFile>> {
    let Some(mut file) = super::load(session)? else {
        return Ok(None);
    };
    if let Some(d) = file.dispatcher.as_mut()
        && d.running
    {
        let path = session.dir().join("dispatch.lock");
        if crate::lock::FileLock::try_exclusive(&path)?.is_some() {
            d.running = false;
        }
    }
    Ok(Some(file))
}

/// The line above the table: who keeps the queue, and when it last did.
pub fn heading(file: &QueueFile) -> String {
    let mut counts: Vec<(State, usize)> = Vec::new();
    for e in &file.issues {
        match counts.iter_mut().find(|(s, _)| *s == e.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((e.state, 1)),
        }
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect();
    let who = match &file.dispatcher {
        Some(d) if d.running => format!(
            "orc-dispatch (pid {}) runs {}{}, max {}",
            d.pid,
            d.source,
            if d.follow { " --follow" } else { "" },
            d.max
        ),
        Some(d) => format!(
            "no orc-dispatch runs (the last one, pid {}, ran {})",
            d.pid, d.source
        ),
        None => "no orc-dispatch has run".to_string(),
    };
    format!(
        "session {}: {who}; {} issue(s): {}; as of {}",
        file.session,
        file.issues.len(),
        if counts.is_empty() {
            "none".into()
        } else {
            counts.join(", ")
        },
        file.updated_at
    )
}

/// The table's header.
pub const HEADER: [&str; 6] = ["POS", "ISSUE", "PRIORITY", "STATE", "TRIES", "REASON"];

/// One table row.
pub fn row(e: &Entry) -> Vec<String> {
    let priority = if e.effective_priority == e.priority {
        e.priority.clone()
    } else {
        format!("{} (as {})", e.priority, e.effective_priority)
    };
    let mut state = e.state.as_str().to_string();
    if let Some(until) = &e.until {
        state.push_str(&format!(" until {}", until.get(11..19).unwrap_or(until)));
    }
    if e.hold && e.state != State::Held {
        state.push_str(" (hold)");
    }
    let mut tries = format!("{}", e.attempts);
    if e.stalls > 0 {
        tries.push_str(&format!(" ({} stalled)", e.stalls));
    }
    let mut reason = e.reason.replace(['\n', '\t'], " ");
    if reason.is_empty() {
        reason.clone_from(&e.title);
    }
    vec![
        e.position.to_string(),
        format!("#{}", e.issue),
        priority,
        state,
        tries,
        reason,
    ]
}
