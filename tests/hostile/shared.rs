//! Item 4: nothing under a shared `/tmp` that another user could pre-create
//! or hold, and every lock wait bounded with an error naming the holder.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::other_user::OtherUser;
use super::sched_env::{CRON, Env};
use crate::common::{KillOnDrop, PATIENCE, wait_until};

fn cron_env() -> Env {
    let mut e = Env::new();
    e.fake_crontab();
    e.set("ORC_SCHED_BACKEND", "crontab");
    e.unset("XDG_RUNTIME_DIR");
    e
}

fn add(e: &Env) -> std::process::Output {
    e.run(CRON, &["add", "--schedule", "0 9 * * *", "--", "true"])
}

#[test]
fn a_lock_another_user_holds_in_tmp_blocks_nothing() {
    let Some(other) = OtherUser::create("a_lock_another_user_holds_in_tmp_blocks_nothing") else {
        return;
    };
    let e = cron_env();
    // The path orc used when XDG_RUNTIME_DIR was unset, taken by another
    // user first (unless an older orc left it there already).
    let uid = nix::unistd::geteuid();
    let old = PathBuf::from(format!("/tmp/orc-crontab-{uid}.lock"));
    let _holder = (!old.exists()).then(|| {
        let script = format!(
            "exec 9>'{}'; flock 9; echo held; exec sleep 60",
            old.display()
        );
        let mut child = Command::new("/bin/sh")
            .args(["-c", &script])
            .uid(other.uid)
            .gid(other.gid)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the other user's holder");
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        std::io::BufRead::read_line(&mut out, &mut line).expect("read");
        assert_eq!(line, "held\n");
        KillOnDrop(child)
    });
    let out = add(&e);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The crontab lock is in a directory only this user can write to.
    let dir = e.home.join(".local/state/orc-user");
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let lock = dir.join("orc-crontab.lock");
    let mode = fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    if let Some(mut holder) = _holder {
        let _ = holder.0.kill();
        let _ = holder.0.wait();
        let _ = fs::remove_file(&old);
    }
}

#[test]
fn lock_waits_are_bounded_and_name_the_holder() {
    let mut e = cron_env();
    e.set("ORC_LOCK_TIMEOUT", "1");
    let me = std::process::id();
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .map_or_else(|| "?".to_string(), |u| u.name);

    // The schedule registry's lock, held here.
    fs::create_dir_all(e.state.join("locks/named")).unwrap();
    fs::set_permissions(&e.state, fs::Permissions::from_mode(0o700)).unwrap();
    let registry = e.state.join("locks/named/schedules.lock");
    let held = File::create(&registry).unwrap();
    held.lock().unwrap();
    let before = e.snapshot();
    let out = add(&e);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "orc-cron: error: waited 1s for a lock held by pid {me} ("
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(", user {user}) ({})\n", registry.display())),
        "{stderr}"
    );
    assert!(stderr.contains("hint: end that process if it is stuck, or raise ORC_LOCK_TIMEOUT"));
    assert_eq!(e.snapshot(), before);
    drop(held);

    // The user's crontab lock, held here.
    let dir = e.home.join(".local/state/orc-user");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let crontab = dir.join("orc-crontab.lock");
    let held = File::create(&crontab).unwrap();
    held.lock().unwrap();
    let before = e.snapshot();
    let out = add(&e);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(124), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "orc-cron: error: waited 1s for a lock held by pid {me} ("
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("({})\n", crontab.display())),
        "{stderr}"
    );
    assert_eq!(e.snapshot(), before);
    drop(held);
    let out = add(&e);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(PATIENCE, || e
        .fake_file("crontab.txt")
        .is_some()));
}
