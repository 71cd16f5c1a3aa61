//! How `orc-cron` and `orc-at` show schedules to a person. Programs get
//! the same data as JSON from the serde forms of [`Listed`], [`Added`] and
//! [`Outcome`].

use super::ops::{Added, Listed};
use super::registry::{RunStatus, Timing};
use super::run::Outcome;

/// The header of the `list` table.
pub fn header(recurring: bool) -> Vec<&'static str> {
    let when = if recurring { "SCHEDULE" } else { "AT" };
    vec![
        "ID", when, "NEXT", "BACKEND", "STATE", "LAST RUN", "LAST", "RUNS", "WHAT",
    ]
}

/// One row of the `list` table.
pub fn cells(row: &Listed) -> Vec<String> {
    let s = &row.schedule;
    let when = match &s.timing {
        Timing::Cron { schedule } => schedule.clone(),
        Timing::At { at } => at.clone(),
    };
    vec![
        s.id.clone(),
        when,
        row.next.clone().unwrap_or_else(|| "-".to_string()),
        s.backend.to_string(),
        row.state.to_string(),
        s.last_run_at.clone().unwrap_or_else(|| "-".to_string()),
        row.last().to_string(),
        s.runs.to_string(),
        s.action.summary(),
    ]
}

/// The line `add` prints on a terminal.
pub fn added(a: &Added) -> String {
    let s = &a.schedule;
    let next = a.next.as_deref().unwrap_or("never");
    format!(
        "added {} on {} (runner {}); next run {next}",
        s.id,
        s.backend,
        s.runner.display()
    )
}

/// The line `run` prints on a terminal.
pub fn outcome(o: &Outcome) -> String {
    let log = o.log.display();
    match (&o.skipped, o.status, o.exit) {
        (Some(why), _, _) => format!("{}: skipped: {why} (log {log})", o.id),
        (None, Some(RunStatus::Ok), _) => format!("{}: ok (log {log})", o.id),
        (None, _, Some(code)) => format!("{}: error, exit {code} (log {log})", o.id),
        (None, _, None) => format!("{}: error, it could not start (log {log})", o.id),
    }
}
