//! Item 3: a state directory (or one below it) that the user does not own,
//! or that others may write to, is refused; no file under it is opened
//! through a symlink; logs are 0600.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use orc_kernel::ids::Kind;
use orc_kernel::record::State;

use super::other_user::OtherUser;
use crate::common::life::Life;
use crate::common::{TestEnv, assert_fails, assert_ok, run};

#[test]
fn a_state_dir_owned_by_another_user_is_refused() {
    let Some(other) = OtherUser::create("a_state_dir_owned_by_another_user_is_refused") else {
        return;
    };
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    other.chown(&env.state);
    let before = env.snapshot();
    for (tool, args) in [
        ("orc-ps", vec![]),
        ("orc-spawn", vec!["8"]),
        ("orc-lock", vec!["acquire", "8"]),
        ("orc-ctl", vec!["env"]),
    ] {
        let out = run(env.cmd(tool).args(&args));
        assert_fails(
            &out,
            1,
            &format!(
                "{tool}: error: refusing a directory owned by user {} (uid {}) ({})\nhint: orc uses only directories you own",
                other.name,
                other.uid,
                env.state.display()
            ),
        );
        before.assert_same(&env.snapshot());
    }
    // The worker side too.
    let out = run(env
        .worker_cmd("orc-state", 7, Kind::Worker)
        .args(["RUNNING", "x"]));
    assert_fails(
        &out,
        1,
        "orc-state: error: refusing a directory owned by user ",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn a_session_dir_another_user_pre_created_is_refused() {
    let Some(other) = OtherUser::create("a_session_dir_another_user_pre_created_is_refused") else {
        return;
    };
    let env = Life::new();
    env.issue(7, "ok");
    // The state directory is the user's; the session directory below it
    // was made by someone else, world-writable, before the first spawn.
    fs::create_dir_all(env.state.join("sessions")).unwrap();
    fs::set_permissions(&env.state, fs::Permissions::from_mode(0o700)).unwrap();
    let session = env.state.join("sessions").join(env.session_name());
    fs::create_dir(&session).unwrap();
    other.chown(&session);
    fs::set_permissions(&session, fs::Permissions::from_mode(0o777)).unwrap();
    let before = env.snapshot();
    let out = run(env.tool("orc-spawn").arg("7"));
    assert_fails(
        &out,
        1,
        &format!(
            "orc-spawn: error: refusing a directory owned by user {} (uid {}) ({})\n",
            other.name,
            other.uid,
            session.display()
        ),
    );
    before.assert_same(&env.snapshot());
    assert!(!env.repo.join(".worktrees").exists());
}

#[test]
fn a_writable_state_dir_is_refused() {
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    for mode in [0o777u32, 0o770, 0o722] {
        fs::set_permissions(&env.state, fs::Permissions::from_mode(mode)).unwrap();
        let before = env.snapshot();
        let out = run(&mut env.cmd("orc-ps"));
        assert_fails(
            &out,
            1,
            &format!(
                "orc-ps: error: refusing a directory writable by group or others (mode {mode:04o}) ({})\nhint: chmod go-w {}\n",
                env.state.display(),
                env.state.display()
            ),
        );
        before.assert_same(&env.snapshot());
    }
    // A state directory inside a directory others may write to (not sticky).
    fs::set_permissions(&env.state, fs::Permissions::from_mode(0o700)).unwrap();
    let open = env.root.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let before = env.snapshot();
    let out = run(env.cmd("orc-ps").env("ORC_STATE_DIR", open.join("state")));
    assert_fails(
        &out,
        1,
        &format!(
            "orc-ps: error: refusing a state directory inside {}, which other users can change (owner user root (uid 0), mode 0777) ({})\n",
            open.display(),
            open.join("state").display()
        ),
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn files_under_the_state_dir_are_never_followed_through_symlinks() {
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    // events.jsonl and the worker's log pointing into the user's home.
    let victim = env.home.join(".bashrc");
    fs::write(&victim, "# the user's file\n").unwrap();
    let session = env.session();
    symlink(&victim, session.events_path()).unwrap();
    let before = env.snapshot();
    let out = run(env
        .worker_cmd("orc-state", 7, Kind::Worker)
        .args(["RUNNING", "x"]));
    assert_fails(
        &out,
        1,
        &format!(
            "orc-state: error: cannot open for append: it is a symbolic link, which orc does not follow here ({})\n",
            session.events_path().display()
        ),
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "# the user's file\n");
    // The record changed (the phase was reported) but nothing was appended
    // through the link.
    let diff = before.diff(&env.snapshot());
    assert!(
        diff.iter().all(|d| d.contains("state.json")),
        "only the record may change: {diff:?}"
    );

    fs::remove_file(session.events_path()).unwrap();
    let proc = env.proc(7, Kind::Worker);
    symlink(&victim, proc.log_path()).unwrap();
    let out = run(env
        .worker_cmd("orc-state", 7, Kind::Worker)
        .args(["RUNNING", "y"]));
    assert_fails(
        &out,
        1,
        &format!(
            "orc-state: error: cannot open for append: it is a symbolic link, which orc does not follow here ({})\n",
            proc.log_path().display()
        ),
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "# the user's file\n");

    // A record replaced by a link is refused, not read.
    fs::remove_file(proc.log_path()).unwrap();
    let elsewhere = env.root.join("record.json");
    fs::copy(proc.state_path(), &elsewhere).unwrap();
    fs::remove_file(proc.state_path()).unwrap();
    symlink(&elsewhere, proc.state_path()).unwrap();
    let before = env.snapshot();
    let out = run(env
        .worker_cmd("orc-state", 7, Kind::Worker)
        .args(["RUNNING", "z"]));
    assert_fails(
        &out,
        1,
        &format!(
            "orc-state: error: cannot read: it is a symbolic link, which orc does not follow here ({})\n",
            proc.state_path().display()
        ),
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn logs_are_private() {
    let env = Life::new();
    env.issue(7, "ok");
    env.spawn(7, &[]);
    env.wait_until_settled(7);
    let proc = env.proc(7, Kind::Worker);
    let mode = fs::metadata(proc.log_path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the worker log");
    let events = env.session().events_path();
    let mode = fs::metadata(events).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "events.jsonl");
    let out = assert_ok(&run(env.tool("orc-ctl").args(["logs", "7"])));
    assert!(out.contains("fake-agent"), "{out}");
}
