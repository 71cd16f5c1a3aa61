//! orc-cron: recurring schedules on crontab (Linux) or launchd (macOS).

mod common;
mod schedule_args;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orc_kernel::cli::{self, after_help};
use orc_kernel::error::Result;
use orc_kernel::exit;
use orc_kernel::schedule::{self, CronExpr, front};

const EXAMPLES: &str = "  orc-cron add --schedule '0 9 * * 1-5' --label ready   # weekdays at 9:00
  orc-cron add --schedule '*/30 * * * *' --id triage --prompt 'triage new issues'
  orc-cron add --schedule '0 3 * * sun' --repo ~/src/app -- make nightly
  orc-cron list
  orc-cron next '0 9 1 * mon' -n 5      # the 1st of the month OR any Monday
  orc-cron run triage                   # once, now, as the scheduler would
  orc-cron repair triage                # reinstall a drifted entry
  orc-cron rm triage";

const ENV: &str =
    "  ORC_SCHED_BACKEND  crontab or launchd (default: launchd on macOS, else crontab)
  ORC_AGENT       the agent a --prompt schedule runs (ORC_AGENT_CMD for custom)
  TZ              the time zone of expressions and fire times (default: the system's)
  ORC_NOW         an RFC 3339 time that replaces the clock (tests only)";

/// Recurring schedules: a registry entry, a runner script and a crontab
/// line (or a LaunchAgent) for each. Expressions have five fields: minute
/// hour day-of-month month day-of-week; when both day fields are
/// restricted, a day matching either one fires.
#[derive(Parser)]
#[command(name = "orc-cron", version, after_long_help = after_help(EXAMPLES, &[ENV]))]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// This tool, for the shared schedule front end.
const TOOL: front::Tool = front::Tool {
    name: "orc-cron",
    recurring: true,
};

#[derive(Subcommand)]
enum Cmd {
    /// Register a schedule; prints its entry and next fire time.
    Add {
        /// The cron expression, e.g. "0 9 * * 1-5".
        #[arg(long)]
        schedule: String,
        #[command(flatten)]
        what: schedule_args::What,
    },
    /// List schedules, their next fire time, and drift from the OS scheduler.
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
    /// Run a schedule once, now, through its runner in the empty environment
    /// cron or atd gives it; exits with its command's status.
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
    /// Print the next fire times of an expression, in local time.
    Next {
        /// The cron expression.
        expr: String,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 5)]
        count: usize,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-cron") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-cron", || match cli.cmd {
        Cmd::Add { schedule, what } => front::add(TOOL, schedule, what.into()),
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
        Cmd::Next { expr, count, json } => next(&expr, count, json),
    })
}

fn next(expr: &str, count: usize, json: bool) -> Result<u8> {
    let expr = CronExpr::parse(expr)?;
    let now = schedule::local_now()?;
    let times: Vec<String> = expr
        .upcoming(&now, count)
        .iter()
        .map(schedule::format_local)
        .collect();
    if json {
        let doc = serde_json::json!({ "expression": expr.text(), "next": times });
        cli::out(&doc.to_string())?;
    } else {
        for t in &times {
            cli::out(t)?;
        }
    }
    Ok(exit::OK)
}
