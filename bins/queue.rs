//! orc-queue: the run queue of this session, and orders for it.

mod common;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::dispatch::orders;
use orc_kernel::error::{Error, Result};
use orc_kernel::exit;
use orc_kernel::ids::Issue;
use orc_kernel::queue::inbox::Order;
use orc_kernel::queue::show;

const EXAMPLES: &str =
    "  orc-queue                      # position, priority, state and reason of every issue
  orc-queue --json | jq -r 'select(.state==\"gave-up\") | .issue'
  orc-queue retry 12             # try again now, attempt count reset
  orc-queue requeue 12           # back in the queue after gave-up, unverified or escalated
  orc-queue prio 12 critical     # run it before the others
  orc-queue hold 12              # do not start it; `release 12` undoes it
  orc-queue skip 12              # leave it out";

/// Show the queue orc-dispatch keeps in this session (queue.json): each
/// issue's position, priority (raised when an urgent issue waits for it),
/// state (queued, held, running, waiting-retry until T, waiting-ci,
/// in-review, landed, gave-up, escalated, blocked, skipped) and reason. A
/// table on a terminal, JSON lines otherwise; the last state when no
/// dispatcher runs. Orders go to the running dispatcher (applied at its
/// next step, within a second) or, when none runs, to queue.json for the
/// next one; every order is in the event stream.
#[derive(Parser)]
#[command(name = "orc-queue", version, after_long_help = after_help(EXAMPLES, &[
    "Exit status: 0; 1 when an order is refused (the reason is printed) or the",
    "dispatcher does not answer within 10 s; 2 on bad input."]))]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// JSON: one object per issue (or the order's reply), even on a terminal.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show the queue (the default).
    Show,
    /// Try the issue again now, with its attempt count reset.
    Retry {
        /// The issue.
        issue: Issue,
    },
    /// Leave the issue out of the queue.
    Skip {
        /// The issue.
        issue: Issue,
    },
    /// Put an issue that gave up, is unverified or escalated back in the queue.
    Requeue {
        /// The issue.
        issue: Issue,
    },
    /// Run the issue at LEVEL: critical, high, normal, low or a nice value 0-19.
    Prio {
        /// The issue.
        issue: Issue,
        /// The priority.
        level: String,
    },
    /// Do not start the issue until it is released.
    Hold {
        /// The issue.
        issue: Issue,
    },
    /// Undo a hold.
    Release {
        /// The issue.
        issue: Issue,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-queue") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-queue", || {
        let ctx = Context::orchestrator(None)?;
        let (issue, order) = match cli.cmd {
            None | Some(Cmd::Show) => return show_queue(&ctx, cli.json),
            Some(Cmd::Retry { issue }) => (issue, Order::Retry),
            Some(Cmd::Skip { issue }) => (issue, Order::Skip),
            Some(Cmd::Requeue { issue }) => (issue, Order::Requeue),
            Some(Cmd::Prio { issue, level }) => (issue, Order::Prio { level }),
            Some(Cmd::Hold { issue }) => (issue, Order::Hold),
            Some(Cmd::Release { issue }) => (issue, Order::Release),
        };
        let reply = orders::give(&ctx.session, issue, order)?;
        if cli.json {
            cli::out(&serde_json::json!({"ok": reply.ok, "detail": reply.detail}).to_string())?;
        } else if reply.ok {
            cli::out(&reply.detail)?;
        }
        if !reply.ok {
            return Err(Error::failure(reply.detail, format!("#{issue}")));
        }
        Ok(exit::OK)
    })
}

fn show_queue(ctx: &Context, json: bool) -> Result<u8> {
    let Some(file) = show::current(&ctx.session)? else {
        if !json {
            eprintln!(
                "orc-queue: no queue in session {} yet; `orc-dispatch --label L` starts one",
                ctx.session.name()
            );
        }
        return Ok(exit::OK);
    };
    if json || !cli::stdout_is_tty() {
        for e in &file.issues {
            cli::out(&serde_json::to_string(e).unwrap_or_default())?;
        }
        return Ok(exit::OK);
    }
    cli::out(&show::heading(&file))?;
    let rows: Vec<Vec<String>> = file.issues.iter().map(show::row).collect();
    cli::out(&cli::table(&show::HEADER, &rows))?;
    Ok(exit::OK)
}
