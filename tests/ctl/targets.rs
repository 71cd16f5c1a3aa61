//! orc-ctl targets across sessions: N, owner/repo:N, --session.

use std::fs;
use std::path::Path;

use crate::common::life::{Life, git_in, stderr};
use crate::common::{assert_fails, assert_ok};
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::procdir::Proc;
use orc_kernel::record::{Outcome, Record, State};
use orc_kernel::repo::Repo;
use orc_kernel::session::Session;

/// Seed worker 7 RUNNING in a session of its own for the repository at
/// `root`; its log says `text`.
fn seed_elsewhere(env: &Life, root: &Path, session: &str, text: &str) -> Proc {
    let repo = Repo::at(root).unwrap();
    let s = Session::open(&env.state_dir(), session).unwrap();
    s.ensure(Some(&repo)).unwrap();
    let now = orc_kernel::clock::now_rfc3339().unwrap();
    let mut record = Record::new(Issue::from(7), Kind::Worker, session, &now);
    record.state = State::Running;
    record.repo = Some(repo.root.display().to_string());
    let proc = Proc::new(&s, Kind::Worker, Issue::from(7));
    proc.create(&record).unwrap();
    fs::write(proc.log_path(), text).unwrap();
    proc
}

#[test]
fn targets_across_sessions_by_session_or_repository() {
    let env = Life::new();
    env.git(&["remote", "add", "origin", "git@github.com:acme/widgets.git"]);
    let other = env.other_repo("gadgets");
    git_in(
        &env,
        &other,
        &[
            "remote",
            "add",
            "origin",
            "https://github.com/acme/gadgets.git",
        ],
    );
    let a = seed_elsewhere(&env, &env.repo, "a", "widgets\n");
    let b = seed_elsewhere(&env, &other, "b", "gadgets\n");

    let before = env.snapshot();
    let out = env.run("orc-ctl", &["kill", "7"]);
    assert_fails(&out, 2, "orc-ctl: error: 7 matches 2 workers (7)");
    assert!(
        stderr(&out).contains(&format!(
            "hint: name one: --session a 7 ({}); --session b 7 ({})",
            env.repo.display(),
            other.display()
        )),
        "{}",
        stderr(&out)
    );
    before.assert_same(&env.snapshot());

    let logs = |target: &str| assert_ok(&env.run("orc-ctl", &["logs", target]));
    assert_eq!(logs("acme/widgets:7"), "widgets\n");
    assert_eq!(logs("acme/gadgets:7"), "gadgets\n");
    assert_eq!(
        assert_ok(&env.run("orc-ctl", &["logs", "--session", "b", "7"])),
        "gadgets\n"
    );
    let out = env.run("orc-ctl", &["logs", "acme/nope:7"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: no worker for issue 7 in any session (acme/nope:7)",
    );
    let out = env.run("orc-ctl", &["logs", "--session", "zz", "7"]);
    assert_fails(&out, 2, "orc-ctl: error: no such session (zz)");
    let out = env.run("orc-ctl", &["logs", "../x:7"]);
    assert_fails(&out, 2, "orc-ctl: error: ");

    // Acting on one leaves the other alone.
    assert_ok(&env.run("orc-ctl", &["kill", "acme/gadgets:7"]));
    assert_eq!(b.read().unwrap().unwrap().result, Some(Outcome::Killed));
    assert_eq!(a.read().unwrap().unwrap().state, State::Running);
}
