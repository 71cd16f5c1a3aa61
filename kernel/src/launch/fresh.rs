//! The plan of a new worker: claim the issue lock, make a new record, fetch
//! the issue, create its worktree and branch from the base.

use crate::agent::{self, AgentKind};
use crate::clock;
use crate::context::{Context, TASK_FILE};
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::fsutil::write_atomic;
use crate::liveness::{Liveness, ProcessId};
use crate::lock::{Holder, IssueLock, LockRecord};
use crate::procdir::Proc;
use crate::record::{Record, State};
use crate::repo::Repo;
use crate::session::Session;
use crate::tracker;
use crate::worktree::{self, contained, leftover};

use super::pipeline::{Place, Plan};
use super::request::Request;
use super::start::AgentStart;
use super::target::Target;
use super::undo::Undo;

/// A new worker.
pub(crate) struct Fresh {
    base: Option<String>,
    repo_slug: Option<String>,
    prompt: Option<String>,
    /// The issue, read (and its title checked) before anything is created.
    issue: Option<tracker::IssueData>,
}

impl Fresh {
    pub(crate) fn new(req: &Request) -> Fresh {
        Fresh {
            base: req.base.clone(),
            repo_slug: req.repo_slug.clone(),
            prompt: req.prompt.clone(),
            issue: None,
        }
    }
}

impl Plan for Fresh {
    fn event(&self) -> &'static str {
        "spawned"
    }

    fn claim(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()> {
        // Read the issue and check where its worktree will go first: a
        // refused title or a `.worktrees` link out of the repository must
        // leave no lock behind.
        self.issue = Some(tracker::fetch(
            t.tracker,
            &t.repo.root,
            self.repo_slug.as_deref(),
            t.issue,
        )?);
        worktree::check_inside(&t.repo, &worktree::worktree_path(&t.repo, t.issue, "x"))?;
        let me = ProcessId::current();
        let lock = IssueLock::new(&ctx.state, &t.repo, t.issue);
        lock.acquire(Holder::Process { id: me }, ctx.session.name())?;
        undo.push("the issue lock", move || {
            lock.release(|r| held_by_dead_or(r, me)).map(drop)
        });
        if let Some(old) = proc.read()? {
            return Err(Error::failure(
                format!(
                    "issue {} has a record from an earlier attempt ({}, {})",
                    t.issue,
                    old.state,
                    old.result_name()
                ),
                proc.dir().display().to_string(),
            )
            .hint(format!(
                "`orc-spawn --resume {0}` continues it; `orc-cleanup {0}` removes it",
                t.issue
            )));
        }
        Ok(())
    }

    fn record(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()> {
        let session = ctx.session.clone();
        let mut record = Record::new(t.issue, t.kind, session.name(), &clock::now_rfc3339()?);
        record.priority = t.priority.clone();
        record.repo = Some(t.repo.root.display().to_string());
        let created_session = !session.dir().exists();
        proc.create(&record)?;
        let p = proc.clone();
        undo.push("the proc directory", move || {
            remove_proc(&p, &session, created_session)
        });
        Ok(())
    }

    fn place(&mut self, ctx: &Context, t: &Target, _proc: &Proc, undo: &mut Undo) -> Result<Place> {
        let issue = match self.issue.take() {
            Some(issue) => issue,
            None => tracker::fetch(t.tracker, &t.repo.root, self.repo_slug.as_deref(), t.issue)?,
        };
        let base =
            worktree::resolve_base(&t.repo, self.base.as_deref().or(ctx.config.get("ORC_BASE")))?;
        let wt = worktree::create(&t.repo, t.issue, &issue.title, &base)?;
        let start = contained::tip(&t.repo, &format!("refs/heads/{}", wt.branch))?;
        let (r, path, branch, base_name) = (
            t.repo.clone(),
            wt.path.clone(),
            wt.branch.clone(),
            base.name.clone(),
        );
        undo.push("the worktree", move || {
            // An agent that started before the launch failed may have
            // worked there already: only an untouched worktree goes.
            if !untouched(&r, &path, &branch, start.as_deref())? {
                return Err(Error::new(
                    ErrorKind::WorkKept,
                    "the worktree has new work; it is kept",
                    path.display().to_string(),
                ));
            }
            worktree::remove(&r, &path, &branch, &base_name)
        });
        let repo_label = self
            .repo_slug
            .clone()
            .or_else(|| t.repo.slug())
            .unwrap_or_else(|| t.repo.root.display().to_string());
        write_atomic(
            &wt.path.join(TASK_FILE),
            tracker::render_task(&issue, &repo_label, &base.name).as_bytes(),
            0o600,
        )?;
        Ok(Place {
            worktree: wt.path,
            branch: wt.branch,
            base: base.name,
            made: true,
        })
    }

    fn agent(&mut self, t: &Target, _proc: &Proc, _place: &Place) -> Result<AgentStart> {
        let session_id = (t.agent == AgentKind::Claude)
            .then(agent::new_session_id)
            .transpose()?;
        let prompt = self
            .prompt
            .clone()
            .unwrap_or_else(|| agent::default_prompt(t.kind, t.issue, None, None));
        Ok(AgentStart {
            prompt,
            session_id,
            resume: false,
        })
    }

    fn ready(
        &self,
        r: &mut Record,
        t: &Target,
        place: &Place,
        agent: &AgentStart,
        now: &str,
    ) -> Result<()> {
        r.transition(State::Ready, "starting", now)?;
        r.worktree = Some(place.worktree.display().to_string());
        r.branch = Some(place.branch.clone());
        r.base = Some(place.base.clone());
        r.agent = Some(t.agent.as_str().to_string());
        r.agent_session = agent.session_id.clone();
        Ok(())
    }
}

/// Whether the worktree at `path` and its branch are as `create` made
/// them: the branch still at `start`, HEAD on it, nothing uncommitted.
fn untouched(
    repo: &Repo,
    path: &std::path::Path,
    branch: &str,
    start: Option<&str>,
) -> Result<bool> {
    if !path.is_dir() {
        return Ok(true);
    }
    let tip = contained::tip(repo, &format!("refs/heads/{branch}"))?;
    let head = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()
        .map_err(|e| Error::io("run git rev-parse in", path, e))?;
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    Ok(tip.as_deref() == start && Some(head.as_str()) == start && !leftover::is_dirty(path)?)
}

fn held_by_dead_or(record: &LockRecord, me: ProcessId) -> bool {
    match &record.holder {
        Holder::Process { id } => *id == me || id.liveness() == Liveness::Dead,
        Holder::Session { .. } => false,
    }
}

fn remove_proc(proc: &Proc, session: &Session, created_session: bool) -> Result<()> {
    match std::fs::remove_dir_all(proc.dir()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", proc.dir(), e)),
    }
    if created_session {
        // Only empty directories go: another spawn may be using them.
        let _ = std::fs::remove_dir(session.procs());
        let _ = std::fs::remove_dir(session.dir());
    }
    Ok(())
}
