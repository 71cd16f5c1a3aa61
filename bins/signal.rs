//! orc-signal: send a cooperative signal to a worker, or (worker side)
//! check for and consume one.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, WORKER_ENV, after_help};
use orc_kernel::context::{Context, WorkerContext};
use orc_kernel::error::{Error, Result};
use orc_kernel::exit;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::signal::Signal;
use orc_kernel::worker;

const EXAMPLES: &str =
    "  orc-signal 42 TERM        # ask worker 42 to stop; escalated after ORC_TERM_GRACE
  orc-signal 42 SUSPEND     # ask it to checkpoint and stop, resumable
  orc-signal 42 KILL        # stop it now
  orc-signal check          # worker side: print and consume a pending signal (exit 1 if none)";

/// Orchestrator: `orc-signal ISSUE TERM|SUSPEND|KILL`. TERM and SUSPEND are
/// cooperative (the worker sees them at its next `orc-state`); without a
/// result within ORC_TERM_GRACE seconds the shim escalates to SIGTERM, then
/// SIGKILL of the process group. KILL stops it now. A signal weaker than
/// the one pending (SUSPEND after TERM, TERM after KILL) is not applied
/// and exits 6; the same one again is a no-op.
/// Worker: `orc-signal check` prints and consumes a pending signal, or exits 1.
#[derive(Parser)]
#[command(name = "orc-signal", version, after_long_help = after_help(EXAMPLES, &[WORKER_ENV,
    "  ORC_TERM_GRACE  seconds between a TERM/SUSPEND request and escalation (default 120)"]))]
struct Cli {
    /// `check`, or the issue number.
    target: String,
    /// TERM, SUSPEND or KILL (not with `check`).
    signal: Option<String>,
    /// worker or reviewer (default worker; on the worker side ORC_KIND).
    #[arg(long)]
    kind: Option<Kind>,
    /// With `check`: the issue (default: ORC_ISSUE, else .orc-env).
    #[arg(long)]
    issue: Option<Issue>,
    /// The repository (default: the one containing the current directory).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Print the signal as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-signal") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-signal", || {
        if cli.target == "check" {
            check(&cli)
        } else {
            send(&cli)
        }
    })
}

fn check(cli: &Cli) -> Result<u8> {
    if let Some(extra) = &cli.signal {
        return Err(Error::usage("`check` takes no signal", extra.clone()));
    }
    let w = WorkerContext::resolve(cli.issue, cli.kind)?;
    match worker::consume_signal(&w)? {
        Some(p) => {
            cli::out(&if cli.json {
                p.to_json()
            } else {
                p.signal.to_string()
            })?;
            Ok(exit::OK)
        }
        None => Ok(exit::FAILURE),
    }
}

fn send(cli: &Cli) -> Result<u8> {
    let issue = Issue::parse(&cli.target)?;
    let sig: Signal = cli
        .signal
        .as_deref()
        .ok_or_else(|| {
            Error::usage("missing signal", cli.target.clone())
                .hint("orc-signal ISSUE TERM|SUSPEND|KILL")
        })?
        .parse()?;
    let ctx = Context::orchestrator(cli.repo.as_deref())?;
    let (proc, _) = worker::find(&ctx, cli.kind.unwrap_or(Kind::Worker), issue)?;
    let pending = worker::send_signal(&ctx, &proc, sig)?;
    if cli.json {
        cli::out(&pending.to_json())?;
    }
    Ok(exit::OK)
}
