//! Claude Code hooks: the Stop guard.
//!
//! A worker's turn must end with `orc-notify`, or the orchestrator learns
//! only that the agent exited (`crashed`). The Stop hook runs each time the
//! agent is about to end its turn; inside a worker's worktree whose record
//! is still active it answers `{"decision":"block","reason":…}`, which
//! Claude Code turns into the agent's next instruction. Everywhere else it
//! says nothing.
//!
//! A hook must never get in the way of a session it does not understand:
//! every doubt (input that does not parse, no worktree, no record, a record
//! that cannot be read) lets the turn end. Claude Code caps consecutive
//! blocks (8 in 2.1.328), so a worker that cannot comply still stops.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::context::{ENV_FILE, read_env_file};
use crate::ids::{Issue, Kind};
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::profile::{Config, Layers};
use crate::record::Record;
use crate::repo::Repo;
use crate::session::Session;

/// The variable that turns the guard off (`1`, `true`, `yes`, `on`).
pub const KILL_SWITCH: &str = "ORC_DISABLE_STOP_GUARD";

/// Claude Code agents that are orc's own; any other named agent is left alone.
const ORC_AGENTS: [&str; 4] = ["orc:worker", "orc:reviewer", "worker", "reviewer"];

/// The fields of a hook's stdin that the guard reads.
#[derive(Debug, Default, Deserialize)]
struct Input {
    hook_event_name: Option<String>,
    cwd: Option<PathBuf>,
    #[serde(default)]
    stop_hook_active: bool,
    agent_type: Option<String>,
}

/// What the guard decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the turn end: print nothing, exit 0.
    Allow,
    /// Keep the turn going; `reason` becomes the agent's next instruction.
    Block {
        /// What the agent is told.
        reason: String,
    },
}

impl Decision {
    /// The hook's stdout: one JSON object for a block, nothing otherwise.
    pub fn output(&self) -> Option<String> {
        match self {
            Decision::Allow => None,
            Decision::Block { reason } => {
                Some(serde_json::json!({"decision": "block", "reason": reason}).to_string())
            }
        }
    }
}

/// Decide a Stop event from the hook's raw stdin. `env` looks variables up
/// (the process environment in production); `fallback_cwd` is used when the
/// input names no `cwd`.
pub fn stop_guard(
    stdin: &[u8],
    env: &dyn Fn(&str) -> Option<String>,
    fallback_cwd: Option<&Path>,
) -> Decision {
    if is_on(env(KILL_SWITCH).as_deref()) {
        return Decision::Allow;
    }
    let Ok(input) = serde_json::from_slice::<Input>(stdin) else {
        return Decision::Allow;
    };
    if input.hook_event_name.as_deref() != Some("Stop") {
        return Decision::Allow;
    }
    if let Some(agent) = input.agent_type.as_deref()
        && !ORC_AGENTS.contains(&agent)
    {
        return Decision::Allow;
    }
    let Some(cwd) = input.cwd.as_deref().or(fallback_cwd) else {
        return Decision::Allow;
    };
    let Some(worker) = Worker::find(cwd, env) else {
        return Decision::Allow;
    };
    if worker.disabled {
        return Decision::Allow;
    }
    match worker.record() {
        Some(record) if record.state.is_active() => Decision::Block {
            reason: reason(&worker, &record, input.stop_hook_active),
        },
        _ => Decision::Allow,
    }
}

/// Whether a kill-switch value means "on".
fn is_on(value: Option<&str>) -> bool {
    matches!(
        value.map(str::trim),
        Some("1" | "true" | "yes" | "on" | "TRUE" | "True" | "YES" | "ON")
    )
}

/// The worker whose worktree holds `cwd`, as its `.orc-env` describes it.
struct Worker {
    issue: Issue,
    kind: Kind,
    state_dir: PathBuf,
    session: String,
    /// The kill switch is set in a profile (plugin, project or user layer).
    disabled: bool,
}

impl Worker {
    /// Read the `.orc-env` of the worktree holding `cwd`: the worktree is
    /// the authority on which worker this is. The environment (the worker's
    /// own, inherited by the hook) fills what it leaves out, so a worker that
    /// changed directory out of its worktree is still found.
    fn find(cwd: &Path, env: &dyn Fn(&str) -> Option<String>) -> Option<Worker> {
        let repo = Repo::discover(cwd).ok().flatten();
        let file = match &repo {
            Some(r) => read_env_file(&r.worktree.join(ENV_FILE)).ok()?,
            None => Vec::new(),
        };
        let get = |name: &str| {
            file.iter()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
                .or_else(|| env(name).filter(|v| !v.is_empty()))
        };
        let issue = Issue::parse(&get("ORC_ISSUE")?).ok()?;
        let kind = match get("ORC_KIND") {
            Some(k) => Kind::parse(&k).ok()?,
            None => Kind::Worker,
        };
        let state_dir = PathBuf::from(get("ORC_STATE_DIR")?);
        if !state_dir.is_absolute() {
            return None;
        }
        let session = get("ORC_SESSION")?;
        // The switch may also be set in a profile of the worker's ORC_ENV.
        let explicit: Vec<(String, String)> = [KILL_SWITCH, "ORC_ENV"]
            .into_iter()
            .filter_map(|k| get(k).map(|v| (k.to_string(), v)))
            .collect();
        let project = repo.as_ref().map(|r| r.root.as_path());
        let disabled = Config::resolve(&explicit, &Layers::standard(project))
            .map(|c| c.flag(KILL_SWITCH))
            .unwrap_or(false);
        Some(Worker {
            issue,
            kind,
            state_dir,
            session,
            disabled,
        })
    }

    /// The worker's record, read without creating anything.
    fn record(&self) -> Option<Record> {
        let state = StateDir::at(&self.state_dir);
        let session = Session::open(&state, &self.session).ok()?;
        Proc::new(&session, self.kind, self.issue).read().ok()?
    }
}

/// The instruction a blocked worker gets.
fn reason(worker: &Worker, record: &Record, again: bool) -> String {
    let results = match worker.kind {
        Kind::Worker => "merged, ci-passed, failed, cancelled, suspended or throttled",
        Kind::Reviewer => "approved, changes-requested or failed",
    };
    let phase = if record.detail.is_empty() {
        String::new()
    } else {
        format!(" ({})", record.detail)
    };
    let mut text = format!(
        "orc: you are the {} for issue #{} and your record is still {}{}. Do not end your \
         turn yet. Finish the task; commit your work; then report the result with exactly \
         one Bash call `orc-notify RESULT \"DETAIL\"` where RESULT is {}. If you cannot \
         finish, run `orc-notify failed \"<why>\"`.",
        worker.kind, worker.issue, record.state, phase, results
    );
    if again {
        text.push_str(
            " This reminder repeats until orc-notify has run: run it now, then end your turn.",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn malformed_or_foreign_input_is_allowed() {
        for input in [
            &b""[..],
            b"not json",
            b"[]",
            br#"{"hook_event_name":"SessionStart","cwd":"/"}"#,
            br#"{"hook_event_name":"Stop"}"#,
            br#"{"hook_event_name":"Stop","cwd":"/nonexistent/dir"}"#,
        ] {
            assert_eq!(stop_guard(input, &no_env, None), Decision::Allow);
        }
    }

    #[test]
    fn kill_switch_values() {
        assert!(is_on(Some("1")));
        assert!(is_on(Some(" yes ")));
        assert!(!is_on(Some("0")));
        assert!(!is_on(Some("")));
        assert!(!is_on(None));
        let on = |k: &str| (k == KILL_SWITCH).then(|| "1".to_string());
        let input = br#"{"hook_event_name":"Stop","cwd":"/"}"#;
        assert_eq!(stop_guard(input, &on, None), Decision::Allow);
    }

    #[test]
    fn block_output_is_one_json_object() {
        let d = Decision::Block {
            reason: "say \"hi\"\nnow".to_string(),
        };
        let out = d.output().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(v["decision"], "block");
        assert_eq!(v["reason"], "say \"hi\"\nnow");
        assert_eq!(Decision::Allow.output(), None);
    }
}
