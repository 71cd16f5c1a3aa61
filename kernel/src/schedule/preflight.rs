//! The checks `add` makes before it changes anything: the agent CLI, git
//! and the scheduler's programs are installed, the repository exists.
//! Every problem is reported at once, so one attempt shows all there is to fix.

use std::path::Path;

use super::backend::BackendKind;
use super::registry::Action;
use crate::agent::AgentKind;
use crate::error::{Error, Result};
use crate::profile::Config;

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
/// where runs start) that is an executable file, or a name on PATH.
fn installed_in(dir: &Path, program: &str) -> bool {
    if program.contains('/') {
        let p = dir.join(program);
        return p.is_file() && nix::unistd::access(&p, nix::unistd::AccessFlags::X_OK).is_ok();
    }
    which::which(program).is_ok()
}

fn installed(program: &str) -> bool {
    installed_in(Path::new("/"), program)
}

/// Check everything `add` needs; a failure lists every problem found.
pub fn check(config: &Config, action: &Action, repo: &Path, backend: BackendKind) -> Result<()> {
    let mut problems: Vec<String> = Vec::new();
    let mut hints: Vec<&str> = Vec::new();
    match action {
        Action::Prompt { .. } | Action::Label { .. } => match agent_program(config) {
            Ok(program) if installed_in(repo, &program) => {}
            Ok(program) => {
                problems.push(format!("the agent CLI {program} is not on PATH"));
                hints.push("install the agent CLI or choose another with ORC_AGENT");
            }
            Err(e) => problems.push(e.to_string()),
        },
        Action::Command { argv } => {
            let program = argv.first().map(String::as_str).unwrap_or_default();
            if !installed_in(repo, program) {
                problems.push(format!("the command {program} is not on PATH"));
            }
        }
    }
    if !installed("git") {
        problems.push("git is not on PATH".to_string());
    }
    for program in backend.programs() {
        if !installed(program) {
            problems.push(format!("{program} ({backend}) is not on PATH"));
            hints.push(match backend {
                BackendKind::Crontab => "install cron (apt-get install cron) and start it",
                BackendKind::Atd => "install at (apt-get install at) and start atd",
                BackendKind::Launchd => "launchd is macOS only; set ORC_SCHED_BACKEND",
            });
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
