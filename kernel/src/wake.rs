//! The wake FIFO: a doorbell that tells a waiting `orc-watch` to look at the
//! record now instead of at its next poll. The record is the truth; the
//! doorbell only makes the waiter faster, so ringing never blocks and "no
//! one is listening" is normal.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::Mode;

use crate::error::{Error, Result};

/// Largest message written in one go; writes up to `PIPE_BUF` (4096 on
/// Linux, 512 by POSIX) are atomic, so lines from two ringers never mix.
pub const MAX_MESSAGE: usize = 512;

/// Create the FIFO at `path` with mode 0600 whatever the umask: made under a
/// temporary name, given its mode, then renamed into place.
pub fn create(path: &Path) -> Result<()> {
    let dir = crate::fsutil::parent(path)?;
    let tmp = dir.join(format!(".wake-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    nix::unistd::mkfifo(&tmp, Mode::from_bits_truncate(0o600)).map_err(|e| {
        Error::failure(
            format!("cannot create FIFO: {e}"),
            tmp.display().to_string(),
        )
    })?;
    let done = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("install FIFO", path, e));
    }
    Ok(())
}

/// What happened when the doorbell was rung.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rang {
    /// A reader got the message.
    Delivered,
    /// Nobody was waiting (normal).
    NoReader,
    /// The pipe was full: the reader has unread wake-ups already.
    Full,
    /// No FIFO at the path (the worker was cleaned up, or never had one).
    Missing,
}

/// Ring the doorbell with one line (cut to [`MAX_MESSAGE`]), never blocking.
pub fn ring(path: &Path, message: &str) -> Result<Rang> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(Error::failure(
                "wake path is not a FIFO",
                path.display().to_string(),
            ));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Rang::Missing),
        Err(e) => return Err(Error::io("inspect", path, e)),
    }
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(libc_flags::O_NONBLOCK | crate::fsutil::NOFOLLOW)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc_flags::ENXIO) => return Ok(Rang::NoReader),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Rang::Missing),
        Err(e) => return Err(Error::io("open FIFO", path, e)),
    };
    let mut line = truncate(message, MAX_MESSAGE - 1).to_string();
    line.push('\n');
    match file.write(line.as_bytes()) {
        Ok(_) => Ok(Rang::Delivered),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(Rang::Full),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(Rang::NoReader),
        Err(e) => Err(Error::io("write FIFO", path, e)),
    }
}

fn truncate(text: &str, max: usize) -> &str {
    let text = text.lines().next().unwrap_or("");
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The reading end of a doorbell, for `poll`. It also holds a writing end,
/// so the FIFO never reports end-of-file when ringers close: the reader
/// survives any number of writers coming and going. On Linux one
/// descriptor opened for both is that writing end (a FIFO opened read-write
/// never blocks there); elsewhere, where POSIX leaves that undefined, a
/// second descriptor is. A dispatcher holds one doorbell a running worker,
/// and every process it starts copies its descriptor table: one each, not
/// two.
#[derive(Debug)]
pub struct Doorbell {
    reader: File,
    _keepalive: Option<File>,
}

impl Doorbell {
    /// Open the FIFO at `path` for waiting.
    pub fn open(path: &Path) -> Result<Doorbell> {
        let both = cfg!(target_os = "linux");
        let reader = OpenOptions::new()
            .read(true)
            .write(both)
            .custom_flags(libc_flags::O_NONBLOCK | crate::fsutil::NOFOLLOW)
            .open(path)
            .map_err(|e| Error::io("open FIFO for reading", path, e))?;
        if !reader
            .metadata()
            .map(|m| m.file_type().is_fifo())
            .unwrap_or(false)
        {
            return Err(Error::failure(
                "wake path is not a FIFO",
                path.display().to_string(),
            ));
        }
        let keepalive = if both {
            None
        } else {
            let writer = OpenOptions::new()
                .write(true)
                .custom_flags(libc_flags::O_NONBLOCK | crate::fsutil::NOFOLLOW)
                .open(path)
                .map_err(|e| Error::io("open FIFO for keep-alive", path, e))?;
            Some(writer)
        };
        Ok(Doorbell {
            reader,
            _keepalive: keepalive,
        })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Read every message waiting now (possibly none).
    pub fn drain(&mut self) -> Vec<String> {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

mod libc_flags {
    pub const O_NONBLOCK: i32 = nix::fcntl::OFlag::O_NONBLOCK.bits();
    pub const ENXIO: i32 = nix::errno::Errno::ENXIO as i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_without_reader_returns_at_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let path = dir.path().join("wake");
        create(&path)?;
        let mode = std::fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        assert_eq!(ring(&path, "hello")?, Rang::NoReader);
        assert_eq!(ring(&dir.path().join("nope"), "x")?, Rang::Missing);
        Ok(())
    }

    #[test]
    fn reader_survives_writers_closing() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let path = dir.path().join("wake");
        create(&path)?;
        let mut bell = Doorbell::open(&path)?;
        assert_eq!(ring(&path, "one\ntwo")?, Rang::Delivered);
        assert_eq!(ring(&path, "three")?, Rang::Delivered);
        assert_eq!(bell.drain(), vec!["one".to_string(), "three".to_string()]);
        assert!(bell.drain().is_empty());
        assert_eq!(ring(&path, "four")?, Rang::Delivered);
        assert_eq!(bell.drain(), vec!["four".to_string()]);
        Ok(())
    }
}
