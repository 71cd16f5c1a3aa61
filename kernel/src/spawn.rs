//! `orc-spawn`'s entry point: resolve the request, pick the plan — a new
//! worker, a resume, or a reviewer — and run the one launch pipeline
//! ([`crate::launch`]). Claims the issue, builds its address space
//! (worktree, task and env files, trust), creates its proc directory and
//! starts its shim; any failure undoes every artefact made so far.

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::Kind;
use crate::launch::fresh::Fresh;
use crate::launch::pipeline::{self, Plan};
use crate::launch::resume::Resume;
use crate::launch::reviewer::Reviewer;
use crate::launch::target::Target;

pub use crate::launch::env::worker_env;
pub use crate::launch::request::{Request, Spawned};

/// Spawn a worker. With `resume`, restart a suspended or ended worker; with
/// kind reviewer, start a reviewer of the worker's branch.
pub fn spawn(ctx: &Context, req: &Request) -> Result<Spawned> {
    let target = Target::resolve(ctx, req)?;
    let mut plan: Box<dyn Plan> = match (target.kind, req.resume) {
        (Kind::Reviewer, true) => {
            return Err(Error::usage(
                "a reviewer is not resumed; spawn a new review",
                "--resume",
            ));
        }
        (Kind::Reviewer, false) => Box::new(Reviewer::new(req)),
        (Kind::Worker, true) => Box::new(Resume::new(req)),
        (Kind::Worker, false) => Box::new(Fresh::new(req)),
    };
    pipeline::run(ctx, &target, plan.as_mut())
}
