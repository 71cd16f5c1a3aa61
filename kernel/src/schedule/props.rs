//! Tests: properties over random valid expressions.
//!
//! A seeded generator writes random fields (every item form, names, lists)
//! and computes, on its own, the set of values each field means. For each
//! expression: the next fire times come in order, each satisfies every
//! field under cron's day rule, and no minute in between does (checked
//! minute by minute when the gap is short). The launchd calendar of each
//! expression it can express is checked the same way. A failure prints the
//! expression; the seed is fixed, so it reproduces.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Timelike};

use super::cron::{CronExpr, Part};

/// xorshift64*: small, deterministic, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + (self.next() % u64::from(hi - lo + 1)) as u32
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What the generator meant by a field.
struct Meant {
    text: String,
    values: BTreeSet<u32>,
    star: bool,
}

fn name(part: Part, v: u32, rng: &mut Rng) -> String {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    match part {
        Part::Month if rng.chance(40) => MONTHS[(v - 1) as usize].to_string(),
        Part::DayOfWeek if v < 7 && rng.chance(40) => DAYS[v as usize].to_uppercase(),
        _ => v.to_string(),
    }
}

fn field(part: Part, rng: &mut Rng) -> Meant {
    let (lo, hi) = part.bounds();
    let mut text = Vec::new();
    let mut values = BTreeSet::new();
    let items = if rng.chance(60) { 1 } else { rng.range(2, 3) };
    for _ in 0..items {
        let (a, b) = {
            let x = rng.range(lo, hi);
            let y = rng.range(lo, hi);
            (x.min(y), x.max(y))
        };
        let step = rng.range(1, hi.min(12));
        let (item, from, to, by) = match rng.range(0, 5) {
            0 => ("*".to_string(), lo, hi, 1),
            1 => (format!("*/{step}"), lo, hi, step),
            2 => (name(part, a, rng), a, a, 1),
            3 => (
                format!("{}-{}", name(part, a, rng), name(part, b, rng)),
                a,
                b,
                1,
            ),
            4 => (
                format!("{}-{}/{step}", name(part, a, rng), name(part, b, rng)),
                a,
                b,
                step,
            ),
            _ => (format!("{}/{step}", name(part, a, rng)), a, hi, step),
        };
        let mut v = from;
        while v <= to {
            values.insert(if part == Part::DayOfWeek && v == 7 {
                0
            } else {
                v
            });
            v += by;
        }
        text.push(item);
    }
    let text = text.join(",");
    Meant {
        star: text.starts_with('*'),
        text,
        values,
    }
}

struct Case {
    text: String,
    f: Vec<Meant>,
}

impl Case {
    fn day_ok(&self, day: u32, weekday: u32) -> bool {
        let (d, w) = (&self.f[2], &self.f[4]);
        let (dm, wm) = (d.values.contains(&day), w.values.contains(&weekday));
        if d.star || w.star { dm && wm } else { dm || wm }
    }

    fn matches(&self, t: &chrono::NaiveDateTime) -> bool {
        self.f[0].values.contains(&t.minute())
            && self.f[1].values.contains(&t.hour())
            && self.f[3].values.contains(&t.month())
            && self.day_ok(t.day(), t.weekday().num_days_from_sunday())
    }

    fn can_fire(&self) -> bool {
        if !self.f[2].star && !self.f[4].star {
            return true;
        }
        const LONGEST: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        self.f[3]
            .values
            .iter()
            .any(|m| self.f[2].values.iter().any(|d| *d <= LONGEST[*m as usize]))
    }
}

fn case(rng: &mut Rng) -> Case {
    let f: Vec<Meant> = Part::ALL.iter().map(|p| field(*p, rng)).collect();
    let text = f
        .iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Case { text, f }
}

#[test]
fn next_fire_times_satisfy_every_field() {
    let mut rng = Rng(0x5eed_0f0c_0c0a_2026);
    let mut checked = 0;
    for _ in 0..400 {
        let c = case(&mut rng);
        let parsed = CronExpr::parse(&c.text);
        if !c.can_fire() {
            let err = parsed.expect_err(&c.text);
            assert!(err.what().contains("never fires"), "{}: {err}", c.text);
            continue;
        }
        let expr = parsed.unwrap_or_else(|e| panic!("{}: {e}", c.text));
        let start = NaiveDate::from_ymd_opt(rng.range(2020, 2040) as i32, rng.range(1, 12), 1)
            .and_then(|d| d.and_hms_opt(rng.range(0, 23), rng.range(0, 59), rng.range(0, 59)))
            .expect("start")
            .and_utc();
        let mut prev = start.naive_utc();
        for t in expr.upcoming(&start, 5).iter().map(|t| t.naive_utc()) {
            assert!(t > prev, "{}: {t} is not after {prev}", c.text);
            assert_eq!(t.second(), 0, "{}", c.text);
            assert!(c.matches(&t), "{}: {t} does not satisfy the fields", c.text);
            if t - prev <= Duration::days(3) {
                let mut m = prev.with_second(0).expect("minute") + Duration::minutes(1);
                while m < t {
                    assert!(!c.matches(&m), "{}: skipped {m} before {t}", c.text);
                    m += Duration::minutes(1);
                }
            }
            prev = t;
        }
        checked += 1;
    }
    assert!(checked > 300, "only {checked} expressions were valid");
}

#[test]
fn launchd_calendars_match_random_expressions() {
    let mut rng = Rng(0x1a0c_4d00_0000_0001);
    let mut checked = 0;
    while checked < 60 {
        let c = case(&mut rng);
        let Ok(expr) = CronExpr::parse(&c.text) else {
            continue;
        };
        // Big calendars are right too, only slow to probe.
        if super::launchd_plist::calendar(&expr).map_or(true, |cal| cal.len() > 600) {
            continue;
        }
        let base = NaiveDate::from_ymd_opt(rng.range(2026, 2030) as i32, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date");
        let probes: Vec<_> = (0..400)
            .map(|_| base + Duration::minutes(i64::from(rng.range(0, 366 * 24 * 60))))
            .collect();
        super::plist_read::check_plist(&expr, &probes);
        checked += 1;
    }
}
