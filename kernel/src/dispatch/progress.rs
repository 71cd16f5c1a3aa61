//! What a worker's progress looked like when it last changed: the stall
//! check's memory, kept by the dispatcher. Its own file so the engine,
//! which keeps it, and the stall check, which reads it, do not import
//! each other.

use std::path::PathBuf;
use std::time::Instant;

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
