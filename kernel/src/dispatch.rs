//! The run queue as a program (`orc-dispatch`): issues from the tracker,
//! most urgent first, held while their dependencies are open, at most N
//! workers at a time, retried with backoff, requeued after usage limits,
//! verified, reviewed, merged or handed to a person, and one JSON line for
//! every step.
//!
//! Every issue moves through a deterministic state machine
//! ([`journal::Phase`]):
//!
//! ```text
//! queued ─(deps merged or closed, a free slot)─▶ running(worker)
//! running(worker) ─ci-passed, verified─▶ review ─▶ running(reviewer)
//!                 ─merged, verified─▶ done(merged)
//!                 ─claim without evidence─▶ done(unverified)
//!                 ─failed│crashed│timeout─▶ wait(backoff) ─▶ retry ─▶ running(worker)
//!                                         └(retries spent)─▶ done(gave-up)
//!                 ─throttled─▶ wait(reset or cooldown) ─▶ retry   (not a failure)
//! running(reviewer) ─approved─▶ merging ─▶ done(merged) │ done(escalated)
//!                               └(ORC_AUTO_MERGE off)─▶ done(approved)
//!                   ─changes-requested─▶ resume ─▶ running(worker)
//!                                     └(rounds spent)─▶ done(escalated)
//! ```
//!
//! Where the work is merged is `ORC_MERGE`. `github` (the default with the
//! GitHub tracker): the evidence is the branch's pull request and its
//! checks, and the merge is `gh pr merge`. `local` (the default with the
//! local tracker): orc verifies the branch itself, runs `ORC_CHECK_CMD` on
//! its tip (a failure resumes the worker with the output), merges it into
//! the base by `ORC_MERGE_METHOD`, closes `.orc/issues/<N>.md` in the same
//! update of the base and reaps the worktree and branch (`local.rs`, over
//! [`crate::land`]). `ORC_REVIEW=false` skips the reviewer.
//!
//! Nothing of a run lives only in the dispatcher's memory: each decision
//! goes to the issue's journal, and a restarted dispatcher rebuilds the run
//! from the tracker, the records and the journals, adopting the workers that
//! still run (see `adopt.rs`). Workers are spawned in-process through
//! [`crate::spawn::spawn`], the code `orc-spawn` runs: each is an ordinary
//! worker under its own shim, so killing the dispatcher (even with SIGKILL)
//! leaves them running, supervised, and ready to be adopted.

mod adopt;
mod ends;
mod engine;
mod follow;
mod fresh;
pub mod gh;
mod github;
mod holds;
pub mod journal;
mod local;
mod merge;
pub mod orders;
pub mod policy;
mod progress;
pub mod queue;
mod stall;
mod start;
pub mod step;
mod tell;
pub mod verify;
mod view;
pub mod waiter;

use std::time::Instant;

use crate::context::Context;
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::lock::FileLock;

pub use queue::Source;
pub use step::{Line, Step, Summary};

/// What to dispatch, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the issues come from.
    pub source: Source,
    /// Most workers (and reviewers) at once; default `ORC_MAX_WORKERS`.
    pub max: Option<u64>,
    /// Retries of a failed worker; default `ORC_RETRY_MAX`.
    pub retries: Option<u64>,
    /// Print the plan, change nothing.
    pub dry_run: bool,
    /// One pass: act on what ended, start what fits, and exit without
    /// waiting (the next run adopts what still runs).
    pub once: bool,
    /// `OWNER/REPO` for the GitHub tracker and pull requests.
    pub repo_slug: Option<String>,
    /// `orc-dispatch land N`: act on the ended worker of the one issue
    /// given (never start a fresh one); refuse an issue without a worker.
    pub land: bool,
    /// Run until stopped: follow the tracker, admit new issues, drop or
    /// cancel the ones that no longer match.
    pub follow: bool,
}

/// Run the queue; `emit` gets every step as it happens, the summary last.
pub fn run(
    ctx: &Context,
    opts: &Options,
    emit: impl FnMut(&Line) -> Result<()>,
) -> Result<Summary> {
    let started = Instant::now();
    if opts.land {
        has_worker(ctx, &opts.source)?;
    }
    let _guard = if opts.dry_run {
        None
    } else {
        Some(one_dispatcher(ctx)?)
    };
    let mut d = engine::Dispatcher::new(ctx, opts, emit)?;
    if !opts.dry_run {
        d.bells.listen_for_orders(&ctx.session)?;
        if opts.follow {
            d.bells.catch_stop()?;
        }
    }
    d.load()?;
    if !opts.dry_run {
        d.drive()?;
    }
    d.finish(started)
}

/// `land` needs the worker whose work it lands.
fn has_worker(ctx: &Context, source: &Source) -> Result<()> {
    let Source::Issues(issues) = source else {
        return Err(Error::usage(
            "land takes one issue number",
            "orc-dispatch land",
        ));
    };
    for &issue in issues {
        let worker = crate::procdir::Proc::new(&ctx.session, crate::ids::Kind::Worker, issue);
        if !worker.exists() {
            return Err(Error::failure(
                format!(
                    "issue {issue} has no worker to land in session {}",
                    ctx.session.name()
                ),
                worker.dir().display().to_string(),
            )
            .hint(format!(
                "`orc-spawn {issue}` starts one; `orc-dispatch {issue}` runs it to the end"
            )));
        }
    }
    Ok(())
}

/// One dispatcher per session at a time: two would both start the same
/// queue. The flock goes with the process, however it dies.
fn one_dispatcher(ctx: &Context) -> Result<FileLock> {
    let session = &ctx.session;
    crate::fsutil::ensure_private_dir(session.dir())?;
    let path = session.dir().join("dispatch.lock");
    let pid_path = crate::queue::inbox::pid_path(session);
    let Some(lock) = FileLock::try_exclusive(&path)? else {
        let pid = running_pid(session)
            .map(|p| format!(" (pid {p})"))
            .unwrap_or_default();
        return Err(Error::new(
            ErrorKind::Locked,
            format!("another orc-dispatch{pid} runs session {}", session.name()),
            path.display().to_string(),
        )
        .hint("wait for it to finish, or run this queue under another ORC_SESSION"));
    };
    crate::fsutil::write_atomic(
        &pid_path,
        format!("{}\n", std::process::id()).as_bytes(),
        0o600,
    )?;
    Ok(lock)
}

/// The pid of the dispatcher that runs `session`'s queue, if one does.
pub fn running_pid(session: &crate::session::Session) -> Option<u32> {
    let text = crate::fsutil::read_string_nofollow(&crate::queue::inbox::pid_path(session)).ok()?;
    text.trim().parse().ok()
}

/// Whether a dispatcher runs `session`'s queue now; when none does, the
/// session's dispatch lock is returned, held, so none starts while the
/// caller changes the queue.
pub fn lock_if_idle(session: &crate::session::Session) -> Result<Option<FileLock>> {
    crate::fsutil::ensure_private_dir(session.dir())?;
    FileLock::try_exclusive(&session.dir().join("dispatch.lock"))
}
