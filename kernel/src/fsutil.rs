//! File-system primitives: the one atomic writer and private directories.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Prefix of the temporary files `write_atomic` creates; a crash can leave
/// one behind, and [`remove_stale_temps`] clears them.
pub const TEMP_PREFIX: &str = ".orc-tmp-";

/// Replace `path` with `bytes` so that a reader sees the old content or the
/// new, never a mix: temp file in the same directory, fsync, rename, fsync
/// the directory. The file gets `mode` before it becomes visible.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = parent(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("fsync", tmp.path(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename into place", path, e.error))?;
    sync_dir(dir)
}

/// fsync a directory so a rename or create in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Create `dir` and its missing parents with mode 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Append one line to `path` in a single `write` on an `O_APPEND` file, so
/// concurrent appenders never interleave within a line.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("open for append", path, e))?;
    file.write_all(buf.as_bytes())
        .map_err(|e| Error::io("append to", path, e))
}

/// How old a temporary file must be before it counts as left by a crash.
/// Writers that do not hold the directory's lock (the shim recording its
/// identity, a checkpoint) may have a temporary file in flight at any
/// moment; none takes anywhere near this long between create and rename.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether `entry` is a temporary file of `write_atomic` old enough to have
/// been left by a crash.
pub fn is_stale_temp(entry: &fs::DirEntry) -> bool {
    entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
        && entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_TEMP_AGE)
}

/// Remove temporary files left in `dir` by an interrupted `write_atomic`:
/// only those older than [`STALE_TEMP_AGE`], so a write in flight is never
/// pulled from under its writer.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if is_stale_temp(&entry) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The directory holding `path`.
pub fn parent(path: &Path) -> Result<&Path> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => Ok(p),
        _ => Err(Error::failure(
            "path has no parent directory",
            path.display().to_string(),
        )),
    }
}

/// Read a JSON file: `None` when it does not exist; a file that does not
/// parse is an error naming it (`what` says what it should have been), and
/// is left as it is.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::failure(format!("corrupt {what}: {e}"), path.display().to_string())
                .hint("inspect it, or remove it: orc never overwrites a file it cannot read")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Read a file to a string, with the path in the error.
pub fn read_to_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_sets_mode_and_leaves_no_temp() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let path = dir.path().join("f.json");
        write_atomic(&path, b"{}", 0o600)?;
        write_atomic(&path, b"{\"a\":1}", 0o600)?;
        assert_eq!(read_to_string(&path)?, "{\"a\":1}");
        let mode = fs::metadata(&path)
            .map(|m| m.permissions().mode() & 0o777)
            .ok();
        assert_eq!(mode, Some(0o600));
        assert_eq!(fs::read_dir(dir.path()).map(|d| d.count()).ok(), Some(1));
        Ok(())
    }
}
