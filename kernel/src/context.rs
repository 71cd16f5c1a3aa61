//! Who is calling: the resolved configuration, repository, state directory
//! and session, for the orchestrator side and for the worker side.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::profile::{Config, Layers, unquote};
use crate::repo::Repo;
use crate::session::Session;

/// The worker env file at a worktree's root.
pub const ENV_FILE: &str = ".orc-env";
/// The task file at a worktree's root.
pub const TASK_FILE: &str = ".orc-task.md";

/// The resolved environment of one tool invocation.
#[derive(Debug, Clone)]
pub struct Context {
    /// The configuration with origins.
    pub config: Config,
    /// The repository the command runs in, if any.
    pub repo: Option<Repo>,
    /// The state directory (exists, 0700).
    pub state: StateDir,
    /// The session.
    pub session: Session,
}

impl Context {
    /// The orchestrator side: repository from `repo` (or the current
    /// directory), session from `ORC_SESSION` or the repository.
    pub fn orchestrator(repo: Option<&Path>) -> Result<Context> {
        let repo = match repo {
            Some(path) => Some(Repo::at(path)?),
            None => Repo::current()?,
        };
        let config = Config::load(repo.as_ref().map(|r| r.root.as_path()))?;
        Self::build(config, repo, None)
    }

    /// A named session, with the repository and configuration found from
    /// the current directory (the shim runs in the worker's worktree).
    pub fn with_session(session: &str) -> Result<Context> {
        let repo = Repo::current()?;
        let config = Config::load(repo.as_ref().map(|r| r.root.as_path()))?;
        Self::build(config, repo, Some(session.to_string()))
    }

    /// A named session, with the configuration of the repository at `root`
    /// (if any): for acting on a worker of another session.
    pub fn for_session(root: Option<&Path>, session: &str) -> Result<Context> {
        let repo = root.map(Repo::at).transpose()?;
        let config = Config::load(repo.as_ref().map(|r| r.root.as_path()))?;
        Self::build(config, repo, Some(session.to_string()))
    }

    /// Like [`Context::orchestrator`] but the repository is required.
    pub fn repo(&self) -> Result<&Repo> {
        self.repo.as_ref().ok_or_else(|| {
            Error::usage("not inside a git repository", cwd_display())
                .hint("run from a repository or pass --repo PATH")
        })
    }

    fn build(config: Config, repo: Option<Repo>, session: Option<String>) -> Result<Context> {
        let state = StateDir::resolve(&config)?;
        let name = match session {
            Some(name) => name,
            None => Session::resolve_name(&config, repo.as_ref())?,
        };
        let session = Session::open(&state, &name)?;
        // A session directory someone else made (or opened to others) is
        // refused before this tool takes a lock or writes anything.
        if std::fs::symlink_metadata(session.dir()).is_ok() {
            crate::fsutil::ensure_private_dir(session.dir())?;
        }
        Ok(Context {
            config,
            repo,
            state,
            session,
        })
    }
}

/// A worker identifying itself: from `--issue`/`--kind`, else the
/// environment (`ORC_ISSUE`, `ORC_KIND`, `ORC_SESSION`), else `.orc-env` at
/// the worktree root.
#[derive(Debug, Clone)]
pub struct WorkerContext {
    /// The shared context.
    pub ctx: Context,
    /// The worker's issue.
    pub issue: Issue,
    /// The worker's kind.
    pub kind: Kind,
}

impl WorkerContext {
    /// Resolve the calling worker.
    pub fn resolve(issue: Option<Issue>, kind: Option<Kind>) -> Result<WorkerContext> {
        let repo = Repo::current()?;
        let file_path = repo.as_ref().map(|r| r.worktree.join(ENV_FILE));
        let file_env: Vec<(String, String)> = match &file_path {
            Some(path) => read_env_file(path)?
                .into_iter()
                .filter(|(k, _)| k.starts_with("ORC_"))
                .collect(),
            None => Vec::new(),
        };
        // The environment wins over the file; the file fills what is unset.
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("ORC_"))
            .collect();
        let layers = Layers::standard(repo.as_ref().map(|r| r.root.as_path()));
        let file = file_path.as_deref().map(|p| (p, file_env.as_slice()));
        let config = Config::resolve_with_file(&env, file, &layers)?;
        let issue = match issue {
            Some(i) => i,
            None => match config.get("ORC_ISSUE") {
                Some(text) => Issue::parse(text)?,
                None => {
                    return Err(Error::usage(
                        "cannot tell which issue this worker is",
                        cwd_display(),
                    )
                    .hint("pass --issue N, set ORC_ISSUE, or run inside a worker's worktree"));
                }
            },
        };
        let kind = match kind {
            Some(k) => k,
            None => config
                .get("ORC_KIND")
                .map(Kind::parse)
                .transpose()?
                .unwrap_or(Kind::Worker),
        };
        let ctx = Context::build(config, repo, None)?;
        Ok(WorkerContext { ctx, issue, kind })
    }

    /// This worker's proc directory.
    pub fn proc(&self) -> Proc {
        Proc::new(&self.ctx.session, self.kind, self.issue)
    }
}

/// Read a `KEY=VALUE` env file written by `orc-spawn` (values quoted, never
/// evaluated). A missing file is empty.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let parsed = line
            .split_once('=')
            .and_then(|(k, v)| unquote(v.trim()).map(|v| (k.trim().to_string(), v)));
        match parsed {
            Some(kv) => out.push(kv),
            None => {
                return Err(Error::usage(
                    "malformed line",
                    format!("{}:{}", path.display(), n + 1),
                ));
            }
        }
    }
    Ok(out)
}

fn cwd_display() -> String {
    std::env::current_dir()
        .map(|p: PathBuf| p.display().to_string())
        .unwrap_or_default()
}
