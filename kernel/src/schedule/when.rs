//! `orc-at --at WHEN`: a local date and time with its year, or an offset
//! from now. Past, malformed and nonexistent times are refused.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike};

use crate::error::{Error, Result};

const FORMS: &str = "write YYYY-MM-DDTHH:MM (local time, e.g. 2026-12-01T09:00) \
                     or now + N minutes|hours|days";

/// The minute `text` names, in `now`'s time zone, strictly after `now`.
///
/// `YYYY-MM-DDTHH:MM` is a wall-clock time; `now + N unit` counts from the
/// start of the current minute, as at(1) does. Both come out on a whole
/// minute, the granularity of every scheduler orc drives.
pub fn parse_at<Tz: TimeZone>(text: &str, now: &DateTime<Tz>) -> Result<DateTime<Tz>> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let at = match lower.strip_prefix("now") {
        Some(rest) => relative(trimmed, rest, now)?,
        None => absolute(trimmed, now)?,
    };
    if at <= *now {
        return Err(
            Error::usage("the time is in the past", trimmed).hint(format!(
                "it is now {}; pick a later time",
                now.naive_local().format("%Y-%m-%dT%H:%M")
            )),
        );
    }
    Ok(at)
}

fn malformed(text: &str) -> Error {
    Error::usage("not a time orc-at understands", text).hint(FORMS)
}

fn absolute<Tz: TimeZone>(text: &str, now: &DateTime<Tz>) -> Result<DateTime<Tz>> {
    let b = text.as_bytes();
    let shape = b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        // A date without its year would silently mean "this year" or "next
        // year" depending on the day it is typed: refuse it by name.
        let yearless = b.len() == 11 && b.get(2) == Some(&b'-') && b.get(5) == Some(&b'T');
        let err = malformed(text);
        return Err(if yearless {
            err.hint("the year is required: YYYY-MM-DDTHH:MM")
        } else {
            err
        });
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").map_err(|_| {
        Error::usage("no such date or time", text).hint("check the month, day, hour and minute")
    })?;
    now.timezone()
        .from_local_datetime(&naive)
        .earliest()
        .ok_or_else(|| {
            Error::usage(
                "that local time does not exist (a daylight-saving gap)",
                text,
            )
            .hint("pick a time outside the hour the clocks skip")
        })
}

fn relative<Tz: TimeZone>(text: &str, rest: &str, now: &DateTime<Tz>) -> Result<DateTime<Tz>> {
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix('+') else {
        return Err(malformed(text));
    };
    let rest = rest.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = rest.split_at(digits);
    let n: i64 = match number.parse() {
        Ok(n) if (1..=1_000_000).contains(&n) => n,
        Ok(_) => {
            return Err(Error::usage("N must be between 1 and 1000000", text).hint(FORMS));
        }
        Err(_) => return Err(malformed(text)),
    };
    let step = match unit.trim() {
        "minute" | "minutes" => Duration::minutes(n),
        "hour" | "hours" => Duration::hours(n),
        "day" | "days" => Duration::days(n),
        _ => return Err(malformed(text)),
    };
    let minute = now
        .clone()
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .ok_or_else(|| malformed(text))?;
    minute
        .checked_add_signed(step)
        .ok_or_else(|| Error::usage("the time is too far ahead", text))
}

/// The `at -t` form of a local time: `YYYYMMDDhhmm`, year included.
pub fn at_stamp<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%Y%m%d%H%M").to_string()
}

#[cfg(test)]
mod tests {
    use chrono::{FixedOffset, SecondsFormat, Utc};

    use super::*;

    fn at(text: &str) -> std::result::Result<String, String> {
        let now = crate::clock::parse("2026-11-30T08:05:30Z").map_err(|e| e.to_string())?;
        parse_at(text, &now)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(
            at("2026-12-01T09:00").as_deref(),
            Ok("2026-12-01T09:00:00Z")
        );
        assert_eq!(
            at(" 2027-01-01T00:00 ").as_deref(),
            Ok("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            at("2026-11-30T08:06").as_deref(),
            Ok("2026-11-30T08:06:00Z")
        );
        assert_eq!(at("now + 1 minute").as_deref(), Ok("2026-11-30T08:06:00Z"));
        assert_eq!(at("now+5minutes").as_deref(), Ok("2026-11-30T08:10:00Z"));
        assert_eq!(at("NOW + 2 Hours").as_deref(), Ok("2026-11-30T10:05:00Z"));
        assert_eq!(at("now + 1 day").as_deref(), Ok("2026-12-01T08:05:00Z"));
        assert_eq!(at("now + 40 days").as_deref(), Ok("2027-01-09T08:05:00Z"));
    }

    #[test]
    fn refused_forms_say_why() {
        for (text, what) in [
            (
                "2026-11-30T08:05",
                "the time is in the past (2026-11-30T08:05)",
            ),
            (
                "2020-01-01T00:00",
                "the time is in the past (2020-01-01T00:00)",
            ),
            ("12-01T09:00", "not a time orc-at understands (12-01T09:00)"),
            (
                "2026-13-01T09:00",
                "no such date or time (2026-13-01T09:00)",
            ),
            (
                "2026-02-30T09:00",
                "no such date or time (2026-02-30T09:00)",
            ),
            (
                "2026-12-01T24:00",
                "no such date or time (2026-12-01T24:00)",
            ),
            (
                "2026-12-01 09:00",
                "not a time orc-at understands (2026-12-01 09:00)",
            ),
            (
                "2026-12-01T09:00:00",
                "not a time orc-at understands (2026-12-01T09:00:00)",
            ),
            (
                "26-12-01T09:00",
                "not a time orc-at understands (26-12-01T09:00)",
            ),
            ("tomorrow", "not a time orc-at understands (tomorrow)"),
            ("", "not a time orc-at understands"),
            ("now", "not a time orc-at understands (now)"),
            (
                "now + 0 minutes",
                "N must be between 1 and 1000000 (now + 0 minutes)",
            ),
            (
                "now - 5 minutes",
                "not a time orc-at understands (now - 5 minutes)",
            ),
            (
                "now + 5 weeks",
                "not a time orc-at understands (now + 5 weeks)",
            ),
            (
                "now + five minutes",
                "not a time orc-at understands (now + five minutes)",
            ),
            (
                "now + 99999999999999999999 days",
                "not a time orc-at understands (now + 99999999999999999999 days)",
            ),
        ] {
            assert_eq!(at(text).err().as_deref(), Some(what), "{text:?}");
        }
        let yearless = parse_at("12-01T09:00", &Utc::now()).err();
        assert_eq!(
            yearless
                .and_then(|e| e.hint_text().map(str::to_string))
                .as_deref(),
            Some("the year is required: YYYY-MM-DDTHH:MM")
        );
    }

    #[test]
    fn wall_clock_is_local_and_the_year_is_kept() {
        let tz = FixedOffset::east_opt(9 * 3600).expect("offset");
        let now = crate::clock::parse("2026-11-30T08:05:30Z")
            .expect("time")
            .with_timezone(&tz);
        let t = parse_at("2027-03-04T05:06", &now).expect("future");
        assert_eq!(t.to_rfc3339(), "2027-03-04T05:06:00+09:00");
        assert_eq!(at_stamp(&t), "202703040506");
    }
}
