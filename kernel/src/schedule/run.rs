//! One run of a schedule (`orc-cron run ID`), what every runner script
//! execs: take the schedule's own lock so runs never overlap, log to
//! `logs/<id>.run.log`, record the start and the end in the registry, and
//! raise a desktop notification when the run fails.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::Serialize;

use super::backend::{BackendKind, launchd};
use super::registry::{Action, Locked, Registry, RunStatus, Schedule, Timing};
use super::{desktop, run_log};
use crate::agent::{self, AgentKind};
use crate::clock;
use crate::error::{Error, Kind, Result};
use crate::fsutil::ensure_private_dir;
use crate::ids::check_name;
use crate::liveness::ProcessId;
use crate::lock::FileLock;
use crate::paths::{self, StateDir};

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The schedule.
    pub id: String,
    /// `ok` or `error`; `None` when the run was skipped.
    pub status: Option<RunStatus>,
    /// The command's exit code (128+n for a signal), when it ran.
    pub exit: Option<i32>,
    /// Why nothing ran, when nothing did.
    pub skipped: Option<String>,
    /// Why the run could not start, when it could not.
    pub error: Option<String>,
    /// The run log.
    pub log: PathBuf,
}

/// Run schedule `id` now. `scheduled` is set when the OS scheduler started
/// the run: a one-shot schedule then runs at most once and never before
/// its time (launchd's calendar has no year).
pub fn run(state: &StateDir, id: &str, scheduled: bool) -> Result<Outcome> {
    check_name("schedule id", id)?;
    let schedule = Registry::load(state)?.get(id).cloned().ok_or_else(|| {
        Error::failure("no such schedule", id).hint("see `orc-cron list` and `orc-at list`")
    })?;
    ensure_private_dir(&state.logs())?;
    let log_path = run_log(state, id);
    let mut log = open_log(&log_path)?;
    // The id is already a checked name; the lock's is one longer than
    // `lock::named` allows for the longest ids, so the path is built here.
    let lock_path = state.named_locks().join(format!("schedule.{id}.lock"));
    let Some(_guard) = FileLock::try_exclusive(&lock_path)? else {
        note(
            &mut log,
            "skipped: the previous run of this schedule is still going",
        );
        return Err(
            Error::new(Kind::Locked, "a run of this schedule is still going", id)
                .hint(format!("see {}", log_path.display())),
        );
    };
    let skip = |log: &mut File, why: String| -> Result<Outcome> {
        note(log, &format!("skipped: {why}"));
        Ok(Outcome {
            id: id.to_string(),
            status: None,
            exit: None,
            skipped: Some(why),
            error: None,
            log: log_path.clone(),
        })
    };
    if let (true, Timing::At { at }) = (scheduled, &schedule.timing) {
        if schedule.last_fired_at.is_some() {
            unload_once(&schedule);
            return skip(
                &mut log,
                "this one-shot schedule has fired already".to_string(),
            );
        }
        let due = clock::parse(at).map_err(|_| Error::failure("bad time in registry", at))?;
        if clock::now()? < due {
            return skip(&mut log, format!("it is due at {at}, not yet"));
        }
    }

    let started = clock::now_rfc3339()?;
    record(state, id, |s| {
        s.last_run_at = Some(started.clone());
        s.last_finished_at = None;
        s.last_status = Some(RunStatus::Running);
        s.last_exit = None;
        s.runs += 1;
        s.run_pid = Some(ProcessId::current());
        if scheduled {
            s.last_fired_at = Some(started.clone());
        }
    })?;
    let how = if scheduled { "scheduled" } else { "by hand" };
    note(
        &mut log,
        &format!("run {id} started ({how}): {}", schedule.action.summary()),
    );
    let ended = command(state, &schedule).and_then(|mut cmd| wait(&mut cmd, &log, &schedule));
    let (status, exit) = match &ended {
        Ok(0) => (RunStatus::Ok, Some(0)),
        Ok(code) => (RunStatus::Error, Some(*code)),
        Err(_) => (RunStatus::Error, None),
    };
    match &ended {
        Ok(code) => note(&mut log, &format!("run {id} ended: exit {code}")),
        Err(e) => note(&mut log, &format!("run {id} failed: {e}")),
    }
    let finished = clock::now_rfc3339()?;
    record(state, id, |s| {
        s.last_finished_at = Some(finished.clone());
        s.last_status = Some(status);
        s.last_exit = exit;
        s.run_pid = None;
    })?;
    if status == RunStatus::Error {
        let why = exit.map_or("it could not start".to_string(), |c| format!("exit {c}"));
        let detail = format!("{why}; see {}", log_path.display());
        desktop::notify(&format!("orc: schedule {id} failed"), &detail);
        let told = crate::profile::Config::load(Some(&schedule.repo))
            .and_then(|config| crate::alert::schedule_failed(&config, state.root(), id, &detail));
        if let Err(e) = told {
            note(&mut log, &format!("run {id}: {e}"));
        }
    } else {
        let _ = crate::alert::schedule_ok(state.root(), id);
    }
    if scheduled && matches!(schedule.timing, Timing::At { .. }) {
        unload_once(&schedule);
    }
    Ok(Outcome {
        id: id.to_string(),
        status: Some(status),
        exit,
        skipped: None,
        error: ended.err().map(|e| e.to_string()),
        log: log_path,
    })
}

fn unload_once(schedule: &Schedule) {
    if schedule.backend == BackendKind::Launchd {
        launchd::unload_self(&schedule.id);
    }
}

fn open_log(path: &std::path::Path) -> Result<File> {
    crate::fsutil::open_append(path)
}

/// One line in the run log, stamped. A log that cannot be written must
/// not stop the run: the registry still records it.
fn note(log: &mut File, text: &str) {
    let stamp = clock::now_rfc3339().unwrap_or_default();
    let _ = writeln!(log, "--- {stamp} {text}");
}

/// Change the registry entry of `id` under the registry lock.
fn record(state: &StateDir, id: &str, change: impl FnOnce(&mut Schedule)) -> Result<()> {
    let locked = Locked::acquire(state)?;
    let mut registry = locked.read()?;
    let Some(entry) = registry.get_mut(id) else {
        return Err(Error::failure(
            "the schedule was removed during its run",
            id,
        ));
    };
    change(entry);
    locked.write(&registry)
}

/// The process a run starts, in the repository, with the environment
/// captured when the schedule was added and nothing of the scheduler's
/// (a schedule from before capture gets the caller's, less Claude Code's
/// session markers).
fn command(state: &StateDir, schedule: &Schedule) -> Result<Command> {
    if !schedule.repo.is_dir() {
        return Err(Error::failure(
            "the schedule's directory is gone",
            schedule.repo.display().to_string(),
        ));
    }
    let mut stdin = Stdio::null();
    let env: Vec<(String, String)> = if schedule.env.is_empty() {
        agent::scrub(std::env::vars())
    } else {
        schedule
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let mut cmd = match &schedule.action {
        Action::Command { argv } => {
            let (program, args) = argv
                .split_first()
                .ok_or_else(|| Error::failure("the command is empty", schedule.id.clone()))?;
            let mut cmd = Command::new(program);
            cmd.args(args);
            cmd
        }
        Action::Prompt { prompt } => {
            let agent = AgentKind::parse(get("ORC_AGENT").unwrap_or("claude"))?;
            let plugin_dir = match get("ORC_ROOT") {
                Some(root) => Some(std::path::PathBuf::from(root))
                    .filter(|r| r.join(".claude-plugin").join("plugin.json").is_file()),
                None => agent::claude_plugin_dir(),
            };
            let launch = agent::orchestrator_command(
                agent,
                &schedule.repo,
                prompt,
                get("ORC_AGENT_CMD").map(str::to_string),
                plugin_dir,
            )?;
            let mut cmd = Command::new(resolve(&launch.program, get("PATH"), &schedule.repo));
            cmd.args(launch.args);
            if launch.stdin_prompt {
                stdin = prompt_on_stdin(prompt)?;
            }
            cmd
        }
        Action::Label { label, max, once } => {
            let dir = get("ORC_BIN_DIR")
                .map(std::path::PathBuf::from)
                .filter(|d| d.join("orc-dispatch").is_file())
                .or_else(paths::bin_dir)
                .unwrap_or_default();
            let dispatch = dir.join("orc-dispatch");
            if !dispatch.is_file() {
                return Err(Error::failure(
                    "orc-dispatch is not installed next to this tool",
                    dir.display().to_string(),
                )
                .hint("a --label schedule runs `orc-dispatch --label L`; install orc-dispatch"));
            }
            let mut cmd = Command::new(dispatch);
            cmd.args(["--label", label]);
            if let Some(n) = max {
                cmd.args(["--max", &n.to_string()]);
            }
            if *once {
                cmd.arg("--once");
            }
            cmd
        }
    };
    cmd.stdin(stdin)
        .current_dir(&schedule.repo)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("ORC_STATE_DIR", state.root())
        .env("ORC_SCHEDULE_ID", &schedule.id);
    Ok(cmd)
}

/// The scheduled prompt as a standard input: an unlinked temporary file
/// (no name another user could guess or read), so the prompt stays off the
/// process table.
fn prompt_on_stdin(prompt: &str) -> Result<Stdio> {
    use std::io::{Seek, Write};
    let mut file = tempfile::tempfile()
        .map_err(|e| Error::failure(format!("cannot hold the prompt: {e}"), "prompt"))?;
    file.write_all(prompt.as_bytes())
        .and_then(|()| file.rewind())
        .map_err(|e| Error::failure(format!("cannot hold the prompt: {e}"), "prompt"))?;
    Ok(Stdio::from(file))
}

/// `program` looked up on the run's `PATH` (std would look on this
/// process's), or as given when it is not found there.
fn resolve(program: &str, path: Option<&str>, dir: &std::path::Path) -> std::path::PathBuf {
    which::which_in(program, path, dir).unwrap_or_else(|_| program.into())
}

/// Start `cmd` with its output in the log and wait for its exit code.
fn wait(cmd: &mut Command, log: &File, schedule: &Schedule) -> Result<i32> {
    let io = |log: &File| {
        log.try_clone()
            .map(Stdio::from)
            .map_err(|e| Error::failure(format!("cannot share the run log: {e}"), "log"))
    };
    let status = cmd
        .stdout(io(log)?)
        .stderr(io(log)?)
        .status()
        .map_err(|e| {
            Error::failure(
                format!("cannot start: {e}"),
                format!("{:?}", cmd.get_program()),
            )
        })?;
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(code),
        (None, Some(sig)) => Ok(crate::exit::SIGNAL_BASE + sig),
        (None, None) => Err(Error::failure("the run ended oddly", schedule.id.clone())),
    }
}

/// The exit code of `orc-cron run`: the command's own (a signal as 128+n,
/// beyond a byte as 1), 1 when it could not start, 0 when skipped.
pub fn exit_code(outcome: &Outcome) -> u8 {
    match (&outcome.skipped, outcome.exit) {
        (Some(_), _) => crate::exit::OK,
        (None, Some(code)) => u8::try_from(code).unwrap_or(crate::exit::FAILURE),
        (None, None) => crate::exit::FAILURE,
    }
}
