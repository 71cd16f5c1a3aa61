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
pub mod gh;
mod holds;
pub mod journal;
mod local;
mod merge;
pub mod policy;
pub mod queue;
mod start;
pub mod step;
pub mod verify;
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
}

/// Run the queue; `emit` gets every step as it happens, the summary last.
pub fn run(
    ctx: &Context,
    opts: &Options,
    emit: impl FnMut(&Line) -> Result<()>,
) -> Result<Summary> {
    let started = Instant::now();
    let _guard = if opts.dry_run {
        None
    } else {
        Some(one_dispatcher(ctx)?)
    };
    let mut d = engine::Dispatcher::new(ctx, opts, emit)?;
    d.load()?;
    if !opts.dry_run {
        d.drive()?;
    }
    d.finish(started)
}

/// One dispatcher per session at a time: two would both start the same
/// queue. The flock goes with the process, however it dies.
fn one_dispatcher(ctx: &Context) -> Result<FileLock> {
    let session = &ctx.session;
    crate::fsutil::ensure_private_dir(session.dir())?;
    let path = session.dir().join("dispatch.lock");
    FileLock::try_exclusive(&path)?.ok_or_else(|| {
        Error::new(
            ErrorKind::Locked,
            format!("another orc-dispatch runs session {}", session.name()),
            path.display().to_string(),
        )
        .hint("wait for it to finish, or run this queue under another ORC_SESSION")
    })
}
