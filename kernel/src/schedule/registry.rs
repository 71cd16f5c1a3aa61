//! `schedules.json`: every schedule orc registered, read freely and changed
//! only under the `schedules` named lock, replaced atomically.
//!
//! A file that does not parse is an error that leaves it in place: orc
//! never overwrites a registry it cannot read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::backend_kind::BackendKind;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::liveness::ProcessId;
use crate::lock::{self, FileLock};
use crate::paths::StateDir;

/// The named lock that serialises every change to the registry (and, with
/// it, every edit orc makes to the user's crontab).
pub const LOCK_NAME: &str = "schedules";

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Timing {
    /// Recurring (`orc-cron`): a cron expression as the user wrote it.
    Cron {
        /// The expression.
        schedule: String,
    },
    /// Once (`orc-at`): a local time, RFC 3339 with its offset.
    At {
        /// The time.
        at: String,
    },
}

/// What a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Action {
    /// `orc-dispatch --label L` in the repository.
    Label {
        /// The label.
        label: String,
        /// `--max N`: at most N workers at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u64>,
        /// `--once`: one pass (start what fits, exit; the next run adopts
        /// what still runs).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        once: bool,
    },
    /// The agent, headless, with this prompt, in the repository.
    Prompt {
        /// The prompt, passed to the agent as one argument.
        prompt: String,
    },
    /// A command, in the repository.
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
    },
}

impl Action {
    /// Build from the command line's three forms; exactly one must be given.
    pub fn from_parts(
        label: Option<String>,
        prompt: Option<String>,
        cmd: Vec<String>,
    ) -> Result<Action> {
        let hint = "give one of --label L, --prompt TEXT or -- CMD ARGS...";
        match (label, prompt, cmd.is_empty()) {
            (Some(l), None, true) if !l.trim().is_empty() => Ok(Action::Label {
                label: l,
                max: None,
                once: false,
            }),
            (None, Some(p), true) if !p.trim().is_empty() => Ok(Action::Prompt { prompt: p }),
            (None, None, false) if !cmd[0].is_empty() => Ok(Action::Command { argv: cmd }),
            (None, None, true) => Err(Error::usage("nothing to run", "add").hint(hint)),
            (Some(_), None, true) => Err(Error::usage("the label is empty", "--label").hint(hint)),
            (None, Some(_), true) => {
                Err(Error::usage("the prompt is empty", "--prompt").hint(hint))
            }
            (None, None, false) => Err(Error::usage("the command is empty", "--").hint(hint)),
            _ => Err(Error::usage("more than one thing to run", "add").hint(hint)),
        }
    }

    /// A one-line description for tables.
    pub fn summary(&self) -> String {
        let text = match self {
            Action::Label { label, max, once } => {
                let mut text = format!("dispatch --label {label}");
                if let Some(n) = max {
                    text.push_str(&format!(" --max {n}"));
                }
                if *once {
                    text.push_str(" --once");
                }
                text
            }
            Action::Prompt { prompt } => format!("prompt: {prompt}"),
            Action::Command { argv } => argv.join(" "),
        };
        let line = text.replace(['\n', '\r', '\t'], " ");
        match line.char_indices().nth(40) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line,
        }
    }
}

/// How the last run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not yet recorded as ended.
    Running,
    /// Exited 0.
    Ok,
    /// Failed to start, exited non-zero, or was killed.
    Error,
}

impl RunStatus {
    /// `running`, `ok` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Error => "error",
        }
    }
}

/// One registered schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The id: one path component, also the crontab tag `# orc:<id>`.
    pub id: String,
    /// When it fires.
    #[serde(flatten)]
    pub timing: Timing,
    /// What it runs.
    pub action: Action,
    /// The working directory of every run.
    pub repo: PathBuf,
    /// `PATH` at registration, restored by the runner.
    pub path: String,
    /// The whole environment of every run, captured at registration
    /// (capture.rs). Empty for a schedule added before orc captured it:
    /// `repair` captures it then.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The OS scheduler that fires it.
    pub backend: BackendKind,
    /// The runner script the OS scheduler starts.
    pub runner: PathBuf,
    /// The OS scheduler's handle: the at job number, or the plist path.
    #[serde(default)]
    pub handle: Option<String>,
    /// When it was registered.
    pub created_at: String,
    /// When the last run started.
    #[serde(default)]
    pub last_run_at: Option<String>,
    /// When the OS scheduler last started a run (runs by hand do not count).
    #[serde(default)]
    pub last_fired_at: Option<String>,
    /// When the last run ended.
    #[serde(default)]
    pub last_finished_at: Option<String>,
    /// How the last run ended.
    #[serde(default)]
    pub last_status: Option<RunStatus>,
    /// The last run's exit code (128+n for a signal), when it had one.
    #[serde(default)]
    pub last_exit: Option<i32>,
    /// Runs started so far.
    #[serde(default)]
    pub runs: u64,
    /// The process of the run in progress, if one is.
    #[serde(default)]
    pub run_pid: Option<ProcessId>,
}

/// The registry file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    /// Every schedule, in registration order.
    pub schedules: Vec<Schedule>,
}

impl Registry {
    /// Read `schedules.json` (missing: empty). Safe without the lock:
    /// writers replace the file atomically.
    pub fn load(state: &StateDir) -> Result<Registry> {
        read(&state.schedules())
    }

    /// The schedule `id`, if registered.
    pub fn get(&self, id: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.id == id)
    }

    /// The schedule `id`, mutable.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Schedule> {
        self.schedules.iter_mut().find(|s| s.id == id)
    }
}

/// The registry held for a change: the lock lives as long as this guard.
#[derive(Debug)]
pub struct Locked {
    path: PathBuf,
    _lock: FileLock,
}

impl Locked {
    /// Wait for the registry lock.
    pub fn acquire(state: &StateDir) -> Result<Locked> {
        let lock = lock::named(state, LOCK_NAME, true)?.ok_or_else(|| {
            Error::failure(
                "cannot take the registry lock",
                state.schedules().display().to_string(),
            )
        })?;
        Ok(Locked {
            path: state.schedules(),
            _lock: lock,
        })
    }

    /// The registry as it is now.
    pub fn read(&self) -> Result<Registry> {
        read(&self.path)
    }

    /// Replace the registry atomically.
    pub fn write(&self, registry: &Registry) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(registry).map_err(|e| {
            Error::failure(
                format!("cannot encode the registry: {e}"),
                self.path.display().to_string(),
            )
        })?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes, 0o600)
    }
}

fn read(path: &Path) -> Result<Registry> {
    let bytes = crate::fsutil::open_read(path).and_then(|mut f| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
    });
    match bytes {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::failure(
                format!("corrupt schedule registry: {e}"),
                path.display().to_string(),
            )
            .hint("fix or move the file; orc never overwrites a registry it cannot read")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}
