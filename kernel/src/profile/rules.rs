//! The accepted values of every `ORC_*` setting.
//!
//! [`super::Config::resolve`] checks each value against its rule as soon as
//! it is resolved, so every tool refuses a bad setting the same way (exit 2,
//! naming the variable, the value, where it came from and what is accepted)
//! before it creates a file, a lock, a directory or a process.

use std::path::Path;

use super::Origin;
use crate::error::{Error, Result};
use crate::ids::{Issue, check_name};

/// What a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A whole decimal number in `min..=max` (no sign, no leading zero);
    /// `zero` says what 0 means when it is allowed and special.
    Number {
        /// Smallest accepted.
        min: u64,
        /// Largest accepted.
        max: u64,
        /// The unit, for the message ("seconds", "workers").
        unit: &'static str,
        /// What 0 means, when it means something other than the number.
        zero: Option<&'static str>,
    },
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// A boolean: 1/0, true/false, yes/no, on/off (any case).
    Flag,
    /// An absolute path.
    AbsPath,
    /// A name that becomes one path component.
    Name,
    /// An issue number.
    Issue,
    /// An RFC 3339 time.
    Time,
    /// One line of canonical text.
    Text,
}

/// The agents `ORC_AGENT` accepts (checked against `AgentKind` in its tests).
pub const AGENTS: &[&str] = &["claude", "codex", "opencode", "gemini", "custom"];
/// The words a flag accepts, lower case; any case is accepted.
pub const FLAG_WORDS: &[&str] = &["1", "0", "true", "false", "yes", "no", "on", "off"];
/// The longest a timeout or delay may be: one year.
const YEAR: u64 = 365 * 24 * 3600;

const fn secs(min: u64, max: u64) -> Rule {
    Rule::Number {
        min,
        max,
        unit: "seconds",
        zero: None,
    }
}

/// The rule of the catalogued variable `name`.
pub fn rule(name: &str) -> Rule {
    match name {
        "ORC_ENV" | "ORC_SESSION" | "ORC_SCHEDULE_ID" => Rule::Name,
        "ORC_STATE_DIR" | "ORC_ROOT" => Rule::AbsPath,
        "ORC_ISSUE" => Rule::Issue,
        "ORC_KIND" => Rule::Choice(&["worker", "reviewer"]),
        "ORC_MAX_WORKERS" => Rule::Number {
            min: 1,
            max: 1000,
            unit: "workers",
            zero: None,
        },
        "ORC_WORKER_TIMEOUT" => Rule::Number {
            min: 0,
            max: YEAR,
            unit: "seconds",
            zero: Some("no timeout"),
        },
        "ORC_TERM_GRACE" => secs(1, 24 * 3600),
        "ORC_POLL_INTERVAL" => secs(1, 3600),
        "ORC_LOCK_TIMEOUT" => secs(1, 24 * 3600),
        "ORC_CONTAIN" => Rule::Choice(&["auto", "cgroup", "group"]),
        "ORC_BLOCKED_AFTER" => secs(1, 7 * 24 * 3600),
        "ORC_MAX_REVIEWERS" => Rule::Number {
            min: 0,
            max: 1000,
            unit: "reviewers",
            zero: Some("no limit of their own"),
        },
        "ORC_STALL_TIMEOUT" => Rule::Number {
            min: 0,
            max: YEAR,
            unit: "seconds",
            zero: Some("off"),
        },
        "ORC_TRACKER_POLL" => secs(1, 24 * 3600),
        "ORC_RETRY_MAX" => Rule::Number {
            min: 0,
            max: 100,
            unit: "retries",
            zero: None,
        },
        "ORC_RETRY_BACKOFF" | "ORC_THROTTLE_COOLDOWN" => secs(0, 7 * 24 * 3600),
        "ORC_REVIEW_MAX_ROUNDS" => Rule::Number {
            min: 1,
            max: 100,
            unit: "rounds",
            zero: None,
        },
        "ORC_TRACKER" => Rule::Choice(&["local", "github"]),
        "ORC_AGENT" => Rule::Choice(AGENTS),
        "ORC_BACKEND" => Rule::Choice(&["headless", "tmux", "wezterm"]),
        "ORC_MERGE_METHOD" => Rule::Choice(&["ff", "merge", "squash", "rebase"]),
        "ORC_MERGE" => Rule::Choice(&["local", "github"]),
        "ORC_CHECK_TIMEOUT" => secs(1, 24 * 3600),
        "ORC_SCHED_BACKEND" => Rule::Choice(&["crontab", "atd", "launchd"]),
        "ORC_AUTO_MERGE"
        | "ORC_DISABLE_STOP_GUARD"
        | "ORC_REVIEW"
        | "ORC_DELETE_BRANCH"
        | "ORC_NOTIFY_DESKTOP" => Rule::Flag,
        "ORC_NOW" => Rule::Time,
        _ => Rule::Text,
    }
}

impl Rule {
    /// Whether `value` (not empty: empty means unset) is accepted.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            Rule::Number { min, max, .. } => {
                parse_number(value).is_some_and(|n| (min..=max).contains(&n))
            }
            Rule::Choice(words) => words.contains(&value),
            Rule::Flag => FLAG_WORDS.iter().any(|w| w.eq_ignore_ascii_case(value)),
            Rule::AbsPath => {
                Path::new(value).is_absolute() && crate::text::first_forbidden(value).is_none()
            }
            Rule::Name => check_name("name", value).is_ok(),
            Rule::Issue => Issue::parse(value).is_ok(),
            Rule::Time => crate::clock::parse(value).is_ok(),
            Rule::Text => crate::text::first_forbidden(value).is_none(),
        }
    }

    /// What is accepted, for the error's hint.
    pub fn describe(self) -> String {
        match self {
            Rule::Number {
                min,
                max,
                unit,
                zero,
            } => {
                let mut s = format!("a whole number of {unit} from {min} to {max}");
                if let Some(zero) = zero {
                    s.push_str(&format!(" (0 means {zero})"));
                }
                s
            }
            Rule::Choice(words) => format!("one of: {}", words.join(", ")),
            Rule::Flag => format!("a boolean: {}", FLAG_WORDS.join(", ")),
            Rule::AbsPath => "an absolute path".to_string(),
            Rule::Name => {
                "1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'".to_string()
            }
            Rule::Issue => format!("an issue number from 1 to {}", crate::ids::MAX_ISSUE),
            Rule::Time => "an RFC 3339 time such as 2026-01-02T03:04:05Z".to_string(),
            Rule::Text => "one line of text without control or bidirectional characters".into(),
        }
    }
}

/// A whole decimal number as orc writes it: digits only, no leading zero.
pub fn parse_number(value: &str) -> Option<u64> {
    let canonical = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    if canonical { value.parse().ok() } else { None }
}

/// Check `value` of `name` from `origin`; the error is exit 2 and names all
/// three and the accepted range.
pub fn check(name: &str, value: &str, origin: &Origin) -> Result<()> {
    let rule = rule(name);
    if rule.accepts(value) {
        return Ok(());
    }
    let from = match origin {
        Origin::Environment => "the environment".to_string(),
        Origin::Default => "the built-in default".to_string(),
        Origin::Profile(path) | Origin::EnvFile(path) => path.display().to_string(),
    };
    Err(Error::usage(
        format!(
            "invalid {name}=\"{}\" set in {from}",
            crate::text::escaped(value, 80)
        ),
        String::new(),
    )
    .hint(format!("{name} accepts {}", rule.describe())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_canonical_and_in_range() {
        let timeout = rule("ORC_WORKER_TIMEOUT");
        for ok in ["0", "1", "3600"] {
            assert!(timeout.accepts(ok), "{ok}");
        }
        for bad in [
            "-1",
            "garbage",
            "+5",
            "05",
            " 5",
            "5s",
            "1e3",
            "99999999999",
        ] {
            assert!(!timeout.accepts(bad), "{bad}");
        }
        assert!(!rule("ORC_MAX_WORKERS").accepts("0"));
        assert!(
            !rule("ORC_TERM_GRACE").accepts("0"),
            "0 grace would kill at once"
        );
    }

    #[test]
    fn the_error_names_variable_value_origin_and_range() {
        let origin = Origin::Profile("/p/envs/ci.env".into());
        let e = check("ORC_MAX_WORKERS", "abc", &origin).err();
        assert_eq!(
            e.map(|e| e.render("orc-x")).as_deref(),
            Some(
                "orc-x: error: invalid ORC_MAX_WORKERS=\"abc\" set in /p/envs/ci.env\n\
                 hint: ORC_MAX_WORKERS accepts a whole number of workers from 1 to 1000"
            )
        );
    }

    #[test]
    fn words_and_flags() {
        assert!(rule("ORC_AUTO_MERGE").accepts("TRUE"));
        assert!(!rule("ORC_AUTO_MERGE").accepts("maybe"));
        assert!(!rule("ORC_BACKEND").accepts("Tmux"));
        assert!(!rule("ORC_STATE_DIR").accepts("relative/dir"));
        assert!(!rule("ORC_ISSUE").accepts("007"));
        assert!(!rule("ORC_AGENT_CMD").accepts("claude \u{202E}x"));
    }
}

#[cfg(test)]
mod agent_tests {
    #[test]
    fn the_agent_words_are_the_agents() {
        let kinds: Vec<&str> = crate::agent::AgentKind::ALL
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(kinds, super::AGENTS);
    }
}
