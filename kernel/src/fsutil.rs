//! File-system primitives: the one atomic writer, private directories, and
//! opening files under the state directory without following symlinks.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Prefix of the temporary files `write_atomic` creates; a crash can leave
/// one behind, and [`remove_stale_temps`] clears them.
pub const TEMP_PREFIX: &str = ".orc-tmp-";

/// Replace `path` with `bytes` so that a reader sees the old content or the
/// new, never a mix: temp file in the same directory, fsync, rename, fsync
/// the directory. The file gets `mode` before it becomes visible.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    put(path, bytes, mode, true)
}

/// [`write_atomic`] without the two fsyncs, for a file that every launch
/// needing it writes anew (a worker's prompt, its `.orc-env`): a reader
/// still sees the old content or the new, never a mix, but a crash of the
/// machine may lose it, and the next launch writes it again. Each fsync
/// costs the writer a disk flush; a dispatcher starts workers by the
/// thousand.
pub fn write_regenerable(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    put(path, bytes, mode, false)
}

/// Temp file in `path`'s directory, written, given `mode`, renamed into
/// place; with `sync`, the file is fsynced before the rename and the
/// directory after it.
fn put(path: &Path, bytes: &[u8], mode: u32, sync: bool) -> Result<()> {
    let dir = parent(path)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, without_path(e)))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("write", tmp.path(), e))?;
    if sync {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io("fsync", tmp.path(), e))?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io("rename into place", path, e.error))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// `err` without the ` at path "…"` that tempfile appends, so an error
/// names its path once (as its subject), not twice.
fn without_path(err: std::io::Error) -> std::io::Error {
    let text = err.to_string();
    match text.find(" at path ") {
        Some(at) => std::io::Error::new(err.kind(), text[..at].to_string()),
        None => err,
    }
}

/// fsync a directory so a rename or create in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// `O_NOFOLLOW`: every file under the state directory is opened with it, so
/// a symbolic link planted there is refused instead of followed.
pub const NOFOLLOW: i32 = nix::libc::O_NOFOLLOW;

/// The error of opening `path` for `op`; a symbolic link refused by
/// [`NOFOLLOW`] says so instead of "too many levels of symbolic links".
pub fn open_error(op: &str, path: &Path, err: std::io::Error) -> Error {
    if err.raw_os_error() == Some(nix::libc::ELOOP) {
        return Error::failure(
            format!("cannot {op}: it is a symbolic link, which orc does not follow here"),
            path.display().to_string(),
        )
        .hint("remove the link: orc's own files are never links");
    }
    Error::io(op, path, err)
}

/// Open `path` for appending (created 0600), never through a symlink.
pub fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(NOFOLLOW)
        .open(path)
        .map_err(|e| open_error("open for append", path, e))
}

/// Open `path` for reading, never through a symlink.
pub fn open_read(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(NOFOLLOW)
        .open(path)
}

/// The bytes of `path`, never read through a symlink.
pub fn read_nofollow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut open_read(path)?, &mut bytes)?;
    Ok(bytes)
}

/// The text of `path`, never read through a symlink.
pub fn read_string_nofollow(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_nofollow(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The state directories this process checked ([`register_private_root`]):
/// every directory below one is checked component by component.
static ROOTS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Record `root` as a checked private root (the state directory, once
/// [`check_private`] and [`check_ancestors`] accepted it).
pub fn register_private_root(root: &Path) {
    if let Ok(mut roots) = ROOTS.lock()
        && !roots.iter().any(|r| r == root)
    {
        roots.push(root.to_path_buf());
    }
}

/// Create `dir` and its missing parents with mode 0700. Every directory on
/// the way from a registered root (the state directory) down to `dir` must
/// be a real directory (not a symlink) that the current user owns and no one
/// else may write to, as ssh demands of `~/.ssh`: a session directory
/// another user pre-created is refused, not used. Outside a registered root
/// only `dir` itself is checked.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    let root = ROOTS.lock().ok().and_then(|roots| {
        roots
            .iter()
            .filter(|r| dir.starts_with(r))
            .max_by_key(|r| r.as_os_str().len())
            .cloned()
    });
    let Some(root) = root else {
        if let Ok(meta) = fs::symlink_metadata(dir) {
            return check_private(dir, &meta);
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
        let meta = fs::symlink_metadata(dir).map_err(|e| Error::io("inspect directory", dir, e))?;
        return check_private(dir, &meta);
    };
    let mut at = root.clone();
    for part in dir
        .strip_prefix(&root)
        .unwrap_or(Path::new(""))
        .components()
    {
        at.push(part);
        if fs::symlink_metadata(&at).is_err() {
            // One level at a time: mkdir never follows a link it creates.
            match fs::DirBuilder::new().mode(0o700).create(&at) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create directory", &at, e)),
            }
        }
        let meta = fs::symlink_metadata(&at).map_err(|e| Error::io("inspect directory", &at, e))?;
        check_private(&at, &meta)?;
    }
    Ok(())
}

/// Refuse a directory orc must not use: not a directory (a symlink
/// included), owned by another user, or writable by group or others.
pub fn check_private(dir: &Path, meta: &fs::Metadata) -> Result<()> {
    let shown = dir.display().to_string();
    let hint = "orc uses only directories you own that no one else can write to, as ssh does \
                with ~/.ssh; set ORC_STATE_DIR to such a directory";
    if meta.file_type().is_symlink() {
        return Err(
            Error::failure("refusing a directory that is a symbolic link", shown).hint(hint),
        );
    }
    if !meta.is_dir() {
        return Err(Error::failure("not a directory", shown).hint(hint));
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::failure(
            format!("refusing a directory owned by {}", user_name(meta.uid())),
            shown,
        )
        .hint(hint));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::failure(
            format!("refusing a directory writable by group or others (mode {mode:04o})"),
            shown.clone(),
        )
        .hint(format!("chmod go-w {shown}")));
    }
    Ok(())
}

/// Refuse a directory whose ancestors another user could change: each must
/// be owned by root or the current user, and writable by group or others
/// only when sticky (like `/tmp`), where no one may rename what is not theirs.
pub fn check_ancestors(dir: &Path) -> Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    for parent in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(parent) else {
            continue;
        };
        let mode = meta.mode() & 0o7777;
        let foreign = meta.uid() != 0 && meta.uid() != me;
        let open = mode & 0o022 != 0 && mode & 0o1000 == 0;
        if foreign || open {
            return Err(Error::failure(
                format!(
                    "refusing a state directory inside {}, which {} can change (owner {}, mode {mode:04o})",
                    parent.display(),
                    if foreign { "its owner" } else { "other users" },
                    user_name(meta.uid()),
                ),
                dir.display().to_string(),
            )
            .hint("put ORC_STATE_DIR in a directory only you and root can write to"));
        }
    }
    Ok(())
}

/// `user NAME (uid N)`, or `uid N` when the user has no name.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("user {} (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

/// Append one line to `path` in a single `write` on an `O_APPEND` file, so
/// concurrent appenders never interleave within a line. A line the disk
/// has no room for is taken back whole: a short write is truncated away
/// (unless something was appended after it), so a full disk fails the
/// append without leaving a torn line for the next one to run into. The
/// file is created 0600 and never opened through a symlink.
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let mut file = open_append(path)?;
    let mut written = 0;
    let error = loop {
        match file.write(&buf.as_bytes()[written..]) {
            Ok(0) => break std::io::Error::from(std::io::ErrorKind::WriteZero),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
        if written == buf.len() {
            return Ok(());
        }
    };
    if written > 0 {
        take_back(&mut file, written as u64);
    }
    Err(Error::io("append to", path, error))
}

/// Cut the last `written` bytes this descriptor appended, if they are still
/// the end of the file. (After an `O_APPEND` write the offset is the end of
/// what was written.)
fn take_back(file: &mut File, written: u64) {
    use std::io::Seek;
    let Ok(end) = file.stream_position() else {
        return;
    };
    if file.metadata().is_ok_and(|m| m.len() == end) {
        let _ = file.set_len(end.saturating_sub(written));
    }
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
    let read = open_read(path).and_then(|mut f| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes).map(|_| bytes)
    });
    match read {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::failure(format!("corrupt {what}: {e}"), path.display().to_string())
                .hint("inspect it, or remove it: orc never overwrites a file it cannot read")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(open_error("read", path, e)),
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
    fn an_error_names_its_path_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let file = dir.path().join("file");
        fs::write(&file, "x").map_err(|e| Error::io("write", &file, e))?;
        let err = write_atomic(&file.join("f.json"), b"{}", 0o600).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            text,
            format!(
                "cannot create a temporary file in: Not a directory (os error 20) ({})",
                file.display()
            )
        );
        Ok(())
    }

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
