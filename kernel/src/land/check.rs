//! The project's own check (`ORC_CHECK_CMD`, e.g. `make test`), run by orc
//! on the branch tip in a clean detached worktree that orc owns, never in
//! the worker's worktree: what is checked is exactly what would be merged,
//! with nothing uncommitted in it. The command runs through `sh -c` (it is
//! the project's command line, like a CI step), in its own process group,
//! with a timeout; its output goes to a log that outlives the worker.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::repo::Repo;

use super::scratch::Scratch;

/// Lines of the check's output given back to the worker on a failure.
pub const TAIL_LINES: usize = 40;
/// At most this many bytes of them.
pub const TAIL_BYTES: usize = 4000;

/// How one run of the check went.
#[derive(Debug, Clone)]
pub struct CheckRun {
    /// Exit 0 within the timeout.
    pub passed: bool,
    /// `exit 0`, `exit 2`, `killed by signal 9`, `timed out after 30s`.
    pub status: String,
    /// The end of the output.
    pub tail: String,
    /// The whole output.
    pub log: PathBuf,
    /// Seconds it took.
    pub secs: f64,
}

impl CheckRun {
    /// One line: what ran, how it ended, where the output is.
    pub fn summary(&self, cmd: &str) -> String {
        format!(
            "check `{cmd}` {} ({}, {:.1}s; output in {})",
            if self.passed { "passed" } else { "failed" },
            self.status,
            self.secs,
            self.log.display()
        )
    }
}

/// Run `cmd` on `tip` of `issue`'s branch; its output goes to `log`.
pub fn run(
    repo: &Repo,
    issue: Issue,
    tip: &str,
    cmd: &str,
    timeout: Duration,
    log: &Path,
) -> Result<CheckRun> {
    let scratch = Scratch::create(repo, issue, tip)?;
    let result = run_in(scratch.path(), tip, cmd, timeout, log);
    scratch.remove()?;
    result
}

fn run_in(dir: &Path, tip: &str, cmd: &str, timeout: Duration, log: &Path) -> Result<CheckRun> {
    if let Some(parent) = log.parent() {
        crate::fsutil::ensure_private_dir(parent)?;
    }
    let mut file = crate::fsutil::open_append(log)?;
    let header = format!(
        "[{}] orc: check `{cmd}` on {tip} in {}\n",
        crate::clock::now_rfc3339().unwrap_or_default(),
        dir.display()
    );
    file.write_all(header.as_bytes())
        .map_err(|e| Error::io("write", log, e))?;
    let out = file.try_clone().map_err(|e| Error::io("open", log, e))?;
    let started = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| Error::io("open", log, e))?)
        .stderr(out)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("run the check command in", dir, e))?;
    let deadline = started + timeout;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| Error::io("wait for", dir, e))?
        {
            break Ok(status);
        }
        if Instant::now() >= deadline {
            stop_group(&mut child);
            break Err(());
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let secs = started.elapsed().as_secs_f64();
    let (passed, status) = match status {
        Ok(s) => (s.success(), describe(s)),
        Err(()) => (false, format!("timed out after {}s", timeout.as_secs())),
    };
    let footer = format!(
        "[{}] orc: check {status}\n",
        crate::clock::now_rfc3339().unwrap_or_default()
    );
    file.write_all(footer.as_bytes())
        .map_err(|e| Error::io("write", log, e))?;
    Ok(CheckRun {
        passed,
        status,
        tail: tail(log),
        log: log.to_path_buf(),
        secs,
    })
}

/// TERM the check's group, then KILL it after a short grace, and reap it.
fn stop_group(child: &mut std::process::Child) {
    let Ok(raw) = i32::try_from(child.id()) else {
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let grace = Instant::now() + Duration::from_secs(2);
    while Instant::now() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    // What is left of the group (the leader or its children) goes now.
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
}

fn describe(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit {c}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => "ended".to_string(),
    }
}

/// The last [`TAIL_LINES`] lines of the log, at most [`TAIL_BYTES`].
pub fn tail(log: &Path) -> String {
    let text = crate::fsutil::read_nofollow(log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    let mut out = lines[from..].join("\n");
    if out.len() > TAIL_BYTES {
        let mut cut = out.len() - TAIL_BYTES;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out = format!("…{}", &out[cut..]);
    }
    out
}
