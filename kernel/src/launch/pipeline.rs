//! The one launch pipeline. Every agent orc starts goes through [`run`]:
//!
//! 1. the plan claims the issue (its lock, the checks before anything is made);
//! 2. capacity is checked, then, under the session's spawn slot, checked
//!    again and the plan makes or renews the record;
//! 3. the plan puts the worktree in place (with its task file); a new one
//!    gets its included files and runs the project's setup (prep.rs);
//! 4. `.orc-env` is written and the worktree is trusted in `~/.claude.json`;
//! 5. the plan says what the agent is told; the record becomes READY;
//! 6. the shim starts the agent, and the launch waits until it has;
//! 7. the event is appended.
//!
//! Every step that makes something pushes its undo; a failure anywhere runs
//! them in reverse, so nothing of a failed launch is left behind.

use std::path::{Path, PathBuf};

use crate::clock;
use crate::context::{Context, ENV_FILE};
use crate::error::Result;
use crate::events::{self, Event};
use crate::fsutil::write_regenerable;
use crate::paths::{self, StateDir};
use crate::procdir::Proc;
use crate::record::Record;
use crate::trust;

use super::capacity;
use super::env::{env_file, worker_env};
use super::prep;
use super::request::Spawned;
use super::start::{self, AgentStart};
use super::target::Target;
use super::undo::Undo;

/// The worktree an agent runs in.
#[derive(Debug, Clone)]
pub(crate) struct Place {
    /// Its directory.
    pub worktree: PathBuf,
    /// The branch it shows.
    pub branch: String,
    /// The branch's base.
    pub base: String,
    /// Whether this launch made the worktree (a resume reuses its own):
    /// a new one gets the included files and the setup (prep.rs).
    pub made: bool,
}

/// What differs between a new worker, a resume and a reviewer.
pub(crate) trait Plan {
    /// The event the launch appends: `spawned` or `resumed`.
    fn event(&self) -> &'static str;

    /// Take the issue before anything is made.
    fn claim(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()>;

    /// Under the spawn slot, with capacity checked: make or renew the record.
    fn record(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()>;

    /// Put the worktree in place, with its task file.
    fn place(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<Place>;

    /// What the agent is told.
    fn agent(&mut self, t: &Target, proc: &Proc, place: &Place) -> Result<AgentStart>;

    /// The record as the agent is about to start.
    fn ready(
        &self,
        r: &mut Record,
        t: &Target,
        place: &Place,
        agent: &AgentStart,
        now: &str,
    ) -> Result<()>;

    /// What the caller should hear about although the launch went ahead.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Launch `t` the way `plan` says.
pub(crate) fn run(ctx: &Context, t: &Target, plan: &mut dyn Plan) -> Result<Spawned> {
    let session = &ctx.session;
    let proc = Proc::new(session, t.kind, t.issue);
    let mut undo = Undo::default();

    plan.claim(ctx, t, &proc, &mut undo)?;
    capacity::check(ctx)?;
    {
        let _slot = capacity::slot(ctx)?;
        capacity::check(ctx)?;
        plan.record(ctx, t, &proc, &mut undo)?;
    }
    let place = plan.place(ctx, t, &proc, &mut undo)?;

    let env = worker_env(ctx, t.kind, t.issue);
    if place.made {
        let copied = prep::include(&t.repo.root, &place.worktree)?;
        if !copied.is_empty() {
            let names: Vec<String> = copied.iter().map(|p| p.display().to_string()).collect();
            proc.log("orc-spawn", &format!("included: {}", names.join(", ")))?;
        }
        prep::setup(ctx, &proc, &place.worktree, &env)?;
    }
    // Both written anew by every launch: atomic, not synced.
    write_regenerable(
        &place.worktree.join(ENV_FILE),
        env_file(&env).as_bytes(),
        0o600,
    )?;
    trust_worktree(&ctx.state, &place.worktree, &mut undo)?;

    let agent = plan.agent(t, &proc, &place)?;
    // The prompt goes to a private file in the proc directory: the agent
    // reads it from there (or on standard input), never from its argv.
    write_regenerable(&proc.prompt_path(), agent.prompt.as_bytes(), 0o600)?;
    let launch = start::command(ctx, t, &place.worktree, &agent, &proc.prompt_path())?;
    let record = proc.update(|r| plan.ready(r, t, &place, &agent, &clock::now_rfc3339()?))?;

    start::shim(ctx, t, &proc, &place.worktree, &launch, env)?;
    let started = start::wait(&ctx.state, &proc)?;
    undo.disarm();
    // A Slurm worker's job id, once the shim has found it in the queue.
    let mut warnings = plan.warnings();
    let job = if t.backend == crate::backend::Backend::Slurm {
        let others = crate::slurm::other_nodes();
        for path in [place.worktree.as_path(), ctx.state.root()] {
            warnings.extend(crate::slurm::storage_warning(path, &others));
        }
        start::wait_job(&proc)
    } else {
        None
    };

    session.ensure(Some(&t.repo))?;
    // The record as the launch made it (READY): a fast agent may have ended
    // already, and its end is its own event.
    events::append(session, &Event::of(plan.event(), &record)?)?;
    Ok(Spawned {
        issue: t.issue,
        kind: t.kind,
        session: session.name().to_string(),
        worktree: place.worktree.display().to_string(),
        branch: place.branch,
        base: place.base,
        pid: started.0,
        shim_pid: started.1,
        wake: proc.wake_path().display().to_string(),
        attempt: record.attempt,
        agent: t.agent.as_str().to_string(),
        job,
        warnings,
    })
}

/// Trust the worktree in `~/.claude.json` (a headless agent has nobody to
/// answer the trust dialog), unless it is trusted already, itself or
/// through a directory above it (the repository, which its user trusted
/// when they ran Claude Code there): then the file is not written. A
/// resumed worker's entry may have been removed since, so every launch
/// looks again; only an entry this launch added is taken back on failure.
fn trust_worktree(state: &StateDir, dir: &Path, undo: &mut Undo) -> Result<()> {
    let home = paths::home()?;
    let had_config = home.join(trust::FILE).exists();
    if had_config && trust::is_trusted(&home, dir)? {
        return Ok(());
    }
    trust::grant(state, &home, dir)?;
    let (state, dir) = (state.clone(), dir.to_path_buf());
    undo.push("the trust entry", move || {
        untrust(&state, &home, &dir, had_config)
    });
    Ok(())
}

fn untrust(state: &StateDir, home: &Path, dir: &Path, had_config: bool) -> Result<()> {
    trust::revoke(state, home, dir)?;
    if !had_config {
        // The file did not exist before this launch: leave none behind if
        // all it holds is the empty map the grant created.
        let file = home.join(trust::FILE);
        let empty = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v == serde_json::json!({"projects": {}}));
        if empty {
            let _ = std::fs::remove_file(file);
        }
    }
    Ok(())
}
