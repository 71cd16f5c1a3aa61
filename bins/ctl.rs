//! orc-ctl: control workers across sessions, like systemctl.

mod common;

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::ctl;
use orc_kernel::error::Result;
use orc_kernel::exit;
use orc_kernel::gc;
use orc_kernel::ids::Kind;
use orc_kernel::target::{self, Target};

const EXAMPLES: &str = "  orc-ctl suspend 42                 # checkpoint and stop; resumable
  orc-ctl resume 42                  # new attempt in the same worktree
  orc-ctl term acme/widgets:42       # by repository
  orc-ctl kill --session shop-1a2b3c4d 42
  orc-ctl nice 42 low
  orc-ctl recover 42                 # mark a worker whose shim died as crashed
  orc-ctl gc --dry-run
  orc-ctl logs -f 42
  orc-ctl env";

/// Control workers in any session. TARGET is N, owner/repo:N, or N with
/// --session ID; a target that matches several workers is an error that
/// lists them.
#[derive(Parser)]
#[command(name = "orc-ctl", version, after_long_help = after_help(EXAMPLES, &[]))]
struct Cli {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Args)]
struct Which {
    /// N or owner/repo:N.
    target: String,
    /// The session the worker belongs to.
    #[arg(long)]
    session: Option<String>,
    /// worker or reviewer.
    #[arg(long, default_value = "worker")]
    kind: Kind,
}

#[derive(Subcommand)]
enum Verb {
    /// Ask a READY/RUNNING/WAITING worker to checkpoint and stop.
    Suspend(Which),
    /// Start a new attempt of a suspended or ended worker in its worktree.
    Resume {
        #[command(flatten)]
        which: Which,
        /// The prompt for the new attempt (default: points at the checkpoint).
        #[arg(long)]
        prompt: Option<String>,
    },
    /// Ask a running worker to stop (escalated after ORC_TERM_GRACE).
    Term(Which),
    /// Stop a worker now; records `killed` unless it already ended.
    Kill(Which),
    /// Change a running worker's priority: critical, high, normal, low or 0-19.
    Nice {
        #[command(flatten)]
        which: Which,
        /// The new priority.
        level: String,
    },
    /// Mark a RUNNING/WAITING worker whose shim is verifiably dead as crashed.
    Recover(Which),
    /// Remove what is verifiably stale from the state directory.
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// One JSON object per removal.
        #[arg(long)]
        json: bool,
    },
    /// Print a worker's log.
    Logs {
        #[command(flatten)]
        which: Which,
        /// Keep printing until the worker ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Print the resolved configuration with the origin of every value.
    Env {
        /// One JSON object per variable.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-ctl") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-ctl", || run(cli.verb))
}

fn find(ctx: &Context, w: &Which) -> Result<Target> {
    target::resolve(&ctx.state, &w.target, w.session.as_deref(), w.kind)
}

fn run(verb: Verb) -> Result<u8> {
    let ctx = Context::orchestrator(None)?;
    match verb {
        Verb::Suspend(w) => print_json(&ctl::suspend(&find(&ctx, &w)?)?)?,
        Verb::Term(w) => print_json(&ctl::term(&find(&ctx, &w)?)?)?,
        Verb::Kill(w) => match ctl::kill(&find(&ctx, &w)?)? {
            Some(p) => print_json(&p)?,
            None => eprintln!(
                "orc-ctl: {} {} had already ended; its record is kept",
                w.kind, w.target
            ),
        },
        Verb::Resume { which, prompt } => {
            let spawned = ctl::resume(&find(&ctx, &which)?, prompt)?;
            for w in &spawned.warnings {
                eprintln!("orc-ctl: warning: {w}");
            }
            print_json(&spawned)?
        }
        Verb::Nice { which, level } => print_json(&ctl::nice(&find(&ctx, &which)?, &level)?)?,
        Verb::Recover(w) => print_json(&ctl::recover(&find(&ctx, &w)?)?)?,
        Verb::Gc { dry_run, json } => {
            for r in gc::gc(&ctx.state, dry_run)? {
                if json {
                    print_json(&r)?;
                } else {
                    let verb = if dry_run { "would remove" } else { "removed" };
                    cli::out(&format!("{verb} {} {} ({})", r.what, r.path, r.why))?;
                }
            }
        }
        Verb::Logs { which, follow } => {
            let t = find(&ctx, &which)?;
            ctl::logs(&t.proc, follow, |bytes| {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|()| out.flush())
                    .map_err(|e| orc_kernel::Error::io("write", std::path::Path::new("stdout"), e))
            })?;
        }
        Verb::Env { json } => {
            let rows = ctl::env(&ctx);
            if json {
                for (k, v, o) in rows {
                    cli::out(&serde_json::json!({"name": k, "value": v, "origin": o}).to_string())?;
                }
            } else {
                let cells: Vec<Vec<String>> =
                    rows.into_iter().map(|(k, v, o)| vec![k, v, o]).collect();
                cli::out(&cli::table(&["NAME", "VALUE", "ORIGIN"], &cells))?;
                cli::out(&format!("profile: {}", ctx.config.profile()))?;
            }
        }
    }
    Ok(exit::OK)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    cli::out(&serde_json::to_string(value).unwrap_or_default())
}
