//! orc-spawn: start a supervised worker for an issue.

mod common;

use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::exit;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::spawn::{self, Request};

const EXAMPLES: &str =
    "  orc-spawn 42                         # worker for local or GitHub issue 42
  orc-spawn --priority high --base develop 42
  orc-spawn --repo acme/widgets 42     # GitHub issue of another repository
  orc-spawn --resume 42                # new attempt of a suspended or crashed worker
  orc-spawn --kind reviewer --pr 7 42  # review worker 42's branch in a detached worktree
  ORC_AGENT=custom ORC_AGENT_CMD='my-agent --task {prompt}' orc-spawn 42";

/// Claim the issue lock, fetch the issue, create the worktree and branch,
/// write .orc-task.md and .orc-env, trust the worktree in ~/.claude.json,
/// create the proc directory and start orc-shim with the agent. Prints one
/// JSON object. Any failure undoes everything it created.
#[derive(Parser)]
#[command(name = "orc-spawn", version, after_long_help = after_help(EXAMPLES, &[
    "  ORC_MAX_WORKERS  most running workers in the session (default 5; exit 4 when full)",
    "  ORC_TRACKER      local or github (default: local when .orc/issues/ exists)",
    "  ORC_AGENT        claude, codex, opencode, gemini or custom (default claude)",
    "  ORC_AGENT_CMD    the custom agent's command: {prompt} {prompt_file} {agent} {issue} {worktree}",
    "  ORC_BACKEND      headless, tmux or wezterm (default headless)",
    "  ORC_TMUX_SOCKET  tmux socket name (-L) or path (-S) for the tmux backend",
    "  ORC_BASE         base branch (default: the repository's default branch)",
    "  ORC_REVIEW_MAX_ROUNDS  change requests before a person decides (default 2)"]))]
struct Cli {
    /// The issue number (judged by orc, so a bad one gets orc's error).
    issue: String,
    /// worker or reviewer.
    #[arg(long)]
    kind: Option<Kind>,
    /// critical, high, normal, low, or a nice value 0-19.
    #[arg(long)]
    priority: Option<String>,
    /// The branch to start from.
    #[arg(long)]
    base: Option<String>,
    /// OWNER/REPO of the GitHub issue.
    #[arg(long)]
    repo: Option<String>,
    /// Start a new attempt of a suspended or ended worker in its worktree:
    /// the worktree is trusted again, the agent is told it resumes and why
    /// (prompt and task file), and a missing checkpoint is warned about.
    #[arg(long)]
    resume: bool,
    /// The agent's prompt (default: the built-in worker prompt).
    #[arg(long)]
    prompt: Option<String>,
    /// The agent CLI (default ORC_AGENT).
    #[arg(long)]
    agent: Option<String>,
    /// The tracker (default ORC_TRACKER).
    #[arg(long)]
    tracker: Option<String>,
    /// The terminal backend (default ORC_BACKEND).
    #[arg(long)]
    backend: Option<String>,
    /// With --kind reviewer: the pull request under review.
    #[arg(long)]
    pr: Option<u32>,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-spawn") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-spawn", || {
        let issue = Issue::parse(&cli.issue)?;
        let ctx = Context::orchestrator(None)?;
        let req = Request {
            issue: Some(issue),
            kind: cli.kind,
            priority: cli.priority,
            base: cli.base,
            repo_slug: cli.repo,
            resume: cli.resume,
            prompt: cli.prompt,
            agent: cli.agent,
            tracker: cli.tracker,
            backend: cli.backend,
            pr: cli.pr,
        };
        let spawned = spawn::spawn(&ctx, &req)?;
        for w in &spawned.warnings {
            eprintln!("orc-spawn: warning: {w}");
        }
        cli::out(&serde_json::to_string(&spawned).unwrap_or_default())?;
        Ok(exit::OK)
    })
}
