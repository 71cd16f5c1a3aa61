//! Results that need a person, told once (see [`crate::alert`]).

use crate::alert::Alert;
use crate::error::Result;
use crate::ids::Issue;

use super::engine::Dispatcher;
use super::step::{Line, Step};

/// The ends and events a person must hear about, by the name they end
/// with (`held` at the end of a run is a blocked issue).
const NEEDS_A_PERSON: [&str; 6] = [
    "escalated",
    "gave-up",
    "held",
    "unverified",
    "blocked",
    "stalled",
];

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Tell a person about `issue` if `reason` needs one and it is news.
    pub(super) fn tell_a_person(&mut self, issue: Issue, reason: &str, detail: &str) -> Result<()> {
        if !NEEDS_A_PERSON.contains(&reason) || self.opts.dry_run {
            return Ok(());
        }
        let reason = if reason == "held" { "blocked" } else { reason };
        let alert = Alert {
            issue: Some(issue),
            subject: String::new(),
            reason: reason.to_string(),
            detail: detail.to_string(),
        };
        let channels = match self.alerts.tell(&alert) {
            Ok(c) => c,
            Err(e) => {
                return self.emit(Step::Warning {
                    issue: Some(issue),
                    detail: format!("could not tell a person: {e}"),
                });
            }
        };
        if channels.is_empty() {
            return Ok(());
        }
        self.emit(Step::Notified {
            issue: Some(issue),
            reason: reason.to_string(),
            channels,
        })
    }
}
