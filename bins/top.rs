//! orc-top: the fleet at a glance, and in hand.

#[path = "top/app.rs"]
mod app;
mod common;
#[path = "top/draw.rs"]
mod draw;
#[path = "top/keys.rs"]
mod keys;
#[path = "top/term.rs"]
mod term;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::error::Error;
use orc_kernel::exit;
use orc_kernel::top::fleet::Scope;

const EXAMPLES: &str = "  orc-top            # this repository's session
  orc-top --all      # every session
  NO_COLOR=1 orc-top # no colour; states read as words anyway";

/// A live view of orc's workers and reviewers (issue, title, kind, state
/// and phase, health, age, attempt, priority, memory, last log line), the
/// dispatcher's queue, the schedules and the session's events, updated as
/// the state directory changes. Keys act on the selected worker through
/// the same calls as orc-ctl and orc-cleanup; `?` lists them, destructive
/// ones ask first. Needs a terminal.
#[derive(Parser)]
#[command(name = "orc-top", version, after_long_help = after_help(EXAMPLES, &[
    "  NO_COLOR           set (to anything) for no colour",
    "  PAGER              the pager of the log key (default less)",
    "  ORC_MAX_WORKERS    the capacity shown in the header",
    "  ORC_TMUX_SOCKET    the tmux server of the attach key",
]))]
struct Cli {
    /// Every session, not just this repository's.
    #[arg(long)]
    all: bool,
    /// Show this session instead of this repository's.
    #[arg(long, conflicts_with = "all")]
    session: Option<String>,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-top") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-top", || {
        if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
            return Err(Error::usage("orc-top needs a terminal", "stdin/stdout")
                .hint("for a program, use orc-ps --json or orc-watch --follow"));
        }
        let ctx = match &cli.session {
            Some(name) => Context::with_session(name)?,
            None => Context::orchestrator(None)?,
        };
        let scope = if cli.all {
            Scope::All
        } else {
            Scope::One(ctx.session.clone())
        };
        let capacity = (!cli.all)
            .then(|| ctx.config.number("ORC_MAX_WORKERS").ok())
            .flatten();
        let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        app::App::new(ctx.state.clone(), scope, capacity, colour)?.run()?;
        Ok(exit::OK)
    })
}
