//! orc-ps: the process table of orc's workers.

mod common;

use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::error::Error;
use orc_kernel::exit;
use orc_kernel::ps;

const EXAMPLES: &str = "  orc-ps                 # this repository's session
  orc-ps --all           # every session
  orc-ps --json | jq -r 'select(.state==\"RUNNING\") | .issue'";

/// List workers: issue, kind, state, detail, priority, uptime, pid, alive,
/// worktree, session; with --health also a verdict, and exit 1 when any
/// worker is zombie, blocked or unknown. A record that cannot be read is listed with its error
/// (and a warning), never guessed at.
#[derive(Parser)]
#[command(name = "orc-ps", version, after_long_help = after_help(EXAMPLES, &[]))]
struct Cli {
    /// Every session, not just this repository's.
    #[arg(long)]
    all: bool,
    /// One JSON object per worker, one per line; a running worker's has
    /// `memory_kib`, the memory of its processes (its cgroup's, where the
    /// memory controller is there; else their resident memory).
    #[arg(long)]
    json: bool,
    /// Add each worker's health (healthy, zombie, blocked, unknown); exit 1
    /// when any is not healthy.
    #[arg(long)]
    health: bool,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-ps") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-ps", || {
        let ctx = Context::orchestrator(None)?;
        let rows = ps::rows(&ctx.state, (!cli.all).then_some(&ctx.session), cli.health)?;
        for row in rows.iter().filter(|r| r.error.is_some()) {
            let what = format!("cannot read the record of {} {}", row.kind, row.issue);
            cli::warn(
                "orc-ps",
                &Error::failure(what, row.error.clone().unwrap_or_default()),
            );
        }
        if cli.json {
            for row in &rows {
                cli::out(&serde_json::to_string(row).unwrap_or_default())?;
            }
        } else {
            let cells: Vec<Vec<String>> = rows.iter().map(ps::Row::cells).collect();
            cli::out(&cli::table(&ps::header(cli.health), &cells))?;
        }
        let unhealthy = rows
            .iter()
            .any(|r| r.health.is_some_and(|h| h.is_unhealthy()));
        Ok(if unhealthy { exit::FAILURE } else { exit::OK })
    })
}
