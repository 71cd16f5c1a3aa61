//! The rules of the run queue, as pure functions: what a result means,
//! how long to back off, when a usage limit resets, which pull request a
//! worker named. Kept apart from the loop so each rule has a unit test.

use chrono::{DateTime, Duration, Utc};

use crate::clock;
use crate::record::Outcome;

/// The longest backoff between retries, in seconds.
pub const MAX_BACKOFF: u64 = 300;

/// After this many usage-limit requeues in a row an issue gives up: an
/// agent that is throttled forever is not going to finish.
pub const MAX_THROTTLES: u32 = 20;

/// A usage limit that claims to reset further away than this is capped:
/// the issue is looked at again by then.
pub const MAX_THROTTLE_WAIT: i64 = 12 * 3600;

/// What a worker's result asks dispatch to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// A success claim: check the evidence (then review, or done).
    Verify,
    /// A failure: retry with backoff, or give up.
    Failure,
    /// A usage limit: requeue after the reset, not a failure.
    Throttle,
    /// A person must look (blocked on a prompt or missing input).
    Escalate,
    /// Stopped on purpose by someone (cancelled, killed): not retried.
    Stopped,
    /// Suspended by someone: left to be resumed.
    Suspended,
}

/// What dispatch does after a worker ends with `outcome`.
pub fn after_worker(outcome: Outcome) -> Next {
    match outcome {
        Outcome::Merged | Outcome::CiPassed => Next::Verify,
        Outcome::Failed | Outcome::Crashed | Outcome::Timeout | Outcome::Error => Next::Failure,
        Outcome::Throttled => Next::Throttle,
        Outcome::Blocked | Outcome::Approved | Outcome::ChangesRequested => Next::Escalate,
        Outcome::Cancelled | Outcome::Killed => Next::Stopped,
        Outcome::Suspended => Next::Suspended,
    }
}

/// Seconds to wait before retry number `failures` (1 for the first):
/// `base`, doubled each time, capped at [`MAX_BACKOFF`].
pub fn backoff(base: u64, failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(32);
    base.saturating_mul(1u64 << doublings).min(MAX_BACKOFF)
}

/// When a throttled worker may run again: the reset time the worker or
/// the agent's output gave (RFC 3339, or Claude's `limit reached|<epoch>`),
/// else `now + cooldown`. A reset already past means now; one absurdly
/// far away is capped at [`MAX_THROTTLE_WAIT`].
pub fn throttle_until(
    now: DateTime<Utc>,
    detail: &str,
    output_tail: &str,
    cooldown: u64,
) -> (DateTime<Utc>, String) {
    let found = reset_time(detail).or_else(|| {
        // The agent's last words about its limit; orc's own lifecycle
        // lines in the log (`[time] orc-shim: …`) carry times that are not
        // reset times.
        output_tail
            .lines()
            .rev()
            .take(20)
            .filter(|l| l.to_ascii_lowercase().contains("limit"))
            .filter(|l| !(l.starts_with('[') && l.contains("] orc-")))
            .find_map(reset_time)
    });
    match found {
        Some(at) => {
            let capped = at.min(now + Duration::seconds(MAX_THROTTLE_WAIT)).max(now);
            (
                capped,
                format!("the limit resets at {}", clock::format(&at)),
            )
        }
        None => (
            now + Duration::seconds(i64::try_from(cooldown).unwrap_or(i64::MAX / 2)),
            format!("no reset time given: cooldown of {cooldown}s"),
        ),
    }
}

/// A reset time in one line of text.
fn reset_time(text: &str) -> Option<DateTime<Utc>> {
    let words = text.split(|c: char| c.is_whitespace() || "()[]{},;\"'`".contains(c));
    for word in words {
        let word = word.trim_end_matches('.');
        if let Ok(t) = clock::parse(word) {
            return Some(t);
        }
        // Claude Code: "Claude AI usage limit reached|1767196800".
        if let Some((_, epoch)) = word.rsplit_once('|')
            && epoch.len() >= 9
            && let Ok(secs) = epoch.parse::<i64>()
        {
            return DateTime::from_timestamp(secs, 0);
        }
    }
    None
}

/// The pull request a worker's detail names: `#12`, `PR 12`, `pull/12`.
pub fn pr_number(detail: &str) -> Option<u32> {
    let lower = detail.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let digits_at = |i: usize| -> Option<u32> {
        let end = bytes[i..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| i + n);
        lower[i..end].parse().ok().filter(|n| *n > 0)
    };
    for marker in ["#", "pull/", "pr "] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(marker) {
            let at = from + pos + marker.len();
            if bytes.get(at).is_some_and(u8::is_ascii_digit)
                && let Some(n) = digits_at(at)
            {
                return Some(n);
            }
            from = at;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        clock::parse(text).unwrap_or_default()
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let seq: Vec<u64> = (1..=5).map(|n| backoff(30, n)).collect();
        assert_eq!(seq, [30, 60, 120, 240, 300]);
        assert_eq!(backoff(100, 3), 300);
        assert_eq!(backoff(0, 4), 0);
        assert_eq!(backoff(u64::MAX, 64), MAX_BACKOFF);
    }

    #[test]
    fn results_map_to_actions() {
        assert_eq!(after_worker(Outcome::CiPassed), Next::Verify);
        assert_eq!(after_worker(Outcome::Timeout), Next::Failure);
        assert_eq!(after_worker(Outcome::Crashed), Next::Failure);
        assert_eq!(after_worker(Outcome::Throttled), Next::Throttle);
        assert_eq!(after_worker(Outcome::Killed), Next::Stopped);
        assert_eq!(after_worker(Outcome::Blocked), Next::Escalate);
    }

    #[test]
    fn throttle_reset_from_detail_output_or_cooldown() {
        let now = t("2026-11-30T08:00:00Z");
        let (at, why) = throttle_until(now, "resets at 2026-11-30T09:00:00Z.", "", 300);
        assert_eq!(at, t("2026-11-30T09:00:00Z"));
        assert!(why.contains("resets at 2026-11-30T09:00:00.000Z"), "{why}");
        let tail = "working\nClaude AI usage limit reached|1796029200\n\
                    [2026-11-30T07:00:00.000Z] orc-shim: TERMINATED throttled usage limit\n";
        assert_eq!(
            throttle_until(now, "", tail, 300).0,
            t("2026-11-30T09:00:00Z")
        );
        let (at, why) = throttle_until(now, "usage limit", "no time here", 300);
        assert_eq!(at, t("2026-11-30T08:05:00Z"));
        assert!(why.contains("cooldown"), "{why}");
        let far = throttle_until(now, "resets at 2027-01-01T00:00:00Z", "", 300).0;
        assert_eq!(far, t("2026-11-30T20:00:00Z"));
        let past = throttle_until(now, "resets at 2026-11-30T07:00:00Z", "", 300).0;
        assert_eq!(past, now);
    }

    #[test]
    fn pull_requests_are_found_in_details() {
        assert_eq!(pr_number("PR #12"), Some(12));
        assert_eq!(pr_number("opened pr 7, checks green"), Some(7));
        assert_eq!(
            pr_number("https://github.com/a/b/pull/345 is green"),
            Some(345)
        );
        assert_eq!(pr_number("fake PR for issue 3"), None);
        assert_eq!(pr_number("#0"), None);
        assert_eq!(pr_number(""), None);
    }
}
