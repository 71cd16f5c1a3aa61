//! Terminal backends: where the shim runs. `headless` (default) detaches it
//! into the background with its output in the proc log.

use std::fmt;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Where workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A background process group, detached from the caller; output to the log.
    Headless,
    /// A tmux window per worker.
    Tmux,
    /// A WezTerm tab per worker.
    Wezterm,
}

impl Backend {
    /// Parse `headless`, `tmux` or `wezterm`.
    pub fn parse(text: &str) -> Result<Backend> {
        match text {
            "headless" => Ok(Backend::Headless),
            "tmux" => Ok(Backend::Tmux),
            "wezterm" => Ok(Backend::Wezterm),
            _ => {
                Err(Error::usage("unknown backend", text)
                    .hint("backends are: headless, tmux, wezterm"))
            }
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Headless => "headless",
            Backend::Tmux => "tmux",
            Backend::Wezterm => "wezterm",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to start one shim.
#[derive(Debug, Clone)]
pub struct ShimLaunch {
    /// The `orc-shim` executable.
    pub program: PathBuf,
    /// Its arguments up to and including `--`, then the agent's command line.
    pub args: Vec<String>,
    /// The complete environment (already scrubbed).
    pub env: Vec<(String, String)>,
    /// The worktree.
    pub cwd: PathBuf,
    /// The proc log, for the shim's own output.
    pub log: PathBuf,
}

/// Start the shim through `backend`. Returns once it is detached.
pub fn launch(backend: Backend, l: &ShimLaunch) -> Result<()> {
    match backend {
        Backend::Headless => headless(l),
        Backend::Tmux | Backend::Wezterm => Err(Error::usage(
            format!("the {backend} backend is not available in this build"),
            backend.as_str(),
        )
        .hint("use ORC_BACKEND=headless")),
    }
}

fn headless(l: &ShimLaunch) -> Result<()> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&l.log)
        .map_err(|e| Error::io("open the log", &l.log, e))?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io("open the log", &l.log, e))?;
    let mut args = vec!["--detach".to_string()];
    args.extend(l.args.iter().cloned());
    let status = Command::new(&l.program)
        .args(&args)
        .env_clear()
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&l.cwd)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .status()
        .map_err(|e| {
            Error::failure(
                format!("cannot start the shim: {e}"),
                l.program.display().to_string(),
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::failure(
            format!("the shim did not start ({status})"),
            l.log.display().to_string(),
        ))
    }
}
