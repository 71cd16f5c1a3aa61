//! The launchd backend (macOS): a LaunchAgent plist per schedule in
//! `~/Library/LaunchAgents`, loaded into the user's GUI domain with
//! `launchctl bootstrap` and unloaded with `launchctl bootout`.

use std::path::PathBuf;

use super::{complaint, program};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::paths::{self, StateDir};
use crate::schedule::cron::CronExpr;
use crate::schedule::launchd_plist::{calendar, calendar_once, render};
use crate::schedule::registry::{Schedule, Timing};

/// The job label of schedule `id`.
pub fn label(id: &str) -> String {
    format!("dev.orc.schedule.{id}")
}

/// `~/Library/LaunchAgents/<label>.plist`.
pub fn plist_path(id: &str) -> Result<PathBuf> {
    Ok(paths::home()?
        .join("Library")
        .join("LaunchAgents")
        .join(format!("{}.plist", label(id))))
}

fn domain() -> String {
    format!("gui/{}", nix::unistd::getuid())
}

fn service(id: &str) -> String {
    format!("{}/{}", domain(), label(id))
}

/// The plist XML of `schedule`.
pub fn plist(state: &StateDir, schedule: &Schedule) -> Result<String> {
    let entries = match &schedule.timing {
        Timing::Cron { schedule: expr } => calendar(&CronExpr::parse(expr)?)?,
        Timing::At { at } => {
            let t = crate::clock::parse(at)
                .map_err(|_| Error::failure("the registry holds a bad time", at.clone()))?;
            calendar_once(&t.with_timezone(&chrono::Local).naive_local())
        }
    };
    let runner = schedule.runner.to_str().ok_or_else(|| {
        Error::usage(
            "the runner path is not UTF-8",
            schedule.runner.display().to_string(),
        )
    })?;
    let log = crate::schedule::run_log(state, &schedule.id);
    Ok(render(
        &label(&schedule.id),
        runner,
        &entries,
        &log.to_string_lossy(),
    ))
}

/// Write the plist and load it; on a refusal the plist goes again.
/// Returns the plist's path.
pub fn install(state: &StateDir, schedule: &Schedule) -> Result<String> {
    let xml = plist(state, schedule)?;
    let path = plist_path(&schedule.id)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    // A stale job of the same label would make bootstrap fail.
    remove(&schedule.id)?;
    write_atomic(&path, xml.as_bytes(), 0o644)?;
    let target = path.to_string_lossy().into_owned();
    let out = program("launchctl", &["bootstrap", &domain(), &target], None)?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&path);
        return Err(Error::failure(
            format!("launchctl bootstrap refused the job: {}", complaint(&out)),
            target,
        ));
    }
    Ok(target)
}

/// Whether the job of schedule `id` is loaded (`launchctl print`).
pub fn loaded(id: &str) -> Result<bool> {
    let present = plist_path(id)?.is_file();
    let out = program("launchctl", &["print", &service(id)], None)?;
    Ok(present && out.status.success())
}

/// Unload the job and delete its plist; neither being there is success.
pub fn remove(id: &str) -> Result<()> {
    let out = program("launchctl", &["bootout", &service(id)], None)?;
    if !out.status.success() {
        let still = program("launchctl", &["print", &service(id)], None)?;
        if still.status.success() {
            return Err(Error::failure(
                format!("launchctl bootout failed: {}", complaint(&out)),
                service(id),
            ));
        }
    }
    let path = plist_path(id)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &path, e)),
    }
}

/// After a one-shot job ran: delete its plist (so the next login does not
/// load it again) and boot it out. Bootout ends the job's processes, this
/// one included, so it comes last and its outcome is not awaited.
pub fn unload_self(id: &str) {
    if let Ok(path) = plist_path(id) {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::process::Command::new("launchctl")
        .args(["bootout", &service(id)])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
