//! The OS schedulers: crontab and atd on Linux, launchd on macOS.
//!
//! Each backend is driven through its own command-line programs (`crontab`,
//! `at`/`atq`/`atrm`, `launchctl`) found on `PATH`, so tests can put
//! recording fakes in their place. Installing names only the runner script;
//! what a schedule runs never reaches the OS scheduler.

pub mod atd;
pub mod crontab;
pub mod launchd;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};

pub use super::backend_kind::BackendKind;
use super::registry::{Schedule, Timing};
use crate::error::{Error, Result};
use crate::paths::StateDir;

/// Put `schedule` into its OS scheduler; returns the handle to record.
pub fn install(state: &StateDir, schedule: &Schedule) -> Result<Option<String>> {
    match schedule.backend {
        BackendKind::Crontab => crontab::install(schedule).map(|()| None),
        BackendKind::Atd => atd::install(schedule).map(Some),
        BackendKind::Launchd => launchd::install(state, schedule).map(Some),
    }
}

/// Take `schedule` out of its OS scheduler; nothing to remove is success.
pub fn remove(schedule: &Schedule) -> Result<()> {
    match schedule.backend {
        BackendKind::Crontab => crontab::remove(&schedule.id),
        BackendKind::Atd => match &schedule.handle {
            Some(job) => atd::remove(job),
            None => Ok(()),
        },
        BackendKind::Launchd => launchd::remove(&schedule.id),
    }
}

/// Answers "is this schedule in its OS scheduler?" for `list`, asking each
/// scheduler once however many schedules there are.
#[derive(Debug, Default)]
pub struct Probe {
    crontab: Option<Result<String>>,
    atq: Option<Result<BTreeSet<String>>>,
}

impl Probe {
    /// Whether the OS scheduler holds `schedule` as orc installed it; an
    /// error when the scheduler cannot be asked.
    pub fn present(&mut self, schedule: &Schedule) -> Result<bool> {
        match schedule.backend {
            BackendKind::Crontab => {
                let Timing::Cron { schedule: expr } = &schedule.timing else {
                    return Ok(false);
                };
                let content = self.crontab.get_or_insert_with(crontab::read).clone()?;
                let line = crontab::line(&schedule.id, expr, &schedule.runner)?;
                Ok(crontab::has_line(&content, &line))
            }
            BackendKind::Atd => {
                let queued = self.atq.get_or_insert_with(atd::queued).clone()?;
                Ok(schedule.handle.as_ref().is_some_and(|j| queued.contains(j)))
            }
            BackendKind::Launchd => launchd::loaded(&schedule.id),
        }
    }
}

/// Run an OS scheduler's program and capture its output. A program that is
/// not installed is a failure that says so.
pub fn program(name: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
    program_with(Command::new(name).args(args), name, stdin)
}

/// [`program`] for a prepared command (environment, directory).
pub fn program_with(cmd: &mut Command, name: &str, stdin: Option<&[u8]>) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::failure("program not found on PATH", name)
            .hint("install it (cron and at on Linux) or choose another ORC_SCHED_BACKEND"),
        _ => Error::failure(format!("cannot run {name}: {e}"), name),
    })?;
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A program that exits without reading its input is judged by its
        // status below, not by the broken pipe.
        let _ = pipe.write_all(bytes);
    }
    child
        .wait_with_output()
        .map_err(|e| Error::failure(format!("cannot wait for {name}: {e}"), name))
}

/// The first line of a program's stderr (or its status), for messages.
pub fn complaint(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => line.to_string(),
        None => out.status.to_string(),
    }
}
