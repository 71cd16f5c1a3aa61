//! orc-state: a worker reports its phase, or writes its checkpoint.

mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orc_kernel::cli::{self, WORKER_ENV, after_help};
use orc_kernel::context::WorkerContext;
use orc_kernel::error::Error;
use orc_kernel::exit;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::record::State;
use orc_kernel::worker::{self, Report};

const EXAMPLES: &str = "  orc-state RUNNING phase1:implement
  orc-state WAITING ci || exit   # exit 3: a signal is pending, act on it
  orc-state checkpoint --phase 2 --done 'parser written' --next 'tests'";

/// Report a worker's phase (first checking for a pending signal), or write
/// its checkpoint. Prints the pending signal and exits 3 when there is one.
#[derive(Parser)]
#[command(name = "orc-state", version, args_conflicts_with_subcommands = true,
          after_long_help = after_help(EXAMPLES, &[WORKER_ENV]))]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// RUNNING or WAITING.
    state: Option<String>,
    /// What the worker is doing: one line of text (words are joined).
    detail: Vec<String>,
    /// The issue (default: ORC_ISSUE, else .orc-env).
    #[arg(long, global = true)]
    issue: Option<Issue>,
    /// worker or reviewer (default: ORC_KIND, else worker).
    #[arg(long, global = true)]
    kind: Option<Kind>,
    /// Print the record (or the pending signal) as JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the checkpoint a resumed worker reads.
    Checkpoint {
        /// The phase reached.
        #[arg(long)]
        phase: String,
        /// What is done.
        #[arg(long, default_value = "")]
        done: String,
        /// What comes next.
        #[arg(long, default_value = "")]
        next: String,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-state") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-state", || {
        let w = WorkerContext::resolve(cli.issue, cli.kind)?;
        if let Some(Cmd::Checkpoint { phase, done, next }) = &cli.cmd {
            let cp = worker::checkpoint(&w, phase, done, next)?;
            if cli.json {
                cli::out(&serde_json::to_string(&cp).unwrap_or_default())?;
            }
            return Ok(exit::OK);
        }
        let state = cli.state.as_deref().ok_or_else(|| {
            Error::usage("missing STATE", "orc-state").hint("orc-state RUNNING|WAITING DETAIL")
        })?;
        let state: State = state.parse()?;
        match worker::report(&w, state, &cli.detail.join(" "))? {
            Report::Written(record) => {
                if cli.json {
                    cli::out(&record.to_json())?;
                }
                Ok(exit::OK)
            }
            Report::SignalPending(pending) => {
                cli::out(&if cli.json {
                    pending.to_json()
                } else {
                    pending.signal.to_string()
                })?;
                Ok(exit::SIGNAL_PENDING)
            }
        }
    })
}
