//! A new worktree made ready to work in, before the agent starts.
//!
//! 1. Include: `.orc/include` (and Claude Code's `.worktreeinclude`) at the
//!    main repository's root list gitignore-style patterns; every file of
//!    the main checkout that matches one and is not tracked by git (`.env`,
//!    local config) is copied to the same place in the new worktree,
//!    reflinked where the filesystem can (FICLONE), else copied. Symlinks
//!    are skipped; a file already in the worktree is never overwritten.
//! 2. Setup: `ORC_SETUP_CMD` (`sh -c`), else an executable `.orc/setup` in
//!    the worktree, runs there with the worker's environment, its output
//!    appended to the worker's log, for at most `ORC_SETUP_TIMEOUT` seconds
//!    (its process group is killed then). A failure fails the launch: the
//!    log is kept as `logs/setup-<session>-<kind>-<N>.log` in the state
//!    directory and named in the error, and the launch rolls back.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::fsutil::ensure_private_dir;
use crate::procdir::Proc;

/// The pattern files, at the main repository's root.
const INCLUDE_FILES: [&str; 2] = [".orc/include", ".worktreeinclude"];
/// The setup script, in the worktree.
const SETUP_FILE: &str = ".orc/setup";

/// Copy the included files from `main_root` into `worktree`; the copied
/// paths, relative.
pub fn include(main_root: &Path, worktree: &Path) -> Result<Vec<PathBuf>> {
    let lists: Vec<PathBuf> = INCLUDE_FILES
        .iter()
        .map(|f| main_root.join(f))
        .filter(|p| p.is_file())
        .collect();
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(main_root)
        .args(["ls-files", "-z", "--others", "--ignored"]);
    for list in &lists {
        cmd.arg(format!("--exclude-from={}", list.display()));
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::failure(format!("cannot run git: {e}"), "git ls-files"))?;
    if !out.status.success() {
        return Err(Error::failure(
            format!(
                "cannot list the files to include: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            main_root.display().to_string(),
        ));
    }
    let mut copied = Vec::new();
    for name in out.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let rel = PathBuf::from(String::from_utf8_lossy(name).into_owned());
        // Inside the worktree only, and never orc's own or git's files.
        let inside = rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !inside || rel.starts_with(".git") || rel.starts_with(".worktrees") {
            continue;
        }
        let from = main_root.join(&rel);
        let to = worktree.join(&rel);
        let meta = match std::fs::symlink_metadata(&from) {
            Ok(m) if m.is_file() => m,
            _ => continue,
        };
        if to.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
        }
        clone_file(&from, &to)?;
        std::fs::set_permissions(&to, meta.permissions())
            .map_err(|e| Error::io("chmod", &to, e))?;
        copied.push(rel);
    }
    Ok(copied)
}

/// `to` as a reflink of `from` where the filesystem shares extents
/// (btrfs, XFS, bcachefs), else a copy.
fn clone_file(from: &Path, to: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let src = File::open(from).map_err(|e| Error::io("open", from, e))?;
        let dst = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)
            .map_err(|e| Error::io("create", to, e))?;
        // SAFETY: FICLONE takes the source descriptor as its argument; both
        // descriptors are open files owned by this function for the call.
        let cloned =
            unsafe { nix::libc::ioctl(dst.as_raw_fd(), nix::libc::FICLONE, src.as_raw_fd()) };
        if cloned == 0 {
            return Ok(());
        }
        drop(dst);
        let _ = std::fs::remove_file(to);
    }
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|e| Error::io("copy", to, e))
}

/// The setup command for `worktree`: `ORC_SETUP_CMD`, else `.orc/setup`.
fn setup_command(ctx: &Context, worktree: &Path) -> Option<(Command, String)> {
    if let Some(text) = ctx
        .config
        .get("ORC_SETUP_CMD")
        .filter(|t| !t.trim().is_empty())
    {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", text]);
        return Some((cmd, format!("ORC_SETUP_CMD ({text})")));
    }
    let script = worktree.join(SETUP_FILE);
    if !script.is_file() {
        return None;
    }
    let runnable = nix::unistd::access(&script, nix::unistd::AccessFlags::X_OK).is_ok();
    let cmd = if runnable {
        Command::new(&script)
    } else {
        let mut c = Command::new("/bin/sh");
        c.arg(&script);
        c
    };
    Some((cmd, SETUP_FILE.to_string()))
}

/// Run the setup in `worktree` with `env`, output to the worker's log.
/// A failure keeps the log (copied into the state's `logs/`) and names it.
pub fn setup(ctx: &Context, proc: &Proc, worktree: &Path, env: &[(String, String)]) -> Result<()> {
    let Some((mut cmd, what)) = setup_command(ctx, worktree) else {
        return Ok(());
    };
    let timeout = Duration::from_secs(ctx.config.number("ORC_SETUP_TIMEOUT")?);
    let log_path = proc.log_path();
    proc.log("orc-spawn", &format!("setup: running {what}"))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| Error::io("open the log", &log_path, e))?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io("open the log", &log_path, e))?;
    let started = Instant::now();
    let mut child = cmd
        .current_dir(worktree)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::failure(format!("cannot start the setup: {e}"), what.clone()))?;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::failure(format!("cannot wait for the setup: {e}"), what.clone()))?
        {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Nothing the setup started outlives it.
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let why = match status {
        Some(s) if s.success() => {
            proc.log(
                "orc-spawn",
                &format!("setup: done in {:.1}s", started.elapsed().as_secs_f64()),
            )?;
            return Ok(());
        }
        Some(s) => format!("the setup failed ({s})"),
        None => format!("the setup timed out after {}s", timeout.as_secs()),
    };
    proc.log("orc-spawn", &format!("setup: {why}"))?;
    let kept = keep_log(ctx, proc)?;
    Err(
        Error::failure(why, kept.display().to_string()).hint(format!(
            "{what} ran in the new worktree; its output is in that log"
        )),
    )
}

/// Copy the worker's log to `logs/setup-<session>-<kind>-<N>.log`, which
/// the launch's rollback leaves in place.
fn keep_log(ctx: &Context, proc: &Proc) -> Result<PathBuf> {
    let dir = ctx.state.logs();
    ensure_private_dir(&dir)?;
    let name = proc
        .log_path()
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kept = dir.join(format!("setup-{}-{name}.log", ctx.session.name()));
    let text = std::fs::read(proc.log_path()).unwrap_or_default();
    let mut file = File::create(&kept).map_err(|e| Error::io("create", &kept, e))?;
    file.write_all(&text)
        .map_err(|e| Error::io("write", &kept, e))?;
    Ok(kept)
}
