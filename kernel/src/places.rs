//! The well-known places outside the state directory: the home directory,
//! the config home, the plugin root and the running executables' directory.
//! The bottom layer of [`crate::paths`] and [`crate::profile`]: it reads
//! only the environment, so both can use it without using each other.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The user's home directory from `HOME`.
pub fn home() -> Result<PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if Path::new(&h).is_absolute() => Ok(PathBuf::from(h)),
        _ => Err(Error::usage("HOME is not set to an absolute path", "HOME")),
    }
}

pub(crate) fn default_state_home() -> Result<PathBuf> {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(x) if Path::new(&x).is_absolute() => Ok(PathBuf::from(x)),
        _ => Ok(home()?.join(".local").join("state")),
    }
}

/// `${XDG_CONFIG_HOME:-$HOME/.config}`, if either is usable.
pub fn config_home() -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if Path::new(&x).is_absolute() => Some(PathBuf::from(x)),
        _ => home().ok().map(|h| h.join(".config")),
    }
}

/// The plugin root: `ORC_ROOT` (the launchers in `bin/` export it), else
/// the first ancestor of the running executable that holds
/// `envs/default.env` (a checkout's `target/release/orc-x`), else
/// `<prefix>/share/orc` next to an installed `<prefix>/bin/orc-x`, else the
/// root that `orc-setup` recorded in a plugin data directory holding the
/// build (`<data>/setup.status`, `<data>/target/release/orc-x`).
pub fn plugin_root() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("ORC_ROOT").filter(|r| !r.is_empty()) {
        return Some(PathBuf::from(root));
    }
    let exe = std::env::current_exe().ok()?;
    let bin_dir = exe.parent()?;
    if let Some(root) = bin_dir
        .ancestors()
        .take(4)
        .find(|d| d.join("envs").join("default.env").is_file())
    {
        return Some(root.to_path_buf());
    }
    let shared = bin_dir.parent()?.join("share").join("orc");
    if shared.join("envs").is_dir() {
        return Some(shared);
    }
    bin_dir.ancestors().take(4).find_map(recorded_root)
}

/// The plugin root named by `dir/setup.status` (`root=PATH`), if it is
/// still there.
fn recorded_root(dir: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dir.join("setup.status")).ok()?;
    let root = text.lines().find_map(|l| l.strip_prefix("root="))?;
    let root = PathBuf::from(root);
    root.join("envs")
        .join("default.env")
        .is_file()
        .then_some(root)
}

/// The directory holding the orc executables that are running now, so a
/// tool can start its siblings (`orc-shim`, `orc-<tool>`) by full path.
pub fn bin_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}
