//! The state directory and the other well-known places orc uses.
//!
//! ```text
//! sessions/<session>/meta.json, events.jsonl, procs/<kind>-<N>/
//! locks/<repo-hash>/<N>.lock (+ <N>.json, the holder record)
//! locks/named/<name>.lock
//! schedules.json, runners/<id>.sh, logs/
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{check_ancestors, check_private, ensure_private_dir};
use crate::places::default_state_home;
use crate::profile::Config;

pub use crate::places::{bin_dir, config_home, home, plugin_root};

/// `${XDG_STATE_HOME:-$HOME/.local/state}`.
pub fn state_home() -> Result<PathBuf> {
    default_state_home()
}

/// The root of orc's state, created with mode 0700.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Resolve `ORC_STATE_DIR` (absolute only), else
    /// `${XDG_STATE_HOME:-$HOME/.local/state}/orc`, and make sure it exists
    /// and is writable.
    pub fn resolve(config: &Config) -> Result<StateDir> {
        let root = match config.get("ORC_STATE_DIR") {
            Some(dir) => {
                let path = PathBuf::from(dir);
                if !path.is_absolute() {
                    return Err(Error::usage("ORC_STATE_DIR must be an absolute path", dir)
                        .hint("for example ORC_STATE_DIR=$HOME/.local/state/orc"));
                }
                path
            }
            None => default_state_home()?.join("orc"),
        };
        let dir = StateDir { root };
        dir.ensure()?;
        Ok(dir)
    }

    /// A state directory at `root` (no checks; for tests and tools that
    /// already resolved it).
    pub fn at(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    fn ensure(&self) -> Result<()> {
        // The state directory itself may be reached through a symlink the
        // user made; what it points to must be theirs, and so must the
        // directories that hold it.
        check_ancestors(&self.root)?;
        match std::fs::metadata(&self.root) {
            Ok(meta) => check_private(&self.root, &meta)?,
            Err(_) => ensure_private_dir(&self.root)?,
        }
        crate::fsutil::register_private_root(&self.root);
        let probe = nix::unistd::access(
            &self.root,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        );
        probe.map_err(|e| {
            Error::failure(
                format!("state directory is not writable: {e}"),
                self.root.display().to_string(),
            )
            .hint("set ORC_STATE_DIR to a directory you own")
        })
    }

    /// The root path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `sessions/`.
    pub fn sessions(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// `locks/<repo-hash>/`: the issue locks of one repository.
    pub fn issue_locks(&self, repo_hash: &str) -> PathBuf {
        self.root.join("locks").join(repo_hash)
    }

    /// `locks/named/`: mutexes of `orc-lock run`, the registry and `~/.claude.json`.
    pub fn named_locks(&self) -> PathBuf {
        self.root.join("locks").join("named")
    }

    /// `schedules.json`.
    pub fn schedules(&self) -> PathBuf {
        self.root.join("schedules.json")
    }

    /// `runners/`.
    pub fn runners(&self) -> PathBuf {
        self.root.join("runners")
    }

    /// `logs/`.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
}
