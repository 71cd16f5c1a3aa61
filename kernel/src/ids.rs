//! Issue numbers, worker kinds and names: parsed strictly, because they end
//! up in paths, branch names and lock keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest issue number orc accepts (GitHub's numbers are 32-bit).
pub const MAX_ISSUE: u32 = i32::MAX as u32;

/// An issue number: decimal digits only, 1 to [`MAX_ISSUE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Issue(u32);

impl Issue {
    /// Parse an issue id given by a user, rejecting anything path-like,
    /// signed, padded, fractional or out of range.
    pub fn parse(text: &str) -> Result<Issue> {
        let hint = "an issue is a positive decimal number such as 42";
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::usage("not an issue number", text).hint(hint));
        }
        if text.starts_with('0') && !text.trim_start_matches('0').is_empty() {
            return Err(
                Error::usage("issue number has a leading zero", text).hint(format!(
                    "write it as orc prints it: {}",
                    text.trim_start_matches('0')
                )),
            );
        }
        match text.parse::<u64>() {
            Ok(n) if n >= 1 && n <= u64::from(MAX_ISSUE) => Ok(Issue(n as u32)),
            _ => Err(
                Error::usage(format!("issue number out of range 1..={MAX_ISSUE}"), text).hint(hint),
            ),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for Issue {
    fn from(n: u32) -> Self {
        Issue(n)
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Issue {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Issue::parse(s)
    }
}

/// What a worker process is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Implements the issue in its worktree.
    Worker,
    /// Reviews a worker's change without writing to its worktree.
    Reviewer,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Kind; 2] = [Kind::Worker, Kind::Reviewer];

    /// The name used in paths and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Worker => "worker",
            Kind::Reviewer => "reviewer",
        }
    }

    /// Parse `worker` or `reviewer`.
    pub fn parse(text: &str) -> Result<Kind> {
        match text {
            "worker" => Ok(Kind::Worker),
            "reviewer" => Ok(Kind::Reviewer),
            _ => Err(Error::usage("unknown kind", text).hint("kinds are: worker, reviewer")),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Kind::parse(s)
    }
}

/// Check a name that becomes one path component (session, lock name,
/// schedule id): 1–64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
pub fn check_name(what: &str, text: &str) -> Result<()> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && !text.starts_with(['.', '-'])
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!("invalid {what}"), text)
            .hint("use 1-64 letters, digits, '.', '_' or '-', not starting with '.' or '-'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_ids_are_strict() {
        assert_eq!(Issue::parse("42").map(Issue::get).ok(), Some(42));
        for bad in [
            "",
            "../x",
            "-1",
            "4x",
            "0",
            "+3",
            " 4",
            "4.0",
            "99999999999999999999",
            "2147483648",
            "007",
            "00",
        ] {
            let err = Issue::parse(bad).err();
            assert_eq!(err.map(|e| e.code()), Some(2), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn names_are_single_components() {
        assert!(check_name("session", "orc-1a2b3c4d").is_ok());
        for bad in ["", "..", ".hidden", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(check_name("session", bad).is_err(), "{bad:?}");
        }
    }
}
