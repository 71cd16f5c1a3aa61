//! What changed in the state directory, from inotify: one watch on the
//! state directory (the schedules), one on `sessions/`, one on each session
//! shown (its event log, its queue), one on its `procs/` (workers made and
//! removed) and one on each proc directory (the record replaced, the log
//! written to, the journal rewritten, the wake FIFO rung). Each change
//! names what to read again, so a change costs one worker's files, not the
//! fleet's.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::fleet::Scope;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::paths::StateDir;
use crate::session::Session;

/// Something to read again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// One worker's files.
    Proc {
        /// Its session.
        session: String,
        /// worker or reviewer.
        kind: Kind,
        /// Its issue.
        issue: Issue,
    },
    /// A session's event log.
    Events(String),
    /// A session's queue (`queue.json` or a journal).
    Queue(String),
    /// The schedules registry.
    Schedules,
    /// Sessions or proc directories appeared: read everything.
    Everything,
}

#[derive(Debug, Clone)]
enum Place {
    Root,
    Sessions,
    Session(String),
    Procs(String),
    Proc(String, Kind, Issue),
}

/// The inotify instance and what each of its watches is.
#[derive(Debug)]
pub struct Watcher {
    inotify: Inotify,
    places: HashMap<WatchDescriptor, Place>,
    state: StateDir,
    scope: Scope,
}

const DIR_EVENTS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_MODIFY);

impl Watcher {
    /// Watch what `scope` shows in `state`. Fails where inotify cannot be
    /// had (the caller then polls).
    pub fn new(state: &StateDir, scope: &Scope) -> Result<Watcher> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| Error::failure(format!("inotify failed: {e}"), "orc-top"))?;
        let mut w = Watcher {
            inotify,
            places: HashMap::new(),
            state: state.clone(),
            scope: scope.clone(),
        };
        w.add(state.root(), Place::Root)?;
        w.watch_sessions();
        Ok(w)
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inotify.as_fd()
    }

    /// Every change waiting now (possibly none), without blocking.
    pub fn read(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        loop {
            match self.inotify.read_events() {
                Ok(events) if !events.is_empty() => {
                    for e in events {
                        if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                            out.push(Change::Everything);
                            continue;
                        }
                        if e.mask.contains(AddWatchFlags::IN_IGNORED) {
                            self.places.remove(&e.wd);
                            continue;
                        }
                        let Some(place) = self.places.get(&e.wd).cloned() else {
                            continue;
                        };
                        let name = e.name.as_deref().unwrap_or(OsStr::new(""));
                        self.interpret(&place, &name.to_string_lossy(), &mut out);
                    }
                }
                Ok(_) | Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(_) => {
                    out.push(Change::Everything);
                    break;
                }
            }
        }
        out.sort_by_key(|c| format!("{c:?}"));
        out.dedup();
        out
    }

    fn interpret(&mut self, place: &Place, name: &str, out: &mut Vec<Change>) {
        // Temporary files of atomic writes, locks: their rename is the news.
        if name.starts_with('.') {
            return;
        }
        match place {
            Place::Root if name == "schedules.json" => out.push(Change::Schedules),
            Place::Root if name == "sessions" => {
                self.watch_sessions();
                out.push(Change::Everything);
            }
            Place::Root => {}
            Place::Sessions => {
                if self.shows(name) {
                    self.watch_sessions();
                    out.push(Change::Everything);
                }
            }
            Place::Session(s) => match name {
                "events.jsonl" => out.push(Change::Events(s.clone())),
                "queue.json" => out.push(Change::Queue(s.clone())),
                "procs" => {
                    self.watch_sessions();
                    out.push(Change::Everything);
                }
                _ => {}
            },
            Place::Procs(s) => {
                if let Some((kind, issue)) = proc_name(name) {
                    let dir = self.state.sessions().join(s).join("procs").join(name);
                    if dir.is_dir() {
                        let _ = self.add(&dir, Place::Proc(s.clone(), kind, issue));
                    }
                    out.push(Change::Proc {
                        session: s.clone(),
                        kind,
                        issue,
                    });
                }
            }
            Place::Proc(s, kind, issue) => {
                if name == "dispatch.json" {
                    out.push(Change::Queue(s.clone()));
                }
                out.push(Change::Proc {
                    session: s.clone(),
                    kind: *kind,
                    issue: *issue,
                });
            }
        }
    }

    fn shows(&self, session: &str) -> bool {
        match &self.scope {
            Scope::One(s) => s.name() == session,
            Scope::All => true,
        }
    }

    /// Watch `sessions/`, each session shown, its `procs/` and each proc
    /// directory in it. Watching a directory twice is harmless (inotify
    /// returns the same descriptor).
    fn watch_sessions(&mut self) {
        let sessions = self.state.sessions();
        if self.add(&sessions, Place::Sessions).is_err() {
            return;
        }
        let list = match &self.scope {
            Scope::One(s) => vec![s.clone()],
            Scope::All => Session::list(&self.state).unwrap_or_default(),
        };
        for session in list {
            let name = session.name().to_string();
            if self
                .add(session.dir(), Place::Session(name.clone()))
                .is_err()
            {
                continue;
            }
            if self
                .add(&session.procs(), Place::Procs(name.clone()))
                .is_err()
            {
                continue;
            }
            for proc in crate::procdir::Proc::list(&session).unwrap_or_default() {
                let place = Place::Proc(name.clone(), proc.kind(), proc.issue());
                let _ = self.add(proc.dir(), place);
            }
        }
    }

    fn add(&mut self, dir: &Path, place: Place) -> Result<()> {
        let wd = self
            .inotify
            .add_watch(dir, DIR_EVENTS)
            .map_err(|e| Error::failure(format!("cannot watch: {e}"), dir.display().to_string()))?;
        self.places.insert(wd, place);
        Ok(())
    }

    /// How many directories are watched.
    pub fn watches(&self) -> usize {
        self.places.len()
    }
}

/// `worker-12` → (worker, 12).
fn proc_name(name: &str) -> Option<(Kind, Issue)> {
    let (kind, issue) = name.split_once('-')?;
    Some((Kind::parse(kind).ok()?, Issue::parse(issue).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procdir::Proc;
    use crate::record::Record;

    #[test]
    fn changes_name_the_worker_that_changed() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let state = StateDir::at(dir.path());
        let session = Session::open(&state, "s1")?;
        let mut w = Watcher::new(&state, &Scope::One(session.clone()))?;
        session.ensure(None)?;
        let first = w.read();
        assert!(first.contains(&Change::Everything), "{first:?}");
        let proc = Proc::new(&session, Kind::Worker, Issue::from(7));
        proc.create(&Record::new(Issue::from(7), Kind::Worker, "s1", "t"))?;
        let made = Change::Proc {
            session: "s1".into(),
            kind: Kind::Worker,
            issue: Issue::from(7),
        };
        assert!(w.read().contains(&made));
        proc.update(|r| {
            r.detail = "phase2".into();
            Ok(())
        })?;
        assert_eq!(w.read(), vec![made.clone()]);
        crate::events::append(&session, &crate::events::Event::of("x", &proc.load()?)?)?;
        assert_eq!(w.read(), vec![Change::Events("s1".into())]);
        // Another session is not watched.
        let other = Session::open(&state, "s2")?;
        other.ensure(None)?;
        assert_eq!(w.read(), vec![]);
        std::fs::remove_dir_all(proc.dir()).map_err(|e| Error::io("rm", proc.dir(), e))?;
        assert!(w.read().contains(&made));
        assert!(w.watches() >= 4);
        Ok(())
    }
}
