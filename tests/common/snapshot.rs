//! Snapshots of a directory tree: every path with its type, mode and
//! bytes, to prove a refused command changed nothing.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One entry of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory with its mode.
    Dir(u32),
    /// A regular file with its mode and bytes.
    File(u32, Vec<u8>),
    /// A FIFO with its mode (never opened: that could block).
    Fifo(u32),
    /// A symbolic link and its target.
    Symlink(PathBuf),
    /// Anything else.
    Other,
}

/// Every path below a root with its type, mode and content: compare one
/// taken before a failing command with one taken after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<PathBuf, Entry>);

impl Snapshot {
    /// Walk `root` (missing: empty).
    pub fn of(root: &Path) -> Snapshot {
        let mut map = BTreeMap::new();
        walk(root, root, &mut map);
        Snapshot(map)
    }

    /// The paths that differ, each with a short reason.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (path, before) in &self.0 {
            match after.0.get(path) {
                None => out.push(format!("removed {}", path.display())),
                Some(now) if now != before => out.push(format!("changed {}", path.display())),
                Some(_) => {}
            }
        }
        for path in after.0.keys().filter(|p| !self.0.contains_key(*p)) {
            out.push(format!("added {}", path.display()));
        }
        out
    }

    /// Panic with the list of differences unless `after` equals `self`.
    pub fn assert_same(&self, after: &Snapshot) {
        let diff = self.diff(after);
        assert!(diff.is_empty(), "files changed: {diff:#?}");
    }
}

fn walk(root: &Path, dir: &Path, map: &mut BTreeMap<PathBuf, Entry>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        let kind = meta.file_type();
        let item = if kind.is_dir() {
            walk(root, &path, map);
            Entry::Dir(mode)
        } else if kind.is_file() {
            Entry::File(mode, fs::read(&path).unwrap_or_default())
        } else if kind.is_fifo() {
            Entry::Fifo(mode)
        } else if kind.is_symlink() {
            Entry::Symlink(fs::read_link(&path).unwrap_or_default())
        } else {
            Entry::Other
        };
        map.insert(rel, item);
    }
}
