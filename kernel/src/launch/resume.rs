//! The plan of a resume: a new attempt of a suspended or ended worker, in
//! the same worktree, under the same lock. The agent is told it resumes
//! and why (a review's change request, else how the last attempt ended),
//! in its prompt and in a section of its task file, and pointed at its
//! checkpoint; a resume without one goes ahead with a warning. The pipeline
//! trusts the worktree again (the entry may have been removed since). A
//! failure puts the record, the lock and the task file back as they were.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::agent::{self, AgentKind};
use crate::context::{Context, TASK_FILE};
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::fsutil::write_atomic;
use crate::liveness::{Liveness, ProcessId};
use crate::lock::{Holder, IssueLock, LockStatus};
use crate::procdir::Proc;
use crate::record::Record;
use crate::review;
use crate::{clock, signal};

use super::pipeline::{Place, Plan};
use super::request::Request;
use super::start::AgentStart;
use super::target::Target;
use super::undo::Undo;

/// A resumed worker.
pub(crate) struct Resume {
    prompt: Option<String>,
    /// The record as the previous attempt left it.
    old: Option<Record>,
    /// Why the worker resumes, when a review asked for changes.
    reason: Option<String>,
    /// What the caller should hear (no checkpoint).
    warnings: Vec<String>,
}

impl Resume {
    pub(crate) fn new(req: &Request) -> Resume {
        Resume {
            prompt: req.prompt.clone(),
            old: None,
            reason: None,
            warnings: Vec::new(),
        }
    }

    /// Why the worker resumes: the review's request, else how the previous
    /// attempt ended.
    fn why(&self, old: &Record) -> String {
        if let Some(reason) = &self.reason {
            return reason.clone();
        }
        let ended = match old.result {
            Some(outcome) => format!("ended {outcome}"),
            None => format!("stopped {} without a result", old.state),
        };
        let detail = if old.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", old.detail)
        };
        format!("attempt {} {ended}{detail}", old.attempt)
    }

    fn old(&self) -> Result<&Record> {
        self.old
            .as_ref()
            .ok_or_else(|| Error::failure("resume: no record claimed", "resume"))
    }
}

impl Plan for Resume {
    fn event(&self) -> &'static str {
        "resumed"
    }

    fn claim(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()> {
        let session = &ctx.session;
        let old = proc.load()?;
        if old.state.is_active() {
            return Err(Error::failure(
                format!(
                    "{} {} is still {}; only a suspended or ended worker can be resumed",
                    t.kind, t.issue, old.state
                ),
                proc.dir().display().to_string(),
            ));
        }
        if !old
            .worktree
            .as_ref()
            .is_some_and(|p| PathBuf::from(p).is_dir())
        {
            return Err(Error::failure(
                "the worker's worktree is gone; nothing to resume",
                old.worktree.clone().unwrap_or_default(),
            )
            .hint(format!(
                "`orc-cleanup {0}` then `orc-spawn {0}` starts afresh",
                t.issue
            )));
        }
        wait_for_old_shim(proc)?;

        let me = ProcessId::current();
        let lock = IssueLock::new(&ctx.state, &t.repo, t.issue);
        match lock.check()? {
            LockStatus::Held(r) if r.session == session.name() && r.kept_by.is_some() => {
                lock.hand_over(
                    |l| l.session == session.name(),
                    Holder::Process { id: me },
                    None,
                )?;
                undo.push("the kept lock", move || {
                    lock.hand_over(|_| true, r.holder.clone(), r.kept_by.as_deref())
                        .map(drop)
                });
            }
            LockStatus::Free | LockStatus::Stale(_) => {
                lock.acquire(Holder::Process { id: me }, session.name())?;
                undo.push("the issue lock", move || {
                    lock.release(|l| l.holder == Holder::Process { id: me })
                        .map(drop)
                });
            }
            other => {
                let who = other
                    .record()
                    .map(|r| format!("{} (session {})", r.holder.describe(), r.session))
                    .unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!("issue {} is locked by {who}", t.issue),
                    t.repo.root.display().to_string(),
                ));
            }
        }
        self.reason = review::take_reason(proc)?;
        self.old = Some(old);
        Ok(())
    }

    fn record(&mut self, _ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()> {
        let old = self.old()?.clone();
        let now = clock::now_rfc3339()?;
        signal::clear(proc)?;
        let p = proc.clone();
        undo.push("the record", move || {
            p.update(|r| {
                *r = old;
                Ok(())
            })
            .map(drop)
        });
        proc.update(|r| {
            r.new_attempt(&now);
            r.pid = None;
            r.agent = Some(t.agent.as_str().to_string());
            Ok(())
        })?;
        Ok(())
    }

    fn place(&mut self, _ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<Place> {
        let old = self.old()?.clone();
        let worktree = PathBuf::from(old.worktree.clone().unwrap_or_default());
        let checkpoint = proc.checkpoint_path();
        if !checkpoint.exists() {
            let warning = format!(
                "{} {} has no checkpoint; the agent resumes from its branch and task file",
                t.kind, t.issue
            );
            proc.log("orc-spawn", &format!("warning: {warning}"))?;
            self.warnings.push(warning);
        }
        let task = worktree.join(TASK_FILE);
        if let Ok(before) = std::fs::read(&task) {
            let mut text = before.clone();
            let section = format!(
                "\n## Resumed: attempt {}\n\nWhy: {}\nCheckpoint: {}\n",
                old.attempt + 1,
                self.why(&old),
                if checkpoint.exists() {
                    checkpoint.display().to_string()
                } else {
                    "none (see git log and git status)".to_string()
                }
            );
            text.extend_from_slice(section.as_bytes());
            write_atomic(&task, &text, 0o600)?;
            undo.push("the task file", move || write_atomic(&task, &before, 0o600));
        }
        Ok(Place {
            worktree,
            branch: old.branch.clone().unwrap_or_default(),
            base: old.base.clone().unwrap_or_default(),
            made: false,
        })
    }

    fn agent(&mut self, t: &Target, proc: &Proc, _place: &Place) -> Result<AgentStart> {
        let old = self.old()?;
        let checkpoint = proc.checkpoint_path();
        let why = self.why(old);
        let prompt = self.prompt.clone().unwrap_or_else(|| {
            let checkpoint = checkpoint.exists().then_some(checkpoint.as_path());
            agent::default_prompt(t.kind, t.issue, checkpoint, Some(&why))
        });
        let resume = t.agent == AgentKind::Claude && old.agent_session.is_some();
        Ok(AgentStart {
            prompt,
            session_id: if resume {
                old.agent_session.clone()
            } else {
                None
            },
            resume,
        })
    }

    fn ready(
        &self,
        _r: &mut Record,
        _t: &Target,
        _place: &Place,
        _agent: &AgentStart,
        _now: &str,
    ) -> Result<()> {
        // The new attempt was recorded (READY) when the slot was taken.
        Ok(())
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

/// The previous attempt's shim may still be reaping its agent right after
/// the result was written; a second shim must not start beside it. Its
/// identity file is then removed, so the new attempt's start is not
/// mistaken for the old one's.
fn wait_for_old_shim(proc: &Proc) -> Result<()> {
    if let Some(ids) = proc.shim()? {
        let deadline = Instant::now() + Duration::from_secs(10);
        while ids.shim.liveness() != Liveness::Dead {
            if Instant::now() >= deadline {
                return Err(Error::failure(
                    format!(
                        "the previous attempt's shim (pid {}) is still running",
                        ids.shim.pid
                    ),
                    proc.dir().display().to_string(),
                )
                .hint("wait for it to end, or stop it with orc-ctl kill"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match std::fs::remove_file(proc.shim_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &proc.shim_path(), e)),
        }
    }
    Ok(())
}
