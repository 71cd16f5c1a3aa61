//! Which OS scheduler fires a schedule, and how one is chosen. Its own
//! file because both the registry (which records it) and the backends
//! (which drive it) need it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::Config;

/// Which OS scheduler fires a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The user's crontab (recurring schedules).
    Crontab,
    /// The at queue (one-shot schedules).
    Atd,
    /// A LaunchAgent per schedule (macOS; both kinds).
    Launchd,
}

impl BackendKind {
    /// `crontab`, `atd` or `launchd`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Crontab => "crontab",
            BackendKind::Atd => "atd",
            BackendKind::Launchd => "launchd",
        }
    }

    /// Parse a backend name.
    pub fn parse(text: &str) -> Result<BackendKind> {
        match text {
            "crontab" => Ok(BackendKind::Crontab),
            "atd" => Ok(BackendKind::Atd),
            "launchd" => Ok(BackendKind::Launchd),
            _ => Err(Error::usage("unknown scheduler backend", text)
                .hint("ORC_SCHED_BACKEND is crontab, atd or launchd")),
        }
    }

    /// The backend for a recurring (`recurring`) or one-shot schedule:
    /// `ORC_SCHED_BACKEND` if set, else launchd on macOS, else crontab for
    /// recurring and atd for one-shot schedules.
    pub fn choose(config: &Config, recurring: bool) -> Result<BackendKind> {
        let kind = match config.get("ORC_SCHED_BACKEND") {
            Some(name) => BackendKind::parse(name)?,
            None if cfg!(target_os = "macos") => BackendKind::Launchd,
            None if recurring => BackendKind::Crontab,
            None => BackendKind::Atd,
        };
        match (kind, recurring) {
            (BackendKind::Atd, true) => Err(Error::usage(
                "atd runs one-shot jobs only; orc-cron needs crontab or launchd",
                "ORC_SCHED_BACKEND=atd",
            )),
            (BackendKind::Crontab, false) => Err(Error::usage(
                "crontab runs recurring jobs only; orc-at needs atd or launchd",
                "ORC_SCHED_BACKEND=crontab",
            )),
            _ => Ok(kind),
        }
    }

    /// The programs this backend drives, for the preflight check.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            BackendKind::Crontab => &["crontab"],
            BackendKind::Atd => &["at", "atq", "atrm"],
            BackendKind::Launchd => &["launchctl"],
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
