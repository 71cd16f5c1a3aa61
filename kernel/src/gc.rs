//! Garbage collection of the state directory: remove only what is
//! verifiably stale — locks of dead processes or of sessions that are gone,
//! proc directories of spawns that died before starting anything, empty
//! sessions, and leftovers of interrupted writes — and record `crashed` for
//! a worker whose shim is verifiably dead. Never anything of a live or
//! undecidable worker: what is kept on doubt is listed with the reason.
//! A dry run writes nothing at all: no record, no lock file, no directory.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::liveness::{Liveness, ProcessId};
use crate::lock::{Holder, IssueLock, LockRecord, LockStatus, Standing};
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::record::{Outcome, State};
use crate::session::Session;

/// What gc did (or would do, with `--dry-run`) with one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Removed.
    Removed,
    /// A dry run: would be removed.
    WouldRemove,
    /// The worker's shim is verifiably dead: recorded `crashed`.
    Crashed,
    /// A dry run: would be recorded `crashed`.
    WouldCrash,
    /// Looked stale but is not verifiably so: kept.
    Kept,
}

impl Action {
    /// The verb as the human output shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Removed => "removed",
            Action::WouldRemove => "would remove",
            Action::Crashed => "recorded crashed for",
            Action::WouldCrash => "would record crashed for",
            Action::Kept => "kept",
        }
    }
}

/// One thing gc removed, repaired or kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removal {
    /// What gc did with it.
    pub action: Action,
    /// `lock`, `proc`, `session` or `leftover`.
    pub what: &'static str,
    /// The path.
    pub path: String,
    /// Why it is stale, or why it is kept.
    pub why: String,
}

/// What one gc run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Everything, in the order it was done.
    pub items: Vec<Removal>,
}

impl Report {
    fn push(&mut self, action: Action, what: &'static str, path: &Path, why: String) {
        self.items.push(Removal {
            action,
            what,
            path: path.display().to_string(),
            why,
        });
    }

    fn count(&self, actions: &[Action]) -> usize {
        self.items
            .iter()
            .filter(|r| actions.contains(&r.action))
            .count()
    }

    /// The summary line: `removed 3, kept 2, nothing else to clean`.
    pub fn summary(&self, dry_run: bool) -> String {
        let removed = self.count(&[Action::Removed, Action::WouldRemove]);
        let crashed = self.count(&[Action::Crashed, Action::WouldCrash]);
        let kept = self.count(&[Action::Kept]);
        let mut parts = vec![format!(
            "{} {removed}",
            if dry_run { "would remove" } else { "removed" }
        )];
        if crashed > 0 {
            parts.push(format!(
                "{} {crashed} crashed",
                if dry_run { "would record" } else { "recorded" }
            ));
        }
        parts.push(format!("kept {kept}"));
        parts.push("nothing else to clean".to_string());
        parts.join(", ")
    }
}

/// Collect garbage in `state`; with `dry_run`, only say what would go.
pub fn gc(state: &StateDir, dry_run: bool) -> Result<Report> {
    let mut out = Report::default();
    let sessions = Session::list(state)?;
    for session in &sessions {
        for proc in Proc::list(session)? {
            leftovers(&proc, dry_run, &mut out)?;
            if !crashed(session, &proc, dry_run, &mut out)? {
                orphan_proc(state, &proc, dry_run, &mut out)?;
            }
        }
    }
    stale_locks(state, dry_run, &mut out)?;
    lock_leftovers(state, dry_run, &mut out)?;
    for session in &sessions {
        empty_session(state, session, dry_run, &mut out)?;
    }
    Ok(out)
}

fn removed(dry_run: bool) -> Action {
    if dry_run {
        Action::WouldRemove
    } else {
        Action::Removed
    }
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
fn leftovers(proc: &Proc, dry_run: bool, out: &mut Report) -> Result<()> {
    // A dry run takes no lock: taking one can create its file.
    let _guard = match dry_run {
        true => None,
        false => match proc.try_guard()? {
            Standing::Locked(guard) => Some(guard),
            Standing::Busy | Standing::Gone => return Ok(()),
        },
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
        out.push(removed(dry_run), "leftover", &entry.path(), why);
    }
    Ok(())
}

fn pid_gone(pid: i32) -> bool {
    ProcessId { pid, start_time: 0 }.liveness() == Liveness::Dead
}

/// A proc directory with no record, or a record that never got past
/// NEW/READY, whose spawner is gone: nothing was ever started in it. It is
/// judged and removed under the proc lock, which a shim takes to write its
/// identity (`Proc::begin_supervision`): a shim the dead spawner started
/// either wrote it first, and its worker is kept, or finds its directory
/// gone and starts nothing.
fn orphan_proc(state: &StateDir, proc: &Proc, dry_run: bool, out: &mut Report) -> Result<()> {
    // A dry run takes no lock: taking one can create its file.
    let _guard = match dry_run {
        true => None,
        false => match proc.try_guard()? {
            Standing::Locked(guard) => Some(guard),
            // A writer at work in it is alive: nothing to judge now.
            Standing::Busy | Standing::Gone => return Ok(()),
        },
    };
    if proc.shim().ok().flatten().is_some() {
        return Ok(());
    }
    let record = match proc.read() {
        Ok(r) => r,
        Err(e) => {
            let why = format!("its record cannot be read, so it is undecidable: {e}");
            out.push(Action::Kept, "proc", proc.dir(), why);
            return Ok(());
        }
    };
    let why = match &record {
        None => "no record and no shim".to_string(),
        Some(r) if matches!(r.state, State::New | State::Ready) => {
            let Some(repo) = r.repo.as_deref() else {
                return Ok(());
            };
            let dir = state.issue_locks(&crate::repo::hash_of(Path::new(repo)));
            let lock = IssueLock::in_dir(state, &dir, r.issue, repo.into());
            let spawner = match lock.peek() {
                Ok(Some(LockRecord {
                    holder: Holder::Process { id },
                    ..
                })) => Some(id).filter(|id| id.liveness() != Liveness::Dead),
                Ok(None) => None,
                Ok(Some(_)) | Err(_) => Some(ProcessId {
                    pid: 0,
                    start_time: 0,
                }),
            };
            if let Some(id) = spawner {
                let why = match id.pid {
                    0 => format!("{} and its issue lock is held", r.state),
                    pid => format!("{} and its spawner (pid {pid}) may live", r.state),
                };
                out.push(Action::Kept, "proc", proc.dir(), why);
                return Ok(());
            }
            format!("{} without a shim, and its spawner is gone", r.state)
        }
        Some(_) => return Ok(()),
    };
    if !dry_run {
        remove(proc.dir(), true)?;
    }
    out.push(removed(dry_run), "proc", proc.dir(), why);
    Ok(())
}

/// A worker whose record says it runs but whose shim is verifiably dead:
/// its agent (if it somehow lives) is stopped and the record ends
/// `crashed`, as `orc-watch` would on seeing it. A shim whose fate cannot
/// be told keeps the worker as it is. Whether the proc was dealt with here.
fn crashed(session: &Session, proc: &Proc, dry_run: bool, out: &mut Report) -> Result<bool> {
    let Ok(Some(ids)) = proc.shim() else {
        return Ok(false);
    };
    let record = match proc.read() {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(false),
        Err(e) => {
            let why = match ids.shim.liveness() {
                Liveness::Alive => format!(
                    "its record cannot be read and its shim (pid {}) lives: {e}",
                    ids.shim.pid
                ),
                _ => format!("its record cannot be read: {e}"),
            };
            out.push(Action::Kept, "proc", proc.dir(), why);
            return Ok(true);
        }
    };
    if !record.state.is_active() {
        return Ok(true);
    }
    match ids.shim.liveness() {
        Liveness::Alive => return Ok(true),
        Liveness::Unknown => {
            let why = format!(
                "{}, and whether its shim (pid {}) lives cannot be told",
                record.state, ids.shim.pid
            );
            out.push(Action::Kept, "proc", proc.dir(), why);
            return Ok(true);
        }
        Liveness::Dead => {}
    }
    let why = format!(
        "{}, but its shim (pid {}) is gone",
        record.state, ids.shim.pid
    );
    if dry_run {
        out.push(Action::WouldCrash, "proc", proc.dir(), why);
        return Ok(true);
    }
    if let Some(agent) = ids.agent.filter(|a| a.liveness() == Liveness::Alive) {
        let _ = killpg(Pid::from_raw(agent.pid), Signal::SIGKILL);
    }
    let root = record.repo.as_deref().map(Path::new).filter(|p| p.is_dir());
    let ctx = Context::for_session(root, session.name())?;
    let detail = format!(
        "the shim (pid {}) is gone (found by orc-ctl gc)",
        ids.shim.pid
    );
    if crate::worker::end(&ctx, proc, Outcome::Crashed, &detail, "orc-ctl gc", None)?.is_some() {
        out.push(Action::Crashed, "proc", proc.dir(), why);
    }
    Ok(true)
}

/// Issue locks whose holding process is verifiably dead (and no result
/// keeps them), or whose holding session no longer exists.
fn stale_locks(state: &StateDir, dry_run: bool, out: &mut Report) -> Result<()> {
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
            let lock = IssueLock::in_dir(state, &repo_dir, issue, PathBuf::new());
            let status = match lock.status() {
                Ok(status) => status,
                Err(e) => {
                    let why = format!("its holder record cannot be read: {e}");
                    out.push(Action::Kept, "lock", &file, why);
                    continue;
                }
            };
            let (why, stale) = match &status {
                LockStatus::Free => continue,
                LockStatus::Stale(r) => (
                    format!("held by {}, which is gone", r.holder.describe()),
                    true,
                ),
                LockStatus::Unknown(r) => (
                    format!(
                        "cannot tell whether its holder ({}) lives",
                        r.holder.describe()
                    ),
                    false,
                ),
                LockStatus::Held(r) => match (&r.holder, &r.kept_by) {
                    (Holder::Session { session }, _)
                        if !state.sessions().join(session).is_dir() =>
                    {
                        (format!("held by session {session}, which is gone"), true)
                    }
                    (_, Some(result)) => (
                        format!("kept by the {result} result of session {}", r.session),
                        false,
                    ),
                    (holder, None) => {
                        (format!("held by {}, which lives", holder.describe()), false)
                    }
                },
            };
            if !stale {
                out.push(Action::Kept, "lock", &file, why);
                continue;
            }
            if !dry_run {
                let Some(record) = status.record().cloned() else {
                    continue;
                };
                // Released only if nobody changed it since it was judged.
                let again = lock.check()?;
                if again.record() != Some(&record) || !is_stale(state, &again) {
                    continue;
                }
                lock.release(|r| *r == record)?;
            }
            out.push(removed(dry_run), "lock", &file, why);
        }
    }
    Ok(())
}

/// Temporary files of interrupted writes of lock records, in every
/// `locks/<repo>/` and `locks/named/`: only those old enough
/// ([`crate::fsutil::STALE_TEMP_AGE`]) that no write can be in flight.
fn lock_leftovers(state: &StateDir, dry_run: bool, out: &mut Report) -> Result<()> {
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
            out.push(
                removed(dry_run),
                "leftover",
                &entry.path(),
                "temporary file of an interrupted write".to_string(),
            );
        }
    }
    Ok(())
}

/// Whether a status, judged again under the flock, is still stale.
fn is_stale(state: &StateDir, status: &LockStatus) -> bool {
    match status {
        LockStatus::Stale(_) => true,
        LockStatus::Held(LockRecord {
            holder: Holder::Session { session },
            ..
        }) => !state.sessions().join(session).is_dir(),
        _ => false,
    }
}

/// A session with no workers, no kept logs and no lock it holds.
fn empty_session(
    state: &StateDir,
    session: &Session,
    dry_run: bool,
    out: &mut Report,
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
    // is never removed under a spawn that is filling it. A dry run removes
    // nothing, so it takes no lock (taking one can create its file).
    let _slot = match dry_run {
        true => None,
        false => crate::lock::named(state, &format!("spawn-{}", session.name()), true)?,
    };
    if fs::read_dir(session.procs())
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
    {
        return Ok(());
    }
    if !dry_run {
        remove(session.dir(), true)?;
    }
    let why = "no workers, no logs, no locks".to_string();
    out.push(removed(dry_run), "session", session.dir(), why);
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
