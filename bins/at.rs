//! orc-at: one-shot schedules on atd (Linux) or launchd (macOS).

mod common;
mod schedule_args;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orc_kernel::cli::{self, after_help};
use orc_kernel::schedule::front;

const EXAMPLES: &str =
    "  orc-at add --at 2026-12-01T09:00 --label release    # local time, year required
  orc-at add --at 'now + 2 hours' --id retry --prompt 'retry the flaky CI job'
  orc-at add --at 'now + 1 day' --repo ~/src/app -- make report
  orc-at list
  orc-at rm retry";

const ENV: &str = "  ORC_SCHED_BACKEND  atd or launchd (default: launchd on macOS, else atd)
  ORC_AGENT       the agent a --prompt schedule runs (ORC_AGENT_CMD for custom)
  TZ              the time zone of --at times (default: the system's)
  ORC_NOW         an RFC 3339 time that replaces the clock (tests only)";

/// One-shot schedules: a registry entry, a runner script and an at job (or
/// a LaunchAgent that unloads itself) for each. WHEN is YYYY-MM-DDTHH:MM in
/// local time or `now + N minutes|hours|days`; past times are refused.
#[derive(Parser)]
#[command(name = "orc-at", version, after_long_help = after_help(EXAMPLES, &[ENV]))]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// This tool, for the shared schedule front end.
const TOOL: front::Tool = front::Tool {
    name: "orc-at",
    recurring: false,
};

#[derive(Subcommand)]
enum Cmd {
    /// Register a one-shot schedule; prints its entry.
    Add {
        /// When: YYYY-MM-DDTHH:MM (local) or "now + N minutes|hours|days".
        #[arg(long)]
        at: String,
        #[command(flatten)]
        what: schedule_args::What,
    },
    /// List one-shot schedules and drift from the OS scheduler.
    List {
        /// One JSON object per schedule, one per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule: its OS entry, runner and registry entry (the log stays).
    Rm {
        /// The schedule's id.
        id: String,
    },
    /// Run a schedule now; exits with its command's status.
    Run {
        /// The schedule's id.
        id: String,
        /// Started by the OS scheduler (what runner scripts pass).
        #[arg(long, hide = true)]
        scheduled: bool,
        /// Started by the runner for `run ID` by hand (runner scripts pass it).
        #[arg(long, hide = true, conflicts_with = "scheduled")]
        by_hand: bool,
        /// Print the outcome as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a schedule's runner again and reinstall its OS scheduler entry
    /// (what `list` calls drifted).
    Repair {
        /// The schedule's id.
        id: String,
        /// Print the repaired entry as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-at") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-at", || match cli.cmd {
        Cmd::Add { at, what } => front::add(TOOL, at, what.into()),
        Cmd::List { json } => front::list(TOOL, json),
        Cmd::Rm { id } => front::remove(TOOL, &id),
        Cmd::Run {
            id,
            scheduled,
            by_hand,
            json,
        } => {
            let start = match (scheduled, by_hand) {
                (true, _) => front::Start::Scheduler,
                (false, true) => front::Start::RunnerByHand,
                (false, false) => front::Start::Person,
            };
            front::run_now(TOOL, &id, start, json)
        }
        Cmd::Repair { id, json } => front::repair(TOOL, &id, json),
    })
}
