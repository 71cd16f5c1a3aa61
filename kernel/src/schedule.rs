//! Schedules (`orc-cron`, `orc-at`): a registry entry, a runner script and
//! an entry in the OS scheduler for each.
//!
//! ```text
//! schedules.json           the registry (registry.rs), under the `schedules` lock
//! runners/<id>.sh          the runner (runner.rs): a fixed template, mode 0700
//! logs/<id>.run.log        every run's output (run.rs); kept by `rm`
//! ```
//!
//! `cron` parses expressions and `next` finds their fire times; `when`
//! reads `--at` times; `backend` drives crontab, atd and launchd, and
//! `launchd_plist` turns an expression into launchd's calendar.

pub mod backend;
pub mod backend_kind;
pub mod capture;
pub mod cron;
pub use crate::desktop;
pub mod front;
pub mod launchd_plist;
pub mod next;
pub mod ops;
pub mod preflight;
pub mod registry;
pub mod run;
pub mod runner;
pub mod show;
pub mod when;

#[cfg(test)]
mod cron_table;
#[cfg(test)]
mod plist_read;
#[cfg(test)]
mod props;

use std::path::PathBuf;

use chrono::{DateTime, Local};

use crate::error::Result;
use crate::paths::StateDir;

pub use backend::BackendKind;
pub use cron::CronExpr;
pub use ops::{AddRequest, Added, Listed};
pub use registry::{Action, Registry, RunStatus, Schedule, Timing};

/// `logs/<id>.run.log`: the output of every run of schedule `id`.
pub fn run_log(state: &StateDir, id: &str) -> PathBuf {
    state.logs().join(format!("{id}.run.log"))
}

/// Now in local time, honouring `ORC_NOW` (tests) and `TZ`.
pub fn local_now() -> Result<DateTime<Local>> {
    Ok(crate::clock::now()?.with_timezone(&Local))
}

/// A local time as orc prints it: RFC 3339 with the local offset, seconds.
pub fn format_local(t: &DateTime<Local>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// The configuration (with the project layer of `repo`, else of the
/// repository around the current directory) and the state directory.
pub fn setup(repo: Option<&std::path::Path>) -> Result<(crate::profile::Config, StateDir)> {
    let root = match repo {
        Some(dir) => crate::repo::Repo::discover(dir).ok().flatten(),
        None => crate::repo::Repo::current().ok().flatten(),
    };
    let config = crate::profile::Config::load(root.as_ref().map(|r| r.root.as_path()))?;
    let state = StateDir::resolve(&config)?;
    Ok((config, state))
}
