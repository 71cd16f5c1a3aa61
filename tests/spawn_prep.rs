//! A new worktree is ready to work in: `.orc/include` (and Claude Code's
//! `.worktreeinclude`) copy untracked files into it, `.orc/setup` or
//! `ORC_SETUP_CMD` runs there before the agent starts (output in the
//! worker's log, bounded by `ORC_SETUP_TIMEOUT`), and a failed setup rolls
//! the spawn back, keeping the log and naming it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::life::{Life, add_issue, stderr};
use common::{assert_ok, run};
use orc_kernel::ids::Kind;

/// A world with issue 7 (the fake agent reports at once) committed.
fn world() -> Life {
    let env = Life::new();
    fs::write(
        env.repo.join(".gitignore"),
        ".env\nconfig/local.toml\nbig/\n",
    )
    .unwrap();
    add_issue(&env, 7, "Prepared", "ok");
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "issue 7"]);
    env
}

#[test]
fn included_files_are_copied_and_the_setup_runs_before_the_agent() {
    let env = world();
    fs::write(env.repo.join(".env"), "SECRET=1\n").unwrap();
    fs::create_dir_all(env.repo.join("config")).unwrap();
    fs::write(env.repo.join("config/local.toml"), "x = 1\n").unwrap();
    fs::set_permissions(
        env.repo.join("config/local.toml"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    fs::write(env.repo.join("notes.txt"), "not included\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", env.repo.join("linked.env")).unwrap();
    fs::create_dir_all(env.repo.join(".orc")).unwrap();
    fs::write(
        env.repo.join(".orc/include"),
        "# local files\n.env\nconfig/*.toml\n*.env\n",
    )
    .unwrap();
    fs::write(env.repo.join(".worktreeinclude"), "README.md\n").unwrap();
    // The setup is tracked, so every worktree has it; it sees the worker's
    // environment and the included files, and what it prints is logged.
    fs::write(
        env.repo.join(".orc/setup"),
        "#!/bin/sh\necho \"setup for $ORC_ISSUE in $(pwd)\"\ncat .env\ntouch .deps-installed\n",
    )
    .unwrap();
    fs::set_permissions(
        env.repo.join(".orc/setup"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    env.git(&["add", ".orc/setup", ".orc/include", ".worktreeinclude"]);
    env.git(&["commit", "-q", "-m", "setup"]);

    let w = env.spawn(7, &[]);
    let wt = &w.worktree;
    assert_eq!(fs::read_to_string(wt.join(".env")).unwrap(), "SECRET=1\n");
    assert_eq!(
        fs::read_to_string(wt.join("config/local.toml")).unwrap(),
        "x = 1\n"
    );
    let mode = fs::metadata(wt.join("config/local.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    assert!(!wt.join("notes.txt").exists(), "only included files");
    assert!(!wt.join("linked.env").exists(), "symlinks are skipped");
    assert!(
        wt.join(".deps-installed").exists(),
        "the setup ran in the worktree"
    );
    env.wait_ended(7);
    let log = env.log(7, Kind::Worker);
    assert!(log.contains("included: "), "{log}");
    assert!(
        log.contains(&format!("setup for 7 in {}", wt.display())),
        "{log}"
    );
    assert!(log.contains("SECRET=1"), "{log}");
    let setup_done = log.find("setup: done").expect("setup done in the log");
    let agent = log.find("orc-shim: started").expect("the agent started");
    assert!(setup_done < agent, "the setup ran before the agent:\n{log}");
}

#[test]
fn orc_setup_cmd_wins_and_a_failed_setup_rolls_back_keeping_its_log() {
    let env = world();
    let before = env.git_state();
    let out = run(env
        .tool("orc-spawn")
        .env("ORC_SETUP_CMD", "echo installing; echo broken >&2; exit 3")
        .arg("7"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let kept = env
        .state
        .join("logs")
        .join(format!("setup-{}-worker-7.log", env.session_name()));
    assert!(
        err.starts_with(&format!(
            "orc-spawn: error: the setup failed (exit status: 3) ({})",
            kept.display()
        )),
        "{err}"
    );
    assert!(err.contains("\nhint: ORC_SETUP_CMD"), "{err}");
    let log = fs::read_to_string(&kept).unwrap();
    assert!(
        log.contains("installing") && log.contains("broken"),
        "{log}"
    );
    // Rolled back: no worktree, branch, record or lock; the log stays.
    assert_eq!(env.git_state(), before);
    assert!(env.try_record(7, Kind::Worker).is_none());
    assert!(env.lock_record(7).is_none());
    assert!(!env.repo.join(".worktrees/issue/7-prepared").exists());
    // The next attempt, with a working setup, goes ahead.
    let w = env.spawn_cmd(
        env.tool("orc-spawn")
            .env("ORC_SETUP_CMD", "touch from-setup-cmd")
            .arg("7"),
    );
    assert!(w.worktree.join("from-setup-cmd").exists());
    env.wait_ended(7);
}

#[test]
fn a_setup_that_runs_too_long_is_stopped_and_fails_the_spawn() {
    let env = world();
    let marker = env.root.join("setup-child-alive");
    let script = format!("(sleep 30; touch '{}') & sleep 30", marker.display());
    let out = run(env
        .tool("orc-spawn")
        .env("ORC_SETUP_CMD", &script)
        .env("ORC_SETUP_TIMEOUT", "1")
        .arg("7"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("orc-spawn: error: the setup timed out after 1s ("),
        "{err}"
    );
    assert!(env.try_record(7, Kind::Worker).is_none());
    // The setup's whole process group was stopped: nothing it started runs.
    let ps = assert_ok(&run(std::process::Command::new("ps").args(["-eo", "args"])));
    assert!(!ps.contains(&script), "{ps}");
}
