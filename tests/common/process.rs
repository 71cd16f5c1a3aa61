//! Processes in tests: run with a deadline, wait for conditions, poll a
//! descriptor, assert exit codes and messages, and never leak a child.

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{PATIENCE, SYSTEM_PATH};

/// Poll `cond` until it holds or `timeout` passes; whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait for `child` to exit within `timeout`; kills it and panics otherwise.
pub fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let mut status = None;
    let done = wait_until(timeout, || {
        status = child.try_wait().expect("poll the child");
        status.is_some()
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        panic!("process {} did not exit within {timeout:?}", child.id());
    }
    status.expect("an exit status")
}

/// Block in poll(2) until `fd` is readable or `timeout` passes; whether
/// it became readable.
pub fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(left).expect("a poll timeout"),
        ) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

/// Run `cmd` to completion within [`PATIENCE`], capturing its output
/// (stdin is empty). The output is read while the command runs, so a large
/// output never stalls it. Every JSON line it prints must be strict JSON
/// (no key twice), whatever the test checks besides.
pub fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_child(&mut child, PATIENCE);
    let out = Output {
        status,
        stdout: stdout.join().expect("read stdout"),
        stderr: stderr.join().expect("read stderr"),
    };
    let what = format!("{:?}", cmd.get_program());
    super::assert_strict_json_lines(&String::from_utf8_lossy(&out.stdout), &what);
    out
}

/// Read a child's pipe to the end on a thread of its own.
pub fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// Assert a failure: exit `code`, stderr starting with `prefix` (which
/// should begin `orc-<tool>: error: `), and nothing on stdout.
pub fn assert_fails(out: &Output, code: i32, prefix: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stderr: {stderr}"
    );
    assert!(
        stderr.starts_with(prefix),
        "stderr should start with {prefix:?}, got {stderr:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout should be empty on failure, got {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Assert success and return stdout.
pub fn assert_ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "exit status; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process killed (and reaped) when the guard goes away, so a
/// failing test never leaves a `sleep` behind.
pub struct KillOnDrop(pub Child);

impl KillOnDrop {
    /// Start `sleep 1000` as a stand-in for a long-lived holder.
    pub fn sleeper() -> KillOnDrop {
        let child = Command::new("sleep")
            .arg("1000")
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        KillOnDrop(child)
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
