//! What `orc-cron` and `orc-at` do with their `add`, `list` and `run`
//! verbs, and how they print it: the two tools differ only in their name
//! and in whether their schedules recur.

use std::path::PathBuf;

use super::ops::{self, AddRequest};
use super::registry::Action;
use super::{run, show};
use crate::cli;
use crate::error::{Error, Result};
use crate::exit;

/// Which tool is speaking.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// `orc-cron` or `orc-at`, for messages.
    pub name: &'static str,
    /// Recurring (cron) or one-shot (at) schedules.
    pub recurring: bool,
}

/// What a new schedule runs, as the command line gave it.
#[derive(Debug, Clone, Default)]
pub struct What {
    /// `--label L`: run `orc-dispatch --label L`.
    pub label: Option<String>,
    /// `--prompt TEXT`: run the agent headless with this prompt.
    pub prompt: Option<String>,
    /// `--repo DIR`: where the run starts.
    pub repo: Option<PathBuf>,
    /// `--id ID`.
    pub id: Option<String>,
    /// `--json`.
    pub json: bool,
    /// The command after `--`.
    pub cmd: Vec<String>,
}

/// `add`: register `w` to run `when` (a cron expression or an `--at` time).
pub fn add(tool: Tool, when: String, w: What) -> Result<u8> {
    let (config, state) = super::setup(w.repo.as_deref())?;
    let action = Action::from_parts(w.label, w.prompt, w.cmd)?;
    let req = AddRequest {
        when,
        action,
        repo: w.repo,
        id: w.id,
    };
    let added = ops::add(&state, &config, tool.recurring, req)?;
    for warning in &added.warnings {
        cli::warn(tool.name, warning);
    }
    if w.json || !cli::stdout_is_tty() {
        cli::out(&serde_json::to_string(&added).unwrap_or_default())?;
    } else {
        cli::out(&show::added(&added))?;
    }
    Ok(exit::OK)
}

/// `list`: the tool's schedules, with next fire time and drift.
pub fn list(tool: Tool, json: bool) -> Result<u8> {
    let (_, state) = super::setup(None)?;
    let rows = ops::list(&state, tool.recurring)?;
    let mut problems: Vec<&str> = rows.iter().filter_map(|r| r.problem.as_deref()).collect();
    problems.dedup();
    for problem in problems {
        let what = "cannot tell whether schedules are in the OS scheduler";
        cli::warn(tool.name, &Error::failure(what, problem));
    }
    if json || !cli::stdout_is_tty() {
        for row in &rows {
            cli::out(&serde_json::to_string(row).unwrap_or_default())?;
        }
    } else {
        let cells: Vec<Vec<String>> = rows.iter().map(show::cells).collect();
        cli::out(&cli::table(&show::header(tool.recurring), &cells))?;
    }
    Ok(exit::OK)
}

/// `rm ID`: remove a schedule's OS entry, runner and registry entry (the
/// run log stays).
pub fn remove(tool: Tool, id: &str) -> Result<u8> {
    let (_, state) = super::setup(None)?;
    ops::remove(&state, tool.recurring, id)?;
    Ok(exit::OK)
}

/// `run ID`: run a schedule now (or as its OS scheduler's entry, with
/// `scheduled`); the exit code is the run's.
pub fn run_now(tool: Tool, id: &str, scheduled: bool, json: bool) -> Result<u8> {
    let (_, state) = super::setup(None)?;
    let outcome = run::run(&state, id, scheduled)?;
    if let (Some(why), false) = (&outcome.error, scheduled) {
        eprintln!("{}: error: the run failed: {why}", tool.name);
    }
    if json || (!scheduled && !cli::stdout_is_tty()) {
        cli::out(&serde_json::to_string(&outcome).unwrap_or_default())?;
    } else if !scheduled {
        cli::out(&show::outcome(&outcome))?;
    }
    Ok(run::exit_code(&outcome))
}
