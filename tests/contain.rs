//! Containment, observed from outside: nothing an agent starts outlives its
//! worker — a child in its group, a `setsid` grandchild that ignores TERM
//! and whose parent is gone — whether the shim holds it in a cgroup or in
//! its process group plus the sweep (`ORC_CONTAIN`), and whether the agent
//! dies under the shim or the shim itself is SIGKILLed. Also: the shim and
//! the agent keep none of the caller's descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{OnceLock, mpsc};

use common::life::{Life, Spawned, gone, wait_gone};
use common::{PATIENCE, assert_fails, assert_ok, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::contain::Cgroup;
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};

/// Whether this machine lets the tests make a cgroup v2 leaf; when it does
/// not, say so once and skip (a failure under CI).
/// (Probed once: the tests of this file run at once, and one probe's
/// leaf would be in another's way.)
fn cgroups_writable() -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        Cgroup::create(&format!("probe-{}", std::process::id()))
            .map(|c| c.remove())
            .map_err(|e| e.to_string())
    });
    match probe {
        Ok(()) => true,
        Err(e) if std::env::var_os("CI").is_some() => panic!("no writable cgroup v2 under CI: {e}"),
        Err(e) => {
            eprintln!("skipped: no writable cgroup v2 here ({e})");
            false
        }
    }
}

fn read_pid(path: &Path) -> i32 {
    let mut pid = None;
    assert!(
        wait_until(PATIENCE, || {
            pid = fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            pid.is_some()
        }),
        "{} was never written",
        path.display()
    );
    pid.unwrap()
}

/// Spawn issue 7 in `escape` mode contained by `mode`; the child's and the
/// grandchild's pids once the agent reported its phase.
fn spawn_escaping(env: &Life, mode: &str) -> (Spawned, i32, i32) {
    env.issue(7, "escape");
    let w = env.spawn_cmd(env.tool("orc-spawn").env("ORC_CONTAIN", mode).arg("7"));
    let child = read_pid(&w.worktree.join(".orc-fake-child"));
    let grandchild = read_pid(&w.worktree.join(".orc-fake-grandchild"));
    env.wait_record(7, Kind::Worker, |r| r.detail == "phase1:escape");
    assert!(!gone(child) && !gone(grandchild));
    // The grandchild left the agent's session and group; its parent is gone.
    let (ppid, pgrp, sid, _) = common::life::proc_ids(grandchild);
    assert_eq!((pgrp, sid), (grandchild, grandchild));
    assert_ne!(ppid, w.pid);
    let log = env.log(7, Kind::Worker);
    let cgroup = env.proc(7, Kind::Worker).cgroup();
    if mode == "cgroup" {
        let cg = cgroup.expect("the shim recorded its cgroup");
        assert!(
            log.contains(&format!("contained in cgroup {}", cg.display())),
            "{log}"
        );
        let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap();
        for pid in [w.pid, child, grandchild] {
            assert!(
                procs.lines().any(|l| l == pid.to_string()),
                "{pid} not in {procs}"
            );
        }
    } else {
        assert_eq!(cgroup, None);
        assert!(
            log.contains("contained by process group and sweep (ORC_CONTAIN=group)"),
            "{log}"
        );
    }
    (w, child, grandchild)
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `orc-ps --json` counts the memory of every process of the worker: at
/// least its child's and its grandchild's.
fn assert_memory_counted(env: &Life, child: i32, grandchild: i32) {
    let out = env.run("orc-ps", &["--json"]);
    let row: serde_json::Value = serde_json::from_str(assert_ok(&out).trim()).unwrap();
    let kib = row["memory_kib"]
        .as_u64()
        .unwrap_or_else(|| panic!("{row}"));
    assert!(kib >= rss_kib(child) + rss_kib(grandchild), "{row}");
}

/// The agent is SIGKILLed: `crashed` at once, and its child and setsid
/// grandchild die with it; the cgroup, if any, is removed.
fn dies_with_its_agent(mode: &str) {
    let env = Life::new();
    let (w, child, grandchild) = spawn_escaping(&env, mode);
    let cgroup = env.proc(7, Kind::Worker).cgroup();
    assert_memory_counted(&env, child, grandchild);
    kill(Pid::from_raw(w.pid), Signal::SIGKILL).unwrap();
    let record = env.wait_ended(7);
    let out = env.run("orc-ps", &["--json"]);
    assert!(
        !assert_ok(&out).contains("memory_kib"),
        "only while it runs"
    );
    assert_eq!(record.result, Some(Outcome::Crashed));
    assert_eq!(record.detail, "agent killed by SIGKILL");
    for pid in [child, grandchild, w.shim] {
        wait_gone(pid);
    }
    if let Some(cg) = cgroup {
        assert!(!cg.exists(), "the shim removed {}", cg.display());
    }
    env.cleanup(7, &["--force"]);
    env.assert_no_processes();
}

#[test]
fn a_setsid_grandchild_dies_with_its_agent_in_the_process_group() {
    dies_with_its_agent("group");
}

#[test]
fn a_setsid_grandchild_dies_with_its_agent_in_a_cgroup() {
    if cgroups_writable() {
        dies_with_its_agent("cgroup");
    }
}

/// What the setsid grandchild does besides leaving the agent's group.
#[derive(PartialEq)]
enum Escape {
    Nothing,
    /// It moves out of the worker's cgroup as well (into the shim's).
    LeaveTheCgroup,
}

/// The shim is SIGKILLed: the agent follows it (parent-death signal), its
/// child and grandchild do not — until orc-cleanup, which finds them by
/// the cgroup, the agent's group (its leader dead) and the tag.
fn cleanup_stops_what_a_killed_shim_left(mode: &str, escape: Escape) {
    let env = Life::new();
    let (w, child, grandchild) = spawn_escaping(&env, mode);
    let cgroup = env.proc(7, Kind::Worker).cgroup();
    if escape == Escape::LeaveTheCgroup {
        let cg = cgroup.as_ref().expect("a cgroup");
        let outside = cg.parent().unwrap().join("cgroup.procs");
        fs::write(&outside, grandchild.to_string()).unwrap();
        let procs = fs::read_to_string(cg.join("cgroup.procs")).unwrap();
        let inside = procs.lines().any(|l| l == grandchild.to_string());
        assert!(!inside, "{procs}");
    }
    kill(Pid::from_raw(w.shim), Signal::SIGKILL).unwrap();
    wait_gone(w.shim);
    wait_gone(w.pid);
    assert!(!gone(child) && !gone(grandchild), "left behind by the shim");
    let out = env.run("orc-cleanup", &["--force", "--json", "7"]);
    let done: serde_json::Value = serde_json::from_str(assert_ok(&out).trim()).unwrap();
    assert_eq!(done["stopped"], true, "{done}");
    // orc-cleanup returns once they are gone.
    assert!(gone(child) && gone(grandchild), "{done}");
    if let Some(cg) = cgroup {
        assert!(!cg.exists(), "orc-cleanup removed {}", cg.display());
    }
    env.assert_no_processes();
}

#[test]
fn cleanup_stops_what_a_killed_shim_left_in_the_process_group() {
    cleanup_stops_what_a_killed_shim_left("group", Escape::Nothing);
}

#[test]
fn cleanup_stops_what_a_killed_shim_left_in_a_cgroup() {
    if cgroups_writable() {
        cleanup_stops_what_a_killed_shim_left("cgroup", Escape::Nothing);
    }
}

/// orc-watch finds the shim dead: it records `crashed` and stops what the
/// shim left behind before it reports.
#[test]
fn a_watch_that_finds_the_shim_dead_stops_what_it_left() {
    let env = Life::new();
    let (w, child, grandchild) = spawn_escaping(&env, "group");
    kill(Pid::from_raw(w.shim), Signal::SIGKILL).unwrap();
    wait_gone(w.shim);
    let report = env.watch_one(7);
    assert_eq!(report["result"], "crashed", "{report}");
    assert_eq!(report["via"], "exit");
    assert!(gone(child) && gone(grandchild), "{report}");
    env.cleanup(7, &["--force"]);
    env.assert_no_processes();
}

#[test]
fn an_unknown_containment_is_a_usage_error_that_starts_nothing() {
    let env = Life::new();
    env.issue(7, "hang");
    let out = common::run(env.tool("orc-spawn").env("ORC_CONTAIN", "jail").arg("7"));
    assert_fails(
        &out,
        2,
        "orc-spawn: error: invalid ORC_CONTAIN=\"jail\" set in the environment\nhint: ORC_CONTAIN accepts one of: auto, cgroup, group",
    );
    assert!(env.held_locks().is_empty());
    env.assert_no_processes();
}

#[test]
fn the_shim_and_the_agent_keep_none_of_the_caller_s_descriptors() {
    let env = Life::new();
    env.issue(7, "hang");
    // `out=$(orc-spawn 7 5>&1)`: fd 5 is the same pipe as stdout.
    let mut cmd = env.tool("orc-spawn");
    cmd.arg("7")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec; dup2 is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if nix::libc::dup2(1, 5) != 5 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let pipe = fs::read_link(format!("/proc/self/fd/{}", stdout.as_raw_fd())).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    // End of file as soon as orc-spawn exits: nobody else holds the pipe.
    let text = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
        let _ = env.run("orc-cleanup", &["--force", "7"]);
        panic!("the pipe stayed open after orc-spawn exited")
    });
    assert!(child.wait().unwrap().success());
    let w = Spawned::parse(&text);
    for pid in [w.shim, w.pid] {
        for fd in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
            let target = fs::read_link(fd.path()).unwrap_or_default();
            assert_ne!(
                target,
                pipe,
                "pid {pid} holds the caller's pipe as fd {:?}",
                fd.file_name()
            );
        }
    }
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    assert_ok(&env.run("orc-cleanup", &["--force", "7"]));
    env.assert_no_processes();
}

/// A process that moved out of the worker's cgroup, its shim SIGKILLed: the
/// cgroup the shim left in place says it did not drain, and orc-cleanup's
/// sweep finds the process by its tag.
#[test]
fn cleanup_stops_a_tagged_process_that_left_the_cgroup_of_a_killed_shim() {
    if cgroups_writable() {
        cleanup_stops_what_a_killed_shim_left("cgroup", Escape::LeaveTheCgroup);
    }
}

/// A worker resumed without a cgroup after an attempt in one: the earlier
/// attempt's cgroup is no longer on record (a removed cgroup on record
/// would tell orc-cleanup the shim drained).
#[test]
fn a_resume_without_a_cgroup_leaves_none_of_the_earlier_one_on_record() {
    if !cgroups_writable() {
        return;
    }
    let env = Life::new();
    env.issue(7, "crash");
    env.spawn_cmd(env.tool("orc-spawn").env("ORC_CONTAIN", "cgroup").arg("7"));
    assert_eq!(env.watch_one(7)["result"], "crashed");
    env.wait_until_settled(7);
    let first = env.proc(7, Kind::Worker).cgroup().expect("on record");
    assert!(!first.exists(), "the shim removed {}", first.display());
    env.spawn_cmd(
        env.tool("orc-spawn")
            .env("ORC_CONTAIN", "group")
            .args(["--resume", "7"]),
    );
    assert_eq!(env.watch_one(7)["result"], "crashed");
    assert_eq!(env.proc(7, Kind::Worker).cgroup(), None);
    env.cleanup(7, &["--force"]);
    env.assert_no_processes();
}
