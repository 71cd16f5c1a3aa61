//! Landing: what orc does with a worker's claim that its branch is ready,
//! before anyone relies on it — verify the branch, run the project's check
//! on its tip, merge it into the base, close the issue, reap the worktree
//! and branch. `orc-dispatch` (and `orc-dispatch land N`, which the skills
//! use) drives these steps; this module does each one and decides nothing
//! about retries or people.
//!
//! Split by concept: `git` (running it), `scratch` (the worktree orc owns),
//! `check` (`ORC_CHECK_CMD`), `merge` (building the merge and moving the
//! base by compare-and-swap), `close` (the local issue file), `reap`
//! (worktree and branch, on proof).

#[cfg(test)]
mod build_tests;
mod check;
mod close;
mod git;
mod job;
mod merge;
mod objects;
mod reap;
mod scratch;

use std::time::Duration;

use crate::error::{Error, Result};
use crate::profile::Config;
use crate::tracker::TrackerKind;

pub use check::{CheckRun, tail};
pub use close::closed_text;
pub use git::Git;
pub use job::{Job, Method};
pub use merge::{Closed, Landed, checked_out_at, close_in_place, land};
pub use reap::{Proof, Reaped, reap};

/// Run the check command of `issue` on `tip`.
pub use check::run as run_check;

/// Where a verified branch is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Where {
    /// By orc, into the local base branch (`ORC_MERGE=local`).
    Local,
    /// Through the branch's pull request on GitHub (`ORC_MERGE=github`).
    Github,
}

impl Where {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Where::Local => "local",
            Where::Github => "github",
        }
    }
}

/// The landing settings of a run, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ORC_MERGE`: local with the local tracker, github with GitHub's.
    pub place: Where,
    /// `ORC_MERGE_METHOD` (default `merge`).
    pub method: Method,
    /// `ORC_CHECK_CMD` (none: the check is skipped, with a note).
    pub check_cmd: Option<String>,
    /// `ORC_CHECK_TIMEOUT`.
    pub check_timeout: Duration,
    /// `ORC_REVIEW` (default on).
    pub review: bool,
    /// `ORC_DELETE_BRANCH` (default on): the pull request's remote branch
    /// goes after its merge.
    pub delete_branch: bool,
}

impl Settings {
    /// Resolve the settings for a run with `tracker`.
    pub fn resolve(config: &Config, tracker: TrackerKind) -> Result<Settings> {
        let place = match config.get("ORC_MERGE").filter(|v| !v.is_empty()) {
            None => match tracker {
                TrackerKind::Local => Where::Local,
                TrackerKind::Github => Where::Github,
            },
            Some("local") => Where::Local,
            Some("github") => Where::Github,
            Some(other) => {
                return Err(Error::usage("unknown ORC_MERGE", other)
                    .hint("use local (orc merges into the base) or github (the pull request)"));
            }
        };
        let method = Method::parse(config.get("ORC_MERGE_METHOD").unwrap_or("merge"))?;
        let check_cmd = config
            .get("ORC_CHECK_CMD")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(Settings {
            place,
            method,
            check_cmd,
            check_timeout: Duration::from_secs(config.number("ORC_CHECK_TIMEOUT")?.max(1)),
            review: on(config, "ORC_REVIEW", true)?,
            delete_branch: on(config, "ORC_DELETE_BRANCH", true)?,
        })
    }
}

/// A boolean variable: `true|1|yes|on` or `false|0|no|off`, else `default`
/// when unset.
fn on(config: &Config, name: &str, default: bool) -> Result<bool> {
    match config.get(name).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(Error::usage(format!("{name} must be true or false"), other)),
    }
}
