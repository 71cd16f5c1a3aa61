//! A cgroup v2 leaf of one worker: created next to the shim's own cgroup,
//! entered by the agent between fork and exec, killed whole through
//! `cgroup.kill` (which also catches a process in the middle of a fork),
//! watched through `cgroup.events`, removed once empty.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Error, Result};

/// The prefix of every cgroup orc creates; nothing else is ever killed.
const PREFIX: &str = "orc-";

/// One worker's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    /// Create the leaf `name` below the calling process's own cgroup v2
    /// directory. Fails (and leaves nothing) where there is no writable
    /// cgroup v2 hierarchy or the kernel has no `cgroup.kill` (before 5.14).
    pub fn create(name: &str) -> Result<Cgroup> {
        let mount = mount_point().ok_or_else(|| {
            Error::failure("no cgroup v2 hierarchy is mounted", "/proc/self/mountinfo")
        })?;
        let own = own_path()
            .ok_or_else(|| Error::failure("the shim is in no cgroup v2", "/proc/self/cgroup"))?;
        let path = mount
            .join(own.trim_start_matches('/'))
            .join(format!("{PREFIX}{name}"));
        std::fs::create_dir(&path).map_err(|e| Error::io("create the cgroup", &path, e))?;
        let cgroup = Cgroup { path };
        if !cgroup.path.join("cgroup.kill").exists() {
            cgroup.remove();
            return Err(Error::failure(
                "the kernel has no cgroup.kill (Linux 5.14 or later)",
                cgroup.path.display().to_string(),
            ));
        }
        Ok(cgroup)
    }

    /// A cgroup recorded earlier, if `path` is still one orc created.
    pub fn existing(path: &Path) -> Option<Cgroup> {
        let name = path.file_name()?.to_str()?;
        let mount = mount_point()?;
        (name.starts_with(PREFIX) && path.starts_with(&mount) && path.join("cgroup.kill").exists())
            .then(|| Cgroup {
                path: path.to_path_buf(),
            })
    }

    /// Whether `path` names the leaf `name` orc made under the cgroup v2
    /// mount, and it is gone: removed once empty by whoever drained it (or
    /// by a reboot). A path that is not such a leaf is never "removed".
    pub fn removed(path: &Path, name: &str) -> bool {
        let plain = path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        let leaf = path.file_name().and_then(|n| n.to_str()) == Some(&format!("{PREFIX}{name}"));
        plain
            && leaf
            && mount_point().is_some_and(|mount| path.starts_with(mount))
            && matches!(std::fs::symlink_metadata(path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `cgroup.procs` open for writing: the agent writes `0` to it between
    /// fork and exec to enter the cgroup before it runs anything.
    pub fn procs_for_writing(&self) -> Result<OwnedFd> {
        let path = self.path.join("cgroup.procs");
        OpenOptions::new()
            .write(true)
            .open(&path)
            .map(OwnedFd::from)
            .map_err(|e| Error::io("open", &path, e))
    }

    /// SIGKILL every process in the cgroup, at once.
    pub fn kill(&self) -> Result<()> {
        let path = self.path.join("cgroup.kill");
        std::fs::write(&path, "1").map_err(|e| Error::io("write", &path, e))
    }

    /// The pids in the cgroup now.
    pub fn pids(&self) -> Vec<i32> {
        std::fs::read_to_string(self.path.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether any process is in the cgroup (`cgroup.events`).
    pub fn populated(&self) -> bool {
        std::fs::read_to_string(self.path.join("cgroup.events"))
            .map(|t| t.lines().any(|l| l.trim() == "populated 1"))
            .unwrap_or(false)
    }

    /// Wait until the cgroup is empty or `deadline` passes; whether it is.
    /// The kernel signals a change of `cgroup.events` as POLLPRI.
    pub fn wait_empty(&self, deadline: Instant) -> bool {
        let Ok(events) = std::fs::File::open(self.path.join("cgroup.events")) else {
            return !self.populated();
        };
        while self.populated() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let ms = left.min(Duration::from_millis(100)).as_millis().max(1) as i32;
            let mut fds = [PollFd::new(events.as_fd(), PollFlags::POLLPRI)];
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            );
        }
        true
    }

    /// Memory in use, in KiB: `memory.current` where the memory controller
    /// is enabled, else `None` (the caller sums the processes' RSS).
    pub fn memory_kib(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.path.join("memory.current")).ok()?;
        text.trim().parse::<u64>().ok().map(|b| b / 1024)
    }

    /// Remove the (empty) cgroup; an error only means it is gone already
    /// or still busy, and is not worth failing over.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup` on a unified
/// system, `/sys/fs/cgroup/unified` on a v1 hybrid).
fn mount_point() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// The calling process's cgroup v2 path (`0::/path` in /proc/self/cgroup).
fn own_path() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
}
