//! Locks: one guard type over `flock`, the issue lock, and named mutexes.
//!
//! The issue lock is a record (`<N>.json`, who holds it) guarded by a flock
//! on a file that is never replaced (`<N>.lock`). Acquisition takes the
//! flock, judges the current holder, writes the new record atomically and
//! lets go, so any number of racers get exactly one winner. A holder is a
//! process (pid + start time) or a session. A lock is stale only when its
//! holding process is verifiably dead and no result keeps it.
//!
//! Whether a result keeps the lock follows from the worker's durable
//! record, not only from `kept_by` here: `orc-notify ci-passed` writes the
//! record first and hands the lock to the session after, so a notify killed
//! between the two leaves a lock whose holder (the shim) will die while the
//! record already says the lock is kept. Such a lock is judged held, kept by
//! the record's result, and the next writer of the lock repairs it.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Kind, Result};
use crate::fsutil::{ensure_private_dir, write_atomic};
use crate::ids::{Issue, check_name};
use crate::liveness::{Liveness, ProcessId};
use crate::paths::StateDir;
use crate::record::{Record, State};
use crate::repo::Repo;

mod wait;
pub use wait::{holder, patience};

/// What [`FileLock::standing`] found.
#[derive(Debug)]
pub enum Standing {
    /// The lock, on the file its path still names.
    Locked(FileLock),
    /// Held elsewhere (only when not waiting).
    Busy,
    /// The directory, or the lock file in it, is gone.
    Gone,
}

/// An exclusive `flock` held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> Result<File> {
        if let Some(dir) = path.parent() {
            ensure_private_dir(dir)?;
        }
        Self::open_in_place(path).map_err(|e| crate::fsutil::open_error("open lock file", path, e))
    }

    /// Open (or create) the lock file in its directory as it is.
    fn open_in_place(path: &Path) -> std::io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(crate::fsutil::NOFOLLOW)
            .open(path)
    }

    /// Wait for the exclusive lock on `path` (created if missing), at most
    /// [`patience`]; then fail with exit 124 naming the holder.
    pub fn exclusive(path: &Path) -> Result<FileLock> {
        let file = Self::open(path)?;
        wait::lock_within(&file, path, patience())?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Wait for the exclusive lock on `path` for as long as it takes: only
    /// for `orc-lock run`, whose user asked to wait.
    pub fn exclusive_unbounded(path: &Path) -> Result<FileLock> {
        let file = Self::open(path)?;
        file.lock().map_err(|e| Error::io("lock", path, e))?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Take the exclusive lock on `path` if it is free right now.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io("lock", path, e)),
        }
    }

    /// Take the exclusive lock on `path` only while its directory stands.
    /// Nothing is created but the lock file itself, inside the directory as
    /// it is: a directory removed (with its lock file) before or while this
    /// waits is [`Standing::Gone`], never made again. With `wait` false, a
    /// lock held elsewhere is [`Standing::Busy`] at once; with `wait` true,
    /// it is waited for as long as [`FileLock::exclusive`] waits.
    pub fn standing(path: &Path, wait: bool) -> Result<Standing> {
        let file = match Self::open_in_place(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Standing::Gone),
            Err(e) => return Err(crate::fsutil::open_error("open lock file", path, e)),
        };
        if wait {
            wait::lock_within(&file, path, patience())?;
        } else {
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(Standing::Busy),
                Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
            }
        }
        // Whoever removed the directory held this lock while it did: the
        // lock is worth something only if the path still names its file.
        let held = file.metadata().map_err(|e| Error::io("stat", path, e))?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => {
                Ok(Standing::Locked(FileLock {
                    file,
                    path: path.to_path_buf(),
                }))
            }
            Ok(_) => Ok(Standing::Gone),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Standing::Gone),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Let child processes inherit the locked descriptor, so the lock is
    /// held as long as any of them runs, even if this process is killed
    /// (`orc-lock run`: the mutex is held exactly while the command runs).
    pub fn share_with_children(&self) -> Result<()> {
        use nix::fcntl::{F_GETFD, F_SETFD, FdFlag, fcntl};
        let flags = fcntl(&self.file, F_GETFD).map_err(|e| {
            Error::failure(
                format!("fcntl failed: {e}"),
                self.path.display().to_string(),
            )
        })?;
        let flags = FdFlag::from_bits_truncate(flags) - FdFlag::FD_CLOEXEC;
        fcntl(&self.file, F_SETFD(flags)).map(drop).map_err(|e| {
            Error::failure(
                format!("fcntl failed: {e}"),
                self.path.display().to_string(),
            )
        })
    }

    /// The locked file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the descriptor releases the flock anyway; unlocking first
        // makes the release independent of other copies of the descriptor.
        let _ = self.file.unlock();
    }
}

/// Who holds an issue lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Holder {
    /// A process: freed when it dies (even by SIGKILL).
    Process {
        /// pid and start time of the holder.
        #[serde(flatten)]
        id: ProcessId,
    },
    /// A session: freed by release, cleanup, or gc once the session is gone.
    Session {
        /// The session's name.
        session: String,
    },
}

impl Holder {
    /// The holder as a process, if it is one.
    pub fn process(&self) -> Option<ProcessId> {
        match self {
            Holder::Process { id } => Some(*id),
            Holder::Session { .. } => None,
        }
    }

    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Holder::Process { id } => format!("pid {}", id.pid),
            Holder::Session { session } => format!("session {session}"),
        }
    }
}

/// The issue lock's record, `locks/<repo-hash>/<N>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// The issue.
    pub issue: Issue,
    /// The main repository root.
    pub repo: PathBuf,
    /// The session the lock was taken for.
    pub session: String,
    /// Who holds it now.
    pub holder: Holder,
    /// When it was acquired.
    pub acquired_at: String,
    /// The result that keeps it (ci-passed, approved, …), if any.
    #[serde(default)]
    pub kept_by: Option<String>,
}

/// What `check` finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// Nobody holds it.
    Free,
    /// Held by a live process or a session.
    Held(LockRecord),
    /// The holding process is verifiably dead: the next acquire takes it.
    Stale(LockRecord),
    /// The holder's liveness cannot be judged: treated as held.
    Unknown(LockRecord),
}

impl LockStatus {
    /// `free`, `held`, `stale` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LockStatus::Free => "free",
            LockStatus::Held(_) => "held",
            LockStatus::Stale(_) => "stale",
            LockStatus::Unknown(_) => "unknown",
        }
    }

    /// The record, unless the lock is free.
    pub fn record(&self) -> Option<&LockRecord> {
        match self {
            LockStatus::Free => None,
            LockStatus::Held(r) | LockStatus::Stale(r) | LockStatus::Unknown(r) => Some(r),
        }
    }
}

/// The lock of one issue in one repository.
#[derive(Debug, Clone)]
pub struct IssueLock {
    issue: Issue,
    repo: PathBuf,
    mutex: PathBuf,
    record: PathBuf,
    sessions: PathBuf,
}

impl IssueLock {
    /// The lock of `issue` in `repo` (keyed by the main repository root).
    pub fn new(state: &StateDir, repo: &Repo, issue: Issue) -> IssueLock {
        let dir = state.issue_locks(&repo.hash());
        IssueLock {
            issue,
            repo: repo.root.clone(),
            mutex: dir.join(format!("{issue}.lock")),
            record: dir.join(format!("{issue}.json")),
            sessions: state.sessions(),
        }
    }

    /// The lock of `issue` whose files live in `dir` (`locks/<repo-hash>/`),
    /// for tools that walk the lock directory rather than a repository.
    pub fn in_dir(state: &StateDir, dir: &Path, issue: Issue, repo: PathBuf) -> IssueLock {
        IssueLock {
            issue,
            repo,
            mutex: dir.join(format!("{issue}.lock")),
            record: dir.join(format!("{issue}.json")),
            sessions: state.sessions(),
        }
    }

    /// The holder record, read without judging it (`None` when free).
    pub fn peek(&self) -> Result<Option<LockRecord>> {
        self.read()
    }

    /// The holder record's path.
    pub fn record_path(&self) -> &Path {
        &self.record
    }

    /// Take the lock for `holder`, on behalf of `session`. Fails with
    /// [`Kind::Locked`] (exit 5) when anyone holds it, the same session
    /// included: the lock is not re-entrant.
    pub fn acquire(&self, holder: Holder, session: &str) -> Result<LockRecord> {
        let _guard = FileLock::exclusive(&self.mutex)?;
        match self.judge(self.read()?) {
            LockStatus::Free | LockStatus::Stale(_) => {}
            held => return Err(self.locked_error(&held)),
        }
        let record = LockRecord {
            issue: self.issue,
            repo: self.repo.clone(),
            session: session.to_string(),
            holder,
            acquired_at: clock::now_rfc3339()?,
            kept_by: None,
        };
        self.write(&record)?;
        Ok(record)
    }

    /// The lock's status now (taking the flock so no writer is mid-way).
    pub fn check(&self) -> Result<LockStatus> {
        let _guard = FileLock::exclusive(&self.mutex)?;
        Ok(self.judge(self.read()?))
    }

    /// The lock's status judged from the holder record as it is on disk,
    /// without taking the flock: it creates no file, so a dry run can use
    /// it. The record is replaced atomically, so it is never read half
    /// written; a writer mid-way is seen before or after its change.
    pub fn status(&self) -> Result<LockStatus> {
        Ok(self.judge(self.read()?))
    }

    /// Replace the holder when `pred` accepts the current record; returns
    /// whether it changed. Used for spawn → shim, shim → session (a result
    /// that keeps the lock) and session → shim (resume).
    pub fn hand_over(
        &self,
        pred: impl Fn(&LockRecord) -> bool,
        holder: Holder,
        kept_by: Option<&str>,
    ) -> Result<bool> {
        let _guard = FileLock::exclusive(&self.mutex)?;
        let Some(mut record) = self.read()? else {
            return Ok(false);
        };
        if let Some(kept) = self.kept_by_record(&record) {
            // Judge the lock as it really stands: kept by the session.
            record = kept;
        }
        if !pred(&record) {
            return Ok(false);
        }
        record.holder = holder;
        record.kept_by = kept_by.map(str::to_string);
        self.write(&record)?;
        Ok(true)
    }

    /// Release the lock when `pred` accepts the current record (pass
    /// `|_| true` to force). Returns whether a record was removed.
    pub fn release(&self, pred: impl Fn(&LockRecord) -> bool) -> Result<bool> {
        let _guard = FileLock::exclusive(&self.mutex)?;
        match self.read()? {
            Some(record) if pred(&record) => {
                std::fs::remove_file(&self.record)
                    .map_err(|e| Error::io("remove", &self.record, e))?;
                crate::fsutil::sync_dir(crate::fsutil::parent(&self.record)?)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn judge(&self, record: Option<LockRecord>) -> LockStatus {
        let Some(record) = record else {
            return LockStatus::Free;
        };
        match (&record.holder, &record.kept_by) {
            (Holder::Process { id }, None) => match id.liveness() {
                Liveness::Alive => LockStatus::Held(record),
                Liveness::Dead => match self.kept_by_record(&record) {
                    Some(kept) => LockStatus::Held(kept),
                    None => LockStatus::Stale(record),
                },
                Liveness::Unknown => LockStatus::Unknown(record),
            },
            _ => LockStatus::Held(record),
        }
    }

    /// When `record` names a process holder but the worker's durable record
    /// says its result keeps the lock (the hand-over to the session was
    /// interrupted): the lock as it should stand, held by the session and
    /// kept by that result. `None` otherwise, or when the worker's record
    /// cannot be read.
    pub fn kept_by_record(&self, record: &LockRecord) -> Option<LockRecord> {
        if record.kept_by.is_some() || record.holder.process().is_none() {
            return None;
        }
        let path = self
            .sessions
            .join(&record.session)
            .join("procs")
            .join(format!("worker-{}", self.issue))
            .join("state.json");
        let worker: Record =
            serde_json::from_slice(&crate::fsutil::read_nofollow(&path).ok()?).ok()?;
        let same_repo = worker
            .repo
            .as_deref()
            .is_none_or(|r| Path::new(r) == record.repo);
        let kept = matches!(worker.state, State::Terminated | State::Suspended)
            && worker.result.is_some_and(|o| o.keeps_lock());
        if !(kept && same_repo && worker.session == record.session && worker.issue == self.issue) {
            return None;
        }
        Some(LockRecord {
            holder: Holder::Session {
                session: record.session.clone(),
            },
            kept_by: worker.result.map(|o| o.as_str().to_string()),
            ..record.clone()
        })
    }

    fn read(&self) -> Result<Option<LockRecord>> {
        crate::fsutil::read_json(&self.record, "lock record")
    }

    fn write(&self, record: &LockRecord) -> Result<()> {
        let bytes = serde_json::to_vec(record).map_err(|e| {
            Error::failure(
                format!("cannot encode lock record: {e}"),
                self.issue.to_string(),
            )
        })?;
        write_atomic(&self.record, &bytes, 0o600)
    }

    fn locked_error(&self, status: &LockStatus) -> Error {
        let who = status
            .record()
            .map_or("someone".to_string(), |r| match &r.holder {
                Holder::Session { .. } => r.holder.describe(),
                Holder::Process { .. } => {
                    format!("{} of session {}", r.holder.describe(), r.session)
                }
            });
        let what = match status {
            LockStatus::Unknown(_) => format!(
                "issue {} is locked; cannot tell if its holder ({who}) lives",
                self.issue
            ),
            _ => format!("issue {} is locked by {who}", self.issue),
        };
        Error::new(Kind::Locked, what, self.repo.display().to_string()).hint(format!(
            "see `orc-lock holder {}`; release it with `orc-lock release {}`",
            self.issue, self.issue
        ))
    }
}

/// A named mutex, `locks/named/<name>.lock`, held while the guard lives.
/// With `wait`, the wait is bounded by [`patience`].
pub fn named(state: &StateDir, name: &str, wait: bool) -> Result<Option<FileLock>> {
    check_name("lock name", name)?;
    let path = state.named_locks().join(format!("{name}.lock"));
    if wait {
        FileLock::exclusive(&path).map(Some)
    } else {
        FileLock::try_exclusive(&path)
    }
}

/// The named mutex `name`, waited for as long as it takes (`orc-lock run`
/// without `--timeout` or `--no-wait`: its user asked to wait).
pub fn named_unbounded(state: &StateDir, name: &str) -> Result<FileLock> {
    check_name("lock name", name)?;
    FileLock::exclusive_unbounded(&state.named_locks().join(format!("{name}.lock")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
    }

    /// How many of this process's descriptors are open on `path`.
    fn open_on(path: &Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|fds| {
                fds.flatten()
                    .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p == path))
                    .count()
            })
            .unwrap_or(0)
    }

    /// A thread waiting for the lock on `path`, returned once it has the
    /// file open (a second descriptor on it besides the holder's).
    fn waiter_on(path: &Path) -> std::thread::JoinHandle<Result<Standing>> {
        let waiter = {
            let path = path.to_path_buf();
            std::thread::spawn(move || FileLock::standing(&path, true))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while open_on(path) < 2 {
            assert!(
                Instant::now() < deadline,
                "the waiter never opened the lock"
            );
            std::thread::yield_now();
        }
        waiter
    }

    #[test]
    fn a_lock_in_a_removed_directory_is_gone_and_makes_nothing() -> Result<()> {
        let top = tempdir();
        let dir = top.path().join("worker-1");
        let path = dir.join(".lock");
        assert!(matches!(FileLock::standing(&path, true)?, Standing::Gone));
        assert!(!dir.exists(), "the directory is not made");

        std::fs::create_dir(&dir).map_err(|e| Error::io("mkdir", &dir, e))?;
        let Standing::Locked(held) = FileLock::standing(&path, false)? else {
            panic!("a free lock in a standing directory is taken");
        };
        assert!(matches!(FileLock::standing(&path, false)?, Standing::Busy));
        // A waiter that opened the file before the holder removed the
        // directory gets the lock of nothing, and knows it.
        let waiter = waiter_on(&path);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        drop(held);
        let found = waiter
            .join()
            .unwrap_or_else(|_| panic!("the waiter panicked"))?;
        assert!(matches!(found, Standing::Gone), "{found:?}");
        assert!(!dir.exists(), "the directory is not made again");
        Ok(())
    }

    #[test]
    fn a_lock_whose_path_names_another_file_now_is_gone() -> Result<()> {
        let top = tempdir();
        let dir = top.path().join("worker-1");
        let path = dir.join(".lock");
        std::fs::create_dir(&dir).map_err(|e| Error::io("mkdir", &dir, e))?;
        let Standing::Locked(held) = FileLock::standing(&path, false)? else {
            panic!("a free lock in a standing directory is taken");
        };
        let waiter = waiter_on(&path);
        // Removed and made anew (a new worker of the same issue).
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
        std::fs::create_dir(&dir).map_err(|e| Error::io("mkdir", &dir, e))?;
        std::fs::write(&path, "").map_err(|e| Error::io("write", &path, e))?;
        drop(held);
        let found = waiter
            .join()
            .unwrap_or_else(|_| panic!("the waiter panicked"))?;
        assert!(matches!(found, Standing::Gone), "{found:?}");
        assert!(matches!(
            FileLock::standing(&path, false)?,
            Standing::Locked(_)
        ));
        Ok(())
    }
}
