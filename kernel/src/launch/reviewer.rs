//! The plan of a reviewer: a second agent that reads a worker's change in
//! its own detached worktree of the worker's branch, so it never writes to
//! the worker's; its record is `reviewer-<N>`, beside the worker's.

use std::path::Path;

use crate::agent;
use crate::context::{Context, TASK_FILE};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::ids::Kind;
use crate::procdir::Proc;
use crate::record::{Record, State};
use crate::review;
use crate::worktree;

use super::pipeline::{Place, Plan};
use super::request::Request;
use super::start::AgentStart;
use super::target::Target;
use super::undo::Undo;

/// A reviewer of a worker's branch.
pub(crate) struct Reviewer {
    pr: Option<u32>,
    prompt: Option<String>,
    /// The worker's record, and its branch.
    worker: Option<(Record, String)>,
    round: u32,
}

impl Reviewer {
    pub(crate) fn new(req: &Request) -> Reviewer {
        Reviewer {
            pr: req.pr,
            prompt: req.prompt.clone(),
            worker: None,
            round: 1,
        }
    }

    fn worker(&self) -> Result<&(Record, String)> {
        self.worker
            .as_ref()
            .ok_or_else(|| Error::failure("review: no worker claimed", "review"))
    }
}

impl Plan for Reviewer {
    fn event(&self) -> &'static str {
        "spawned"
    }

    fn claim(&mut self, ctx: &Context, t: &Target, _proc: &Proc, _undo: &mut Undo) -> Result<()> {
        let worker = Proc::new(&ctx.session, Kind::Worker, t.issue);
        let wrec = worker.read()?.ok_or_else(|| {
            Error::failure(
                format!("issue {} has no worker to review", t.issue),
                worker.dir().display().to_string(),
            )
        })?;
        let branch = wrec.branch.clone().ok_or_else(|| {
            Error::failure(
                "the worker has no branch yet",
                worker.dir().display().to_string(),
            )
        })?;
        let log = review::read_log(&worker)?;
        if log.escalated {
            return Err(Error::failure(
                format!(
                    "issue {} was escalated after {} review rounds",
                    t.issue, log.rounds
                ),
                review::log_path(&worker).display().to_string(),
            )
            .hint("a person decides now; orc-cleanup --kind reviewer removes the last review"));
        }
        self.round = log.rounds + 1;
        self.worker = Some((wrec, branch));
        Ok(())
    }

    fn record(&mut self, ctx: &Context, t: &Target, proc: &Proc, undo: &mut Undo) -> Result<()> {
        let mut record = Record::new(
            t.issue,
            Kind::Reviewer,
            ctx.session.name(),
            &crate::clock::now_rfc3339()?,
        );
        record.repo = Some(t.repo.root.display().to_string());
        proc.create(&record).map_err(|e| {
            e.hint(format!(
                "`orc-cleanup --kind reviewer {}` removes the last review",
                t.issue
            ))
        })?;
        let p = proc.clone();
        undo.push("the reviewer's proc directory", move || {
            std::fs::remove_dir_all(p.dir()).map_err(|e| Error::io("remove", p.dir(), e))
        });
        Ok(())
    }

    fn place(
        &mut self,
        _ctx: &Context,
        t: &Target,
        _proc: &Proc,
        undo: &mut Undo,
    ) -> Result<Place> {
        let (wrec, branch) = self.worker()?;
        let path = review::review_path(&t.repo, t.issue);
        worktree::create_detached(&t.repo, &path, branch)?;
        let (r, p) = (t.repo.clone(), path.clone());
        undo.push("the review worktree", move || {
            worktree::remove_worktree(&r, &p, "")
        });
        let task = review_task(wrec, self.pr, self.round);
        write_atomic(&path.join(TASK_FILE), task.as_bytes(), 0o600)?;
        Ok(Place {
            worktree: path,
            branch: branch.clone(),
            base: wrec.base.clone().unwrap_or_default(),
            made: true,
        })
    }

    fn agent(&mut self, t: &Target, _proc: &Proc, _place: &Place) -> Result<AgentStart> {
        let prompt = self
            .prompt
            .clone()
            .unwrap_or_else(|| agent::default_prompt(Kind::Reviewer, t.issue, None, None));
        Ok(AgentStart {
            prompt,
            session_id: None,
            resume: false,
        })
    }

    fn ready(
        &self,
        r: &mut Record,
        t: &Target,
        place: &Place,
        _agent: &AgentStart,
        now: &str,
    ) -> Result<()> {
        let (wrec, _) = self.worker()?;
        let detail = self
            .pr
            .map_or("starting".into(), |n| format!("reviewing PR #{n}"));
        r.transition(State::Ready, &detail, now)?;
        r.worktree = Some(place.worktree.display().to_string());
        r.branch = Some(place.branch.clone());
        r.base = wrec.base.clone();
        r.agent = Some(t.agent.as_str().to_string());
        Ok(())
    }
}

fn review_task(worker: &Record, pr: Option<u32>, round: u32) -> String {
    let original = worker
        .worktree
        .as_deref()
        .and_then(|w| std::fs::read_to_string(Path::new(w).join(TASK_FILE)).ok())
        .unwrap_or_default();
    let mut text = format!(
        "# Review of issue #{} (round {round})\n\n- branch: {}\n- base: {}\n- pull request: {}\n\n\
         Review the change on the branch against the base. This worktree is a detached copy of \
         the branch: do not commit here. End with `orc-notify approved`, `orc-notify \
         changes-requested \"<what to change>\"` or `orc-notify failed \"<why>\"`.\n\n",
        worker.issue,
        worker.branch.as_deref().unwrap_or("?"),
        worker.base.as_deref().unwrap_or("?"),
        pr.map_or("none".to_string(), |n| format!("#{n}")),
    );
    text.push_str("---\n\n");
    text.push_str(&original);
    text
}
