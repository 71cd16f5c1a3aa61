//! Cron expressions: five fields parsed strictly, with messages that name
//! the field at fault.
//!
//! Each field is a list of items: `*`, `*/S`, `N`, `N-M`, `N-M/S` and `N/S`
//! (from N to the field's maximum every S). Months and weekdays also take
//! three-letter names, and weekday 7 is Sunday like 0. The `@hourly` family
//! of macros stands for its five fields; `@reboot` has no fire time and is
//! refused. An expression that can never fire (`0 0 31 2 *`) is refused too.
//!
//! Which field "starts with `*`" is kept: cron ANDs day-of-month and
//! day-of-week when either one does, and ORs them when both are restricted.

use crate::error::{Error, Result};

/// One of the five fields, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// 0-59.
    Minute,
    /// 0-23.
    Hour,
    /// 1-31.
    DayOfMonth,
    /// 1-12 or jan-dec.
    Month,
    /// 0-7 or sun-sat; 7 is Sunday.
    DayOfWeek,
}

impl Part {
    /// The five parts in the order an expression writes them.
    pub const ALL: [Part; 5] = [
        Part::Minute,
        Part::Hour,
        Part::DayOfMonth,
        Part::Month,
        Part::DayOfWeek,
    ];

    /// The field's name as messages show it.
    pub fn name(self) -> &'static str {
        match self {
            Part::Minute => "minute",
            Part::Hour => "hour",
            Part::DayOfMonth => "day-of-month",
            Part::Month => "month",
            Part::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest and largest value the field accepts.
    pub fn bounds(self) -> (u32, u32) {
        match self {
            Part::Minute => (0, 59),
            Part::Hour => (0, 23),
            Part::DayOfMonth => (1, 31),
            Part::Month => (1, 12),
            Part::DayOfWeek => (0, 7),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            Part::Month => &[
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ],
            Part::DayOfWeek => &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
            _ => &[],
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One parsed field: the set of values it matches, and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Bit `v` is set when value `v` matches (weekday 7 is folded into 0).
    bits: u64,
    /// The field's text starts with `*` (cron's DOM_STAR / DOW_STAR flag).
    star: bool,
    /// The items in numbers, for the canonical rendering.
    items: Vec<Item>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    lo: u32,
    hi: u32,
    step: u32,
    all: bool,
}

impl Field {
    /// Whether `value` matches (weekday 7 counts as 0).
    pub fn has(&self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }

    /// Whether the field's text starts with `*`.
    pub fn star(&self) -> bool {
        self.star
    }

    /// The matching values, ascending (weekdays as 0-6).
    pub fn values(&self) -> Vec<u32> {
        (0..64).filter(|v| self.has(*v)).collect()
    }

    fn render(&self) -> String {
        let items: Vec<String> = self
            .items
            .iter()
            .map(|i| match (i.all, i.step) {
                (true, 1) => "*".to_string(),
                (true, s) => format!("*/{s}"),
                (false, 1) if i.lo == i.hi => i.lo.to_string(),
                (false, 1) => format!("{}-{}", i.lo, i.hi),
                (false, s) => format!("{}-{}/{s}", i.lo, i.hi),
            })
            .collect();
        items.join(",")
    }
}

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    text: String,
    fields: [Field; 5],
}

const HINT: &str = "five fields: minute hour day-of-month month day-of-week, e.g. \"0 9 * * 1-5\"";

impl CronExpr {
    /// Parse an expression; a usage error names the field at fault.
    pub fn parse(text: &str) -> Result<CronExpr> {
        let shown = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let fail = |detail: String| {
            Error::usage(format!("invalid cron expression: {detail}"), shown.clone()).hint(HINT)
        };
        let expanded = match shown.strip_prefix('@') {
            Some(name) => macro_fields(name).ok_or_else(|| match name {
                "reboot" => fail("@reboot has no fire time".to_string()),
                _ => fail(format!("unknown macro \"@{name}\"")),
            })?,
            None => shown.as_str(),
        };
        let words: Vec<&str> = expanded.split_whitespace().collect();
        if words.is_empty() {
            return Err(fail("the expression is empty".to_string()));
        }
        if words.len() != 5 {
            return Err(fail(format!("expected 5 fields, found {}", words.len())));
        }
        let mut fields = Vec::with_capacity(5);
        for (part, word) in Part::ALL.into_iter().zip(&words) {
            let field = parse_field(part, word).map_err(|problem| {
                fail(format!(
                    "field {} ({}) \"{word}\": {problem}",
                    part.index() + 1,
                    part.name()
                ))
            })?;
            fields.push(field);
        }
        let fields: [Field; 5] = fields
            .try_into()
            .map_err(|_| fail("expected 5 fields".to_string()))?;
        let expr = CronExpr {
            text: shown.clone(),
            fields,
        };
        if !expr.can_fire() {
            return Err(fail(
                "it never fires: no month in field 4 has a day of field 3".to_string(),
            ));
        }
        Ok(expr)
    }

    /// The expression as given, with blanks collapsed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The five fields in numbers only (`N/S` written as `N-max/S`): the
    /// form every cron daemon reads the same way, for crontab lines.
    pub fn canonical(&self) -> String {
        let fields: Vec<String> = self.fields.iter().map(Field::render).collect();
        fields.join(" ")
    }

    /// One field.
    pub fn field(&self, part: Part) -> &Field {
        &self.fields[part.index()]
    }

    /// Whether the field matches every value of its range.
    pub fn is_full(&self, part: Part) -> bool {
        let (lo, hi) = part.bounds();
        let hi = if part == Part::DayOfWeek { 6 } else { hi };
        (lo..=hi).all(|v| self.field(part).has(v))
    }

    /// Whether a day matches: cron ANDs the two day fields when either
    /// starts with `*`, and ORs them otherwise. `weekday` counts from Sunday = 0.
    pub fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let (dom, dow) = (self.field(Part::DayOfMonth), self.field(Part::DayOfWeek));
        if dom.star || dow.star {
            dom.has(day) && dow.has(weekday)
        } else {
            dom.has(day) || dow.has(weekday)
        }
    }

    /// Some date exists that the day and month fields accept. With the OR
    /// rule any weekday will do; otherwise a listed day must exist in a
    /// listed month (every date falls on every weekday in some year).
    fn can_fire(&self) -> bool {
        let (dom, dow) = (self.field(Part::DayOfMonth), self.field(Part::DayOfWeek));
        if !dom.star && !dow.star {
            return true;
        }
        const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        (1..=12u32).any(|m| {
            self.field(Part::Month).has(m) && (1..=LONGEST[(m - 1) as usize]).any(|d| dom.has(d))
        })
    }
}

fn macro_fields(name: &str) -> Option<&'static str> {
    Some(match name {
        "yearly" | "annually" => "0 0 1 1 *",
        "monthly" => "0 0 1 * *",
        "weekly" => "0 0 * * 0",
        "daily" | "midnight" => "0 0 * * *",
        "hourly" => "0 * * * *",
        _ => return None,
    })
}

fn parse_field(part: Part, text: &str) -> std::result::Result<Field, String> {
    let mut field = Field {
        bits: 0,
        star: text.starts_with('*'),
        items: Vec::new(),
    };
    for item_text in text.split(',') {
        let item = parse_item(part, item_text)?;
        let mut v = item.lo;
        while v <= item.hi {
            // Weekday 7 is Sunday: fold it into 0 so matching sees one day.
            let bit = if part == Part::DayOfWeek && v == 7 {
                0
            } else {
                v
            };
            field.bits |= 1 << bit;
            v += item.step;
        }
        field.items.push(item);
    }
    Ok(field)
}

fn parse_item(part: Part, text: &str) -> std::result::Result<Item, String> {
    if text.is_empty() {
        return Err("empty list item".to_string());
    }
    let (lo_bound, hi_bound) = part.bounds();
    let (range, step) = match text.split_once('/') {
        Some((range, step)) => (range, Some(parse_step(part, step)?)),
        None => (text, None),
    };
    let (lo, hi, all) = if range == "*" {
        (lo_bound, hi_bound, true)
    } else if let Some((a, b)) = range.split_once('-') {
        if a.is_empty() {
            return Err(format!("\"{range}\" has no start before '-'"));
        }
        if b.is_empty() {
            return Err(format!("\"{range}\" has no end after '-'"));
        }
        let (lo, hi) = (parse_value(part, a)?, parse_value(part, b)?);
        if lo > hi {
            return Err(format!("range {a}-{b} is reversed"));
        }
        (lo, hi, false)
    } else if range.is_empty() {
        return Err(format!("\"{text}\" has no range before '/'"));
    } else {
        let n = parse_value(part, range)?;
        // `N/S` runs from N to the field's end, as in cronie.
        (n, if step.is_some() { hi_bound } else { n }, false)
    };
    Ok(Item {
        lo,
        hi,
        step: step.unwrap_or(1),
        all,
    })
}

fn parse_step(part: Part, text: &str) -> std::result::Result<u32, String> {
    let max = part.bounds().1;
    if text.is_empty() {
        return Err("missing step after '/'".to_string());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("step \"{text}\" is not a number"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err("step 0 is not allowed".to_string()),
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!("step {text} is out of range 1-{max}")),
    }
}

fn parse_value(part: Part, text: &str) -> std::result::Result<u32, String> {
    let (lo, hi) = part.bounds();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(format!("value {text} is out of range {lo}-{hi}")),
        };
    }
    let names = part.names();
    if names.is_empty() {
        return Err(format!("\"{text}\" is not a number"));
    }
    let lower = text.to_ascii_lowercase();
    let first = if part == Part::Month { 1 } else { 0 };
    match names.iter().position(|n| *n == lower) {
        Some(i) => Ok(i as u32 + first),
        None => Err(format!(
            "unknown name \"{text}\" (use {}-{} or {}-{})",
            names[0],
            names[names.len() - 1],
            lo,
            if part == Part::DayOfWeek { 7 } else { hi }
        )),
    }
}
