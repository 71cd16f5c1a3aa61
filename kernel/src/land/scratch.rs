//! The worktree orc owns while it lands an issue:
//! `<root>/.worktrees/land/<N>`, detached at a commit, used to run the check
//! and to build the merge, removed afterwards (with `.worktrees/land/` and
//! `.worktrees/` once they are empty, so the checkout looks as before).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::ids::Issue;
use crate::repo::Repo;
use crate::worktree;

/// A detached worktree of orc's own.
#[derive(Debug)]
pub struct Scratch {
    repo: Repo,
    path: PathBuf,
}

/// Where issue `issue`'s scratch worktree lives.
pub fn path_of(repo: &Repo, issue: Issue) -> PathBuf {
    repo.root
        .join(".worktrees")
        .join("land")
        .join(issue.to_string())
}

impl Scratch {
    /// A fresh detached worktree at `rev` (a leftover of a killed run at the
    /// same path is replaced: it is orc's, never a person's).
    pub fn create(repo: &Repo, issue: Issue, rev: &str) -> Result<Scratch> {
        let path = path_of(repo, issue);
        worktree::create_detached(repo, &path, rev)?;
        Ok(Scratch {
            repo: repo.clone(),
            path,
        })
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove it, and the empty directories above it that orc made.
    pub fn remove(self) -> Result<()> {
        remove_at(&self.repo, &self.path)
    }
}

/// Remove the scratch worktree at `path` if there is one.
pub fn remove_at(repo: &Repo, path: &Path) -> Result<()> {
    if path.exists() {
        worktree::remove_worktree(repo, path, "")?;
    }
    if let Some(land) = path.parent()
        && std::fs::remove_dir(land).is_ok()
        && let Some(top) = land.parent()
    {
        let _ = std::fs::remove_dir(top);
    }
    Ok(())
}
