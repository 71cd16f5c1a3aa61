//! Bounded lock waits, and who holds a lock when a wait runs out.
//!
//! No orc tool waits for a lock forever (only `orc-lock run`, which waits as
//! its user asked): a wait lasts at most `ORC_LOCK_TIMEOUT` seconds (default
//! [`DEFAULT_PATIENCE`]), then ends with an error naming the holder, read
//! from `/proc/locks` (pid, command and user), so a stuck or hostile holder
//! is named instead of hanging the caller.

use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Kind, Result};

/// How long a lock wait lasts by default, in seconds.
pub const DEFAULT_PATIENCE: u64 = 60;

/// The longest a lock wait lasts: `ORC_LOCK_TIMEOUT` as resolved (and
/// checked) with every setting when the tool started, else
/// [`DEFAULT_PATIENCE`].
pub fn patience() -> Duration {
    Duration::from_secs(crate::profile::lock_timeout().unwrap_or(DEFAULT_PATIENCE))
}

/// Take the exclusive flock of `file` (at `path`) within `patience`.
pub fn lock_within(file: &File, path: &Path, patience: Duration) -> Result<()> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(Error::io("lock", path, e)),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::new(
                Kind::Timeout,
                format!(
                    "waited {}s for a lock held by {}",
                    patience.as_secs(),
                    holder(file).unwrap_or_else(|| "an unknown process".to_string())
                ),
                path.display().to_string(),
            )
            .hint("end that process if it is stuck, or raise ORC_LOCK_TIMEOUT"));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Who holds the flock on `file`: `pid N (command, user NAME)`, from
/// `/proc/locks` (Linux); `None` where that cannot be told.
pub fn holder(file: &File) -> Option<String> {
    let meta = file.metadata().ok()?;
    let (major, minor) = (
        nix::sys::stat::major(meta.dev()),
        nix::sys::stat::minor(meta.dev()),
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 1234 08:02:131090 0 EOF"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, id) = (fields.get(4)?, fields.get(5)?);
        let mut parts = id.split(':');
        let ma = u64::from_str_radix(parts.next()?, 16).ok()?;
        let mi = u64::from_str_radix(parts.next()?, 16).ok()?;
        let ino: u64 = parts.next()?.parse().ok()?;
        (fields.get(1) == Some(&"FLOCK") && ma == major && mi == minor && ino == meta.ino())
            .then(|| pid.parse::<i32>().ok())
            .flatten()
    })?;
    Some(describe(pid))
}

/// `pid N (command, user NAME)` with what `/proc` tells of `pid`.
fn describe(pid: i32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_string())
        .unwrap_or_default();
    let user = std::fs::metadata(format!("/proc/{pid}")).ok().map(|m| {
        let uid = nix::unistd::Uid::from_raw(m.uid());
        nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| format!("uid {uid}"), |u| u.name)
    });
    let comm = crate::text::escaped(&comm, 32);
    match (comm.is_empty(), user) {
        (false, Some(user)) => format!("pid {pid} ({comm}, user {user})"),
        (true, Some(user)) => format!("pid {pid} (user {user})"),
        (false, None) => format!("pid {pid} ({comm})"),
        (true, None) => format!("pid {pid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_naming_the_holder() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let path = dir.path().join("x.lock");
        let open = || File::create(&path).map_err(|e| Error::io("open", &path, e));
        let held = open()?;
        held.lock().map_err(|e| Error::io("lock", &path, e))?;
        let other = open()?;
        let err = lock_within(&other, &path, Duration::from_millis(100)).err();
        let text = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err.map(|e| e.code()), Some(124));
        let me = std::process::id();
        assert!(
            text.starts_with(&format!("waited 0s for a lock held by pid {me} (")),
            "{text}"
        );
        drop(held);
        lock_within(&other, &path, Duration::from_millis(100))
    }
}
