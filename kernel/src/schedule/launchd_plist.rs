//! The LaunchAgent of a schedule: its `StartCalendarInterval` entries and
//! the plist XML.
//!
//! launchd ORs the dictionaries of a `StartCalendarInterval` array and, in
//! one dictionary, matches every key given (a missing key is a wildcard).
//! A cron expression becomes the product of its restricted fields, with the
//! day rule written out: when cron ORs day-of-month and day-of-week, the
//! days and the weekdays go into separate dictionaries. No dictionary holds
//! both `Day` and `Weekday`, because launchd, like cron, would OR them.
//! The one rule launchd cannot say is cron's AND of two restricted day
//! fields (`*/2` days that are also Mondays): such an expression is refused.

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::cron::{CronExpr, Part};
use crate::error::{Error, Result};

/// More dictionaries than this is not a schedule launchd should be given.
pub const MAX_ENTRIES: usize = 10_000;

/// One `StartCalendarInterval` dictionary; `None` is a missing key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CalendarEntry {
    /// `Minute`, 0-59.
    pub minute: Option<u32>,
    /// `Hour`, 0-23.
    pub hour: Option<u32>,
    /// `Day` of the month, 1-31.
    pub day: Option<u32>,
    /// `Weekday`, 0-6 from Sunday.
    pub weekday: Option<u32>,
    /// `Month`, 1-12.
    pub month: Option<u32>,
}

impl CalendarEntry {
    /// Whether launchd fires this entry at the local minute `t`.
    pub fn matches(&self, t: &NaiveDateTime) -> bool {
        let ok = |key: Option<u32>, v: u32| key.is_none_or(|k| k == v);
        ok(self.minute, t.minute())
            && ok(self.hour, t.hour())
            && ok(self.day, t.day())
            && ok(self.weekday, t.weekday().num_days_from_sunday())
            && ok(self.month, t.month())
    }

    /// The keys in the order launchd's own tools write them.
    pub fn keys(&self) -> Vec<(&'static str, u32)> {
        [
            ("Day", self.day),
            ("Hour", self.hour),
            ("Minute", self.minute),
            ("Month", self.month),
            ("Weekday", self.weekday),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// The entries that fire exactly when `expr` does.
pub fn calendar(expr: &CronExpr) -> Result<Vec<CalendarEntry>> {
    let keys = |part: Part| -> Vec<Option<u32>> {
        if expr.is_full(part) {
            vec![None]
        } else {
            expr.field(part).values().into_iter().map(Some).collect()
        }
    };
    let (dom, dow) = (expr.field(Part::DayOfMonth), expr.field(Part::DayOfWeek));
    let (dom_full, dow_full) = (
        expr.is_full(Part::DayOfMonth),
        expr.is_full(Part::DayOfWeek),
    );
    let days: Vec<(Option<u32>, Option<u32>)> = if dom.star() || dow.star() {
        // cron ANDs the day fields: a full one drops out of the AND.
        match (dom_full, dow_full) {
            (true, true) => vec![(None, None)],
            (true, false) => keys(Part::DayOfWeek)
                .into_iter()
                .map(|w| (None, w))
                .collect(),
            (false, true) => keys(Part::DayOfMonth)
                .into_iter()
                .map(|d| (d, None))
                .collect(),
            (false, false) => {
                return Err(Error::usage(
                    "launchd cannot fire on days that match both day-of-month and day-of-week",
                    expr.text().to_string(),
                )
                .hint(
                    "cron ANDs the day fields when one starts with '*'; restrict only one of them",
                ));
            }
        }
    } else if dom_full || dow_full {
        // cron ORs the day fields, and one of them already takes every day.
        vec![(None, None)]
    } else {
        let by_day = keys(Part::DayOfMonth).into_iter().map(|d| (d, None));
        by_day
            .chain(keys(Part::DayOfWeek).into_iter().map(|w| (None, w)))
            .collect()
    };
    let (months, hours, minutes) = (keys(Part::Month), keys(Part::Hour), keys(Part::Minute));
    let count = months.len() * days.len() * hours.len() * minutes.len();
    if count > MAX_ENTRIES {
        return Err(Error::usage(
            format!("launchd would need {count} calendar entries (at most {MAX_ENTRIES})"),
            expr.text().to_string(),
        )
        .hint("use fewer values in the restricted fields"));
    }
    let mut out = Vec::with_capacity(count);
    for &month in &months {
        for &(day, weekday) in &days {
            for &hour in &hours {
                for &minute in &minutes {
                    out.push(CalendarEntry {
                        minute,
                        hour,
                        day,
                        weekday,
                        month,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// The single entry of a one-shot schedule at local time `t`. launchd has
/// no year: the runner refuses to run before `t`, so the year holds.
pub fn calendar_once(t: &NaiveDateTime) -> Vec<CalendarEntry> {
    vec![CalendarEntry {
        minute: Some(t.minute()),
        hour: Some(t.hour()),
        day: Some(t.day()),
        weekday: None,
        month: Some(t.month()),
    }]
}

/// The LaunchAgent plist: label, the runner as the only program argument,
/// the calendar, and the run log for anything the runner itself prints.
pub fn render(label: &str, runner: &str, entries: &[CalendarEntry], log: &str) -> String {
    let mut x = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" ",
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n",
        "<plist version=\"1.0\">\n<dict>\n"
    ));
    let string = |x: &mut String, key: &str, value: &str| {
        x.push_str(&format!(
            "\t<key>{key}</key>\n\t<string>{}</string>\n",
            escape(value)
        ));
    };
    string(&mut x, "Label", label);
    x.push_str("\t<key>ProgramArguments</key>\n\t<array>\n");
    x.push_str(&format!(
        "\t\t<string>{}</string>\n\t</array>\n",
        escape(runner)
    ));
    x.push_str("\t<key>StartCalendarInterval</key>\n\t<array>\n");
    for entry in entries {
        x.push_str("\t\t<dict>\n");
        for (key, value) in entry.keys() {
            x.push_str(&format!(
                "\t\t\t<key>{key}</key>\n\t\t\t<integer>{value}</integer>\n"
            ));
        }
        x.push_str("\t\t</dict>\n");
    }
    x.push_str("\t</array>\n");
    string(&mut x, "StandardOutPath", log);
    string(&mut x, "StandardErrorPath", log);
    x.push_str("</dict>\n</plist>\n");
    x
}

/// Escape text for XML character data.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
