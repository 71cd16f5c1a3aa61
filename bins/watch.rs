//! orc-watch: wait for workers, like waitpid.

mod common;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use orc_kernel::cli::{self, after_help};
use orc_kernel::clock;
use orc_kernel::context::Context;
use orc_kernel::error::{Error, Result};
use orc_kernel::exit;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::watch::{self, Ending, Options};

const EXAMPLES: &str = "  orc-watch 7 8 9                 # one JSON line per worker, as each ends
  orc-watch --any 7 8 9           # return at the first
  orc-watch --timeout 600 7       # exit 124 if it is still running after 10 minutes
  orc-watch --follow              # stream the session's events";

/// Wait for workers to end; print one JSON line per worker as each ends:
/// {\"issue\":N,\"kind\":..,\"result\":..,\"detail\":..,\"via\":\"record|wake|exit|health\"}.
/// A worker already ended is reported at once. A timeout leaves the records
/// as they are (a timeout is not a crash). A worker waiting on a permission
/// prompt for ORC_BLOCKED_AFTER seconds is reported `blocked` (via
/// `health`) while it keeps running. A worker whose fate cannot be told (a
/// record left NEW by a spawner that died, a shim whose liveness stays
/// unknown, an unreadable record) gets an `error` line after
/// ORC_WATCH_CHECKS checks in a row (default 60, one every
/// ORC_POLL_INTERVAL), and never holds up the others. A crash seen while
/// the disk is full is reported all the same, with "not recorded yet" in
/// its detail; the record is written once space returns.
#[derive(Parser)]
#[command(name = "orc-watch", version, after_long_help = after_help(EXAMPLES, &[
    "  ORC_POLL_INTERVAL  seconds between liveness checks (default 1)",
    "  ORC_WATCH_CHECKS   checks of a worker whose fate cannot be told before its error line (default 60)",
    "  ORC_BLOCKED_AFTER  seconds on a permission prompt before `blocked` (default 600)"]))]
struct Cli {
    /// The issues to wait for (with --follow: only their events); judged
    /// by orc, so a bad one gets orc's error.
    issues: Vec<String>,
    /// Give up after this many seconds (exit 124).
    #[arg(long)]
    timeout: Option<f64>,
    /// Return when the first worker ends.
    #[arg(long)]
    any: bool,
    /// Stream every event of the session (JSON Lines) instead.
    #[arg(long)]
    follow: bool,
    /// worker or reviewer.
    #[arg(long, default_value = "worker")]
    kind: Kind,
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-watch") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-watch", || {
        let issues = cli
            .issues
            .iter()
            .map(|i| Issue::parse(i))
            .collect::<Result<Vec<Issue>>>()?;
        let ctx = Context::orchestrator(None)?;
        let timeout = match cli.timeout {
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(Error::usage(
                    "--timeout must be seconds >= 0",
                    t.to_string(),
                ));
            }
            None => None,
        };
        let ending = if cli.follow {
            follow(&ctx, &cli, &issues, timeout)?
        } else {
            wait(&ctx, &cli, &issues, timeout)?
        };
        Ok(match ending {
            Ending::Done => exit::OK,
            Ending::TimedOut => exit::TIMEOUT,
        })
    })
}

fn wait(ctx: &Context, cli: &Cli, issues: &[Issue], timeout: Option<Duration>) -> Result<Ending> {
    if issues.is_empty() {
        return Err(Error::usage("no issue to watch", "orc-watch")
            .hint("orc-watch ISSUE... or orc-watch --follow"));
    }
    let poll = Duration::from_secs(ctx.config.number("ORC_POLL_INTERVAL")?.max(1));
    let checks = ctx
        .config
        .number("ORC_WATCH_CHECKS")?
        .clamp(1, u64::from(u32::MAX));
    let opts = Options {
        timeout,
        any: cli.any,
        poll,
        checks: u32::try_from(checks).unwrap_or(u32::MAX),
    };
    let workers: Vec<(Kind, Issue)> = issues.iter().map(|&i| (cli.kind, i)).collect();
    let tty = cli::stderr_is_tty();
    let started = Instant::now();
    let ending = watch::watch(
        ctx,
        &workers,
        opts,
        |report| {
            if tty {
                eprint!("\r\x1b[K");
            }
            cli::out(&serde_json::to_string(report).unwrap_or_default())
        },
        |running| {
            if tty {
                let now = clock::now().unwrap_or_default();
                let list: Vec<String> = running
                    .iter()
                    .map(|r| {
                        format!(
                            "#{} {} {}",
                            r.issue,
                            r.state,
                            clock::human_duration(clock::seconds_since(&r.started_at, &now))
                        )
                    })
                    .collect();
                eprint!(
                    "\r\x1b[Kwaiting {}: {}",
                    clock::human_duration(started.elapsed().as_secs()),
                    list.join(", ")
                );
                let _ = std::io::stderr().flush();
            }
        },
    )?;
    if tty {
        eprint!("\r\x1b[K");
    }
    Ok(ending)
}

fn follow(ctx: &Context, cli: &Cli, issues: &[Issue], timeout: Option<Duration>) -> Result<Ending> {
    let event_of = |line: &str| serde_json::from_str::<serde_json::Value>(line).ok();
    let wanted = |event: &Option<serde_json::Value>| -> bool {
        if issues.is_empty() {
            return true;
        }
        let issue = event.as_ref().and_then(|v| v["issue"].as_u64());
        issue.is_some_and(|n| issues.iter().any(|i| u64::from(i.get()) == n))
    };
    // A worker is done once its ending event has been printed, or when it
    // had ended before the stream began. Its record turns terminal a moment
    // before that event is logged, so stopping on the record alone could
    // lose the last line.
    let ended = |i: Issue| {
        orc_kernel::procdir::Proc::new(&ctx.session, cli.kind, i)
            .read()
            .ok()
            .flatten()
            .is_some_and(|r| !r.state.is_active())
    };
    let done: std::cell::RefCell<Vec<Issue>> =
        std::cell::RefCell::new(issues.iter().copied().filter(|&i| ended(i)).collect());
    let print = |line: &str| {
        let event = event_of(line);
        if !wanted(&event) {
            return Ok(());
        }
        if let Some(e) = &event
            && e["kind"] == cli.kind.as_str()
            && matches!(e["state"].as_str(), Some("TERMINATED" | "SUSPENDED"))
            && let Some(n) = e["issue"].as_u64()
        {
            done.borrow_mut()
                .extend(issues.iter().filter(|i| u64::from(i.get()) == n));
        }
        cli::out(line)
    };
    let finished = || !issues.is_empty() && issues.iter().all(|i| done.borrow().contains(i));
    watch::follow(ctx, timeout, print, finished)
}
