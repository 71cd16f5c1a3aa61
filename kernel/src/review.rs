//! Reviewers: a second agent that reads a worker's change and says
//! `approved`, `changes-requested` or `failed`. A reviewer works in its own
//! detached worktree of the worker's branch, so it never writes to the
//! worker's; its record is `reviewer-<N>`, beside the worker's. Requested
//! changes become the worker's resume reason, up to
//! `ORC_REVIEW_MAX_ROUNDS` rounds, then the issue is escalated to a person.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::context::{Context, ENV_FILE, TASK_FILE};
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::fsutil::write_atomic;
use crate::ids::{Issue, Kind};
use crate::lock;
use crate::paths;
use crate::procdir::Proc;
use crate::record::{Outcome, Record, State};
use crate::repo::Repo;
use crate::spawn::{self, PlanParts, Spawned};
use crate::trust;
use crate::worktree;

/// The worker's review history, `review.json` in the worker's proc dir.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewLog {
    /// How many rounds asked for changes.
    pub rounds: u32,
    /// The reason the next resume should address, until it is taken.
    #[serde(default)]
    pub pending: Option<String>,
    /// Whether the rounds ran out and a person must decide.
    #[serde(default)]
    pub escalated: bool,
}

fn log_path(worker: &Proc) -> PathBuf {
    worker.dir().join("review.json")
}

/// Read the worker's review log (empty when it has none).
pub fn read_log(worker: &Proc) -> Result<ReviewLog> {
    Ok(crate::fsutil::read_json(&log_path(worker), "review log")?.unwrap_or_default())
}

fn write_log(worker: &Proc, log: &ReviewLog) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(log).map_err(|e| {
        Error::failure(
            format!("cannot encode review log: {e}"),
            worker.dir().display().to_string(),
        )
    })?;
    write_atomic(&log_path(worker), &bytes, 0o600)
}

/// Where a reviewer of `issue` looks at the change.
pub fn review_path(repo: &Repo, issue: Issue) -> PathBuf {
    repo.root
        .join(".worktrees")
        .join("review")
        .join(issue.to_string())
}

/// Start a reviewer for the worker of `parts.issue`.
pub(crate) fn spawn_reviewer(
    ctx: &Context,
    parts: &PlanParts,
    pr: Option<u32>,
    prompt: Option<String>,
) -> Result<Spawned> {
    let session = &ctx.session;
    let worker = Proc::new(session, Kind::Worker, parts.issue);
    let wrec = worker.read()?.ok_or_else(|| {
        Error::failure(
            format!("issue {} has no worker to review", parts.issue),
            worker.dir().display().to_string(),
        )
    })?;
    let branch = wrec.branch.clone().ok_or_else(|| {
        Error::failure(
            "the worker has no branch yet",
            worker.dir().display().to_string(),
        )
    })?;
    let log = read_log(&worker)?;
    if log.escalated {
        return Err(Error::failure(
            format!(
                "issue {} was escalated after {} review rounds",
                parts.issue, log.rounds
            ),
            log_path(&worker).display().to_string(),
        )
        .hint("a person decides now; orc-cleanup --kind reviewer removes the last review"));
    }
    let proc = Proc::new(session, Kind::Reviewer, parts.issue);
    let mut undo = spawn::Undo::default();
    let now = clock::now_rfc3339()?;
    let mut record = Record::new(parts.issue, Kind::Reviewer, session.name(), &now);
    record.repo = Some(parts.repo.root.display().to_string());
    {
        let _slot = lock::named(&ctx.state, &format!("spawn-{}", session.name()), true)?;
        spawn::check_capacity(session, ctx.config.number("ORC_MAX_WORKERS")?)?;
        proc.create(&record).map_err(|e| {
            e.hint(format!(
                "`orc-cleanup --kind reviewer {}` removes the last review",
                parts.issue
            ))
        })?;
        let p = proc.clone();
        undo.push("the reviewer's proc directory", move || {
            std::fs::remove_dir_all(p.dir()).map_err(|e| Error::io("remove", p.dir(), e))
        });
    }
    let path = review_path(&parts.repo, parts.issue);
    worktree::create_detached(&parts.repo, &path, &branch)?;
    let (r, p) = (parts.repo.clone(), path.clone());
    undo.push("the review worktree", move || {
        worktree::remove_worktree(&r, &p, "")
    });

    let task = review_task(&wrec, pr, log.rounds + 1);
    write_atomic(&path.join(TASK_FILE), task.as_bytes(), 0o600)?;
    let env = spawn::worker_env(ctx, Kind::Reviewer, parts.issue);
    write_atomic(
        &path.join(ENV_FILE),
        spawn::env_file(&env).as_bytes(),
        0o600,
    )?;
    let home = paths::home()?;
    trust::grant(&ctx.state, &home, &path)?;
    let (state, h, d) = (ctx.state.clone(), home.clone(), path.clone());
    undo.push("the trust entry", move || trust::revoke(&state, &h, &d));

    let prompt = prompt
        .unwrap_or_else(|| crate::agent::default_prompt(Kind::Reviewer, parts.issue, None, None));
    let launch = spawn::launch_for(
        ctx,
        parts.agent,
        parts.backend,
        Kind::Reviewer,
        parts.issue,
        &path,
        prompt,
        None,
        false,
    )?;
    let record = proc.update(|r| {
        r.transition(
            State::Ready,
            &pr.map_or("starting".into(), |n| format!("reviewing PR #{n}")),
            &clock::now_rfc3339()?,
        )?;
        r.worktree = Some(path.display().to_string());
        r.branch = Some(branch.clone());
        r.base = wrec.base.clone();
        r.agent = Some(parts.agent.as_str().to_string());
        Ok(())
    })?;
    spawn::start_shim_with(
        ctx,
        parts.backend,
        &parts.shim,
        Kind::Reviewer,
        parts.issue,
        &proc,
        &path,
        &launch,
        env,
    )?;
    let started = spawn::wait_for_start(&proc)?;
    undo.disarm();
    // The record as spawn made it (READY): a fast reviewer may have ended
    // already, and its end is its own event.
    events::append(session, &Event::of("spawned", &record)?)?;
    Ok(Spawned {
        issue: parts.issue,
        kind: Kind::Reviewer,
        session: session.name().to_string(),
        worktree: path.display().to_string(),
        branch,
        base: wrec.base.unwrap_or_default(),
        pid: started.0,
        shim_pid: started.1,
        wake: proc.wake_path().display().to_string(),
        attempt: record.attempt,
        agent: parts.agent.as_str().to_string(),
    })
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

/// After a reviewer's result: a change request becomes the worker's resume
/// reason (and a section of its task file); too many rounds escalate.
pub(crate) fn after_review(ctx: &Context, reviewer: &Record) -> Result<()> {
    if reviewer.result != Some(Outcome::ChangesRequested) {
        return Ok(());
    }
    let worker = Proc::new(&ctx.session, Kind::Worker, reviewer.issue);
    if !worker.exists() {
        return Ok(());
    }
    let _guard = worker.guard()?;
    let mut log = read_log(&worker)?;
    log.rounds += 1;
    log.pending = Some(reviewer.detail.clone());
    let max = ctx.config.number("ORC_REVIEW_MAX_ROUNDS")?;
    log.escalated = u64::from(log.rounds) >= max;
    write_log(&worker, &log)?;
    if let Some(dir) = worker.read()?.and_then(|w| w.worktree) {
        let task = Path::new(&dir).join(TASK_FILE);
        if task.exists() {
            let section = format!(
                "\n## Review round {}: changes requested\n\n{}\n",
                log.rounds, reviewer.detail
            );
            crate::fsutil::append_line(&task, section.trim_end())?;
        }
    }
    if log.escalated {
        let mut event = Event::of("escalated", reviewer)?;
        event.detail = format!(
            "{} review rounds (ORC_REVIEW_MAX_ROUNDS={max}); a person decides",
            log.rounds
        );
        events::append(&ctx.session, &event)?;
    }
    Ok(())
}

/// Take the pending review reason for a worker's resume. Refuses once the
/// rounds are exhausted: the issue waits for a person.
pub(crate) fn take_reason(worker: &Proc) -> Result<Option<String>> {
    let _guard = worker.guard()?;
    let mut log = read_log(worker)?;
    if log.escalated {
        return Err(Error::failure(
            format!(
                "issue {} was escalated after {} review rounds",
                worker.issue(),
                log.rounds
            ),
            log_path(worker).display().to_string(),
        )
        .hint("a person decides now; remove review.json to allow another round"));
    }
    let reason = log.pending.take();
    if reason.is_some() {
        write_log(worker, &log)?;
    }
    Ok(reason)
}
