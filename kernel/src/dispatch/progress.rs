//! A running worker's progress, as the stall check sees it: the sizes and
//! times of its record, its log and its worktree's HEAD reflog. Below the
//! engine, which keeps one per running worker.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::procdir::Proc;

/// What a worker's progress looked like when it last changed.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Record, log and commit-log sizes and times.
    pub(super) mark: Vec<(u64, Option<std::time::SystemTime>)>,
    /// When `mark` last changed.
    pub(super) since: Instant,
    /// The worktree's own git directory (for its HEAD reflog).
    pub(super) gitdir: Option<PathBuf>,
}

/// Sizes and times of what a working agent changes: its record, its log,
/// and its worktree's HEAD reflog (one line per commit).
pub(super) fn marks(
    proc: &Proc,
    gitdir: Option<&Path>,
) -> Vec<(u64, Option<std::time::SystemTime>)> {
    let mut paths = vec![proc.state_path(), proc.log_path()];
    if let Some(dir) = gitdir {
        paths.push(dir.join("logs/HEAD"));
    }
    paths
        .iter()
        .map(|p| match std::fs::metadata(p) {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(_) => (0, None),
        })
        .collect()
}

/// The git directory of the worker's worktree (`.git` is a file there:
/// `gitdir: PATH`).
pub(super) fn gitdir_of(proc: &Proc) -> Option<PathBuf> {
    let record = proc.read().ok().flatten()?;
    let worktree = PathBuf::from(record.worktree?);
    let dotgit = worktree.join(".git");
    let text = std::fs::read_to_string(&dotgit).ok()?;
    let dir = text.strip_prefix("gitdir:")?.trim();
    let dir = Path::new(dir);
    Some(if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        worktree.join(dir)
    })
}
