//! orc-dispatch: the run queue as a program.

mod common;

use std::process::ExitCode;

use clap::Parser;
use orc_kernel::cli::{self, after_help};
use orc_kernel::context::Context;
use orc_kernel::dispatch::{self, Line, Options, Source};
use orc_kernel::error::{Error, Result};
use orc_kernel::exit;
use orc_kernel::ids::Issue;

const EXAMPLES: &str =
    "  orc-dispatch --label ready --max 3     # every open issue labelled ready, 3 at a time
  orc-dispatch 12 14 15                 # these issues, by priority then age
  orc-dispatch --query 'label:bug no:assignee' --retries 1
  orc-dispatch --label ready --dry-run  # the order, and what is held and why; changes nothing
  orc-dispatch --label ready --once     # one pass (for cron): start what fits, then exit
  orc-dispatch --label ready --follow   # a service: admit new issues, drop closed ones, until stopped
  orc-queue                             # the queue, its states and reasons (queue.json)
  orc-dispatch land 12                  # verify, check, review, merge, close, reap issue 12's work
  orc-dispatch land 12 --wait           # ... and wait until it is merged or a person must decide";

/// Run a queue of issues: take them from the tracker (skipping closed ones
/// and ones another session holds), order them by priority then age, hold
/// those whose dependencies are still open, keep at most N workers running,
/// retry failures with backoff, requeue throttled workers, check the
/// evidence of every claimed success, review, merge (ORC_AUTO_MERGE) or
/// escalate. Prints one JSON line per step (queued, held, ready, skipped,
/// adopted, restored, spawned, finished, verified, retried, requeued,
/// warning; then one end per issue: merged, approved, gave-up, escalated,
/// unverified, suspended or held, each with an "end" field; summary last;
/// with --follow also cancelled, stalled, order, notified and stopping)
/// and a summary line on stderr. Killed and run again, it adopts the
/// workers that still run and goes on.
#[derive(Parser)]
#[command(name = "orc-dispatch", version, after_long_help = after_help(EXAMPLES, &[
    "  ORC_MAX_WORKERS        workers at once, without --max (default 5)",
    "  ORC_RETRY_MAX          retries of a failed, crashed or timed-out worker (default 2)",
    "  ORC_RETRY_BACKOFF      seconds before the first retry, doubled each time, at most 300 (default 30)",
    "  ORC_THROTTLE_COOLDOWN  seconds a throttled worker waits when no reset time is given (default 300)",
    "  ORC_REVIEW_MAX_ROUNDS  change requests before a person decides (default 2)",
    "  ORC_AUTO_MERGE         true: merge verified, approved work (default false: leave it to a person)",
    "  ORC_MERGE              local (orc merges into the base) or github (the PR); default by tracker",
    "  ORC_MERGE_METHOD       ff, merge or squash (default merge)",
    "  ORC_CHECK_CMD          the project's check (e.g. make test), run by orc on the branch tip",
    "  ORC_CHECK_TIMEOUT      seconds the check may run (default 1800)",
    "  ORC_REVIEW             false: no reviewer before the merge (default true)",
    "  ORC_TRACKER            local or github (default: local when .orc/issues/ exists)",
    "  ORC_POLL_INTERVAL      seconds between checks of running workers (default 1)",
    "  ORC_MAX_REVIEWERS      reviewers at once, within --max (default 0: no limit of their own)",
    "  ORC_STALL_TIMEOUT      seconds without progress before a worker is stopped and retried as stalled (default 900; 0: off)",
    "  ORC_TRACKER_POLL       --follow: seconds between looks at the tracker (default 60)",
    "  ORC_NOTIFY_WEBHOOK     an http(s) URL told (Slack-compatible JSON) when a result needs a person",
    "  ORC_NOTIFY_DESKTOP     a desktop notification when a result needs a person (default true)",
    "  ORC_NOW                a fixed time: backoffs and cooldowns then pass at once (tests only)",
    "",
    "Exit status: 0 when every issue ended merged or approved (or was skipped);",
    "1 when one gave up, was escalated, unverified, suspended or held; 5 when",
    "another orc-dispatch runs this session (its pid is named). With --follow,",
    "SIGTERM or SIGINT stops it after the current step, with the summary; the",
    "workers keep running for the next orc-dispatch to adopt."]))]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// These issues (instead of --label or --query).
    #[arg(conflicts_with_all = ["label", "query"])]
    issues: Vec<Issue>,
    /// The open issues with this label.
    #[arg(long, conflicts_with = "query")]
    label: Option<String>,
    /// The open issues this search matches (GitHub search syntax; words in
    /// the title or body with the local tracker).
    #[arg(long)]
    query: Option<String>,
    /// At most N workers and reviewers at once (default ORC_MAX_WORKERS).
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    /// Retries of a failed worker (default ORC_RETRY_MAX).
    #[arg(long, value_name = "N")]
    retries: Option<u64>,
    /// Print the plan (order, held issues and why); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// One pass: act on what ended, start what fits, exit without waiting.
    #[arg(long, conflicts_with = "follow")]
    once: bool,
    /// Run until SIGTERM or SIGINT: ask the tracker again every
    /// ORC_TRACKER_POLL seconds (local issues: on every change), admit
    /// newly matching issues, drop queued ones that no longer match, and
    /// stop (TERM, worktree kept) the workers of those that run.
    #[arg(long)]
    follow: bool,
    /// OWNER/REPO of the GitHub issues and pull requests.
    #[arg(long, value_name = "OWNER/REPO")]
    repo: Option<String>,
    /// JSON Lines even on a terminal.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Land one issue whose worker has ended: the same steps as the queue
    /// (verify the claim, run ORC_CHECK_CMD, review, merge by
    /// ORC_MERGE_METHOD when ORC_AUTO_MERGE is on, close the issue, reap),
    /// one pass by default: what must run next (a reviewer, or the worker
    /// resumed with a failed check's output) is started, and the issue ends
    /// `pending`; watch it with orc-watch and run `land` again. Never starts
    /// a fresh worker. The skills use it, so they land exactly as
    /// orc-dispatch does.
    Land {
        /// The issue.
        issue: Issue,
        /// Run until the issue is merged or a person must decide (reviews
        /// and resumes included), instead of one pass.
        #[arg(long)]
        wait: bool,
        /// OWNER/REPO of the GitHub issues and pull requests.
        #[arg(long, value_name = "OWNER/REPO")]
        repo: Option<String>,
        /// JSON Lines even on a terminal.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = match common::parse::<Cli>("orc-dispatch") {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    cli::run("orc-dispatch", || {
        if let Some(Command::Land {
            issue,
            wait,
            repo,
            json,
        }) = cli.command
        {
            let opts = Options {
                source: Source::Issues(vec![issue]),
                max: None,
                retries: None,
                dry_run: false,
                once: !wait,
                repo_slug: repo,
                land: true,
                follow: false,
            };
            return run(&opts, json);
        }
        let source = match (cli.label, cli.query) {
            (Some(label), _) => Source::Label(label),
            (None, Some(query)) => Source::Query(query),
            (None, None) if !cli.issues.is_empty() => Source::Issues(cli.issues),
            (None, None) => {
                return Err(Error::usage("nothing to dispatch", "orc-dispatch")
                    .hint("give --label L, --query Q or issue numbers"));
            }
        };
        let opts = Options {
            source,
            max: cli.max,
            retries: cli.retries,
            dry_run: cli.dry_run,
            once: cli.once,
            repo_slug: cli.repo,
            land: false,
            follow: cli.follow,
        };
        run(&opts, cli.json)
    })
}

fn run(opts: &Options, json: bool) -> Result<u8> {
    let ctx = Context::orchestrator(None)?;
    let human = !json && cli::stdout_is_tty();
    let summary = dispatch::run(&ctx, opts, |line| print(line, human))?;
    eprintln!("orc-dispatch: {}", summary.line());
    Ok(if summary.ok { exit::OK } else { exit::FAILURE })
}

/// One step: a JSON line, or on a terminal `time event #issue key=value…`.
fn print(line: &Line, human: bool) -> Result<()> {
    let json = serde_json::to_value(line).unwrap_or_default();
    if !human {
        return cli::out(&json.to_string());
    }
    let field = |k: &str| json.get(k).cloned().unwrap_or_default();
    let mut text = format!(
        "{} {:<9}",
        field("ts").as_str().unwrap_or("").get(11..19).unwrap_or(""),
        field("event").as_str().unwrap_or("")
    );
    if let Some(n) = field("issue").as_u64() {
        text.push_str(&format!(" #{n}"));
    }
    if let Some(map) = json.as_object() {
        for (k, v) in map
            .iter()
            .filter(|(k, _)| !["ts", "event", "issue", "issues"].contains(&k.as_str()))
        {
            match v {
                serde_json::Value::String(s) => text.push_str(&format!(" {k}={s}")),
                other => text.push_str(&format!(" {k}={other}")),
            }
        }
    }
    cli::out(&text)
}
