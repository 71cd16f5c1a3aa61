//! Reviewers beside a worker, and escalation after the review rounds.

use std::fs;

use crate::common::assert_fails;
use crate::common::life::{Life, git_in, stderr};
use orc_kernel::ids::Kind;

#[test]
fn reviewers_work_beside_the_worker_and_escalate_after_the_rounds() {
    let env = Life::new();
    let git = env.git_state();
    let dir = env.repo.join(".orc/issues");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("7.md"),
        "---\ntitle: Reviewed change\n---\nfake-mode: ci\nfake-review: changes\n",
    )
    .unwrap();
    let worker = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "ci-passed");
    env.wait_until_settled(7);
    let worker_proc = env.proc(7, Kind::Worker);
    let worker_state = fs::read(worker_proc.state_path()).unwrap();
    let task = fs::read_to_string(worker.worktree.join(".orc-task.md")).unwrap();
    let head = git_in(&env, &worker.worktree, &["rev-parse", "HEAD"]);
    let lock = env.lock_record(7).unwrap();

    let review = |round: u32| {
        let mut cmd = env.tool("orc-spawn");
        cmd.env("ORC_REVIEW_MAX_ROUNDS", "2")
            .args(["--kind", "reviewer", "--pr", "7", "7"]);
        let r = env.spawn_cmd(&mut cmd);
        assert_eq!(r.json["kind"], "reviewer");
        assert_eq!(
            r.worktree,
            env.repo.join(".worktrees/review/7"),
            "round {round}"
        );
        let lines = env.watch(&["--kind", "reviewer", "7"]);
        assert_eq!(lines[0]["result"], "changes-requested", "round {round}");
        // The review's consequences are written after its record (and
        // before its shim is gone).
        env.wait_settled(7, Kind::Reviewer);
        r
    };

    let r = review(1);
    // The reviewer's copy is detached at the worker's commit.
    let list = git_in(&env, &env.repo, &["worktree", "list", "--porcelain"]);
    let entry = list
        .split("\n\n")
        .find(|e| e.starts_with(&format!("worktree {}", r.worktree.display())))
        .unwrap_or_else(|| panic!("no review worktree in {list}"));
    assert!(entry.lines().any(|l| l == "detached"), "{entry}");
    assert!(entry.contains(head.trim()), "{entry}");
    // Its record is its own; the worker's record, commit and files stay.
    let reviewer = env.record(7, Kind::Reviewer);
    assert_eq!(reviewer.kind, Kind::Reviewer);
    assert_eq!(fs::read(worker_proc.state_path()).unwrap(), worker_state);
    assert_eq!(git_in(&env, &worker.worktree, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        git_in(&env, &worker.worktree, &["status", "--porcelain"]),
        ""
    );
    assert_eq!(
        env.lock_record(7).unwrap(),
        lock,
        "the lock stays the worker's"
    );
    // The change request is the worker's: its reason to resume.
    let task_now = fs::read_to_string(worker.worktree.join(".orc-task.md")).unwrap();
    assert!(task_now.starts_with(&task), "only a section is added");
    assert!(
        task_now.contains("## Review round 1: changes requested"),
        "{task_now}"
    );
    let log: serde_json::Value =
        serde_json::from_slice(&fs::read(worker_proc.dir().join("review.json")).unwrap()).unwrap();
    assert_eq!(log["rounds"], 1);

    let mut resume = env.tool("orc-ctl");
    resume
        .env("FAKE_AGENT_ECHO_ARGS", "1")
        .args(["resume", "7"]);
    env.spawn_cmd(&mut resume);
    assert_eq!(env.watch_one(7)["result"], "ci-passed");
    env.wait_until_settled(7);
    assert!(
        env.log(7, Kind::Worker)
            .contains("Reason for the resume: please add a test for the edge case"),
        "{}",
        env.log(7, Kind::Worker)
    );

    // The second round runs out the rounds: a person decides.
    env.cleanup(7, &["--kind", "reviewer"]);
    review(2);
    assert!(
        env.events()
            .iter()
            .any(|e| e["event"] == "escalated" && e["issue"] == 7),
        "an escalated event"
    );
    let worker_state = fs::read(worker_proc.state_path()).unwrap();
    let lock = env.lock_record(7).unwrap();
    let out = env.run("orc-ctl", &["resume", "7"]);
    let review_log = worker_proc.dir().join("review.json");
    assert_fails(
        &out,
        1,
        &format!(
            "orc-ctl: error: issue 7 was escalated after 2 review rounds ({})",
            review_log.display()
        ),
    );
    assert!(
        stderr(&out).contains("hint: a person decides now"),
        "{}",
        stderr(&out)
    );
    assert_eq!(fs::read(worker_proc.state_path()).unwrap(), worker_state);
    assert_eq!(env.lock_record(7).unwrap(), lock);
    env.cleanup(7, &["--kind", "reviewer"]);
    let out = env.run("orc-spawn", &["--kind", "reviewer", "7"]);
    assert_fails(
        &out,
        1,
        &format!(
            "orc-spawn: error: issue 7 was escalated after 2 review rounds ({})",
            review_log.display()
        ),
    );

    env.cleanup(7, &["--force"]);
    env.assert_nothing_left(&git);
}
