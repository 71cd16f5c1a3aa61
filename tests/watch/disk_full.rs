//! A crash while the disk is full: the shim cannot write `crashed`, yet
//! orc-watch reports the crash it observed (announced on the doorbell,
//! which needs no disk space), and the record is written once space
//! returns. Runs on a small tmpfs state directory where mounting one is
//! allowed; skipped with a message elsewhere.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::life::{Life, Streaming, wait_gone};
use crate::common::{PATIENCE, wait_until};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};

/// A tmpfs mounted for one test, lazily unmounted when dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` at `dir`; `None` (with one line saying why)
    /// where the machine does not allow it.
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
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
        let path = self.0.join(name);
        let mut file = fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 16 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk may have left a few bytes: use them too.
        while file.write_all(&[0u8]).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

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
