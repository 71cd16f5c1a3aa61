//! orc-ci: wait for a pull request's checks in chunks an agent can afford.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use orc_kernel::ci::{self, Verdict, Wait};
use orc_kernel::cli::{self, after_help};
use orc_kernel::exit;

const EXAMPLES: &str =
    "  orc-ci wait 12                  # passed | failed | watching (run it again)
  orc-ci wait --timeout 300 12    # a shorter chunk
  orc-ci wait --repo acme/widgets --json 12";

/// Worker side: wait for a pull request's checks through `gh pr checks`, in
/// chunks shorter than an agent's 10-minute tool limit. Prints the verdict
/// on the first line and what decided it on the second:
/// `passed` (every check passed or was skipped, or none were reported
/// within --grace: the repository has no CI), `failed` (a check failed or
/// was cancelled; the names follow), or `watching` (still running when the
/// chunk ended: run the same command again).
#[derive(Parser)]
#[command(name = "orc-ci", version, after_long_help = after_help(EXAMPLES, &[
    "  PATH            must hold `gh`, logged in (`gh auth status`)",
    "\nExit status of `wait`: 0 passed, 1 failed (or gh failed: see stderr), 124 watching."]))]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Wait for the checks of pull request PR; print passed, failed or watching.
    Wait {
        /// The pull request number.
        pr: u32,
        /// OWNER/REPO (default: the repository of the current directory).
        #[arg(long)]
        repo: Option<String>,
        /// Seconds before giving up with `watching` (keep it under 600).
        #[arg(long, default_value_t = 540)]
        timeout: u64,
        /// Seconds between polls.
        #[arg(long, default_value_t = 20)]
        interval: u64,
        /// Seconds without any check reported before the PR counts as passed.
        #[arg(long, default_value_t = 90)]
        grace: u64,
        /// Print the verdict, a detail and every check as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-ci") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-ci", || match cli.command {
        Command::Wait {
            pr,
            repo,
            timeout,
            interval,
            grace,
            json,
        } => {
            let report = ci::wait(&Wait {
                pr,
                repo,
                timeout: Duration::from_secs(timeout),
                interval: Duration::from_secs(interval),
                grace: Duration::from_secs(grace),
            })?;
            if json {
                let text = serde_json::to_string(&report).unwrap_or_default();
                cli::out(&text)?;
            } else {
                // The verdict alone on the first line, for `read` and `head -1`.
                cli::out(report.verdict.as_str())?;
                if !report.detail.is_empty() {
                    cli::out(&report.detail)?;
                }
            }
            Ok(match report.verdict {
                Verdict::Passed => exit::OK,
                Verdict::Failed => exit::FAILURE,
                Verdict::Watching => exit::TIMEOUT,
            })
        }
    })
}
