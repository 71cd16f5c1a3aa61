//! What a launch is asked for, and what it answers.

use serde::Serialize;

use crate::ids::{Issue, Kind};

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The issue.
    pub issue: Option<Issue>,
    /// worker (default) or reviewer.
    pub kind: Option<Kind>,
    /// critical, high, normal (default), low or 0-19.
    pub priority: Option<String>,
    /// The base branch (default `ORC_BASE`, else the repository's default).
    pub base: Option<String>,
    /// `OWNER/REPO` for the GitHub tracker.
    pub repo_slug: Option<String>,
    /// Resume a suspended or ended worker in its worktree.
    pub resume: bool,
    /// The prompt (default: the built-in worker prompt).
    pub prompt: Option<String>,
    /// The agent CLI (default `ORC_AGENT`).
    pub agent: Option<String>,
    /// The tracker (default `ORC_TRACKER`, else local when `.orc/issues/` exists).
    pub tracker: Option<String>,
    /// The backend (default `ORC_BACKEND`).
    pub backend: Option<String>,
    /// Reviewers: the pull request under review.
    pub pr: Option<u32>,
}

/// What `orc-spawn` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Spawned {
    /// The issue.
    pub issue: Issue,
    /// worker or reviewer.
    pub kind: Kind,
    /// The session.
    pub session: String,
    /// The worktree.
    pub worktree: String,
    /// The branch.
    pub branch: String,
    /// The base branch.
    pub base: String,
    /// The agent's pid (its process group id).
    pub pid: Option<i32>,
    /// The shim's pid.
    pub shim_pid: Option<i32>,
    /// The wake FIFO.
    pub wake: String,
    /// The attempt number.
    pub attempt: u32,
    /// The agent CLI.
    pub agent: String,
    /// The Slurm job that runs the agent (backend `slurm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
    /// What the caller should know but that did not stop the launch (a
    /// resume without a checkpoint, ...); `orc-spawn` prints each on stderr.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}
