//! The clock: UTC, RFC 3339, overridable with `ORC_NOW` for tests.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::{Error, Result};

/// The current time, or `ORC_NOW` when it is set (tests only).
///
/// A malformed `ORC_NOW` is an error rather than a silent fallback, so a test
/// that means to freeze the clock never runs on the real one by accident.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var("ORC_NOW") {
        Ok(text) if !text.is_empty() => {
            parse(&text).map_err(|_| Error::usage("ORC_NOW is not an RFC 3339 time", text))
        }
        _ => Ok(Utc::now()),
    }
}

/// `now()` formatted for records and events.
pub fn now_rfc3339() -> Result<String> {
    Ok(format(&now()?))
}

/// Format a time the way every orc file stores it.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parse an RFC 3339 time into UTC.
pub fn parse(text: &str) -> std::result::Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// Seconds from `since` to now, never negative; 0 when `since` is unreadable.
pub fn seconds_since(since: &str, now: &DateTime<Utc>) -> u64 {
    parse(since)
        .map(|t| (*now - t).num_seconds().max(0).unsigned_abs())
        .unwrap_or(0)
}

/// A short human duration: `42s`, `7m03s`, `2h05m`, `3d04h`.
pub fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(423), "7m03s");
        assert_eq!(human_duration(7500), "2h05m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600), "3d04h");
    }

    #[test]
    fn format_round_trips() -> std::result::Result<(), chrono::ParseError> {
        let t = parse("2026-11-30T09:00:00+01:00")?;
        assert_eq!(format(&t), "2026-11-30T08:00:00.000Z");
        Ok(())
    }
}
