//! A crash while the disk is full: the shim cannot write `crashed`, yet
//! orc-watch reports the crash it observed (announced on the doorbell,
//! which needs no disk space), and the record is written once space
//! returns. Runs on a small tmpfs state directory where mounting one is
//! allowed; skipped with a message elsewhere.

use std::fs;

use crate::common::life::{Life, Streaming, wait_gone};
use crate::common::{PATIENCE, Tmpfs, wait_until};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};

#[test]
fn a_crash_on_a_full_disk_is_reported_and_recorded_once_space_returns() {
    let env = Life::new();
    let Some(tmpfs) = Tmpfs::mount(&env.state, "4m") else {
        return;
    };
    env.issue(3, "hang");
    let w = env.spawn(3, &[]);
    let watch = Streaming::start(env.tool("orc-watch").args(["--timeout", "25", "3"]));
    watch.wait_for_open(&w.wake);
    let filler = tmpfs.fill("filler");

    killpg(Pid::from_raw(w.pid), Signal::SIGKILL).unwrap();
    let line = watch.next_json();
    assert_eq!(line["result"], "crashed", "{line}");
    assert_eq!(line["via"], "wake", "{line}");
    let detail = line["detail"].as_str().unwrap();
    assert!(detail.contains("agent killed by SIGKILL"), "{detail}");
    assert!(detail.contains("not recorded yet"), "{detail}");
    assert!(detail.contains("No space left"), "{detail}");
    let (status, _, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    // Nothing could be written: the record still says RUNNING, and a
    // watcher that comes now hears the shim announce it again.
    assert_eq!(env.record(3, Kind::Worker).state, State::Running);
    let late = env.watch(&["3"]);
    assert_eq!(late[0]["result"], "crashed", "{late:?}");

    fs::remove_file(&filler).unwrap();
    let ended = wait_until(PATIENCE, || {
        env.try_record(3, Kind::Worker)
            .is_some_and(|r| r.state == State::Terminated)
    });
    assert!(ended, "the record is written once space returns");
    let record = env.record(3, Kind::Worker);
    assert_eq!(record.result, Some(Outcome::Crashed));
    assert!(
        record.detail.contains("agent killed by SIGKILL"),
        "{}",
        record.detail
    );
    wait_gone(w.shim);
    assert_eq!(env.lock_record(3), None, "the lock is released as usual");
    env.cleanup(3, &["--force"]);
    env.assert_no_processes();
}
