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
use orc_kernel::service;
use orc_kernel::target::{self, Target};

const EXAMPLES: &str = "  orc-ctl suspend 42                 # checkpoint and stop; resumable
  orc-ctl resume 42                  # new attempt in the same worktree
  orc-ctl term acme/widgets:42       # by repository
  orc-ctl kill --session shop-1a2b3c4d 42
  orc-ctl nice 42 low
  orc-ctl recover 42                 # mark a worker whose shim died as crashed
  orc-ctl gc --dry-run
  orc-ctl logs -f 42
  orc-ctl env
  orc-ctl service install --label ready --max 3   # orc-dispatch --follow at login
  orc-ctl service status
  orc-ctl service uninstall";

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

/// The service verbs.
#[derive(Subcommand)]
enum Service {
    /// Write and enable a systemd user unit (launchd agent on macOS) that
    /// runs `orc-dispatch --label L --follow` in the repository at login,
    /// with the settings resolved now; on start it adopts what runs and
    /// retries what a reboot interrupted.
    Install {
        #[command(flatten)]
        at: ServiceAt,
        /// The label of the issues to dispatch.
        #[arg(long, default_value = "ready")]
        label: String,
        /// At most N workers at once.
        #[arg(long, value_name = "N")]
        max: Option<u64>,
    },
    /// Whether the service is installed and running, and its command.
    Status {
        #[command(flatten)]
        at: ServiceAt,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop (its workers keep running), disable and remove the service.
    Uninstall {
        #[command(flatten)]
        at: ServiceAt,
    },
}

#[derive(Args)]
struct ServiceAt {
    /// The repository (default: the current one).
    #[arg(long, value_name = "PATH")]
    repo: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Verb {
    /// The run queue as a service that survives a reboot.
    #[command(subcommand)]
    Service(Service),
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
    /// Remove what is verifiably stale from the state directory, record
    /// `crashed` for workers whose shim is verifiably dead, list what is
    /// kept on doubt, and end with a summary (removed N, kept M, ...).
    Gc {
        /// Only say what would be done; write nothing at all.
        #[arg(long)]
        dry_run: bool,
        /// One JSON object per item ({"action","what","path","why"}); the
        /// summary goes to stderr.
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

fn service(verb: Service) -> Result<u8> {
    let opts = |at: ServiceAt| service::Options {
        repo: at.repo,
        ..service::Options::default()
    };
    match verb {
        Service::Install { at, label, max } => {
            let status = service::install(&service::Options {
                label,
                max,
                ..opts(at)
            })?;
            cli::out(&format!(
                "installed {} ({}): {}",
                status.name,
                status.path.display(),
                status.command.join(" ")
            ))?;
        }
        Service::Status { at, json } => {
            let s = service::status(&opts(at))?;
            if json {
                print_json(&s)?;
            } else if !s.installed {
                cli::out(&format!("{}: not installed", s.name))?;
            } else {
                let pid = s
                    .dispatcher_pid
                    .map_or("no dispatcher runs".to_string(), |p| {
                        format!("orc-dispatch pid {p}")
                    });
                cli::out(&format!(
                    "{}: {} ({}); {pid}; log {}",
                    s.name,
                    s.active.as_deref().unwrap_or("unknown"),
                    s.path.display(),
                    s.log
                ))?;
            }
        }
        Service::Uninstall { at } => {
            let repo = at.repo.clone();
            let name = service::status(&opts(ServiceAt { repo }))?.name;
            if service::uninstall(&opts(at))? {
                cli::out(&format!("uninstalled {name}; its workers keep running"))?;
            } else {
                cli::out(&format!("{name}: not installed"))?;
            }
        }
    }
    Ok(exit::OK)
}

fn run(verb: Verb) -> Result<u8> {
    let verb = match verb {
        Verb::Service(s) => return service(s),
        other => other,
    };
    let ctx = Context::orchestrator(None)?;
    match verb {
        Verb::Service(_) => {}
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
            let report = gc::gc(&ctx.state, dry_run)?;
            for r in &report.items {
                if json {
                    print_json(r)?;
                } else {
                    cli::out(&format!(
                        "{} {} {} ({})",
                        r.action.as_str(),
                        r.what,
                        r.path,
                        r.why
                    ))?;
                }
            }
            // JSON Lines stay one shape on stdout; the summary goes to stderr.
            if json {
                eprintln!("orc-ctl: {}", report.summary(dry_run));
            } else {
                cli::out(&report.summary(dry_run))?;
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
            let checked = ctl::agent_checked(&ctx);
            if json {
                for (k, v, o) in rows {
                    let mut row = serde_json::json!({"name": k, "value": v, "origin": o});
                    if k == "ORC_AGENT" {
                        row["checked"] = serde_json::Value::from(checked.clone());
                    }
                    cli::out(&row.to_string())?;
                }
            } else {
                let cells: Vec<Vec<String>> =
                    rows.into_iter().map(|(k, v, o)| vec![k, v, o]).collect();
                cli::out(&cli::table(&["NAME", "VALUE", "ORIGIN"], &cells))?;
                cli::out(&format!("profile: {}", ctx.config.profile()))?;
                cli::out(&format!("agent: {checked}"))?;
            }
        }
    }
    Ok(exit::OK)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    cli::out(&serde_json::to_string(value).unwrap_or_default())
}
