//! Tests: the parser against a table of expressions. Valid ones with their
//! next three fire times after a fixed clock, invalid ones with the exact
//! message. The clock is Monday 2026-11-30 08:05 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

use super::cron::CronExpr;

const NOW: &str = "2026-11-30T08:05:00Z";

/// Expression, then its next three fire times (`MM-DDTHH:MM` in 2026, or
/// a full `YYYY-MM-DDTHH:MM`).
const VALID: &[(&str, [&str; 3])] = &[
    ("* * * * *", ["11-30T08:06", "11-30T08:07", "11-30T08:08"]),
    ("0 * * * *", ["11-30T09:00", "11-30T10:00", "11-30T11:00"]),
    (
        "*/15 * * * *",
        ["11-30T08:15", "11-30T08:30", "11-30T08:45"],
    ),
    ("5 * * * *", ["11-30T09:05", "11-30T10:05", "11-30T11:05"]),
    ("0 9 * * *", ["11-30T09:00", "12-01T09:00", "12-02T09:00"]),
    ("0 9 * * 1-5", ["11-30T09:00", "12-01T09:00", "12-02T09:00"]),
    (
        "0 9 * * mon-fri",
        ["11-30T09:00", "12-01T09:00", "12-02T09:00"],
    ),
    (
        "0 9 * * MON-Fri",
        ["11-30T09:00", "12-01T09:00", "12-02T09:00"],
    ),
    (
        "  0   9  *  *  1-5  ",
        ["11-30T09:00", "12-01T09:00", "12-02T09:00"],
    ),
    (
        "0 9 * * 1,2,3,4,5",
        ["11-30T09:00", "12-01T09:00", "12-02T09:00"],
    ),
    ("00 09 * * *", ["11-30T09:00", "12-01T09:00", "12-02T09:00"]),
    (
        "30 8 * * sat,sun",
        ["12-05T08:30", "12-06T08:30", "12-12T08:30"],
    ),
    ("0 0 * * 0", ["12-06T00:00", "12-13T00:00", "12-20T00:00"]),
    ("0 0 * * 7", ["12-06T00:00", "12-13T00:00", "12-20T00:00"]),
    ("0 0 * * sun", ["12-06T00:00", "12-13T00:00", "12-20T00:00"]),
    (
        "0 0 1 * *",
        ["12-01T00:00", "2027-01-01T00:00", "2027-02-01T00:00"],
    ),
    (
        "0 0 1 1 *",
        ["2027-01-01T00:00", "2028-01-01T00:00", "2029-01-01T00:00"],
    ),
    (
        "@yearly",
        ["2027-01-01T00:00", "2028-01-01T00:00", "2029-01-01T00:00"],
    ),
    (
        "@annually",
        ["2027-01-01T00:00", "2028-01-01T00:00", "2029-01-01T00:00"],
    ),
    (
        "@monthly",
        ["12-01T00:00", "2027-01-01T00:00", "2027-02-01T00:00"],
    ),
    ("@weekly", ["12-06T00:00", "12-13T00:00", "12-20T00:00"]),
    ("@daily", ["12-01T00:00", "12-02T00:00", "12-03T00:00"]),
    ("@midnight", ["12-01T00:00", "12-02T00:00", "12-03T00:00"]),
    ("@hourly", ["11-30T09:00", "11-30T10:00", "11-30T11:00"]),
    // Both day fields restricted: a day matching either fires.
    ("0 9 1 * mon", ["11-30T09:00", "12-01T09:00", "12-07T09:00"]),
    (
        "0 12 13 * fri",
        ["12-04T12:00", "12-11T12:00", "12-13T12:00"],
    ),
    ("0 0 1-7 * 0", ["12-01T00:00", "12-02T00:00", "12-03T00:00"]),
    (
        "0 0 1,15 * 3",
        ["12-01T00:00", "12-02T00:00", "12-09T00:00"],
    ),
    (
        "0 0 29 2 1",
        ["2027-02-01T00:00", "2027-02-08T00:00", "2027-02-15T00:00"],
    ),
    // A day field starting with '*' makes cron AND them.
    ("0 0 */2 * *", ["12-01T00:00", "12-03T00:00", "12-05T00:00"]),
    (
        "0 0 */2 * 1",
        ["12-07T00:00", "12-21T00:00", "2027-01-11T00:00"],
    ),
    (
        "0 0 1-7 * */7",
        ["12-06T00:00", "2027-01-03T00:00", "2027-02-07T00:00"],
    ),
    (
        "0 0 * feb mon",
        ["2027-02-01T00:00", "2027-02-08T00:00", "2027-02-15T00:00"],
    ),
    (
        "0 12 * dec sat",
        ["12-05T12:00", "12-12T12:00", "12-19T12:00"],
    ),
    (
        "0 0 29 2 *",
        ["2028-02-29T00:00", "2032-02-29T00:00", "2036-02-29T00:00"],
    ),
    (
        "15,45 9-17/4 * * *",
        ["11-30T09:15", "11-30T09:45", "11-30T13:15"],
    ),
    (
        "0 22 * * 1-5/2",
        ["11-30T22:00", "12-02T22:00", "12-04T22:00"],
    ),
    (
        "5/20 * * * *",
        ["11-30T08:25", "11-30T08:45", "11-30T09:05"],
    ),
    (
        "0 10/6 * * *",
        ["11-30T10:00", "11-30T16:00", "11-30T22:00"],
    ),
    (
        "0 0 * jan,jul *",
        ["2027-01-01T00:00", "2027-01-02T00:00", "2027-01-03T00:00"],
    ),
    (
        "0 0 1 jan-mar,oct *",
        ["2027-01-01T00:00", "2027-02-01T00:00", "2027-03-01T00:00"],
    ),
    (
        "0 0 1 */3 *",
        ["2027-01-01T00:00", "2027-04-01T00:00", "2027-07-01T00:00"],
    ),
    (
        "59 23 31 12 *",
        ["12-31T23:59", "2027-12-31T23:59", "2028-12-31T23:59"],
    ),
    (
        "0 0 31 * *",
        ["12-31T00:00", "2027-01-31T00:00", "2027-03-31T00:00"],
    ),
    (
        "0 0 30 * *",
        ["12-30T00:00", "2027-01-30T00:00", "2027-03-30T00:00"],
    ),
    (
        "0-10/5 8 * * *",
        ["11-30T08:10", "12-01T08:00", "12-01T08:05"],
    ),
    (
        "7 8 30 11 *",
        ["11-30T08:07", "2027-11-30T08:07", "2028-11-30T08:07"],
    ),
    ("* * * * 0-7", ["11-30T08:06", "11-30T08:07", "11-30T08:08"]),
    ("30 8 * * 1", ["11-30T08:30", "12-07T08:30", "12-14T08:30"]),
    ("0 8 * * 1", ["12-07T08:00", "12-14T08:00", "12-21T08:00"]),
    (
        "*/59 * * * *",
        ["11-30T08:59", "11-30T09:00", "11-30T09:59"],
    ),
    (
        "1-59/58 * * * *",
        ["11-30T08:59", "11-30T09:01", "11-30T09:59"],
    ),
    (
        "0 0 1 JAN *",
        ["2027-01-01T00:00", "2028-01-01T00:00", "2029-01-01T00:00"],
    ),
];

/// Expression, then the message after "invalid cron expression: ".
const INVALID: &[(&str, &str)] = &[
    ("", "the expression is empty"),
    ("   ", "the expression is empty"),
    ("* * * *", "expected 5 fields, found 4"),
    ("* * * * * *", "expected 5 fields, found 6"),
    (
        "60 * * * *",
        "field 1 (minute) \"60\": value 60 is out of range 0-59",
    ),
    (
        "* 24 * * *",
        "field 2 (hour) \"24\": value 24 is out of range 0-23",
    ),
    (
        "* * 0 * *",
        "field 3 (day-of-month) \"0\": value 0 is out of range 1-31",
    ),
    (
        "* * 32 * *",
        "field 3 (day-of-month) \"32\": value 32 is out of range 1-31",
    ),
    (
        "* * * 13 *",
        "field 4 (month) \"13\": value 13 is out of range 1-12",
    ),
    (
        "* * * 0 *",
        "field 4 (month) \"0\": value 0 is out of range 1-12",
    ),
    (
        "* * * * 8",
        "field 5 (day-of-week) \"8\": value 8 is out of range 0-7",
    ),
    (
        "*/0 * * * *",
        "field 1 (minute) \"*/0\": step 0 is not allowed",
    ),
    (
        "0 0-12/0 * * *",
        "field 2 (hour) \"0-12/0\": step 0 is not allowed",
    ),
    (
        "* * * jan-dec/0 *",
        "field 4 (month) \"jan-dec/0\": step 0 is not allowed",
    ),
    (
        "5-1 * * * *",
        "field 1 (minute) \"5-1\": range 5-1 is reversed",
    ),
    (
        "* * * * fri-mon",
        "field 5 (day-of-week) \"fri-mon\": range fri-mon is reversed",
    ),
    ("1,,2 * * * *", "field 1 (minute) \"1,,2\": empty list item"),
    ("1, * * * *", "field 1 (minute) \"1,\": empty list item"),
    (",1 * * * *", "field 1 (minute) \",1\": empty list item"),
    (
        "-5 * * * *",
        "field 1 (minute) \"-5\": \"-5\" has no start before '-'",
    ),
    (
        "5- * * * *",
        "field 1 (minute) \"5-\": \"5-\" has no end after '-'",
    ),
    (
        "* * * * mon-",
        "field 5 (day-of-week) \"mon-\": \"mon-\" has no end after '-'",
    ),
    (
        "*/ * * * *",
        "field 1 (minute) \"*/\": missing step after '/'",
    ),
    (
        "/5 * * * *",
        "field 1 (minute) \"/5\": \"/5\" has no range before '/'",
    ),
    (
        "*/x * * * *",
        "field 1 (minute) \"*/x\": step \"x\" is not a number",
    ),
    (
        "*/5/2 * * * *",
        "field 1 (minute) \"*/5/2\": step \"5/2\" is not a number",
    ),
    (
        "*/60 * * * *",
        "field 1 (minute) \"*/60\": step 60 is out of range 1-59",
    ),
    ("a * * * *", "field 1 (minute) \"a\": \"a\" is not a number"),
    (
        "mon * * * *",
        "field 1 (minute) \"mon\": \"mon\" is not a number",
    ),
    (
        "** * * * *",
        "field 1 (minute) \"**\": \"**\" is not a number",
    ),
    (
        "1.5 * * * *",
        "field 1 (minute) \"1.5\": \"1.5\" is not a number",
    ),
    (
        "1-2-3 * * * *",
        "field 1 (minute) \"1-2-3\": \"2-3\" is not a number",
    ),
    (
        "99999999999 * * * *",
        "field 1 (minute) \"99999999999\": value 99999999999 is out of range 0-59",
    ),
    (
        "* * * foo *",
        "field 4 (month) \"foo\": unknown name \"foo\" (use jan-dec or 1-12)",
    ),
    (
        "* * * * funday",
        "field 5 (day-of-week) \"funday\": unknown name \"funday\" (use sun-sat or 0-7)",
    ),
    (
        "0 0 31 2 *",
        "it never fires: no month in field 4 has a day of field 3",
    ),
    (
        "0 0 30,31 2 *",
        "it never fires: no month in field 4 has a day of field 3",
    ),
    (
        "0 0 31 4,6,9,11 *",
        "it never fires: no month in field 4 has a day of field 3",
    ),
    ("@reboot", "@reboot has no fire time"),
    ("@often", "unknown macro \"@often\""),
];

fn expand(short: &str) -> String {
    let full = if short.len() == 11 {
        format!("2026-{short}")
    } else {
        short.to_string()
    };
    format!("{full}:00Z")
}

#[test]
fn the_table_has_at_least_sixty_rows() {
    assert!(VALID.len() + INVALID.len() >= 60);
}

#[test]
fn valid_expressions_fire_when_expected() {
    let now: DateTime<Utc> = crate::clock::parse(NOW).expect("clock");
    for (text, want) in VALID {
        let expr = CronExpr::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let got: Vec<String> = expr
            .upcoming(&now, 3)
            .iter()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .collect();
        let want: Vec<String> = want.iter().map(|w| expand(w)).collect();
        assert_eq!(got, want, "{text:?}");
        // The crontab form means the same: it parses to the same fields.
        let again = CronExpr::parse(&expr.canonical()).expect("canonical form parses");
        assert_eq!(again.upcoming(&now, 3), expr.upcoming(&now, 3), "{text:?}");
    }
}

#[test]
fn invalid_expressions_say_which_field() {
    for (text, want) in INVALID {
        let err = CronExpr::parse(text).expect_err(text);
        assert_eq!(
            err.what(),
            format!("invalid cron expression: {want}"),
            "{text:?}"
        );
        assert_eq!(err.code(), 2, "{text:?}");
        assert!(err.hint_text().is_some());
    }
}

#[test]
fn canonical_forms_are_numeric() {
    let expr = CronExpr::parse("5/20 9-17 * jan,mar-may mon-fri").expect("valid");
    assert_eq!(expr.canonical(), "5-59/20 9-17 * 1,3-5 1-5");
    assert_eq!(expr.text(), "5/20 9-17 * jan,mar-may mon-fri");
    let starred = CronExpr::parse("*/10 * */2 * *").expect("valid");
    assert_eq!(starred.canonical(), "*/10 * */2 * *");
    assert_eq!(
        CronExpr::parse("@weekly").expect("valid").canonical(),
        "0 0 * * 0"
    );
}
