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
    /// `--max N` (with `--label`): at most N workers at once.
    pub max: Option<u64>,
    /// `--once` (with `--label`): one pass of the queue.
    pub once: bool,
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
    let mut action = Action::from_parts(w.label, w.prompt, w.cmd)?;
    match &mut action {
        Action::Label { max, once, .. } => {
            if w.max == Some(0) {
                return Err(Error::usage(
                    "the worker limit must be at least 1",
                    "--max 0",
                ));
            }
            *max = w.max;
            *once = w.once;
        }
        _ if w.max.is_some() || w.once => {
            return Err(Error::usage("--max and --once go with --label", "add")
                .hint("they are orc-dispatch's: --label L --max N --once"));
        }
        _ => {}
    }
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

/// `list`: the tool's schedules, with next fire time and drift; a warning
/// when the scheduler's daemon is not running.
pub fn list(tool: Tool, json: bool) -> Result<u8> {
    let (_, state) = super::setup(None)?;
    let rows = ops::list(&state, tool.recurring)?;
    let mut problems: Vec<&str> = rows.iter().filter_map(|r| r.problem.as_deref()).collect();
    problems.dedup();
    for problem in problems {
        let what = "cannot tell whether schedules are in the OS scheduler";
        cli::warn(tool.name, &Error::failure(what, problem));
    }
    let mut backends: Vec<_> = rows.iter().map(|r| r.schedule.backend).collect();
    backends.dedup();
    for backend in backends {
        for warning in super::preflight::warnings(backend) {
            cli::warn(tool.name, &warning);
        }
    }
    if rows.iter().any(|r| r.state == "drifted") {
        cli::warn(
            tool.name,
            &Error::failure("a schedule is missing from the OS scheduler", "drifted")
                .hint(format!("`{} repair ID` reinstalls it", tool.name)),
        );
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

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A person: `run ID` starts the schedule's runner, as the OS
    /// scheduler would, in the same empty environment.
    Person,
    /// The runner, for a person (`--by-hand`): run and print the outcome.
    RunnerByHand,
    /// The runner, for the OS scheduler (`--scheduled`).
    Scheduler,
}

/// `run ID`: run a schedule now; the exit code is the run's.
pub fn run_now(tool: Tool, id: &str, start: Start, json: bool) -> Result<u8> {
    let (_, state) = super::setup(None)?;
    if start == Start::Person {
        return through_runner(tool, &state, id, json);
    }
    let scheduled = start == Start::Scheduler;
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

/// Start schedule `id`'s runner script with `--by-hand` and an empty
/// environment, as cron or atd would start it; its exit code is ours.
fn through_runner(tool: Tool, state: &crate::paths::StateDir, id: &str, json: bool) -> Result<u8> {
    crate::ids::check_name("schedule id", id)?;
    let schedule = super::Registry::load(state)?
        .get(id)
        .cloned()
        .ok_or_else(|| {
            Error::failure("no such schedule", id).hint(format!("see `{} list`", tool.name))
        })?;
    if !schedule.runner.is_file() {
        return Err(Error::failure(
            "the schedule's runner is missing",
            schedule.runner.display().to_string(),
        )
        .hint(format!("`{} repair {id}` writes it again", tool.name)));
    }
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg(&schedule.runner).arg("--by-hand");
    if json {
        cmd.arg("--json");
    }
    let status = cmd.env_clear().status().map_err(|e| {
        Error::failure(
            format!("cannot start the runner: {e}"),
            schedule.runner.display().to_string(),
        )
    })?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(exit::FAILURE),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(exit::FAILURE),
        (None, None) => exit::FAILURE,
    })
}

/// `repair ID`: write the runner again and reinstall the OS scheduler's
/// entry; capture the run environment if the schedule predates capture.
pub fn repair(tool: Tool, id: &str, json: bool) -> Result<u8> {
    let (config, state) = super::setup(None)?;
    let repaired = ops::repair(&state, &config, tool.recurring, id)?;
    if json || !cli::stdout_is_tty() {
        cli::out(&serde_json::to_string(&repaired).unwrap_or_default())?;
    } else {
        cli::out(&format!(
            "repaired {id}: runner {} and its {} entry",
            repaired.runner.display(),
            repaired.backend
        ))?;
    }
    Ok(exit::OK)
}
