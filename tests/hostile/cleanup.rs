//! Item 6: cleanup stays clean: an issue that only holds a CLI lock, old
//! temporary files in the lock directory, and a committed `.worktrees`
//! link that leaves the repository.

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use orc_kernel::ids::Kind;
use orc_kernel::record::State;

use crate::common::life::{Life, json_lines};
use crate::common::{TestEnv, assert_fails, assert_ok, run};

#[test]
fn cleanup_of_an_issue_holding_only_a_cli_lock_works() {
    let env = TestEnv::new();
    assert_ok(&run(env.cmd("orc-lock").args(["acquire", "7"])));
    assert!(env.lock_record(7).is_some());
    let out = run(env.cmd("orc-cleanup").args(["7", "--json"]));
    let text = assert_ok(&out);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done = json_lines(&text);
    assert_eq!(done[0]["lock_released"], true, "{text}");
    assert!(env.lock_record(7).is_none());
    let events = env.events();
    assert_eq!(
        events.last().map(|e| e["event"].clone()),
        Some("cleaned".into())
    );
}

#[test]
fn gc_sweeps_old_temporary_files_in_the_lock_directories() {
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    env.seed_session_lock(7);
    let dir = env
        .issue_lock(7)
        .record_path()
        .parent()
        .unwrap()
        .to_path_buf();
    let named = env.state.join("locks/named");
    fs::create_dir_all(&named).unwrap();
    let (old, young, old_named) = (
        dir.join(".orc-tmp-old"),
        dir.join(".orc-tmp-young"),
        named.join(".orc-tmp-old"),
    );
    for f in [&old, &young, &old_named] {
        fs::write(f, "{").unwrap();
    }
    for f in [&old, &old_named] {
        let touched = Command::new("touch")
            .args(["-d", "5 minutes ago"])
            .arg(f)
            .status()
            .unwrap();
        assert!(touched.success());
    }
    let out = assert_ok(&run(env.cmd("orc-ctl").args(["gc", "--json"])));
    let removed: Vec<String> = json_lines(&out)
        .iter()
        .map(|r| r["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(removed.contains(&old.display().to_string()), "{out}");
    assert!(removed.contains(&old_named.display().to_string()), "{out}");
    assert!(!old.exists() && !old_named.exists());
    assert!(young.exists(), "a write in flight is never pulled away");
    assert!(env.lock_record(7).is_some(), "the lock itself stays");
}

#[test]
fn a_committed_worktrees_link_out_of_the_repository_is_refused() {
    let env = Life::new();
    env.issue(7, "ok");
    let outside = env.root.join("outside");
    fs::create_dir(&outside).unwrap();
    symlink(&outside, env.repo.join(".worktrees")).unwrap();
    env.git(&["add", ".orc", ".worktrees"]);
    env.git(&["commit", "-q", "-m", "a hostile link"]);
    env.session();
    let before = env.snapshot();
    let out = run(env.tool("orc-spawn").arg("7"));
    assert_fails(
        &out,
        1,
        &format!(
            "orc-spawn: error: refusing a worktree path through a symbolic link that leaves the repository (to {}) ({})\n",
            outside.display(),
            env.repo.join(".worktrees").display()
        ),
    );
    before.assert_same(&env.snapshot());
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}
