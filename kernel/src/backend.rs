//! Terminal backends: where the shim runs. `headless` (default) detaches it
//! into the background with its output in the proc log; `tmux` and
//! `wezterm` run it in a window or tab of its own, with the agent attached
//! to that terminal, so a person can watch it and type into it.
//!
//! `slurm` runs the shim headless on this host, and the shim hands the agent
//! to Slurm: its child is `srun`, which runs a node-side shim that supervises
//! the agent on the node Slurm picks (see [`crate::shim`] and
//! [`crate::slurm`]).
//!
//! Whatever the backend, the worker's liveness comes from the shim (its pid
//! and start time in `shim.pid`), never from the terminal; for `slurm`, when
//! the local shim is gone, from the job the record names.

mod headless;
pub(crate) mod pane;
pub mod tmux;
mod wezterm;

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
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
    /// A Slurm job per worker (`srun`), supervised from this host.
    Slurm,
}

impl Backend {
    /// Parse `headless`, `tmux` or `wezterm`.
    pub fn parse(text: &str) -> Result<Backend> {
        match text {
            "headless" => Ok(Backend::Headless),
            "tmux" => Ok(Backend::Tmux),
            "wezterm" => Ok(Backend::Wezterm),
            "slurm" => Ok(Backend::Slurm),
            _ => Err(Error::usage("unknown backend", text)
                .hint("backends are: headless, tmux, wezterm, slurm")),
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Headless => "headless",
            Backend::Tmux => "tmux",
            Backend::Wezterm => "wezterm",
            Backend::Slurm => "slurm",
        }
    }

    /// Whether the agent is attached to a terminal a person can see.
    pub fn is_interactive(self) -> bool {
        matches!(self, Backend::Tmux | Backend::Wezterm)
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

impl ShimLaunch {
    /// The value of `name` in the shim's environment.
    fn var(&self, name: &str) -> Result<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Error::failure("the worker's environment lacks a variable", name))
    }

    /// `<kind>-<N>`: the name of the worker's window or tab, like its proc
    /// directory.
    fn worker_name(&self) -> Result<String> {
        Ok(format!(
            "{}-{}",
            self.var("ORC_KIND")?,
            self.var("ORC_ISSUE")?
        ))
    }
}

/// Start the shim through `backend`. Returns once it runs on its own: in
/// the background, or in its window or tab.
pub fn launch(backend: Backend, l: &ShimLaunch) -> Result<()> {
    match backend {
        // The local shim runs headless; it submits the job itself.
        Backend::Headless | Backend::Slurm => headless::launch(l),
        Backend::Tmux => tmux::launch(l),
        Backend::Wezterm => wezterm::launch(l),
    }
}

/// The command a terminal runs for the shim: `env -i -- K=V... SHIM ARGS`.
///
/// A terminal starts its command with an environment of its own (tmux: the
/// server's global environment, captured when the server started, perhaps
/// from inside a Claude Code session; WezTerm: the GUI's), and `tmux -e`
/// can only add variables, never remove one. `env -i` makes the shim's
/// environment exactly the scrubbed one spawn built, on both backends,
/// with one change: `TERM` names the terminal the agent really talks to.
/// The words stay separate arguments; no shell reads them. The variables
/// are on the command line of a client that lives milliseconds, never on
/// that of a long-lived process (see the tmux backend's placeholder).
fn scrubbed_command(l: &ShimLaunch, term: &str) -> Result<Vec<String>> {
    let program = utf8(&l.program)?;
    if program.contains('=') {
        // env would take it for one more variable.
        return Err(Error::failure("the shim's path contains '='", program)
            .hint("install orc where the path has no '=' (make install PREFIX=...)"));
    }
    // An absolute path: the terminal's PATH is not the worker's. `--` keeps
    // a variable whose name starts with '-' from reading as an option.
    let mut words = vec!["/usr/bin/env".to_string(), "-i".into(), "--".into()];
    for (key, value) in l.env.iter().filter(|(k, _)| k != "TERM") {
        if key.is_empty() || key.contains('=') {
            // Not a variable any process can hold; std never yields one.
            continue;
        }
        words.push(format!("{key}={value}"));
    }
    words.push(format!("TERM={term}"));
    words.push(program.to_string());
    words.extend(l.args.iter().cloned());
    Ok(words)
}

/// What a terminal's command-line client answered.
struct Reply {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Reply {
    /// The standard output of a success; a failure as an error carrying
    /// the client's standard error, naming what was asked of it.
    fn into_result(self, program: &str, what: &str) -> Result<String> {
        if self.ok {
            return Ok(self.stdout);
        }
        let why = self.stderr.trim().replace('\n', "; ");
        let why = if why.is_empty() { "no message" } else { &why };
        Err(Error::failure(
            format!("{program} could not {what}: {why}"),
            program,
        ))
    }
}

/// Run a terminal's command-line client (`tmux`, `wezterm`) with the
/// caller's environment, which tells it which server to talk to.
fn client(program: &str, args: &[String]) -> Result<Reply> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::failure(format!("{program} is not installed"), program)
                .hint(format!(
                    "install {program}, or run workers with --backend headless"
                )),
            _ => Error::failure(format!("cannot run {program}: {e}"), program),
        })?;
    Ok(Reply {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Create the proc log (0600) before a terminal appends to it.
fn prepare_log(log: &Path) -> Result<()> {
    crate::fsutil::open_append(log).map(drop)
}

/// Add a lifecycle line to the log saying where the worker runs. Best
/// effort: the worker runs already, and a spawn failing now would undo
/// its worktree under it.
fn note(log: &Path, text: &str) {
    if let Ok(ts) = crate::clock::now_rfc3339() {
        let _ = crate::fsutil::append_line(log, &format!("[{ts}] orc-spawn: {text}"));
    }
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::usage("path is not UTF-8", path.display().to_string())
            .hint("terminal backends need UTF-8 paths; use --backend headless")
    })
}

#[cfg(test)]
mod tests;
