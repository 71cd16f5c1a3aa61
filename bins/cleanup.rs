//! orc-cleanup: reap a worker.

mod common;

use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cleanup::{self, Options};
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::exit;
use orc_kernel::ids::{Issue, Kind};

const EXAMPLES: &str =
    "  orc-cleanup 42                 # stop it if it runs, remove everything but the log
  orc-cleanup --keep-worktree 42 # keep the worktree and branch for a person to look at
  orc-cleanup --force 42         # also discard uncommitted changes and unmerged commits
                                 # (each tip is logged first: git branch <name> <tip> recovers it)";

/// Stop the worker if it runs; remove its worktree, branch (never the
/// base), trust entry and proc directory; release the issue lock. The log
/// is kept under sessions/<s>/logs/. Nothing is deleted on anyone's word: a
/// branch goes only when its tip is reachable from the base (local or
/// upstream) or another ref, or is the head of a pull request GitHub
/// reports merged; otherwise it is kept and the exit status is 7. A
/// worktree with uncommitted changes or commits on no branch refuses the
/// cleanup (exit 7, nothing changed). --force discards them, after writing
/// each tip to the worker's log and the event stream. A branch orc did not
/// create is never deleted. Running it twice is fine; it works when the
/// worktree is already gone.
#[derive(Parser)]
#[command(name = "orc-cleanup", version, after_long_help = after_help(EXAMPLES, &[]))]
struct Cli {
    /// The issue number (judged by orc, so a bad one gets orc's error).
    issue: String,
    /// Keep the worktree and its branch.
    #[arg(long)]
    keep_worktree: bool,
    /// Discard uncommitted changes, commits on no branch and unmerged
    /// branches (their tips logged first); clean up a worker whose record
    /// cannot be read.
    #[arg(long)]
    force: bool,
    /// worker or reviewer.
    #[arg(long, default_value = "worker")]
    kind: Kind,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-cleanup") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-cleanup", || {
        let issue = Issue::parse(&cli.issue)?;
        let ctx = Context::orchestrator(None)?;
        let opts = Options {
            keep_worktree: cli.keep_worktree,
            force: cli.force,
        };
        let done = cleanup::cleanup(&ctx, cli.kind, issue, opts)?;
        if cli.json {
            cli::out(&serde_json::to_string(&done).unwrap_or_default())?;
        } else {
            for branch in &done.kept_branches {
                eprintln!(
                    "orc-cleanup: kept branch {branch}: it has commits found nowhere else (--force deletes it)"
                );
            }
            for branch in &done.foreign_branches {
                eprintln!("orc-cleanup: left branch {branch} alone: orc did not create it");
            }
            for d in &done.discarded {
                let what = d.branch.as_deref().or(d.worktree.as_deref()).unwrap_or("?");
                eprintln!(
                    "orc-cleanup: discarded {what} at {} (git branch <name> {} recovers it)",
                    d.tip, d.tip
                );
            }
            if let Some(log) = &done.log {
                eprintln!("orc-cleanup: log kept at {log}");
            }
        }
        if done.kept_branches.is_empty() {
            Ok(exit::OK)
        } else {
            Ok(exit::WORK_KEPT)
        }
    })
}
