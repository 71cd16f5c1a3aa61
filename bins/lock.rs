//! orc-lock: issue locks and named mutexes from the command line.

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::error::{Error, Kind, Result};
use orc_kernel::exit;
use orc_kernel::ids::Issue;
use orc_kernel::liveness::ProcessId;
use orc_kernel::lock::{self, Holder, IssueLock, LockStatus};

const EXAMPLES: &str = "  orc-lock acquire 42              # hold issue 42 for this session
  orc-lock acquire 42 --pid $$      # hold it while this shell lives
  orc-lock check 42 && echo free
  orc-lock holder 42 --json
  orc-lock release 42
  orc-lock run claude-json -- claude --version";

/// Take, check and release issue locks; run a command under a named mutex.
#[derive(Parser)]
#[command(name = "orc-lock", version, after_long_help = after_help(EXAMPLES, &[]))]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Take the issue lock for this session (or for --pid); exit 5 if held.
    Acquire {
        /// The issue number.
        issue: String,
        /// The repository (default: the one containing the current directory).
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Bind the lock to this process instead of the session: it is freed
        /// when the process dies, even by SIGKILL.
        #[arg(long)]
        pid: Option<i32>,
        /// Print the lock record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Release the issue lock held by this session (or anyone's, with --force).
    Release {
        /// The issue number.
        issue: String,
        /// The repository (default: the one containing the current directory).
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Release it whoever holds it.
        #[arg(long)]
        force: bool,
    },
    /// Print free, held, stale or unknown; exit 0 when it can be taken, 5 when not.
    Check {
        /// The issue number.
        issue: String,
        /// The repository (default: the one containing the current directory).
        #[arg(long)]
        repo: Option<PathBuf>,
    },
    /// Print who holds the issue lock.
    Holder {
        /// The issue number.
        issue: String,
        /// The repository (default: the one containing the current directory).
        #[arg(long)]
        repo: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run CMD while holding the named mutex NAME; exit with CMD's status.
    Run {
        /// The mutex's name (letters, digits, '.', '_', '-').
        name: String,
        /// Fail with exit 5 at once instead of waiting when the mutex is held.
        #[arg(long, conflicts_with = "timeout")]
        no_wait: bool,
        /// Wait at most this many seconds, then exit 124.
        #[arg(long)]
        timeout: Option<f64>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-lock") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-lock", || match cli.cmd {
        Cmd::Acquire {
            issue,
            repo,
            pid,
            json,
        } => acquire(&issue, repo, pid, json),
        Cmd::Release { issue, repo, force } => release(&issue, repo, force),
        Cmd::Check { issue, repo } => check(&issue, repo),
        Cmd::Holder { issue, repo, json } => holder(&issue, repo, json),
        Cmd::Run {
            name,
            no_wait,
            timeout,
            cmd,
        } => run(&name, no_wait, timeout, &cmd),
    })
}

fn open(issue: &str, repo: Option<PathBuf>) -> Result<(Context, IssueLock)> {
    let issue = Issue::parse(issue)?;
    let ctx = Context::orchestrator(repo.as_deref())?;
    let lock = IssueLock::new(&ctx.state, ctx.repo()?, issue);
    Ok((ctx, lock))
}

fn acquire(issue: &str, repo: Option<PathBuf>, pid: Option<i32>, json: bool) -> Result<u8> {
    let (ctx, lock) = open(issue, repo)?;
    let holder = match pid {
        Some(pid) => Holder::Process {
            id: ProcessId::of(pid)
                .ok_or_else(|| Error::usage("no such process", pid.to_string()))?,
        },
        None => Holder::Session {
            session: ctx.session.name().to_string(),
        },
    };
    // A session lives as long as its directory does (gc frees a lock whose
    // session is gone), so the holding session's directory is made when
    // the lock can be taken; a refusal makes nothing. Concurrent takers may
    // all make it: only one wins, and the directory is the winner's then.
    let free = || matches!(lock.check(), Ok(LockStatus::Free | LockStatus::Stale(_)));
    if matches!(holder, Holder::Session { .. }) && !ctx.session.dir().exists() && free() {
        ctx.session.ensure(ctx.repo.as_ref())?;
    }
    let record = lock.acquire(holder, ctx.session.name())?;
    if json {
        cli::out(&serde_json::to_string(&record).unwrap_or_default())?;
    }
    Ok(exit::OK)
}

fn release(issue: &str, repo: Option<PathBuf>, force: bool) -> Result<u8> {
    let (ctx, lock) = open(issue, repo)?;
    let session = ctx.session.name().to_string();
    let released = lock.release(|r| force || r.session == session)?;
    if !released {
        let status = lock.check()?;
        if let Some(record) = status.record() {
            return Err(Error::new(
                Kind::Locked,
                format!(
                    "issue {issue} is held by {} for session {}",
                    record.holder.describe(),
                    record.session
                ),
                lock.record_path().display().to_string(),
            )
            .hint("pass --force to release another session's lock"));
        }
    }
    Ok(exit::OK)
}

fn check(issue: &str, repo: Option<PathBuf>) -> Result<u8> {
    let (_, lock) = open(issue, repo)?;
    let status = lock.check()?;
    cli::out(status.as_str())?;
    Ok(match status {
        LockStatus::Free | LockStatus::Stale(_) => exit::OK,
        LockStatus::Held(_) | LockStatus::Unknown(_) => exit::LOCKED,
    })
}

fn holder(issue: &str, repo: Option<PathBuf>, json: bool) -> Result<u8> {
    let (_, lock) = open(issue, repo)?;
    let status = lock.check()?;
    let mut doc = serde_json::json!({ "issue": Issue::parse(issue)?, "status": status.as_str() });
    if let Some(record) = status.record() {
        doc["lock"] = serde_json::to_value(record).unwrap_or_default();
    }
    if json || !cli::stdout_is_tty() {
        cli::out(&doc.to_string())?;
    } else {
        match status.record() {
            None => cli::out(&format!("issue {issue}: free"))?,
            Some(r) => cli::out(&format!(
                "issue {issue}: {} by {} (session {}, since {}{})",
                status.as_str(),
                r.holder.describe(),
                r.session,
                r.acquired_at,
                r.kept_by
                    .as_deref()
                    .map(|k| format!(", kept by {k}"))
                    .unwrap_or_default()
            ))?,
        }
    }
    Ok(exit::OK)
}

fn run(name: &str, no_wait: bool, timeout: Option<f64>, cmd: &[String]) -> Result<u8> {
    let ctx = Context::orchestrator(None)?;
    let guard = match timeout {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            loop {
                if let Some(g) = lock::named(&ctx.state, name, false)? {
                    break g;
                }
                if Instant::now() >= deadline {
                    return Err(Error::new(
                        Kind::Timeout,
                        "timed out waiting for the lock",
                        name.to_string(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Some(secs) => {
            return Err(Error::usage(
                "--timeout must be a number of seconds >= 0",
                secs.to_string(),
            ));
        }
        None if !no_wait => lock::named_unbounded(&ctx.state, name)?,
        None => match lock::named(&ctx.state, name, false)? {
            Some(g) => g,
            None => {
                return Err(
                    Error::new(Kind::Locked, "the lock is held", name.to_string())
                        .hint("drop --no-wait to wait for it"),
                );
            }
        },
    };
    guard.share_with_children()?;
    let status = orc_kernel::supervise::run_forwarding(cmd)?;
    drop(guard);
    Ok(status)
}
