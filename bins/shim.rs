//! orc-shim: the supervisor of one agent (internal; started by orc-spawn).

mod common;

use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::error::Error;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::shim::{self, Options, Place};

/// Supervise one agent process: hold the issue lock, run the agent in its
/// own process group with the worker's priority, log its output, enforce
/// ORC_WORKER_TIMEOUT and signal escalation, reap it, and record `crashed`
/// when it ends without a result. Internal: orc-spawn starts it.
#[derive(Parser)]
#[command(name = "orc-shim", version, after_long_help = after_help("", &[
    "  ORC_WORKER_TIMEOUT  seconds before the agent is terminated (default 3600)",
    "  ORC_TERM_GRACE      seconds between TERM and KILL (default 120)",
    "  ORC_SLURM_ARGS      srun options for --slurm, e.g. --partition=debug --mem=2G"]))]
struct Cli {
    /// The worker's session.
    #[arg(long)]
    session: String,
    /// The worker's issue.
    #[arg(long)]
    issue: Issue,
    /// worker or reviewer.
    #[arg(long, default_value = "worker")]
    kind: Kind,
    /// Fork into the background, in a new session, and return at once.
    #[arg(long)]
    detach: bool,
    /// The agent is attached to this terminal (tmux, wezterm) instead of the log.
    #[arg(long)]
    interactive: bool,
    /// Run the agent in a Slurm job: the child is `srun`, which runs
    /// `orc-shim --node` on the node Slurm picks (ORC_SLURM_ARGS).
    #[arg(long, conflicts_with_all = ["interactive", "node"])]
    slurm: bool,
    /// The node side of a Slurm job (started by `srun`, never by hand).
    #[arg(long, conflicts_with_all = ["interactive", "detach"])]
    node: bool,
    /// Feed the worker's prompt file to the agent's standard input.
    #[arg(long)]
    stdin_prompt: bool,
    /// The agent's command line.
    #[arg(last = true, required = true)]
    agent: Vec<String>,
}

fn main() -> ExitCode {
    // Nothing of the caller's but stdin, stdout and stderr: see the doc.
    orc_kernel::supervise::close_inherited_fds();
    let cli = match common::parse::<Cli>("orc-shim") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-shim", || {
        if cli.detach && orc_kernel::supervise::detach()? {
            return Ok(0);
        }
        let ctx = Context::with_session(&cli.session)?;
        let (program, args) = cli
            .agent
            .split_first()
            .ok_or_else(|| Error::usage("no agent command", "--"))?;
        let opts = Options {
            kind: cli.kind,
            issue: cli.issue,
            program: program.clone(),
            args: args.to_vec(),
            interactive: cli.interactive,
            place: if cli.slurm {
                Place::Submit
            } else if cli.node {
                Place::Node
            } else {
                Place::Local
            },
            stdin_prompt: cli.stdin_prompt,
        };
        let code = shim::run(&ctx, &opts)?;
        Ok(u8::try_from(code).unwrap_or(1))
    })
}
