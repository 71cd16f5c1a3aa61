//! When a cron expression fires next, in any time zone.
//!
//! The search walks local wall-clock time and skips a whole month, day or
//! hour as soon as that unit cannot match, so even a rare expression (the
//! 29th of February on a Monday) is found in a few thousand steps. Local
//! times that a daylight-saving change skips do not exist and are passed
//! over; a repeated hour fires once, at its first occurrence.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};

use super::cron::{CronExpr, Part};

/// How far ahead to look: long enough for any date that exists to recur
/// on any weekday (the Gregorian calendar repeats every 400 years, but a
/// given day and weekday meet within 28 years, 40 across a skipped leap day).
const HORIZON_YEARS: i32 = 41;

impl CronExpr {
    /// Whether the expression matches the local wall-clock minute `t`.
    pub fn matches(&self, t: &NaiveDateTime) -> bool {
        self.field(Part::Minute).has(t.minute())
            && self.field(Part::Hour).has(t.hour())
            && self.field(Part::Month).has(t.month())
            && self.day_matches(t.day(), t.weekday().num_days_from_sunday())
    }

    /// The first fire time strictly after `after`, if any within the horizon.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = after.timezone();
        let start = after.naive_local().with_second(0)?.with_nanosecond(0)?;
        let mut t = start.checked_add_signed(Duration::minutes(1))?;
        let last_year = t.year().checked_add(HORIZON_YEARS)?;
        while t.year() <= last_year {
            if !self.field(Part::Month).has(t.month()) {
                t = first_of_next_month(t.date())?;
            } else if !self.day_matches(t.day(), t.weekday().num_days_from_sunday()) {
                t = t.date().succ_opt()?.and_hms_opt(0, 0, 0)?;
            } else if !self.field(Part::Hour).has(t.hour()) {
                t = t.with_minute(0)?.checked_add_signed(Duration::hours(1))?;
            } else if !self.field(Part::Minute).has(t.minute()) {
                t = t.checked_add_signed(Duration::minutes(1))?;
            } else {
                // `earliest` is None inside a daylight-saving gap.
                match tz.from_local_datetime(&t).earliest() {
                    Some(found) if found > *after => return Some(found),
                    _ => t = t.checked_add_signed(Duration::minutes(1))?,
                }
            }
        }
        None
    }

    /// The next `n` fire times after `after`, fewer if the horizon ends first.
    pub fn upcoming<Tz: TimeZone>(&self, after: &DateTime<Tz>, n: usize) -> Vec<DateTime<Tz>> {
        let mut out: Vec<DateTime<Tz>> = Vec::with_capacity(n);
        let mut from = after.clone();
        while out.len() < n {
            match self.next_after(&from) {
                Some(t) => {
                    from = t.clone();
                    out.push(t);
                }
                None => break,
            }
        }
        out
    }
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDateTime> {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)
}
