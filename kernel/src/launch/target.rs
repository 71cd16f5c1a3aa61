//! What every launch resolves before it creates anything: the issue, the
//! kind, the repository, the agent, the backend, the tracker and the shim.

use std::path::PathBuf;

use crate::agent::AgentKind;
use crate::backend::Backend;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::paths;
use crate::record::nice_of;
use crate::repo::Repo;
use crate::tracker::TrackerKind;

use super::request::Request;

/// A launch's resolved request.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub issue: Issue,
    pub kind: Kind,
    pub repo: Repo,
    pub priority: String,
    pub agent: AgentKind,
    pub backend: Backend,
    pub tracker: TrackerKind,
    pub shim: PathBuf,
}

impl Target {
    /// Resolve `req` against the configuration; nothing is created.
    pub(crate) fn resolve(ctx: &Context, req: &Request) -> Result<Target> {
        let issue = req
            .issue
            .ok_or_else(|| Error::usage("missing ISSUE", "orc-spawn"))?;
        let kind = req.kind.unwrap_or(Kind::Worker);
        let repo = ctx.repo()?.clone();
        let priority = req.priority.clone().unwrap_or_else(|| "normal".to_string());
        nice_of(&priority)?;
        // The shim reads it; a bad value is refused before anything is made.
        crate::contain::Mode::parse(ctx.config.get("ORC_CONTAIN").unwrap_or("auto"))?;
        let agent = AgentKind::parse(
            req.agent
                .as_deref()
                .or(ctx.config.get("ORC_AGENT"))
                .unwrap_or("claude"),
        )?;
        // A resume stays where the worker ran unless told otherwise: a
        // worker that ran in a Slurm job resumes in a new one.
        let ran_in_slurm = || {
            req.resume
                && crate::procdir::Proc::new(&ctx.session, kind, issue)
                    .read()
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.slurm.is_some())
        };
        let chosen = !matches!(
            ctx.config.origin("ORC_BACKEND"),
            None | Some(crate::profile::Origin::Default)
        );
        let backend = match req.backend.as_deref() {
            Some(name) => Backend::parse(name)?,
            None if !chosen && ran_in_slurm() => Backend::Slurm,
            None => Backend::parse(ctx.config.get("ORC_BACKEND").unwrap_or("headless"))?,
        };
        if backend == Backend::Slurm {
            // srun reads these words; a bad one is refused before anything
            // is made, and so is a host with no Slurm client.
            crate::slurm::split_args(ctx.config.get("ORC_SLURM_ARGS").unwrap_or(""))?;
            crate::slurm::client_ready()?;
        }
        let tracker = TrackerKind::select(
            req.tracker.as_deref().or(ctx.config.get("ORC_TRACKER")),
            &repo.root,
        )?;
        let shim = paths::bin_dir()
            .map(|d| d.join("orc-shim"))
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                Error::failure("cannot find orc-shim next to orc-spawn", "orc-shim")
                    .hint("run `make build`")
            })?;
        Ok(Target {
            issue,
            kind,
            repo,
            priority,
            agent,
            backend,
            tracker,
            shim,
        })
    }
}
