//! A small tmpfs for tests of a full disk: mounted where the machine
//! allows it (root, or a user namespace that may mount), skipped with one
//! line elsewhere, and lazily unmounted when dropped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for one test, lazily unmounted when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` at `dir`; `None` (with one line saying why)
    /// where the machine does not allow it.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).expect("create the mount point");
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs here ({})",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount ({e})");
                None
            }
        }
    }

    /// Fill the file system: a file `name` grown until ENOSPC.
    pub fn fill(&self, name: &str) -> PathBuf {
        self.fill_leaving(name, 0)
    }

    /// Fill the file system but for about `free` bytes: a file `name` grown
    /// until ENOSPC, then shrunk by `free`.
    pub fn fill_leaving(&self, name: &str, free: u64) -> PathBuf {
        let path = self.0.join(name);
        let mut file = fs::File::create(&path).expect("create the filler");
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk may have left a few bytes: use them too.
        while file.write_all(&[0u8]).is_ok() {}
        if free > 0 {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.set_len(len.saturating_sub(free));
        }
        path
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
