//! Garbage collection of the state directory: remove only what is
//! verifiably stale — locks of dead processes or of sessions that are gone,
//! proc directories of spawns that died before starting anything, empty
//! sessions, and leftovers of interrupted writes. Never anything of a live
//! or undecidable worker.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::liveness::{Liveness, ProcessId};
use crate::lock::{FileLock, Holder, IssueLock, LockRecord};
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::record::State;
use crate::session::Session;

/// One thing gc removed (or would remove, with `--dry-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    /// `lock`, `proc`, `session` or `leftover`.
    pub what: &'static str,
    /// The path.
    pub path: String,
    /// Why it is stale.
    pub why: String,
}

/// Collect garbage in `state`; with `dry_run`, only say what would go.
pub fn gc(state: &StateDir, dry_run: bool) -> Result<Vec<Removal>> {
    let mut out = Vec::new();
    let sessions = Session::list(state)?;
    for session in &sessions {
        for proc in Proc::list(session)? {
            leftovers(&proc, dry_run, &mut out)?;
            orphan_proc(state, &proc, dry_run, &mut out)?;
        }
    }
    stale_locks(state, dry_run, &mut out)?;
    lock_leftovers(state, dry_run, &mut out)?;
    for session in &sessions {
        empty_session(state, session, dry_run, &mut out)?;
    }
    Ok(out)
}

fn remove(path: &Path, dir: bool) -> Result<()> {
    let res = if dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Temporary files of interrupted writes, and FIFOs or taken signals left
/// by a process that is gone. Temporary files are removed under the proc
/// lock, so no writer is mid-way.
fn leftovers(proc: &Proc, dry_run: bool, out: &mut Vec<Removal>) -> Result<()> {
    let Some(_guard) = FileLock::try_exclusive(&proc.dir().join(".lock"))? else {
        return Ok(());
    };
    let Ok(entries) = fs::read_dir(proc.dir()) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let owner = name
            .strip_prefix(".wake-")
            .or_else(|| name.strip_prefix(".signal-taken-"))
            .and_then(|pid| pid.parse::<i32>().ok());
        let why = if crate::fsutil::is_stale_temp(&entry) {
            "temporary file of an interrupted write".to_string()
        } else if let Some(pid) = owner.filter(|&p| pid_gone(p)) {
            format!("left by process {pid}, which is gone")
        } else {
            continue;
        };
        if !dry_run {
            remove(&entry.path(), false)?;
        }
        out.push(Removal {
            what: "leftover",
            path: entry.path().display().to_string(),
            why,
        });
    }
    Ok(())
}

fn pid_gone(pid: i32) -> bool {
    ProcessId { pid, start_time: 0 }.liveness() == Liveness::Dead
}

/// A proc directory with no record, or a record that never got past
/// NEW/READY, whose spawner is gone: nothing was ever started in it.
fn orphan_proc(state: &StateDir, proc: &Proc, dry_run: bool, out: &mut Vec<Removal>) -> Result<()> {
    if proc.shim()?.is_some() {
        return Ok(());
    }
    let record = match proc.read() {
        Ok(r) => r,
        Err(_) => return Ok(()), // unreadable: undecidable, kept
    };
    let why = match &record {
        None => "no record and no shim".to_string(),
        Some(r) if matches!(r.state, State::New | State::Ready) => {
            let Some(repo) = r.repo.as_deref() else {
                return Ok(());
            };
            let dir = state.issue_locks(&crate::repo::hash_of(Path::new(repo)));
            let lock = IssueLock::in_dir(&dir, r.issue, repo.into());
            let spawner_alive = match lock.peek()? {
                Some(LockRecord {
                    holder: Holder::Process { id },
                    ..
                }) => id.liveness() != Liveness::Dead,
                Some(_) => true,
                None => false,
            };
            if spawner_alive {
                return Ok(());
            }
            format!("{} without a shim, and its spawner is gone", r.state)
        }
        Some(_) => return Ok(()),
    };
    if !dry_run {
        remove(proc.dir(), true)?;
    }
    out.push(Removal {
        what: "proc",
        path: proc.dir().display().to_string(),
        why,
    });
    Ok(())
}

/// Issue locks whose holding process is verifiably dead (and no result
/// keeps them), or whose holding session no longer exists.
fn stale_locks(state: &StateDir, dry_run: bool, out: &mut Vec<Removal>) -> Result<()> {
    let root = state.root().join("locks");
    let Ok(repos) = fs::read_dir(&root) else {
        return Ok(());
    };
    for repo_dir in repos
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("named"))
    {
        let Ok(files) = fs::read_dir(&repo_dir) else {
            continue;
        };
        for file in files.flatten().map(|e| e.path()) {
            let Some(issue) = file
                .extension()
                .filter(|x| *x == "json")
                .and_then(|_| file.file_stem())
                .and_then(|s| Issue::parse(&s.to_string_lossy()).ok())
            else {
                continue;
            };
            let lock = IssueLock::in_dir(&repo_dir, issue, PathBuf::new());
            let Ok(Some(record)) = lock.peek() else {
                continue;
            };
            let why = match &record.holder {
                Holder::Process { id }
                    if record.kept_by.is_none() && id.liveness() == Liveness::Dead =>
                {
                    format!("held by pid {}, which is gone", id.pid)
                }
                Holder::Session { session } if !state.sessions().join(session).is_dir() => {
                    format!("held by session {session}, which is gone")
                }
                _ => continue,
            };
            if !dry_run {
                let same = record.clone();
                lock.release(|r| *r == same)?;
            }
            out.push(Removal {
                what: "lock",
                path: file.display().to_string(),
                why,
            });
        }
    }
    Ok(())
}

/// Temporary files of interrupted writes of lock records, in every
/// `locks/<repo>/` and `locks/named/`: only those old enough
/// ([`crate::fsutil::STALE_TEMP_AGE`]) that no write can be in flight.
fn lock_leftovers(state: &StateDir, dry_run: bool, out: &mut Vec<Removal>) -> Result<()> {
    let Ok(dirs) = fs::read_dir(state.root().join("locks")) else {
        return Ok(());
    };
    for dir in dirs.flatten().map(|e| e.path()).filter(|p| p.is_dir()) {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if !crate::fsutil::is_stale_temp(&entry) {
                continue;
            }
            if !dry_run {
                remove(&entry.path(), false)?;
            }
            out.push(Removal {
                what: "leftover",
                path: entry.path().display().to_string(),
                why: "temporary file of an interrupted write".to_string(),
            });
        }
    }
    Ok(())
}

/// A session with no workers, no kept logs and no lock it holds.
fn empty_session(
    state: &StateDir,
    session: &Session,
    dry_run: bool,
    out: &mut Vec<Removal>,
) -> Result<()> {
    let has_procs = fs::read_dir(session.procs())
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    let has_logs = fs::read_dir(session.dir().join("logs"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if has_procs || has_logs || holds_a_lock(state, session.name()) {
        return Ok(());
    }
    // Spawn creates proc directories under this lock: hold it so a session
    // is never removed under a spawn that is filling it.
    let _slot = crate::lock::named(state, &format!("spawn-{}", session.name()), true)?;
    if fs::read_dir(session.procs())
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
    {
        return Ok(());
    }
    if !dry_run {
        remove(session.dir(), true)?;
    }
    out.push(Removal {
        what: "session",
        path: session.dir().display().to_string(),
        why: "no workers, no logs, no locks".to_string(),
    });
    Ok(())
}

fn holds_a_lock(state: &StateDir, session: &str) -> bool {
    let Ok(repos) = fs::read_dir(state.root().join("locks")) else {
        return false;
    };
    repos
        .flatten()
        .filter_map(|r| fs::read_dir(r.path()).ok())
        .flatten()
        .flatten()
        .any(|f| {
            f.path().extension().is_some_and(|x| x == "json")
                && fs::read(f.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LockRecord>(&b).ok())
                    .is_some_and(|r| r.session == session)
        })
}
