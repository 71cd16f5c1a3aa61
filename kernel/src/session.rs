//! Sessions: the namespace of one orchestrator (like an IPC namespace).
//!
//! The session is `ORC_SESSION`, or by default `<repo-name>-<8 hex>` derived
//! from the main repository root, so every call from one repository and its
//! worktrees lands in the same session without carrying any environment.
//! Outside a repository the session is `default`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::fsutil::{ensure_private_dir, write_atomic};
use crate::ids::{Issue, Kind, check_name};
use crate::paths::StateDir;
use crate::profile::Config;
use crate::repo::Repo;

/// The session name used outside any repository.
pub const OUTSIDE_REPO: &str = "default";

/// `meta.json`: what a session belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// The session's name.
    pub session: String,
    /// The main repository root, if the session belongs to one.
    pub repo_root: Option<PathBuf>,
    /// `owner/repo`, when the repository has a GitHub-style origin.
    pub repo_slug: Option<String>,
    /// When the session directory was created.
    pub created: String,
    /// The process that created it (the orchestrator's tool call).
    pub orchestrator_pid: u32,
}

/// One session's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    name: String,
    dir: PathBuf,
}

impl Session {
    /// The session name from the configuration or the repository.
    pub fn resolve_name(config: &Config, repo: Option<&Repo>) -> Result<String> {
        let name = match (config.get("ORC_SESSION"), repo) {
            (Some(name), _) => name.to_string(),
            (None, Some(repo)) => repo.default_session(),
            (None, None) => OUTSIDE_REPO.to_string(),
        };
        check_name("session name (ORC_SESSION)", &name)?;
        Ok(name)
    }

    /// The session `name` in `state` (not created yet).
    pub fn open(state: &StateDir, name: &str) -> Result<Session> {
        check_name("session name", name)?;
        Ok(Session {
            name: name.to_string(),
            dir: state.sessions().join(name),
        })
    }

    /// Create the session directory and its `meta.json` if missing.
    pub fn ensure(&self, repo: Option<&Repo>) -> Result<()> {
        ensure_private_dir(&self.procs())?;
        let meta = self.meta_path();
        if meta.exists() {
            return Ok(());
        }
        let record = Meta {
            session: self.name.clone(),
            repo_root: repo.map(|r| r.root.clone()),
            repo_slug: repo.and_then(Repo::slug),
            created: clock::now_rfc3339()?,
            orchestrator_pid: std::process::id(),
        };
        let bytes = serde_json::to_vec_pretty(&record).map_err(|e| {
            Error::failure(
                format!("cannot encode session meta: {e}"),
                self.name.clone(),
            )
        })?;
        write_atomic(&meta, &bytes, 0o600)
    }

    /// Read `meta.json`, if the session has one.
    pub fn meta(&self) -> Result<Option<Meta>> {
        crate::fsutil::read_json(&self.meta_path(), "session meta")
    }

    /// Every session in the state directory, sorted by name.
    pub fn list(state: &StateDir) -> Result<Vec<Session>> {
        let dir = state.sessions();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        let mut out: Vec<Session> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| Session::open(state, &e.file_name().to_string_lossy()).ok())
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `sessions/<name>/`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `meta.json`.
    pub fn meta_path(&self) -> PathBuf {
        self.dir.join("meta.json")
    }

    /// `events.jsonl`.
    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    /// `procs/`.
    pub fn procs(&self) -> PathBuf {
        self.dir.join("procs")
    }

    /// `procs/<kind>-<N>/`.
    pub fn proc_dir(&self, kind: Kind, issue: Issue) -> PathBuf {
        self.procs().join(format!("{kind}-{issue}"))
    }
}
