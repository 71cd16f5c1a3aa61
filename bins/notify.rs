//! orc-notify: the worker's exit(). Writes the terminal record, settles the
//! issue lock, rings the wake FIFO without blocking, and logs.

mod common;

use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, WORKER_ENV, after_help};
use orc_kernel::context::WorkerContext;
use orc_kernel::exit;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::worker;

const EXAMPLES: &str = "  orc-notify ci-passed 'PR #12'
  orc-notify failed 'tests do not build on this branch'
  orc-notify suspended 'checkpoint at phase 2'
  orc-notify --kind reviewer approved";

/// End this worker with RESULT. Worker results: merged, ci-passed, failed,
/// cancelled, suspended, throttled. Reviewer results: approved,
/// changes-requested, failed. The lock is kept (handed to the session) on
/// ci-passed, approved, changes-requested and suspended, released otherwise.
#[derive(Parser)]
#[command(name = "orc-notify", version, after_long_help = after_help(EXAMPLES, &[WORKER_ENV]))]
struct Cli {
    /// The result.
    result: String,
    /// One line on how it ended (words are joined).
    detail: Vec<String>,
    /// The issue (default: ORC_ISSUE, else .orc-env).
    #[arg(long)]
    issue: Option<Issue>,
    /// worker or reviewer (default: ORC_KIND, else worker).
    #[arg(long)]
    kind: Option<Kind>,
    /// Print the final record as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-notify") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-notify", || {
        let w = WorkerContext::resolve(cli.issue, cli.kind)?;
        let record = worker::notify(&w, &cli.result, &cli.detail.join(" "))?;
        if cli.json {
            cli::out(&record.to_json())?;
        }
        Ok(exit::OK)
    })
}
