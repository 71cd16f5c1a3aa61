//! orc-cleanup: reaping is idempotent, works with the worktree gone, stops
//! a running worker, never loses uncommitted or unmerged work unless forced,
//! and keeps the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::life::{Life, gone, stderr};
use common::{BAD_ISSUES, assert_fails, assert_ok, corrupt_record, run};
use orc_kernel::ids::Kind;
use orc_kernel::record::State;

/// `orc-cleanup --json ARGS N`, which must succeed; what it did.
fn cleanup_json(env: &Life, n: u32, args: &[&str]) -> serde_json::Value {
    let out = run(env
        .tool("orc-cleanup")
        .arg("--json")
        .args(args)
        .arg(n.to_string()));
    serde_json::from_str(assert_ok(&out).trim()).unwrap()
}

#[test]
fn twice_in_a_row_is_fine_and_the_log_is_kept() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "fail");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "failed");
    env.wait_until_settled(7);
    let log = env.log(7, Kind::Worker);

    let first = cleanup_json(&env, 7, &[]);
    assert_eq!(first["stopped"], false);
    assert_eq!(first["worktrees"], serde_json::json!([w.worktree]));
    assert_eq!(first["branches"], serde_json::json!([w.branch]));
    assert_eq!(first["proc_removed"], true);
    let kept = env.session().dir().join("logs").join("worker-7.1.log");
    assert_eq!(first["log"], kept.to_str().unwrap());
    env.assert_nothing_left(&git);

    let second = cleanup_json(&env, 7, &[]);
    assert_eq!(
        second,
        serde_json::json!({"issue": 7, "kind": "worker", "stopped": false,
            "worktrees": [], "branches": [], "kept_branches": [],
            "foreign_branches": [], "discarded": [],
            "proc_removed": false, "lock_released": false, "log": null})
    );
    env.assert_nothing_left(&git);
    // The log, shim lines and agent output alike, outlives the worker.
    let kept_text = fs::read_to_string(&kept).unwrap();
    assert_eq!(kept_text, log);
    assert!(kept_text.contains("fake-agent: issue 7 mode fail"));
    let events = env.events();
    let cleaned: Vec<_> = events.iter().filter(|e| e["event"] == "cleaned").collect();
    assert_eq!(
        cleaned.len(),
        1,
        "the second cleanup did nothing: {events:?}"
    );
}

#[test]
fn the_worktree_may_already_be_gone() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "fail");
    let w = env.spawn(7, &[]);
    env.watch_one(7);
    fs::remove_dir_all(&w.worktree).unwrap();
    let stderr = env.cleanup(7, &[]);
    assert!(stderr.contains("log kept at"), "{stderr}");
    env.assert_nothing_left(&git);
    assert!(!env.repo.join(".worktrees").exists());
}

#[test]
fn a_running_worker_is_stopped_first() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    let done = cleanup_json(&env, 7, &[]);
    assert_eq!(done["stopped"], true);
    // Cleanup returns once the shim and the agent are gone.
    for pid in [w.pid, w.shim] {
        assert!(gone(pid), "process {pid} outlived cleanup");
    }
    env.assert_nothing_left(&git);
    let logs = env.kept_logs();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(
        logs[0]
            .1
            .contains("TERMINATED killed stopped by orc-cleanup"),
        "{}",
        logs[0].1
    );
}

#[test]
fn a_dirty_worktree_is_refused_without_force() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "fail");
    let w = env.spawn(7, &[]);
    env.watch_one(7);
    fs::write(w.worktree.join("notes.txt"), "half a thought\n").unwrap();
    env.wait_until_settled(7);
    let before = env.snapshot();
    let out = env.run("orc-cleanup", &["7"]);
    assert_fails(
        &out,
        7,
        &format!(
            "orc-cleanup: error: the worktree has uncommitted changes ({})",
            w.worktree.display()
        ),
    );
    assert!(
        stderr(&out)
            .contains("hint: commit or stash them, or `orc-cleanup --force 7` discards them"),
        "{}",
        stderr(&out)
    );
    before.assert_same(&env.snapshot());

    // Forced, the changes are discarded, but first kept in a commit that
    // the log and the event stream name.
    let forced = cleanup_json(&env, 7, &["--force"]);
    env.assert_nothing_left(&git);
    let d = &forced["discarded"][0];
    assert_eq!(d["worktree"], w.worktree.to_str().unwrap());
    let changes = d["changes"].as_str().unwrap();
    assert_eq!(
        env.git(&["show", &format!("{changes}:notes.txt")]),
        "half a thought\n"
    );
    let events = env.events();
    let discarded: Vec<_> = events
        .iter()
        .filter(|e| e["event"] == "discarded")
        .collect();
    assert_eq!(discarded.len(), 1, "{events:?}");
    assert_eq!(&discarded[0]["discarded"], d);
    let logs = env.kept_logs();
    assert!(logs[0].1.contains(changes), "{logs:?}");
}

#[test]
fn a_crashed_worker_s_commits_are_kept_unless_forced() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "crash");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    let tip = env.git(&["rev-parse", &w.branch]);
    let out = run(env.tool("orc-cleanup").args(["--json", "7"]));
    assert_eq!(out.status.code(), Some(7), "work kept: {}", stderr(&out));
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(done["kept_branches"], serde_json::json!([w.branch]));
    assert_eq!(done["branches"], serde_json::json!([]));
    assert!(!w.worktree.exists());
    assert_eq!(env.git(&["rev-parse", &w.branch]), tip, "the work is kept");
    let out = env.run("orc-cleanup", &["7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        stderr(&out),
        format!(
            "orc-cleanup: kept branch {}: it has commits found nowhere else (--force deletes it)\n",
            w.branch
        )
    );

    let forced = cleanup_json(&env, 7, &["--force"]);
    assert_eq!(forced["branches"], serde_json::json!([w.branch]));
    assert_eq!(
        forced["discarded"],
        serde_json::json!([{"branch": w.branch, "tip": tip.trim()}])
    );
    env.assert_nothing_left(&git);
    // The tip was recorded before the branch went: it can be brought back.
    let events = env.events();
    let d = events.iter().find(|e| e["event"] == "discarded").unwrap();
    assert_eq!(d["discarded"]["tip"], tip.trim());
    assert!(
        fs::read_to_string(env.session().dir().join("logs/discarded.log"))
            .unwrap()
            .contains(tip.trim())
    );
    env.git(&["branch", "recovered", tip.trim()]);
}

#[test]
fn a_merged_worker_s_branch_goes() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "ok");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "merged");
    let done = cleanup_json(&env, 7, &[]);
    assert_eq!(done["branches"], serde_json::json!([w.branch]));
    env.assert_nothing_left(&git);
}

#[test]
fn keep_worktree_leaves_the_worktree_branch_and_lock() {
    let env = Life::new();
    env.issue(7, "ci");
    let w = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "ci-passed");
    env.wait_until_settled(7);
    let done = cleanup_json(&env, 7, &["--keep-worktree"]);
    assert_eq!(done["proc_removed"], true);
    assert_eq!(done["lock_released"], false);
    assert!(w.worktree.is_dir());
    assert_eq!(env.trusted(), vec![w.worktree.display().to_string()]);
    assert_eq!(env.held_locks().len(), 1, "ci-passed keeps the lock");
    let done = cleanup_json(&env, 7, &[]);
    assert_eq!(done["lock_released"], true);
    assert_eq!(done["worktrees"], serde_json::json!([w.worktree]));
    assert!(env.held_locks().is_empty());
    assert!(env.trusted().is_empty());
}

#[test]
fn an_unreadable_record_is_kept_unless_forced() {
    let env = Life::new();
    let proc = env.seed_worker(7, Kind::Worker, State::Running);
    let bytes = corrupt_record(&proc);
    let before = env.snapshot();
    let out = env.run("orc-cleanup", &["7"]);
    assert_fails(&out, 1, "orc-cleanup: error: corrupt record: ");
    assert!(
        stderr(&out).contains("hint: `orc-cleanup --force` removes it anyway"),
        "{}",
        stderr(&out)
    );
    before.assert_same(&env.snapshot());
    assert_eq!(fs::read(proc.state_path()).unwrap(), bytes);

    let out = env.run("orc-cleanup", &["--force", "7"]);
    assert_ok(&out);
    assert!(
        stderr(&out).starts_with("orc-cleanup: warning: corrupt record: "),
        "{}",
        stderr(&out)
    );
    assert!(!proc.dir().exists());
}

#[test]
fn bad_issue_ids_exit_2_and_change_nothing() {
    let env = Life::new();
    let before = env.snapshot();
    for bad in BAD_ISSUES {
        let out = env.run("orc-cleanup", &["--", bad]);
        assert_fails(&out, 2, "orc-cleanup: error: ");
        assert!(
            stderr(&out).contains(&format!("({bad})")),
            "{}",
            stderr(&out)
        );
    }
    before.assert_same(&env.snapshot());
}

#[test]
fn an_agent_still_running_after_its_result_is_stopped() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    // The agent reports its result but does not exit (yet).
    assert_ok(&run(env
        .worker_cmd("orc-notify", 7, Kind::Worker)
        .args(["failed", "gave up"])));
    assert!(!gone(w.pid));
    let done = cleanup_json(&env, 7, &[]);
    assert_eq!(done["stopped"], true);
    for pid in [w.pid, w.shim] {
        assert!(gone(pid), "process {pid} outlived cleanup");
    }
    env.assert_nothing_left(&git);
    assert_eq!(
        env.kept_logs().len(),
        1,
        "the record kept its result: {:?}",
        env.kept_logs()
    );
}

/// A stand-in for an agent: `sleep` leading a process group of its own, as
/// the shim starts the agent.
fn group_leader() -> common::KillOnDrop {
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new("sleep")
        .arg("1000")
        .env_clear()
        .env("PATH", common::SYSTEM_PATH)
        .process_group(0)
        .spawn()
        .unwrap();
    common::KillOnDrop(child)
}

#[test]
fn force_on_a_corrupt_record_stops_the_shim_and_agent_before_freeing_the_lock() {
    use orc_kernel::procdir::ShimIds;
    let env = Life::new();
    let shim = common::KillOnDrop::sleeper();
    let agent = group_leader();
    let proc = env.seed_worker(7, Kind::Worker, State::Running);
    let id = |p: &common::KillOnDrop| common::process_holder(p.id()).process().unwrap();
    proc.write_shim(&ShimIds {
        shim: id(&shim),
        agent: Some(id(&agent)),
    })
    .unwrap();
    env.seed_process_lock(7, shim.id());
    corrupt_record(&proc);
    // Without --force it refuses, and stops nothing.
    let out = env.run("orc-cleanup", &["7"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!gone(shim.id() as i32) && !gone(agent.id() as i32));
    let done = cleanup_json(&env, 7, &["--force"]);
    assert_eq!(done["stopped"], true, "{done}");
    assert_eq!(done["lock_released"], true, "{done}");
    assert!(gone(shim.id() as i32), "the shim was stopped");
    assert!(gone(agent.id() as i32), "the agent was stopped");
    assert_eq!(env.lock_record(7), None);
}
