//! Containment: nothing an agent starts outlives its worker.
//!
//! Where the cgroup v2 filesystem is writable, each worker's agent runs in a
//! cgroup leaf of its own and is killed whole with `cgroup.kill`. Elsewhere
//! (`ORC_CONTAIN=group`, or no writable cgroup v2) the agent leads its own
//! process group and a sweep of the process table finds the rest: every
//! process whose parent chain leads to the shim (a child subreaper, so the
//! agent's orphans are re-parented to it) or the agent, every process of
//! the agent's group or session, and every process carrying the worker's
//! environment tag `ORC_SHIM_ID` (so even a `setsid` grandchild whose
//! parents are gone is found after the shim itself was SIGKILLed).

mod cgroup;
mod table;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

pub use cgroup::Cgroup;
pub use table::{Entry, Table, environ_has};

use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::liveness::{Liveness, ProcessId};
use crate::procdir::{Proc, ShimIds};

/// The environment variable that tags every process of a worker.
pub const TAG_VAR: &str = "ORC_SHIM_ID";

/// How a worker is contained (`ORC_CONTAIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A cgroup where the filesystem allows it, else the process group.
    Auto,
    /// A cgroup, or the worker does not start.
    Cgroup,
    /// The process group and the sweep, never a cgroup.
    Group,
}

impl Mode {
    /// Parse `auto`, `cgroup` or `group`.
    pub fn parse(text: &str) -> Result<Mode> {
        match text {
            "" | "auto" => Ok(Mode::Auto),
            "cgroup" => Ok(Mode::Cgroup),
            "group" => Ok(Mode::Group),
            _ => Err(Error::usage("unknown containment", text)
                .hint("ORC_CONTAIN is auto, cgroup or group")),
        }
    }
}

/// The name of the cgroup leaf the shim `shim` makes for its worker
/// `kind`-`issue` (unique on the host while the shim lives).
pub fn cgroup_name(kind: Kind, issue: Issue, shim: i32) -> String {
    format!("{kind}-{issue}-{shim}")
}

/// The value of the tag for the shim `shim`: `ORC_SHIM_ID=<pid>.<start>`.
pub fn tag_value(shim: ProcessId) -> String {
    format!("{}.{}", shim.pid, shim.start_time)
}

/// The tag as it appears in `/proc/<pid>/environ`.
pub fn tag_entry(shim: ProcessId) -> String {
    format!("{TAG_VAR}={}", tag_value(shim))
}

/// How the shim contains its agent: the cgroup, if one was made, and why
/// not otherwise.
#[derive(Debug)]
pub struct Container {
    /// The worker's cgroup.
    pub cgroup: Option<Cgroup>,
    /// Why there is no cgroup (for the log), if there is none.
    pub fallback: Option<String>,
}

impl Container {
    /// Make the container for a worker named `name` (unique on the host).
    pub fn new(mode: Mode, name: &str) -> Result<Container> {
        if mode == Mode::Group {
            return Ok(Container {
                cgroup: None,
                fallback: Some("ORC_CONTAIN=group".to_string()),
            });
        }
        match Cgroup::create(name) {
            Ok(cgroup) => Ok(Container {
                cgroup: Some(cgroup),
                fallback: None,
            }),
            Err(e) if mode == Mode::Auto => Ok(Container {
                cgroup: None,
                fallback: Some(e.to_string()),
            }),
            Err(e) => Err(e.hint("ORC_CONTAIN=auto falls back to the process group")),
        }
    }

    /// Give up the cgroup (the agent could not enter it) and fall back.
    pub fn fall_back(&mut self, why: String) {
        if let Some(c) = self.cgroup.take() {
            c.remove();
        }
        self.fallback = Some(why);
    }

    /// The cgroup's path, for `shim.pid`.
    pub fn cgroup_path(&self) -> Option<PathBuf> {
        self.cgroup.as_ref().map(|c| c.path().to_path_buf())
    }

    /// What the shim logs about it.
    pub fn describe(&self) -> String {
        match (&self.cgroup, &self.fallback) {
            (Some(c), _) => format!("contained in cgroup {}", c.path().display()),
            (None, Some(why)) => format!("contained by process group and sweep ({why})"),
            (None, None) => "contained by process group and sweep".to_string(),
        }
    }

    /// SIGKILL everything of the worker but the shim, without waiting:
    /// the cgroup at once, the agent's group, then every other process
    /// the sweep finds. With `scan` false only the cgroup and the group are
    /// killed (the caller knows nothing else is left). Returns how many
    /// processes the sweep signalled.
    pub fn kill_all(&self, shim: ProcessId, agent: ProcessId, scan: bool) -> usize {
        if let Some(c) = &self.cgroup {
            let _ = c.kill();
        }
        let _ = killpg(Pid::from_raw(agent.pid), Signal::SIGKILL);
        if !scan {
            return 0;
        }
        // The shim's own descendants: the parent chain is enough here, the
        // environment tag is for the case the shim is gone.
        let members = Table::read().members(Some(shim), Some(agent), None);
        for &pid in &members {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        members.len()
    }

    /// Remove the cgroup once empty.
    pub fn remove(&self) {
        if let Some(c) = &self.cgroup {
            c.remove();
        }
    }
}

/// Stop every process of a worker whose shim may be dead: its Slurm job if
/// it has one, the shim, its cgroup, the agent's group, and whatever the
/// sweep finds, then wait up
/// to `patience` for them to be gone. Returns the pids still alive after
/// that (none, normally).
pub fn stop_worker(proc: &Proc, ids: &ShimIds, patience: Duration) -> Vec<i32> {
    let deadline = Instant::now() + patience;
    // A worker in a Slurm job: the job goes too, wherever it runs (Slurm
    // kills every process of it on its node).
    if let Some(job) = proc.slurm_job() {
        let _ = crate::slurm::cancel(job, None);
    } else if drained(proc, ids) {
        return Vec::new();
    }
    let cgroup = proc.cgroup().as_deref().and_then(Cgroup::existing);
    let tag = tag_entry(ids.shim);
    let shim_alive = |t: &Table| {
        t.get(ids.shim.pid).is_some_and(|e| {
            !e.zombie && (ids.shim.start_time == 0 || e.start_time == ids.shim.start_time)
        })
    };
    loop {
        if let Some(c) = &cgroup {
            let _ = c.kill();
        }
        let table = Table::read();
        let mut left = table.members(Some(ids.shim), ids.agent, Some(&tag));
        if shim_alive(&table) {
            left.push(ids.shim.pid);
        }
        if let Some(c) = &cgroup {
            for pid in c.pids() {
                if !left.contains(&pid) {
                    left.push(pid);
                }
            }
        }
        if left.is_empty() {
            if let Some(c) = &cgroup {
                c.wait_empty(deadline);
                c.remove();
            }
            return left;
        }
        if Instant::now() >= deadline {
            return left;
        }
        for &pid in &left {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether the shim verifiably drained its worker: the shim is dead and
/// the cgroup it recorded is gone. A shim removes its cgroup only once it
/// has no child left (shim/reap.rs: a child subreaper, it ends up the
/// parent of every descendant of the agent), so nothing of the worker is
/// left and the process table need not be read. A shim killed before that
/// leaves its cgroup in place; a worker without one (`ORC_CONTAIN=group`,
/// or an agent that could not enter it) has no record of one. Both get
/// the sweep.
fn drained(proc: &Proc, ids: &ShimIds) -> bool {
    let name = cgroup_name(proc.kind(), proc.issue(), ids.shim.pid);
    ids.shim.liveness() == Liveness::Dead
        && proc
            .cgroup()
            .is_some_and(|path| Cgroup::removed(&path, &name))
}

/// The memory of a running worker's processes, in KiB: the cgroup's
/// `memory.current` when the memory controller is there, else the sum of
/// the resident memory of the worker's processes in `table`.
pub fn memory_kib(proc: &Proc, ids: &ShimIds, table: &Table) -> Option<u64> {
    let cgroup = proc.cgroup().as_deref().and_then(Cgroup::existing);
    if let Some(kib) = cgroup.as_ref().and_then(Cgroup::memory_kib) {
        return Some(kib);
    }
    let pids = match &cgroup {
        Some(c) => c.pids(),
        None => table.members(Some(ids.shim), ids.agent, None),
    };
    (!pids.is_empty()).then(|| table.rss_kib(&pids))
}
