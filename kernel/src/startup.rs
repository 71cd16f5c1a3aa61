//! Claude Code's start-up, serialised around its rewrite of `~/.claude.json`.
//!
//! Every `claude` process rewrites `~/.claude.json` several times in its
//! first seconds (first start time, machine id, migrations, start-up
//! counters; observed with 2.1.328: five writes in the first 3.3 s of a
//! `claude -p`, the last after its first output). Twenty workers started
//! at once would interleave those writes with each other's and with orc's
//! own trust edits. So the shim starts a Claude agent holding the named
//! lock [`crate::trust::LOCK`], the one every orc edit of that file takes,
//! and releases it once the start-up rewrite is over: the file has been
//! quiet for [`QUIET`] after the agent's first output or first write, the
//! agent has exited, or [`LIMIT`] has passed (a hung start-up never holds
//! other workers back for longer).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::error::Result;
use crate::lock::{self, FileLock};
use crate::paths::StateDir;

/// How long `~/.claude.json` must stay unchanged before the start-up is
/// taken to be over.
pub const QUIET: Duration = Duration::from_millis(1500);
/// The longest one start-up holds the lock.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Whether `program` is Claude Code (the only agent known to rewrite a
/// shared file at start-up).
pub fn needs_guard(program: &str) -> bool {
    Path::new(program)
        .file_name()
        .is_some_and(|n| n == "claude")
}

/// The launch lock, held from before the agent starts until its start-up
/// rewrite of `~/.claude.json` is over.
#[derive(Debug)]
pub struct Guard {
    _lock: FileLock,
    file: Option<PathBuf>,
    before: Option<Stamp>,
    taken: Instant,
}

/// What a file looked like: enough to see that it was rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

impl Guard {
    /// Wait for the launch lock (other workers' start-ups and orc's own
    /// edits of `~/.claude.json`).
    pub fn take(state: &StateDir) -> Result<Guard> {
        let lock = lock::named(state, crate::trust::LOCK, true)?.ok_or_else(|| {
            crate::error::Error::failure("cannot take the launch lock", crate::trust::LOCK)
        })?;
        let file = crate::paths::home()
            .ok()
            .map(|h| h.join(crate::trust::FILE));
        let before = file.as_deref().and_then(stamp);
        Ok(Guard {
            _lock: lock,
            file,
            before,
            taken: Instant::now(),
        })
    }

    /// Hold the lock until the agent's start-up is over: call once the
    /// agent runs. `alive` says whether it still runs, `spoke` whether it
    /// has printed anything yet. Returns how long the lock was held.
    pub fn release_after_startup(
        self,
        mut alive: impl FnMut() -> bool,
        mut spoke: impl FnMut() -> bool,
    ) -> Duration {
        let mut last = self.before;
        let mut changed_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if now.duration_since(self.taken) >= LIMIT || !alive() {
                break;
            }
            let current = self.file.as_deref().and_then(stamp);
            if current != last {
                last = current;
                changed_at = Some(now);
            }
            let quiet_since = changed_at.unwrap_or(self.taken);
            let started = changed_at.is_some() || spoke();
            if started && now.duration_since(quiet_since) >= QUIET {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.taken.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_claude_is_guarded() {
        assert!(needs_guard("claude"));
        assert!(needs_guard("/usr/local/bin/claude"));
        assert!(!needs_guard("codex"));
        assert!(!needs_guard("claude-wrapper"));
    }

    #[test]
    fn an_agent_that_exits_releases_at_once() -> Result<()> {
        let tmp = tempfile::tempdir()
            .map_err(|e| crate::error::Error::failure(format!("tempdir: {e}"), "test"))?;
        let state = StateDir::at(tmp.path());
        let guard = Guard::take(&state)?;
        let held = guard.release_after_startup(|| false, || false);
        assert!(held < QUIET, "{held:?}");
        // The lock is free again.
        let again = lock::named(&state, crate::trust::LOCK, false)?;
        assert!(again.is_some());
        Ok(())
    }
}
