//! Tests: read a LaunchAgent plist back as a property list and check its
//! calendar against the cron expression it came from.
//!
//! The reader is a strict little XML property-list parser (dict, array,
//! key, string, integer, true, false; the five predefined entities), so a
//! plist that launchd's parser would reject fails here too.

use chrono::{Datelike, NaiveDate};

use super::cron::CronExpr;
use super::launchd_plist::{CalendarEntry, calendar, calendar_once, render};

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Dict(Vec<(String, Value)>),
    Array(Vec<Value>),
    String(String),
    Integer(i64),
    Bool(bool),
}

impl Value {
    fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Reader<'a> {
    rest: &'a str,
}

impl<'a> Reader<'a> {
    fn skip_blank(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn expect(&mut self, text: &str) -> Result<(), String> {
        self.skip_blank();
        self.rest = self
            .rest
            .strip_prefix(text)
            .ok_or_else(|| format!("expected {text:?} at {:?}", self.head()))?;
        Ok(())
    }

    fn head(&self) -> String {
        self.rest.chars().take(30).collect()
    }

    /// Character data up to the next `<`, with entities decoded.
    fn text(&mut self) -> Result<String, String> {
        let end = self.rest.find('<').ok_or("unterminated text")?;
        let raw = &self.rest[..end];
        if raw.contains('>') {
            return Err(format!("raw '>' in text {raw:?}"));
        }
        self.rest = &self.rest[end..];
        let mut out = String::new();
        let mut parts = raw.split('&');
        out.push_str(parts.next().unwrap_or_default());
        for part in parts {
            let (name, tail) = part.split_once(';').ok_or("bad entity")?;
            out.push(match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                other => return Err(format!("unknown entity &{other};")),
            });
            out.push_str(tail);
        }
        Ok(out)
    }

    fn element(&mut self, name: &str) -> Result<String, String> {
        self.expect(&format!("<{name}>"))?;
        let text = self.text()?;
        self.expect(&format!("</{name}>"))?;
        Ok(text)
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_blank();
        if self.rest.starts_with("<dict>") {
            self.expect("<dict>")?;
            let mut pairs = Vec::new();
            loop {
                self.skip_blank();
                if self.rest.starts_with("</dict>") {
                    self.expect("</dict>")?;
                    return Ok(Value::Dict(pairs));
                }
                let key = self.element("key")?;
                if pairs.iter().any(|(k, _)| *k == key) {
                    return Err(format!("duplicate key {key}"));
                }
                pairs.push((key, self.value()?));
            }
        }
        if self.rest.starts_with("<array>") {
            self.expect("<array>")?;
            let mut items = Vec::new();
            loop {
                self.skip_blank();
                if self.rest.starts_with("</array>") {
                    self.expect("</array>")?;
                    return Ok(Value::Array(items));
                }
                items.push(self.value()?);
            }
        }
        if self.rest.starts_with("<string>") {
            return self.element("string").map(Value::String);
        }
        if self.rest.starts_with("<integer>") {
            let text = self.element("integer")?;
            return text
                .parse()
                .map(Value::Integer)
                .map_err(|e| format!("{text}: {e}"));
        }
        for (tag, b) in [("<true/>", true), ("<false/>", false)] {
            if self.rest.starts_with(tag) {
                self.expect(tag)?;
                return Ok(Value::Bool(b));
            }
        }
        Err(format!("unexpected {:?}", self.head()))
    }
}

fn parse(xml: &str) -> Result<Value, String> {
    let mut r = Reader { rest: xml };
    r.expect("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    r.expect("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">")?;
    r.expect("<plist version=\"1.0\">")?;
    let root = r.value()?;
    r.expect("</plist>")?;
    r.skip_blank();
    if !r.rest.is_empty() {
        return Err(format!("trailing {:?}", r.head()));
    }
    Ok(root)
}

/// The calendar entries of a parsed plist.
fn entries(root: &Value) -> Vec<CalendarEntry> {
    let Some(Value::Array(dicts)) = root.get("StartCalendarInterval") else {
        panic!("no StartCalendarInterval array");
    };
    dicts
        .iter()
        .map(|d| {
            let Value::Dict(pairs) = d else {
                panic!("not a dict: {d:?}")
            };
            let mut e = CalendarEntry::default();
            for (k, v) in pairs {
                let Value::Integer(n) = v else {
                    panic!("{k} is not an integer")
                };
                let n = Some(u32::try_from(*n).expect("non-negative"));
                match k.as_str() {
                    "Minute" => e.minute = n,
                    "Hour" => e.hour = n,
                    "Day" => e.day = n,
                    "Weekday" => e.weekday = n,
                    "Month" => e.month = n,
                    other => panic!("unknown calendar key {other}"),
                }
            }
            assert!(
                e.day.is_none() || e.weekday.is_none(),
                "Day and Weekday in one dict"
            );
            e
        })
        .collect()
}

/// Render `expr`'s plist, read it back, and compare launchd's calendar with
/// cron at every fire time and at `probes` further minutes.
pub(super) fn check_plist(expr: &CronExpr, probes: &[chrono::NaiveDateTime]) {
    let cal = calendar(expr).expect("calendar");
    let xml = render(
        "dev.orc.schedule.t",
        "/s/runners/t <&>.sh",
        &cal,
        "/s/logs/t.log",
    );
    let root = parse(&xml).unwrap_or_else(|e| panic!("{}: bad plist: {e}\n{xml}", expr.text()));
    assert_eq!(
        root.get("ProgramArguments"),
        Some(&Value::Array(vec![Value::String(
            "/s/runners/t <&>.sh".into()
        )]))
    );
    assert_eq!(
        root.get("Label"),
        Some(&Value::String("dev.orc.schedule.t".into()))
    );
    let read = entries(&root);
    assert_eq!(
        read,
        cal,
        "{}: entries changed on the way through XML",
        expr.text()
    );
    let start = NaiveDate::from_ymd_opt(2026, 11, 30)
        .and_then(|d| d.and_hms_opt(8, 5, 0))
        .expect("date")
        .and_utc();
    let fires = expr.upcoming(&start, 8);
    for t in fires
        .iter()
        .map(|t| t.naive_utc())
        .chain(probes.iter().copied())
    {
        let launchd = read.iter().any(|e| e.matches(&t));
        assert_eq!(launchd, expr.matches(&t), "{} at {t}", expr.text());
    }
}

#[test]
fn plists_read_back_and_match_cron() {
    let base = NaiveDate::from_ymd_opt(2027, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let base = base.expect("date");
    // Every hour of the first two weeks of 2027, minutes spread around.
    let probes: Vec<_> = (0..24 * 14)
        .map(|h| base + chrono::Duration::minutes(h * 60 + (h * 7) % 60))
        .collect();
    for text in [
        "0 9 * * 1-5",
        "*/15 9-17 * * mon-fri",
        "0 9 1 * mon",
        "0 12 13 * fri",
        "0 0 */2 * *",
        "0 0 * * */2",
        "30 6 1,15 jan,jul *",
        "0 0 1-7 * 0",
        "0 0 * * 7",
        "5/20 10/6 * * *",
        "@daily",
        "* * * * *",
    ] {
        check_plist(&CronExpr::parse(text).expect(text), &probes);
    }
}

#[test]
fn launchd_refuses_what_it_cannot_say() {
    let both = CronExpr::parse("0 0 */2 * 1").expect("valid");
    let err = calendar(&both).expect_err("AND of two restricted day fields");
    assert!(
        err.what().contains("both day-of-month and day-of-week"),
        "{err}"
    );
    let huge = CronExpr::parse("0-58 * 1-30 1-11 *").expect("valid");
    assert!(calendar(&huge).is_err());
}

#[test]
fn one_shot_entries_name_the_minute() {
    let t = NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(9, 30, 0))
        .expect("date");
    let cal = calendar_once(&t);
    let xml = render("l", "/r", &cal, "/l");
    let read = entries(&parse(&xml).expect("plist"));
    assert_eq!(read.len(), 1);
    assert!(read[0].matches(&t));
    assert!(!read[0].matches(&(t + chrono::Duration::minutes(1))));
    assert_eq!((read[0].month, read[0].day), (Some(12), Some(t.day())));
}
