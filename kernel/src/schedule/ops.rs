//! `add`, `list` and `rm`: the registry, the runner and the OS entry kept
//! in step. `add` validates and preflights before it touches anything and
//! undoes what it made when a later step fails.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::backend::{self, BackendKind, Probe};
use super::cron::CronExpr;
use super::registry::{Action, Locked, Registry, RunStatus, Schedule, Timing};
use super::runner::{self, RunnerData};
use super::when::parse_at;
use super::{capture, format_local, local_now, preflight, run_log};
use crate::clock;
use crate::error::{Error, Result};
use crate::ids::check_name;
use crate::liveness::Liveness;
use crate::paths::StateDir;
use crate::profile::Config;

/// What `orc-cron add` / `orc-at add` asked for.
#[derive(Debug, Clone)]
pub struct AddRequest {
    /// The cron expression (recurring) or the `--at` time (one-shot).
    pub when: String,
    /// What to run.
    pub action: Action,
    /// The directory runs start in (default: this repository, else here).
    pub repo: Option<PathBuf>,
    /// The id (default: `cron-` or `at-` and 8 random hex digits).
    pub id: Option<String>,
}

/// What `add` made.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    /// The registry entry.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The first fire time, local.
    pub next: Option<String>,
    /// Problems that do not stop the schedule from being added.
    #[serde(skip)]
    pub warnings: Vec<Error>,
}

/// Register a recurring (`recurring`) or one-shot schedule.
pub fn add(state: &StateDir, config: &Config, recurring: bool, req: AddRequest) -> Result<Added> {
    let id = match req.id {
        Some(id) => {
            check_name("schedule id", &id)?;
            id
        }
        None => {
            let random = crate::agent::new_session_id()?;
            let prefix = if recurring { "cron" } else { "at" };
            format!("{prefix}-{}", random.get(..8).unwrap_or("00000000"))
        }
    };
    let now = local_now()?;
    let (timing, next) = if recurring {
        let expr = CronExpr::parse(&req.when)?;
        let next = expr.next_after(&now).map(|t| format_local(&t));
        let timing = Timing::Cron {
            schedule: expr.text().to_string(),
        };
        (timing, next)
    } else {
        let at = format_local(&parse_at(&req.when, &now)?);
        (Timing::At { at: at.clone() }, Some(at))
    };
    let repo = resolve_repo(req.repo.as_deref())?;
    let backend = BackendKind::choose(config, recurring)?;
    if let (BackendKind::Launchd, Timing::Cron { schedule }) = (backend, &timing) {
        // Refuse what launchd cannot express before anything is written.
        super::launchd_plist::calendar(&CronExpr::parse(schedule)?)?;
    }
    let env = capture::capture(config, std::env::vars());
    preflight::check(config, &env, &req.action, &repo, backend)?;
    let mut warnings = preflight::warnings(backend);
    let bin = crate::paths::bin_dir().unwrap_or_default();
    if matches!(req.action, Action::Label { .. }) && !bin.join("orc-dispatch").is_file() {
        warnings.push(
            Error::failure(
                "orc-dispatch is not installed yet",
                bin.display().to_string(),
            )
            .hint("runs of a --label schedule fail until it is"),
        );
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find this executable: {e}"), "add"))?;
    let path = env.get("PATH").cloned().unwrap_or_default();

    let locked = Locked::acquire(state)?;
    let mut registry = locked.read()?;
    if registry.get(&id).is_some() {
        return Err(Error::usage("a schedule with this id exists", id)
            .hint("pick another --id, or remove the old one with rm"));
    }
    let log = run_log(state, &id);
    let data = RunnerData {
        exe: &exe,
        id: &id,
        state: state.root(),
        log: &log,
        path: &path,
        home: env.get("HOME").map_or("/", String::as_str),
    };
    let runner_path = runner::write(state, &data)?;
    let mut schedule = Schedule {
        id: id.clone(),
        timing,
        action: req.action,
        repo,
        path,
        env,
        backend,
        runner: runner_path.clone(),
        handle: None,
        created_at: clock::now_rfc3339()?,
        last_run_at: None,
        last_fired_at: None,
        last_finished_at: None,
        last_status: None,
        last_exit: None,
        runs: 0,
        run_pid: None,
    };
    schedule.handle = match backend::install(state, &schedule) {
        Ok(handle) => handle,
        Err(e) => {
            let _ = runner::remove(&runner_path);
            return Err(e);
        }
    };
    registry.schedules.push(schedule.clone());
    if let Err(e) = locked.write(&registry) {
        let _ = backend::remove(&schedule);
        let _ = runner::remove(&runner_path);
        return Err(e);
    }
    Ok(Added {
        schedule,
        next,
        warnings,
    })
}

fn resolve_repo(repo: Option<&Path>) -> Result<PathBuf> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::failure(format!("cannot read the current directory: {e}"), "."))?;
    match repo {
        // A missing directory is reported by the preflight, with the rest.
        Some(dir) => Ok(cwd
            .join(dir)
            .canonicalize()
            .unwrap_or_else(|_| cwd.join(dir))),
        None => Ok(match crate::repo::Repo::current()? {
            Some(r) => r.root,
            None => cwd,
        }),
    }
}

/// One row of `list`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The registry entry.
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The next fire time, local, if there is one.
    pub next: Option<String>,
    /// `scheduled`, `drifted` (missing from the OS scheduler), `done` (a
    /// one-shot that fired) or `unknown` (the scheduler could not be asked).
    pub state: &'static str,
    /// Why the state is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Listed {
    /// The last run in a word: `ok`, `error`, `running`, `interrupted`, `-`.
    pub fn last(&self) -> &'static str {
        let s = &self.schedule;
        match (s.last_status, s.run_pid.map(|p| p.liveness())) {
            (Some(RunStatus::Running), Some(Liveness::Dead)) => "interrupted",
            (Some(status), _) => status.as_str(),
            (None, _) => "-",
        }
    }
}

/// The next fire time of `timing` after `now`, local: none for a one-shot
/// whose time has passed, or an expression that never fires.
pub fn next_fire(timing: &Timing, now: &chrono::DateTime<chrono::Local>) -> Option<String> {
    match timing {
        Timing::Cron { schedule: expr } => CronExpr::parse(expr)
            .ok()
            .and_then(|e| e.next_after(now))
            .map(|t| format_local(&t)),
        Timing::At { at } => clock::parse(at)
            .ok()
            .filter(|t| *t > *now)
            .map(|t| format_local(&t.with_timezone(&chrono::Local))),
    }
}

/// The schedules of one kind, each checked against its OS scheduler.
pub fn list(state: &StateDir, recurring: bool) -> Result<Vec<Listed>> {
    let now = local_now()?;
    let mut probe = Probe::default();
    let registry = Registry::load(state)?;
    let mut rows = Vec::new();
    for schedule in registry.schedules {
        if matches!(schedule.timing, Timing::Cron { .. }) != recurring {
            continue;
        }
        let next = next_fire(&schedule.timing, &now);
        let (state, problem) = if schedule.last_fired_at.is_some() && !recurring {
            ("done", None)
        } else {
            match probe.present(&schedule) {
                Ok(true) => ("scheduled", None),
                Ok(false) => ("drifted", None),
                Err(e) => ("unknown", Some(e.to_string())),
            }
        };
        rows.push(Listed {
            schedule,
            next,
            state,
            problem,
        });
    }
    Ok(rows)
}

/// Remove schedule `id`: its OS entry, then its runner, then its registry
/// entry. Its run log stays. A failure leaves the registry entry in place.
pub fn remove(state: &StateDir, recurring: bool, id: &str) -> Result<Schedule> {
    check_name("schedule id", id)?;
    let locked = Locked::acquire(state)?;
    let mut registry = locked.read()?;
    let tool = if recurring { "orc-cron" } else { "orc-at" };
    let Some(schedule) = registry.get(id).cloned() else {
        return Err(Error::failure("no such schedule", id).hint(format!("see `{tool} list`")));
    };
    if matches!(schedule.timing, Timing::Cron { .. }) != recurring {
        let other = if recurring { "orc-at" } else { "orc-cron" };
        return Err(
            Error::usage(format!("this schedule belongs to {other}"), id)
                .hint(format!("remove it with `{other} rm {id}`")),
        );
    }
    backend::remove(&schedule)?;
    runner::remove(&schedule.runner)?;
    registry.schedules.retain(|s| s.id != id);
    locked.write(&registry)?;
    Ok(schedule)
}

/// Reinstall schedule `id`: write its runner again from the template and
/// put its entry back into the OS scheduler (replacing any there), under
/// the registry lock. A schedule from before orc captured run
/// environments captures one now, from `config` and this process.
pub fn repair(state: &StateDir, config: &Config, recurring: bool, id: &str) -> Result<Schedule> {
    check_name("schedule id", id)?;
    let locked = Locked::acquire(state)?;
    let mut registry = locked.read()?;
    let tool = if recurring { "orc-cron" } else { "orc-at" };
    let Some(mut schedule) = registry.get(id).cloned() else {
        return Err(Error::failure("no such schedule", id).hint(format!("see `{tool} list`")));
    };
    if matches!(schedule.timing, Timing::Cron { .. }) != recurring {
        let other = if recurring { "orc-at" } else { "orc-cron" };
        return Err(
            Error::usage(format!("this schedule belongs to {other}"), id)
                .hint(format!("repair it with `{other} repair {id}`")),
        );
    }
    if let Timing::At { at } = &schedule.timing {
        let due = clock::parse(at).map_err(|_| Error::failure("bad time in registry", at))?;
        if schedule.last_fired_at.is_some() || due <= clock::now()? {
            return Err(
                Error::failure("this one-shot schedule is past its time", id)
                    .hint("add it again with a new --at time"),
            );
        }
    }
    if schedule.env.is_empty() {
        schedule.env = capture::capture(config, std::env::vars());
        schedule.path = schedule.env.get("PATH").cloned().unwrap_or_default();
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::failure(format!("cannot find this executable: {e}"), "repair"))?;
    let log = run_log(state, id);
    let data = RunnerData {
        exe: &exe,
        id,
        state: state.root(),
        log: &log,
        path: &schedule.path,
        home: schedule.env.get("HOME").map_or("/", String::as_str),
    };
    schedule.runner = runner::write(state, &data)?;
    backend::remove(&schedule)?;
    schedule.handle = backend::install(state, &schedule)?;
    if let Some(entry) = registry.get_mut(id) {
        *entry = schedule.clone();
    }
    locked.write(&registry)?;
    Ok(schedule)
}
