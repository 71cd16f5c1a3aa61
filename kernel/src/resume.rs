//! Resume: a new attempt of a suspended or ended worker, in the same
//! worktree, under the same lock, with a prompt that points at its
//! checkpoint. A failure puts the record and the lock back as they were.

use std::path::PathBuf;

use crate::agent::{self, AgentKind};
use crate::clock;
use crate::context::Context;
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::events::{self, Event};
use crate::liveness::ProcessId;
use crate::lock::{self, Holder, IssueLock, LockStatus};
use crate::procdir::Proc;
use crate::spawn::{self, PlanParts, Request, Spawned};

/// Resume the worker `parts` names.
pub(crate) fn resume(ctx: &Context, req: &Request, parts: &PlanParts) -> Result<Spawned> {
    let session = &ctx.session;
    let proc = Proc::new(session, parts.kind, parts.issue);
    let old = proc.load()?;
    if old.state.is_active() {
        return Err(Error::failure(
            format!(
                "{} {} is still {}; only a suspended or ended worker can be resumed",
                parts.kind, parts.issue, old.state
            ),
            proc.dir().display().to_string(),
        ));
    }
    let worktree = old
        .worktree
        .clone()
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .ok_or_else(|| {
            Error::failure(
                "the worker's worktree is gone; nothing to resume",
                old.worktree.clone().unwrap_or_default(),
            )
            .hint(format!(
                "`orc-cleanup {0}` then `orc-spawn {0}` starts afresh",
                parts.issue
            ))
        })?;

    wait_for_old_shim(&proc)?;

    let me = ProcessId::current();
    let lock = IssueLock::new(&ctx.state, &parts.repo, parts.issue);
    let kept = match lock.check()? {
        LockStatus::Held(r) if r.session == session.name() && r.kept_by.is_some() => {
            lock.hand_over(
                |l| l.session == session.name(),
                Holder::Process { id: me },
                None,
            )?;
            Some(r)
        }
        LockStatus::Free | LockStatus::Stale(_) => {
            lock.acquire(Holder::Process { id: me }, session.name())?;
            None
        }
        other => {
            let who = other
                .record()
                .map(|r| format!("{} (session {})", r.holder.describe(), r.session))
                .unwrap_or_default();
            return Err(Error::new(
                ErrorKind::Locked,
                format!("issue {} is locked by {who}", parts.issue),
                parts.repo.root.display().to_string(),
            ));
        }
    };
    let restore = |e: Error| -> Error {
        let _ = proc.update(|r| {
            *r = old.clone();
            Ok(())
        });
        let _ = match &kept {
            Some(k) => lock
                .hand_over(|_| true, k.holder.clone(), k.kept_by.as_deref())
                .map(drop),
            None => lock
                .release(|l| l.holder == Holder::Process { id: me })
                .map(drop),
        };
        e
    };

    let reason = crate::review::take_reason(&proc).map_err(restore)?;
    let checkpoint = proc.checkpoint_path();
    let prompt = req.prompt.clone().unwrap_or_else(|| {
        let checkpoint = checkpoint.exists().then_some(checkpoint.as_path());
        agent::default_prompt(parts.kind, parts.issue, checkpoint, reason.as_deref())
    });
    let resume_agent = parts.agent == AgentKind::Claude && old.agent_session.is_some();
    let session_id = if resume_agent {
        old.agent_session.clone()
    } else {
        None
    };
    let launch = spawn::launch_for(
        ctx,
        parts.agent,
        parts.backend,
        parts.kind,
        parts.issue,
        &worktree,
        prompt,
        session_id,
        resume_agent,
    )
    .map_err(restore)?;
    let record = {
        let _slot =
            lock::named(&ctx.state, &format!("spawn-{}", session.name()), true).map_err(restore)?;
        let max = ctx.config.number("ORC_MAX_WORKERS").map_err(restore)?;
        spawn::check_capacity(session, max).map_err(restore)?;
        let now = clock::now_rfc3339().map_err(restore)?;
        crate::signal::clear(&proc).map_err(restore)?;
        proc.update(|r| {
            r.new_attempt(&now);
            r.pid = None;
            r.agent = Some(parts.agent.as_str().to_string());
            Ok(())
        })
        .map_err(restore)?
    };
    let env = spawn::worker_env(ctx, parts.kind, parts.issue);
    spawn::start_shim_with(
        ctx,
        parts.backend,
        &parts.shim,
        parts.kind,
        parts.issue,
        &proc,
        &worktree,
        &launch,
        env,
    )
    .map_err(restore)?;
    let started = spawn::wait_for_start(&proc).map_err(restore)?;
    events::append(session, &Event::of("resumed", &record)?)?;
    Ok(Spawned {
        issue: parts.issue,
        kind: parts.kind,
        session: session.name().to_string(),
        worktree: worktree.display().to_string(),
        branch: record.branch.clone().unwrap_or_default(),
        base: record.base.clone().unwrap_or_default(),
        pid: started.0,
        shim_pid: started.1,
        wake: proc.wake_path().display().to_string(),
        attempt: record.attempt,
        agent: parts.agent.as_str().to_string(),
    })
}

/// The previous attempt's shim may still be reaping its agent right after
/// the result was written; a second shim must not start beside it. Its
/// identity file is then removed, so the new attempt's start is not
/// mistaken for the old one's.
fn wait_for_old_shim(proc: &Proc) -> Result<()> {
    if let Some(ids) = proc.shim()? {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while ids.shim.liveness() != crate::liveness::Liveness::Dead {
            if std::time::Instant::now() >= deadline {
                return Err(Error::failure(
                    format!(
                        "the previous attempt's shim (pid {}) is still running",
                        ids.shim.pid
                    ),
                    proc.dir().display().to_string(),
                )
                .hint("wait for it to end, or stop it with orc-ctl kill"));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        match std::fs::remove_file(proc.shim_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &proc.shim_path(), e)),
        }
    }
    Ok(())
}
