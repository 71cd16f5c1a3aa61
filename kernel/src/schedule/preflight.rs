//! The checks `add` makes before it changes anything, against the
//! environment the runs will have (capture.rs), not the caller's: the
//! agent CLI, git, `gh` for a GitHub label schedule and the scheduler's
//! programs are on the run's PATH, the orc plugin is found for a Claude
//! agent, the repository exists. Every problem is reported at once, so one
//! attempt shows all there is to fix. A scheduler daemon that is installed
//! but not running is a warning (here and in `list`): the entry is made,
//! and fires once the daemon runs.

use std::collections::BTreeMap;
use std::path::Path;

use super::backend::BackendKind;
use super::registry::Action;
use crate::agent::AgentKind;
use crate::error::{Error, Result};
use crate::profile::Config;
use crate::tracker::TrackerKind;

/// The program that runs the agent, as the agent module would start it
/// (for the custom agent, the first word of `ORC_AGENT_CMD`).
pub fn agent_program(config: &Config) -> Result<String> {
    let agent = AgentKind::parse(config.get("ORC_AGENT").unwrap_or("claude"))?;
    let spec = crate::agent::Spec {
        kind: crate::ids::Kind::Worker,
        // Only the program name is wanted here: no issue is involved.
        issue: crate::ids::Issue::from(0),
        worktree: std::path::PathBuf::from("/"),
        prompt: String::new(),
        prompt_file: None,
        session_id: None,
        resume: false,
        custom_template: config.get("ORC_AGENT_CMD").map(str::to_string),
        plugin_dir: None,
    };
    Ok(crate::agent::command(agent, crate::agent::Mode::Headless, &spec)?.program)
}

/// Whether `program` can be started: a path (relative ones from `dir`,
/// where runs start) that is an executable file, or a name on `path`.
fn installed_in(dir: &Path, path: &str, program: &str) -> bool {
    if program.contains('/') {
        let p = dir.join(program);
        return p.is_file() && nix::unistd::access(&p, nix::unistd::AccessFlags::X_OK).is_ok();
    }
    which::which_in(program, Some(path), dir).is_ok()
}

/// Check everything a run of `action` needs, in the run's environment
/// `env`; a failure lists every problem found.
pub fn check(
    config: &Config,
    env: &BTreeMap<String, String>,
    action: &Action,
    repo: &Path,
    backend: BackendKind,
) -> Result<()> {
    let run_path = env.get("PATH").map_or("", String::as_str);
    let mut problems: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    match action {
        Action::Prompt { .. } | Action::Label { .. } => match agent_program(config) {
            Ok(program) if installed_in(repo, run_path, &program) => {
                let claude = config.get("ORC_AGENT").unwrap_or("claude") == "claude";
                let plugin = env
                    .get("ORC_ROOT")
                    .map(|r| Path::new(r).join(".claude-plugin").join("plugin.json"));
                if claude && !plugin.is_some_and(|p| p.is_file()) {
                    problems.push("the orc plugin (agents/, .claude-plugin/) is not found".into());
                    hints.push(
                        "set ORC_ROOT to a checkout or an installed share/orc (make install)"
                            .into(),
                    );
                }
            }
            Ok(program) => {
                problems.push(format!("the agent CLI {program} is not on PATH"));
                hints.push("install the agent CLI or choose another with ORC_AGENT".into());
            }
            Err(e) => problems.push(e.to_string()),
        },
        Action::Command { argv } => {
            let program = argv.first().map(String::as_str).unwrap_or_default();
            if !installed_in(repo, run_path, program) {
                problems.push(format!("the command {program} is not on PATH"));
            }
        }
    }
    if let Action::Label { .. } = action
        && repo.is_dir()
        && TrackerKind::select(config.get("ORC_TRACKER"), repo).ok() == Some(TrackerKind::Github)
        && !installed_in(repo, run_path, "gh")
    {
        problems.push("gh (the GitHub tracker's CLI) is not on PATH".to_string());
        hints.push("install gh and run `gh auth login`, or use ORC_TRACKER=local".into());
    }
    if !installed_in(repo, run_path, "git") {
        problems.push("git is not on PATH".to_string());
    }
    for program in backend.programs() {
        if !installed_in(Path::new("/"), run_path, program) {
            problems.push(format!("{program} ({backend}) is not on PATH"));
            hints.push(
                match backend {
                    BackendKind::Crontab => "install cron (apt-get install cron) and start it",
                    BackendKind::Atd => "install at (apt-get install at) and start atd",
                    BackendKind::Launchd => "launchd is macOS only; set ORC_SCHED_BACKEND",
                }
                .into(),
            );
        }
    }
    if !repo.is_dir() {
        problems.push(format!("the repository {} does not exist", repo.display()));
    } else if !matches!(action, Action::Command { .. })
        && crate::repo::Repo::discover(repo).ok().flatten().is_none()
    {
        problems.push(format!("{} is not a git repository", repo.display()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    hints.dedup();
    let err = Error::failure(
        format!("cannot schedule: {}", problems.join("; ")),
        repo.display().to_string(),
    );
    Err(if hints.is_empty() {
        err
    } else {
        err.hint(hints.join("; "))
    })
}

/// What does not stop a schedule from being added but will stop it from
/// firing: the backend's daemon is not running.
pub fn warnings(backend: BackendKind) -> Vec<Error> {
    let daemons: &[&str] = match backend {
        BackendKind::Crontab => &["cron", "crond"],
        BackendKind::Atd => &["atd"],
        BackendKind::Launchd => return Vec::new(),
    };
    match running(daemons) {
        Some(false) => vec![
            Error::failure(
                format!("the {} daemon is not running", daemons[0]),
                backend.as_str(),
            )
            .hint(match backend {
                BackendKind::Crontab => {
                    "start it (service cron start, or run cron as root); \
                     the schedule fires once it runs"
                }
                _ => {
                    "start it (service atd start, or run atd as root); \
                     the job runs once it does"
                }
            }),
        ],
        _ => Vec::new(),
    }
}

/// Whether a process with one of these names runs (`/proc/*/comm`); `None`
/// when the process table cannot be read (not Linux).
pub fn running(names: &[&str]) -> Option<bool> {
    let procs = std::fs::read_dir("/proc").ok()?;
    let mut any = false;
    for entry in procs.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        any = true;
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm"))
            && names.contains(&comm.trim())
        {
            return Some(true);
        }
    }
    any.then_some(false)
}
