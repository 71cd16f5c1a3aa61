//! A snapshot of the process table (`/proc/<pid>/stat`), and which of its
//! processes belong to a worker: those whose parent chain leads to the shim
//! or the agent, those in the agent's process group or session, and those
//! that carry the worker's environment tag.

use std::collections::HashMap;

use crate::liveness::ProcessId;

/// One process of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its pid.
    pub pid: i32,
    /// Its parent.
    pub ppid: i32,
    /// Its process group.
    pub pgid: i32,
    /// Its session.
    pub sid: i32,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
    /// Resident pages.
    pub rss_pages: u64,
    /// Exited, not yet reaped.
    pub zombie: bool,
}

/// Every process the caller can see, by pid.
#[derive(Debug, Clone, Default)]
pub struct Table {
    by_pid: HashMap<i32, Entry>,
}

impl Table {
    /// Read `/proc` now. Processes that end while it is read are left out.
    pub fn read() -> Table {
        let mut by_pid = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(e) = read_entry(pid) {
                    by_pid.insert(pid, e);
                }
            }
        }
        Table { by_pid }
    }

    /// The process `pid`, if it was there.
    pub fn get(&self, pid: i32) -> Option<&Entry> {
        self.by_pid.get(&pid)
    }

    /// The live processes of a worker whose shim is `shim` and agent
    /// `agent`, never the shim itself nor the caller. `tag`, when given, is
    /// the `ORC_SHIM_ID=...` entry of the agent's environment: a process
    /// that still carries it is the worker's even when nothing else links
    /// it back (its parents died and it left the group and the session).
    pub fn members(
        &self,
        shim: Option<ProcessId>,
        agent: Option<ProcessId>,
        tag: Option<&str>,
    ) -> Vec<i32> {
        let me = std::process::id() as i32;
        let is = |e: &Entry, id: Option<ProcessId>| {
            id.is_some_and(|id| e.pid == id.pid && same_start(e.start_time, id.start_time))
        };
        // The tag is the shim's (its pid and start time): only a process
        // started since the shim can carry it, and only such a process has
        // its environment read (one file each, the costly part of a sweep).
        let since = shim.map_or(0, |s| s.start_time);
        let mut out: Vec<i32> = self
            .by_pid
            .values()
            .filter(|e| !e.zombie && e.pid != me && !is(e, shim))
            .filter(|e| {
                is(e, agent)
                    || self.in_group_of(e, agent)
                    || self.descends_from(e, shim, agent)
                    || tag.is_some_and(|t| e.start_time >= since && environ_has(e.pid, t))
            })
            .map(|e| e.pid)
            .collect();
        out.sort_unstable();
        out
    }

    /// In the agent's process group or session. A pid is not reused while
    /// a group or session of that id has a member; a process that started
    /// before the agent cannot have joined its group.
    fn in_group_of(&self, e: &Entry, agent: Option<ProcessId>) -> bool {
        agent.is_some_and(|a| (e.pgid == a.pid || e.sid == a.pid) && e.start_time >= a.start_time)
    }

    /// Whether `e`'s parent chain reaches the shim or the agent.
    fn descends_from(&self, e: &Entry, shim: Option<ProcessId>, agent: Option<ProcessId>) -> bool {
        let mut pid = e.ppid;
        // A chain longer than the table is a cycle in a torn snapshot.
        for _ in 0..=self.by_pid.len() {
            if pid <= 1 {
                return false;
            }
            let Some(parent) = self.by_pid.get(&pid) else {
                return false;
            };
            for id in [shim, agent].into_iter().flatten() {
                if parent.pid == id.pid && same_start(parent.start_time, id.start_time) {
                    return true;
                }
            }
            pid = parent.ppid;
        }
        false
    }

    /// Resident memory of `pids`, in KiB.
    pub fn rss_kib(&self, pids: &[i32]) -> u64 {
        let page = page_size_kib();
        pids.iter()
            .filter_map(|p| self.by_pid.get(p))
            .map(|e| e.rss_pages * page)
            .sum()
    }
}

/// Start times match, or one side could not tell (0).
fn same_start(seen: u64, recorded: u64) -> bool {
    recorded == 0 || seen == recorded
}

/// Parse `/proc/<pid>/stat`; fields are counted from the last `)` since
/// the command name may hold spaces and parentheses. One `read` into a
/// buffer on the stack: the shim reads the whole table on its crash path.
fn read_entry(pid: i32) -> Option<Entry> {
    use std::io::Read;
    let mut buf = [0u8; 1024];
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = file.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    Some(Entry {
        pid,
        zombie: matches!(*f.first()?, "Z" | "X"),
        ppid: f.get(1)?.parse().ok()?,
        pgid: f.get(2)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        start_time: f.get(19)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// Whether the environment of `pid` holds the entry `tag` exactly.
pub fn environ_has(pid: i32, tag: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|&b| b == 0).any(|kv| kv == tag.as_bytes()))
        .unwrap_or(false)
}

fn page_size_kib() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4, |b| (b as u64 / 1024).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_a_member_by_its_parent_and_a_stranger_is_not() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let table = Table::read();
        let me = ProcessId::current();
        assert!(table.members(Some(me), None, None).contains(&pid));
        let stranger = ProcessId {
            pid: 1,
            start_time: 0,
        };
        assert!(!table.members(Some(stranger), None, None).contains(&pid));
        // A process that has only just exec'd may have no page resident
        // yet: its resident set is read as soon as it has one.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let resident = loop {
            let seen = Table::read().get(pid).copied();
            match seen {
                Some(e) if e.rss_pages > 0 || e.zombie => break true,
                _ if std::time::Instant::now() >= deadline => break false,
                _ => std::thread::yield_now(),
            }
        };
        assert!(resident, "no resident page of {pid} read within 10 s");
        let _ = child.kill();
        let _ = child.wait();
    }
}
