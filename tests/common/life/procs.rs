//! Processes seen through /proc: finding a test's processes by their
//! environment, their ids and nice value, and whether they have exited.

use std::fs;
use std::path::Path;
use std::process::Command;

use orc_kernel::liveness::ProcessId;

use crate::common::{PATIENCE, SYSTEM_PATH, wait_until};

/// Every process (not this test process) whose environment holds
/// `ORC_STATE_DIR=<state>`: the tools, shims and agents of one test.
pub fn processes_of(state: &Path) -> Vec<i32> {
    let needle = format!("ORC_STATE_DIR={}", state.display());
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|&b| b == 0).any(|v| v == needle.as_bytes()) && !gone(pid) {
            out.push(pid);
        }
    }
    out
}

/// `pid: command line` for each of `pids`, for failure messages.
pub fn describe(pids: &[i32]) -> String {
    pids.iter()
        .map(|p| {
            let cmd = fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            format!("{p}: {}", cmd.trim())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The fields of `/proc/<pid>/stat` after the command name: index 0 is
/// field 3 (state), so field `n` is at `n - 3`.
pub fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// Whether `pid` has exited (no such process, or a zombie).
pub fn gone(pid: i32) -> bool {
    match stat_fields(pid) {
        None => true,
        Some(f) => matches!(f[0].as_str(), "Z" | "X"),
    }
}

/// Wait until `pid` has exited; panics after [`PATIENCE`].
pub fn wait_gone(pid: i32) {
    assert!(
        wait_until(PATIENCE, || gone(pid)),
        "process {} is still alive",
        describe(&[pid])
    );
}

/// `pid`'s parent, process group, session and nice value.
pub fn proc_ids(pid: i32) -> (i32, i32, i32, i32) {
    let f = stat_fields(pid).unwrap_or_else(|| panic!("no process {pid}"));
    let num = |n: usize| {
        f[n - 3]
            .parse::<i32>()
            .expect("a number in /proc/<pid>/stat")
    };
    (num(4), num(5), num(6), num(19))
}

/// `pid`'s environment.
pub fn environ(pid: i32) -> Vec<(String, String)> {
    let bytes = fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    bytes
        .split(|&b| b == 0)
        .filter_map(|v| {
            let v = String::from_utf8_lossy(v);
            v.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// A process that was alive and is now verifiably dead, for seeding shim
/// and lock holders: a `sleep` started, identified, then killed and reaped.
pub fn dead_process() -> ProcessId {
    let mut child = Command::new("sleep")
        .arg("1000")
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .spawn()
        .expect("spawn sleep");
    let id = ProcessId::of(child.id() as i32).expect("identify the sleeper");
    let _ = child.kill();
    let _ = child.wait();
    id
}
