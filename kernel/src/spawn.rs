//! fork + exec for workers: claim the issue, build its address space
//! (worktree, task and env files, trust), create its proc directory and
//! start its shim. Any failure undoes every artefact made so far.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::agent::{self, AgentKind, Mode};
use crate::backend::{self, Backend, ShimLaunch};
use crate::clock;
use crate::context::{Context, ENV_FILE, TASK_FILE};
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::events::{self, Event};
use crate::fsutil::write_atomic;
use crate::ids::{Issue, Kind};
use crate::liveness::{Liveness, ProcessId};
use crate::lock::{self, Holder, IssueLock, LockRecord};
use crate::paths;
use crate::procdir::Proc;
use crate::profile::quote;
use crate::record::{Record, State, nice_of};
use crate::repo::Repo;
use crate::session::Session;
use crate::tracker::{self, TrackerKind};
use crate::trust;
use crate::worktree;

/// How long spawn waits for the shim to start the agent.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The issue.
    pub issue: Option<Issue>,
    /// worker (default) or reviewer.
    pub kind: Option<Kind>,
    /// critical, high, normal (default), low or 0-19.
    pub priority: Option<String>,
    /// The base branch (default `ORC_BASE`, else the repository's default).
    pub base: Option<String>,
    /// `OWNER/REPO` for the GitHub tracker.
    pub repo_slug: Option<String>,
    /// Resume a suspended or ended worker in its worktree.
    pub resume: bool,
    /// The prompt (default: the built-in worker prompt).
    pub prompt: Option<String>,
    /// The agent CLI (default `ORC_AGENT`).
    pub agent: Option<String>,
    /// The tracker (default `ORC_TRACKER`, else local when `.orc/issues/` exists).
    pub tracker: Option<String>,
    /// The backend (default `ORC_BACKEND`).
    pub backend: Option<String>,
    /// Reviewers: the pull request under review.
    pub pr: Option<u32>,
}

/// What `orc-spawn` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Spawned {
    /// The issue.
    pub issue: Issue,
    /// worker or reviewer.
    pub kind: Kind,
    /// The session.
    pub session: String,
    /// The worktree.
    pub worktree: String,
    /// The branch.
    pub branch: String,
    /// The base branch.
    pub base: String,
    /// The agent's pid (its process group id).
    pub pid: Option<i32>,
    /// The shim's pid.
    pub shim_pid: Option<i32>,
    /// The wake FIFO.
    pub wake: String,
    /// The attempt number.
    pub attempt: u32,
    /// The agent CLI.
    pub agent: String,
}

/// One undo step: what it undoes, and how.
type Step = (&'static str, Box<dyn FnOnce() -> Result<()>>);

/// Steps to undo, run in reverse unless disarmed.
#[derive(Default)]
pub(crate) struct Undo {
    steps: Vec<Step>,
}

impl Undo {
    pub(crate) fn push(&mut self, what: &'static str, step: impl FnOnce() -> Result<()> + 'static) {
        self.steps.push((what, Box::new(step)));
    }

    pub(crate) fn disarm(mut self) {
        self.steps.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some((what, step)) = self.steps.pop() {
            if let Err(e) = step() {
                eprintln!("orc-spawn: warning: could not undo {what}: {e}");
            }
        }
    }
}

/// Everything a spawn resolved before it creates anything.
struct Plan {
    issue: Issue,
    kind: Kind,
    repo: Repo,
    priority: String,
    agent: AgentKind,
    backend: Backend,
    tracker: TrackerKind,
    shim: PathBuf,
}

fn plan(ctx: &Context, req: &Request) -> Result<Plan> {
    let issue = req
        .issue
        .ok_or_else(|| Error::usage("missing ISSUE", "orc-spawn"))?;
    let kind = req.kind.unwrap_or(Kind::Worker);
    let repo = ctx.repo()?.clone();
    let priority = req.priority.clone().unwrap_or_else(|| "normal".to_string());
    nice_of(&priority)?;
    let agent = AgentKind::parse(
        req.agent
            .as_deref()
            .or(ctx.config.get("ORC_AGENT"))
            .unwrap_or("claude"),
    )?;
    let backend = Backend::parse(
        req.backend
            .as_deref()
            .or(ctx.config.get("ORC_BACKEND"))
            .unwrap_or("headless"),
    )?;
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
    Ok(Plan {
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

/// Spawn a worker. With `resume`, restart a suspended or ended worker.
pub fn spawn(ctx: &Context, req: &Request) -> Result<Spawned> {
    let plan = plan(ctx, req)?;
    if plan.kind == Kind::Reviewer {
        if req.resume {
            return Err(Error::usage(
                "a reviewer is not resumed; spawn a new review",
                "--resume",
            ));
        }
        return crate::review::spawn_reviewer(ctx, &plan_parts(&plan), req.pr, req.prompt.clone());
    }
    if req.resume {
        return crate::resume::resume(ctx, req, &plan_parts(&plan));
    }
    let me = ProcessId::current();
    let session = ctx.session.clone();
    let proc = Proc::new(&session, plan.kind, plan.issue);
    let lock = IssueLock::new(&ctx.state, &plan.repo, plan.issue);
    let mut undo = Undo { steps: Vec::new() };

    // The issue is read (and its title checked) before anything is created.
    let issue = tracker::fetch(
        plan.tracker,
        &plan.repo.root,
        req.repo_slug.as_deref(),
        plan.issue,
    )?;
    lock.acquire(Holder::Process { id: me }, session.name())?;
    let l = lock.clone();
    undo.push("the issue lock", move || {
        l.release(|r| held_by_dead_or(r, me)).map(drop)
    });

    if let Some(old) = proc.read()? {
        return Err(Error::failure(
            format!(
                "issue {} has a record from an earlier attempt ({}, {})",
                plan.issue,
                old.state,
                old.result_name()
            ),
            proc.dir().display().to_string(),
        )
        .hint(format!(
            "`orc-spawn --resume {0}` continues it; `orc-cleanup {0}` removes it",
            plan.issue
        )));
    }
    let max = ctx.config.number("ORC_MAX_WORKERS")?;
    check_capacity(&session, max)?;

    let now = clock::now_rfc3339()?;
    let mut record = Record::new(plan.issue, plan.kind, session.name(), &now);
    record.priority = plan.priority.clone();
    record.repo = Some(plan.repo.root.display().to_string());
    {
        let _slot = lock::named(&ctx.state, &format!("spawn-{}", session.name()), true)?;
        check_capacity(&session, max)?;
        let created_session = !session.dir().exists();
        proc.create(&record)?;
        let (p, s) = (proc.clone(), session.clone());
        undo.push("the proc directory", move || {
            remove_proc(&p, &s, created_session)
        });
    }

    let base = worktree::resolve_base(
        &plan.repo,
        req.base.as_deref().or(ctx.config.get("ORC_BASE")),
    )?;
    refuse_unmerged_leftovers(&plan.repo, plan.issue, &base)?;
    let wt = worktree::create(&plan.repo, plan.issue, &issue.title, &base)?;
    let (r, path, branch, base_name) = (
        plan.repo.clone(),
        wt.path.clone(),
        wt.branch.clone(),
        base.name.clone(),
    );
    undo.push("the worktree", move || {
        worktree::remove(&r, &path, &branch, &base_name)
    });

    let repo_label = req
        .repo_slug
        .clone()
        .or_else(|| plan.repo.slug())
        .unwrap_or_else(|| plan.repo.root.display().to_string());
    write_atomic(
        &wt.path.join(TASK_FILE),
        tracker::render_task(&issue, &repo_label, &base.name).as_bytes(),
        0o600,
    )?;
    let env = worker_env(ctx, plan.kind, plan.issue);
    write_atomic(&wt.path.join(ENV_FILE), env_file(&env).as_bytes(), 0o600)?;

    let home = paths::home()?;
    let had_config = home.join(trust::FILE).exists();
    trust::grant(&ctx.state, &home, &wt.path)?;
    let (state, h, dir) = (ctx.state.clone(), home.clone(), wt.path.clone());
    undo.push("the trust entry", move || {
        untrust(&state, &h, &dir, had_config)
    });

    let session_id = (plan.agent == AgentKind::Claude)
        .then(agent::new_session_id)
        .transpose()?;
    let prompt = req
        .prompt
        .clone()
        .unwrap_or_else(|| agent::default_prompt(plan.kind, plan.issue, None, None));
    let launch = agent_launch(ctx, &plan, &wt.path, prompt, session_id.clone(), false)?;
    record = proc.update(|r| {
        r.transition(State::Ready, "starting", &clock::now_rfc3339()?)?;
        r.worktree = Some(wt.path.display().to_string());
        r.branch = Some(wt.branch.clone());
        r.base = Some(base.name.clone());
        r.agent = Some(plan.agent.as_str().to_string());
        r.agent_session = session_id.clone();
        Ok(())
    })?;

    start_shim(ctx, &plan, &proc, &wt.path, &launch, env)?;
    let started = wait_for_start(&proc)?;
    undo.disarm();

    session.ensure(Some(&plan.repo))?;
    // The record as spawn made it (READY): a fast agent may have ended
    // already, and its end is its own event.
    events::append(&session, &Event::of("spawned", &record)?)?;
    Ok(Spawned {
        issue: plan.issue,
        kind: plan.kind,
        session: session.name().to_string(),
        worktree: wt.path.display().to_string(),
        branch: wt.branch,
        base: base.name,
        pid: started.0,
        shim_pid: started.1,
        wake: proc.wake_path().display().to_string(),
        attempt: record.attempt,
        agent: plan.agent.as_str().to_string(),
    })
}

/// The parts of a plan resume needs.
pub(crate) struct PlanParts {
    pub issue: Issue,
    pub kind: Kind,
    pub repo: Repo,
    pub agent: AgentKind,
    pub backend: Backend,
    pub shim: PathBuf,
}

fn plan_parts(p: &Plan) -> PlanParts {
    PlanParts {
        issue: p.issue,
        kind: p.kind,
        repo: p.repo.clone(),
        agent: p.agent,
        backend: p.backend,
        shim: p.shim.clone(),
    }
}

/// A branch of this issue left from an earlier worker may hold commits
/// found nowhere else (cleanup keeps such branches); creating the worktree
/// would delete it, so refuse instead of losing work.
fn refuse_unmerged_leftovers(repo: &Repo, issue: Issue, base: &worktree::Base) -> Result<()> {
    for found in worktree::find(repo, issue)? {
        let Some(branch) = found.branch else { continue };
        if worktree::commits_beyond(repo, &branch, &base.start)? > 0 {
            return Err(Error::failure(
                format!("branch {branch} from an earlier worker has commits not on {}", base.name),
                repo.root.display().to_string(),
            )
            .hint(format!("merge or push it, or delete it with `git branch -D {branch}`; `orc-spawn --resume` continues a worker")));
        }
    }
    Ok(())
}

fn held_by_dead_or(record: &LockRecord, me: ProcessId) -> bool {
    match &record.holder {
        Holder::Process { id } => *id == me || id.liveness() == Liveness::Dead,
        Holder::Session { .. } => false,
    }
}

/// Fail with exit 4 when the session already runs `max` workers. A worker
/// whose shim is verifiably dead holds no slot; one whose shim is not known
/// yet (being spawned) does.
pub(crate) fn check_capacity(session: &Session, max: u64) -> Result<()> {
    let mut running = 0u64;
    for proc in Proc::list(session)? {
        let active = proc
            .read()
            .ok()
            .flatten()
            .is_some_and(|r| r.state.is_active());
        if active && proc.shim_liveness() != Liveness::Dead {
            running += 1;
        }
    }
    if running >= max {
        return Err(Error::new(
            ErrorKind::AtCapacity,
            format!(
                "session {} already runs {running} of ORC_MAX_WORKERS={max} workers",
                session.name()
            ),
            session.dir().display().to_string(),
        )
        .hint("wait with orc-watch --any, or raise ORC_MAX_WORKERS"));
    }
    Ok(())
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

fn untrust(
    state: &crate::paths::StateDir,
    home: &Path,
    dir: &Path,
    had_config: bool,
) -> Result<()> {
    trust::revoke(state, home, dir)?;
    if !had_config {
        // The file did not exist before this spawn: leave none behind if all
        // it holds is the empty map the grant created.
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

/// The environment of the shim and agent: the caller's, scrubbed of Claude
/// Code session markers and orc's per-session variables, then the worker's
/// own set explicitly, with the orc binaries first on PATH.
pub fn worker_env(ctx: &Context, kind: Kind, issue: Issue) -> Vec<(String, String)> {
    let mut env = agent::scrub(std::env::vars());
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string());
    let path = match paths::bin_dir() {
        Some(bin) if !path.split(':').any(|p| Path::new(p) == bin) => {
            format!("{}:{path}", bin.display())
        }
        _ => path,
    };
    env.retain(|(k, _)| k != "PATH");
    env.extend([
        ("PATH".to_string(), path),
        ("ORC_SESSION".to_string(), ctx.session.name().to_string()),
        (
            "ORC_STATE_DIR".to_string(),
            ctx.state.root().display().to_string(),
        ),
        ("ORC_ENV".to_string(), ctx.config.profile().to_string()),
        ("ORC_ISSUE".to_string(), issue.to_string()),
        ("ORC_KIND".to_string(), kind.to_string()),
    ]);
    env
}

pub(crate) fn env_file(env: &[(String, String)]) -> String {
    let mut text =
        String::from("# Written by orc-spawn: who this worker is. Data, never evaluated by orc.\n");
    for (k, v) in env
        .iter()
        .filter(|(k, _)| k.starts_with("ORC_") || k == "PATH")
    {
        text.push_str(&format!("{k}={}\n", quote(v)));
    }
    text
}

fn agent_launch(
    ctx: &Context,
    plan: &Plan,
    worktree: &Path,
    prompt: String,
    session_id: Option<String>,
    resume: bool,
) -> Result<agent::Launch> {
    launch_for(
        ctx,
        plan.agent,
        plan.backend,
        plan.kind,
        plan.issue,
        worktree,
        prompt,
        session_id,
        resume,
    )
}

/// The agent's command line for a worker.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_for(
    ctx: &Context,
    agent_kind: AgentKind,
    backend: Backend,
    kind: Kind,
    issue: Issue,
    worktree: &Path,
    prompt: String,
    session_id: Option<String>,
    resume: bool,
) -> Result<agent::Launch> {
    let mode = if backend == Backend::Headless {
        Mode::Headless
    } else {
        Mode::Interactive
    };
    let spec = agent::Spec {
        kind,
        issue,
        worktree: worktree.to_path_buf(),
        prompt,
        session_id,
        resume,
        custom_template: ctx.config.get("ORC_AGENT_CMD").map(str::to_string),
        plugin_dir: agent::claude_plugin_dir(),
    };
    agent::command(agent_kind, mode, &spec)
}

fn start_shim(
    ctx: &Context,
    plan: &Plan,
    proc: &Proc,
    worktree: &Path,
    launch: &agent::Launch,
    env: Vec<(String, String)>,
) -> Result<()> {
    start_shim_with(
        ctx,
        plan.backend,
        &plan.shim,
        plan.kind,
        plan.issue,
        proc,
        worktree,
        launch,
        env,
    )
}

/// Start the shim for a worker through its backend.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_shim_with(
    ctx: &Context,
    backend: Backend,
    shim: &Path,
    kind: Kind,
    issue: Issue,
    proc: &Proc,
    worktree: &Path,
    launch: &agent::Launch,
    env: Vec<(String, String)>,
) -> Result<()> {
    let mut args = vec![
        "--session".to_string(),
        ctx.session.name().to_string(),
        "--issue".to_string(),
        issue.to_string(),
        "--kind".to_string(),
        kind.to_string(),
    ];
    if backend != Backend::Headless {
        args.push("--interactive".to_string());
    }
    find_program(&launch.program, &env, worktree)?;
    args.push("--".to_string());
    args.push(launch.program.clone());
    args.extend(launch.args.iter().cloned());
    let l = ShimLaunch {
        program: shim.to_path_buf(),
        args,
        env,
        cwd: worktree.to_path_buf(),
        log: proc.log_path(),
    };
    backend::launch(backend, &l)
}

/// The agent's program must exist (on the worker's PATH, or relative to the
/// worktree) before a shim is started for it: a shim that cannot start its
/// agent has already ended the worker and logged to the session, which a
/// rollback cannot take back.
fn find_program(program: &str, env: &[(String, String)], cwd: &Path) -> Result<()> {
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    which::which_in(program, Some(path), cwd)
        .map(drop)
        .map_err(|_| {
            Error::failure("cannot find the agent's program", program)
                .hint("install it, or set ORC_AGENT / ORC_AGENT_CMD to one on PATH")
        })
}

/// Wait until the shim has started the agent. Returns (agent pid, shim pid).
/// If the shim died first, or ended the worker with `error`, that is the
/// spawn's failure.
pub(crate) fn wait_for_start(proc: &Proc) -> Result<(Option<i32>, Option<i32>)> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let ids = proc.shim()?;
        if let Some(ids) = ids
            && let Some(agent) = ids.agent
        {
            return Ok((Some(agent.pid), Some(ids.shim.pid)));
        }
        if let Some(record) = proc.read()?
            && !record.state.is_active()
        {
            if record.result == Some(crate::record::Outcome::Error) {
                return Err(Error::failure(
                    format!("the worker could not start: {}", record.detail),
                    proc.log_path().display().to_string(),
                ));
            }
            return Ok((record.pid, ids.map(|i| i.shim.pid)));
        }
        if ids.is_some_and(|i| i.shim.liveness() == Liveness::Dead) {
            return Err(Error::failure(
                "the shim died before starting the agent",
                proc.log_path().display().to_string(),
            )
            .hint("the log says why"));
        }
        if Instant::now() >= deadline {
            if let Some(shim) = ids
                .map(|i| i.shim)
                .filter(|s| s.liveness() == Liveness::Alive)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(shim.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(Error::failure(
                "the shim did not start the agent in time",
                proc.log_path().display().to_string(),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
