//! The workers `orc-top` shows, read from their proc directories: every
//! record at the start, then only the one a change names. The costly parts
//! (health, memory) are read for running workers only; titles once.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::model::{Key, WorkerRow};
use crate::error::Result;
use crate::ids::{Issue, Kind};
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::session::Session;

/// Which sessions are shown.
#[derive(Debug, Clone)]
pub enum Scope {
    /// One session.
    One(Session),
    /// Every session of the state directory.
    All,
}

/// The rows, by worker.
#[derive(Debug)]
pub struct Fleet {
    state: StateDir,
    scope: Scope,
    /// Every worker shown.
    pub rows: BTreeMap<Key, WorkerRow>,
    titles: HashMap<Key, String>,
}

impl Fleet {
    /// An empty fleet of `scope` in `state`; [`Fleet::reload_all`] reads it.
    pub fn new(state: StateDir, scope: Scope) -> Fleet {
        Fleet {
            state,
            scope,
            rows: BTreeMap::new(),
            titles: HashMap::new(),
        }
    }

    /// The state directory.
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The sessions shown (those that exist, for `All`).
    pub fn sessions(&self) -> Result<Vec<Session>> {
        match &self.scope {
            Scope::One(s) => Ok(vec![s.clone()]),
            Scope::All => Session::list(&self.state),
        }
    }

    /// Whether `session` is shown.
    pub fn shows(&self, session: &str) -> bool {
        match &self.scope {
            Scope::One(s) => s.name() == session,
            Scope::All => true,
        }
    }

    /// Read every worker again.
    pub fn reload_all(&mut self) -> Result<()> {
        let mut seen = Vec::new();
        for session in self.sessions()? {
            for proc in Proc::list(&session)? {
                let key = key_of(&session, &proc);
                self.load(&session, &proc, &key);
                seen.push(key);
            }
        }
        seen.sort();
        self.rows.retain(|k, _| seen.binary_search(k).is_ok());
        Ok(())
    }

    /// Read worker `kind`-`issue` of `session` again; forget it when its
    /// proc directory is gone.
    pub fn reload(&mut self, session: &str, kind: Kind, issue: Issue) {
        let Ok(session) = Session::open(&self.state, session) else {
            return;
        };
        let proc = Proc::new(&session, kind, issue);
        let key = key_of(&session, &proc);
        if proc.exists() {
            self.load(&session, &proc, &key);
        } else {
            self.rows.remove(&key);
            self.titles.remove(&key);
        }
    }

    /// Look again at the liveness, health and memory of running workers
    /// (nothing changes on disk when a shim is killed with SIGKILL).
    /// With `memory`, read their memory too (a pass over `/proc`).
    /// Whether anything shown changed.
    pub fn recheck_running(&mut self, memory: bool) -> bool {
        let running: Vec<(Key, WorkerRow)> = self
            .rows
            .values()
            .filter(|r| r.is_active() || r.health.is_some())
            .map(|r| (r.key.clone(), r.clone()))
            .collect();
        if running.is_empty() {
            return false;
        }
        for (key, _) in &running {
            self.reload(&key.session, key.kind, key.issue);
        }
        if memory {
            self.read_memory();
        }
        running
            .iter()
            .any(|(key, before)| self.rows.get(key) != Some(before))
    }

    /// Whether any worker occupies a slot (its age moves on each second).
    pub fn any_running(&self) -> bool {
        self.rows.values().any(WorkerRow::is_active)
    }

    /// Fill in the memory of running workers: one pass over `/proc`.
    pub fn read_memory(&mut self) {
        let mut groups: Vec<(Key, i32)> = Vec::new();
        for row in self.rows.values().filter(|r| r.is_active()) {
            let Ok(session) = Session::open(&self.state, &row.key.session) else {
                continue;
            };
            let proc = Proc::new(&session, row.key.kind, row.key.issue);
            if let Ok(Some(ids)) = proc.shim()
                && let Some(agent) = ids.agent
            {
                groups.push((row.key.clone(), agent.pid));
            }
        }
        if groups.is_empty() {
            return;
        }
        let pgids: Vec<i32> = groups.iter().map(|(_, g)| *g).collect();
        let rss = super::memory::rss_by_group(&pgids);
        for (key, pgid) in groups {
            if let Some(row) = self.rows.get_mut(&key) {
                row.memory_kb = rss.get(&pgid).copied();
            }
        }
    }

    fn load(&mut self, session: &Session, proc: &Proc, key: &Key) {
        let mut row = WorkerRow::empty(key.clone());
        match proc.read() {
            Ok(Some(r)) => {
                row.state = Some(r.state);
                row.detail = r.detail.clone();
                row.result = r.result;
                row.started = crate::clock::parse(&r.started_at)
                    .ok()
                    .map(|t| t.timestamp());
                if !r.state.is_active() {
                    row.ended = crate::clock::parse(&r.updated_at)
                        .ok()
                        .map(|t| t.timestamp());
                }
                row.attempt = r.attempt;
                row.priority = r.priority.clone();
                if r.state.is_active() {
                    row.health = Some(crate::health::verdict(proc, Some(&r)));
                }
                // Read until found: spawn writes the task file after the
                // record, and a title never changes once there.
                if !self.titles.contains_key(key)
                    && let Some(t) = title(r.worktree.as_deref().map(Path::new))
                        .or_else(|| self.worker_title(session, key))
                {
                    self.titles.insert(key.clone(), t);
                }
            }
            Ok(None) => row.error = Some("no state.json yet".to_string()),
            Err(e) => row.error = Some(e.what().to_string()),
        }
        row.title = self.titles.get(key).cloned().unwrap_or_default();
        row.last_log = last_line(&proc.log_path());
        if let Some(old) = self.rows.get(key) {
            row.memory_kb = old.memory_kb.filter(|_| row.is_active());
        }
        self.rows.insert(key.clone(), row);
    }

    /// A reviewer's title is its worker's.
    fn worker_title(&self, session: &Session, key: &Key) -> Option<String> {
        if key.kind != Kind::Reviewer {
            return None;
        }
        let worker = Proc::new(session, Kind::Worker, key.issue).read().ok()??;
        title(worker.worktree.as_deref().map(Path::new))
    }
}

fn key_of(session: &Session, proc: &Proc) -> Key {
    Key {
        session: session.name().to_string(),
        kind: proc.kind(),
        issue: proc.issue(),
    }
}

/// The title the worktree's task file gives (`- Title: ...`).
fn title(worktree: Option<&Path>) -> Option<String> {
    let text = std::fs::read_to_string(worktree?.join(crate::context::TASK_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("- Title: "))
        .map(|t| t.trim().to_string())
}

/// The last non-empty line of the file at `path`, with terminal escapes
/// and control characters removed (an agent's output may hold both).
pub fn last_line(path: &Path) -> String {
    let Ok(mut file) = crate::fsutil::open_read(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let line = text
        .split(['\n', '\r'])
        .map(clean)
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    line.trim().to_string()
}

/// `text` without ANSI escape sequences and control characters.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte; OSC: ESC ] text BEL (or ESC \\);
            // other escapes: ESC and one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            } else if chars.peek() == Some(&']') {
                while let Some(d) = chars.next() {
                    if d == '\u{7}' || (d == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' {
            out.push(' ');
        } else if !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_is_clean_text() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", Path::new("."), e))?;
        let log = dir.path().join("log");
        assert_eq!(last_line(&log), "");
        std::fs::write(&log, "first\n\x1b[1;32mgreen\x1b[0m\tdone\r\n\n  \n")
            .map_err(|e| crate::Error::io("write", &log, e))?;
        assert_eq!(last_line(&log), "green done");
        assert_eq!(clean("a\x1b]0;title\x07b\u{7}\x1b=."), "ab.");
        Ok(())
    }

    #[test]
    fn titles_come_from_the_task_file() -> Result<()> {
        let dir =
            tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", Path::new("."), e))?;
        let task = dir.path().join(crate::context::TASK_FILE);
        std::fs::write(&task, "# Issue 4: Fix it\n\n- Issue: 4\n- Title: Fix it\n")
            .map_err(|e| crate::Error::io("write", &task, e))?;
        assert_eq!(title(Some(dir.path())), Some("Fix it".to_string()));
        assert_eq!(title(None), None);
        Ok(())
    }
}
