//! A tool left running in the background, read line by line.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{KillOnDrop, PATIENCE, drain, wait_child, wait_until};

/// A tool left running in the background, its stdout read line by line as
/// it comes (killed and reaped on drop).
pub struct Streaming {
    child: KillOnDrop,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Streaming {
    /// Start `cmd` with its stdout and stderr piped.
    pub fn start(cmd: &mut Command) -> Streaming {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the command");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = drain(child.stderr.take());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Streaming {
            child: KillOnDrop(child),
            lines,
            stderr: Some(stderr),
        }
    }

    /// The next line, waiting at most `timeout`.
    pub fn line_within(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next line; panics when the tool ended or after [`PATIENCE`].
    pub fn next_line(&self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no line within {PATIENCE:?}")
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the tool closed its output without another line")
            }
        }
    }

    /// The next line as JSON; panics when the tool ended or after
    /// [`PATIENCE`].
    pub fn next_json(&self) -> Value {
        let line = self.next_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    }

    /// The tool's pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Wait until the tool has `path` open (a watcher holding a worker's
    /// wake FIFO is waiting on its doorbell).
    pub fn wait_for_open(&self, path: &Path) {
        let dir = format!("/proc/{}/fd", self.id());
        let open = wait_until(PATIENCE, || {
            fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|p| p == path))
        });
        assert!(open, "the tool never opened {}", path.display());
    }

    /// Whether a line is waiting right now (without blocking).
    pub fn try_line(&self) -> Option<String> {
        self.lines.try_recv().ok()
    }

    /// Wait for the tool to exit; its status, the lines it printed since
    /// the last read, and its stderr.
    pub fn finish(mut self) -> (std::process::ExitStatus, Vec<String>, String) {
        let status = wait_child(&mut self.child.0, PATIENCE);
        let mut rest = Vec::new();
        // The reader thread ends at end of file; collect what it had left.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            rest.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        (status, rest, String::from_utf8_lossy(&stderr).into_owned())
    }
}
