//! orc-ctl (suspend, resume, kill, recover, gc, logs, env, nice, targets
//! across sessions), orc-ps --health, and reviewers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::life::{
    Life, Streaming, dead_process, git_in, json_lines, proc_ids, stderr, wait_gone,
    without_lock_files,
};
use common::{KillOnDrop, assert_fails, assert_ok, corrupt_record, process_holder, run};
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::liveness::ProcessId;
use orc_kernel::lock::Holder;
use orc_kernel::procdir::{Proc, ShimIds};
use orc_kernel::record::{Outcome, Record, State};
use orc_kernel::repo::Repo;
use orc_kernel::session::Session;
use serde_json::json;

/// Record `shim` as the shim of `proc`.
fn with_shim(proc: &Proc, shim: ProcessId) {
    proc.write_shim(&ShimIds { shim, agent: None }).unwrap();
}

/// The id of a live stand-in process.
fn id_of(p: &KillOnDrop) -> ProcessId {
    process_holder(p.id()).process().unwrap()
}

/// The JSON object a command printed.
fn json_of(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(assert_ok(out).trim()).unwrap()
}

#[test]
fn suspend_only_from_ready_running_or_waiting() {
    let env = Life::new();
    for (n, state) in [(1, State::Ready), (2, State::Running), (3, State::Waiting)] {
        let proc = env.seed_worker(n, Kind::Worker, state);
        let pending = json_of(&env.run("orc-ctl", &["suspend", &n.to_string()]));
        assert_eq!(pending["signal"], "SUSPEND");
        assert!(proc.signal_path().is_file(), "{state}: the signal waits");
        assert_eq!(env.record(n, Kind::Worker).state, state, "cooperative");
    }
    for (n, state, result) in [
        (4, State::New, "-"),
        (5, State::Suspended, "suspended"),
        (6, State::Terminated, "failed"),
    ] {
        env.seed_worker(n, Kind::Worker, state);
        let before = env.snapshot();
        let out = env.run("orc-ctl", &["suspend", &n.to_string()]);
        assert_fails(
            &out,
            1,
            &format!(
                "orc-ctl: error: cannot suspend worker {n}: only a READY, RUNNING or WAITING worker can be suspended (state {state} {result})"
            ),
        );
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn resume_only_what_has_stopped_and_is_not_merged() {
    let env = Life::new();
    env.seed_worker(1, Kind::Worker, State::Running);
    env.seed_worker_with(2, Kind::Worker, State::Terminated, |r| {
        r.result = Some(Outcome::Merged);
    });
    let before = env.snapshot();
    let out = env.run("orc-ctl", &["resume", "1"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot resume worker 1: it is still running (state RUNNING -)",
    );
    let out = env.run("orc-ctl", &["resume", "2"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot resume worker 2: its work is merged (state TERMINATED merged)",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn resume_a_crashed_worker() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "crash");
    let first = env.spawn(7, &[]);
    assert_eq!(env.watch_one(7)["result"], "crashed");
    env.wait_until_settled(7);
    let again = json_of(&env.run("orc-ctl", &["resume", "7"]));
    assert_eq!(again["attempt"], 2);
    assert_eq!(again["worktree"], first.worktree.to_str().unwrap());
    assert_eq!(env.watch_one(7)["result"], "crashed");
    let record = env.wait_until_settled(7);
    assert_eq!(record.attempt, 2);
    // Two commits now: one per attempt, on the same branch.
    let count = env.git(&["rev-list", "--count", &format!("main..{}", first.branch)]);
    assert_eq!(count.trim(), "2");
    env.cleanup(7, &["--force"]);
    env.assert_nothing_left(&git);
}

#[test]
fn kill_records_killed_unless_the_worker_already_ended() {
    let env = Life::new();
    let git = env.git_state();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    let pending = json_of(&env.run("orc-ctl", &["kill", "7"]));
    assert_eq!(pending["signal"], "KILL");
    let record = env.record(7, Kind::Worker);
    assert_eq!(record.result, Some(Outcome::Killed));
    wait_gone(w.pid);
    wait_gone(w.shim);

    // Again, now that it has ended: the record stays as it is.
    let state = fs::read(env.proc(7, Kind::Worker).state_path()).unwrap();
    let out = env.run("orc-ctl", &["kill", "7"]);
    assert_ok(&out);
    assert_eq!(
        stderr(&out),
        "orc-ctl: worker 7 had already ended; its record is kept\n"
    );
    assert_eq!(
        fs::read(env.proc(7, Kind::Worker).state_path()).unwrap(),
        state
    );
    env.seed_worker(8, Kind::Worker, State::Terminated);
    let out = env.run("orc-ctl", &["kill", "8"]);
    assert_ok(&out);
    assert_eq!(env.record(8, Kind::Worker).result, Some(Outcome::Failed));
    env.cleanup(7, &[]);
    env.cleanup(8, &[]);
    env.assert_nothing_left(&git);
}

#[test]
fn recover_marks_a_dead_worker_crashed_and_refuses_a_live_one() {
    let env = Life::new();
    let dead = dead_process();
    let proc = env.seed_worker(7, Kind::Worker, State::Running);
    with_shim(&proc, dead);
    let record = json_of(&env.run("orc-ctl", &["recover", "7"]));
    assert_eq!(record["state"], "TERMINATED");
    assert_eq!(record["result"], "crashed");
    assert_eq!(
        record["detail"],
        format!("recovered: the shim (pid {}) is gone", dead.pid)
    );
    assert_eq!(env.record(7, Kind::Worker).result, Some(Outcome::Crashed));

    let live = KillOnDrop::sleeper();
    let proc = env.seed_worker(8, Kind::Worker, State::Waiting);
    with_shim(&proc, id_of(&live));
    env.seed_worker(9, Kind::Worker, State::Running);
    let before = env.snapshot();
    let out = env.run("orc-ctl", &["recover", "8"]);
    assert_fails(
        &out,
        1,
        &format!(
            "orc-ctl: error: cannot recover worker 8: its shim (pid {}) is alive (state WAITING -)",
            live.id()
        ),
    );
    let out = env.run("orc-ctl", &["recover", "9"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot recover worker 9: it has no shim identity, so whether it lives cannot be told",
    );
    let out = env.run("orc-ctl", &["recover", "7"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot recover worker 7: only a RUNNING or WAITING worker can be recovered (state TERMINATED crashed)",
    );
    before.assert_same(&env.snapshot());
}

/// What gc should remove: `(what, path)`.
type Removals = BTreeSet<(String, PathBuf)>;

/// Seed a state directory with stale entries (returned) and live ones.
fn seed_for_gc(env: &Life, live: &[KillOnDrop]) -> Removals {
    let session = env.session();
    let mut stale = Removals::new();
    let lock = |n: u32| env.issue_lock(n).record_path().to_path_buf();
    // Stale: a lock whose holding process is dead; a lock of a session
    // that is gone; a NEW worker nobody is spawning; a proc directory with
    // no record; leftovers of interrupted writes; an empty session.
    env.seed_lock(1, Holder::Process { id: dead_process() }, session.name());
    stale.insert(("lock".into(), lock(1)));
    env.seed_lock(
        2,
        Holder::Session {
            session: "gone-1".into(),
        },
        "gone-1",
    );
    stale.insert(("lock".into(), lock(2)));
    let new = env.seed_worker(3, Kind::Worker, State::New);
    stale.insert(("proc".into(), new.dir().to_path_buf()));
    let bare = session.procs().join("worker-4");
    fs::create_dir_all(&bare).unwrap();
    stale.insert(("proc".into(), bare));
    let ended = env.seed_worker(5, Kind::Worker, State::Terminated);
    let tmp = ended.dir().join(".orc-tmp-interrupted");
    fs::write(&tmp, "half").unwrap();
    stale.insert(("leftover".into(), tmp));
    let fifo = ended.dir().join(format!(".wake-{}", dead_process().pid));
    fs::write(&fifo, "").unwrap();
    stale.insert(("leftover".into(), fifo));
    let empty = env.named_session("empty-1");
    stale.insert(("session".into(), empty.dir().to_path_buf()));

    // Live: locks of a live process, of a live session, and one a result
    // keeps; a running worker with a live shim; a NEW worker whose spawner
    // lives; an ended worker; a session with only logs; an unreadable record.
    env.seed_lock(10, process_holder(live[0].id()), session.name());
    env.seed_session_lock(11);
    env.seed_lock(12, Holder::Process { id: dead_process() }, session.name());
    env.issue_lock(12)
        .hand_over(
            |_| true,
            Holder::Process { id: dead_process() },
            Some("ci-passed"),
        )
        .unwrap();
    let running = env.seed_worker(6, Kind::Worker, State::Running);
    with_shim(&running, id_of(&live[1]));
    env.seed_worker(8, Kind::Worker, State::New);
    env.seed_process_lock(8, live[2].id());
    let logs = env.named_session("logs-1");
    fs::create_dir_all(logs.dir().join("logs")).unwrap();
    fs::write(logs.dir().join("logs/worker-1.1.log"), "kept\n").unwrap();
    corrupt_record(&env.seed_worker(9, Kind::Worker, State::Running));
    stale
}

fn removals(lines: &[serde_json::Value]) -> Removals {
    lines
        .iter()
        .map(|l| {
            (
                l["what"].as_str().unwrap().to_string(),
                PathBuf::from(l["path"].as_str().unwrap()),
            )
        })
        .collect()
}

#[test]
fn gc_removes_exactly_what_is_stale() {
    let env = Life::new();
    let live = [
        KillOnDrop::sleeper(),
        KillOnDrop::sleeper(),
        KillOnDrop::sleeper(),
    ];
    let stale = seed_for_gc(&env, &live);

    // gc takes the proc and spawn locks it judges under: lock files are
    // made and never deleted (README), so they are left out of the check.
    let before = without_lock_files(env.snapshot());
    let dry = json_lines(&assert_ok(
        &env.run("orc-ctl", &["gc", "--dry-run", "--json"]),
    ));
    assert_eq!(removals(&dry), stale, "--dry-run names exactly the stale");
    let text = assert_ok(&env.run("orc-ctl", &["gc", "--dry-run"]));
    assert_eq!(text.lines().count(), stale.len());
    assert!(
        text.lines().all(|l| l.starts_with("would remove ")),
        "{text}"
    );
    before.assert_same(&without_lock_files(env.snapshot()));

    let done = json_lines(&assert_ok(&env.run("orc-ctl", &["gc", "--json"])));
    assert_eq!(removals(&done), stale);
    let gone: Vec<String> = before.diff(&without_lock_files(env.snapshot()));
    let root = &env.root;
    for change in &gone {
        let path = root.join(
            change
                .strip_prefix("removed ")
                .unwrap_or_else(|| panic!("gc only removes: {change}")),
        );
        assert!(
            stale.iter().any(|(_, p)| path.starts_with(p)),
            "removed something live: {}",
            path.display()
        );
    }
    for (_, path) in &stale {
        assert!(!path.exists(), "{} is still there", path.display());
    }
    // Lock files themselves are never deleted, only their holder records.
    assert!(
        env.issue_lock(1)
            .record_path()
            .with_extension("lock")
            .exists()
    );
    // Nothing more to do.
    assert_eq!(assert_ok(&env.run("orc-ctl", &["gc"])), "");
}

#[test]
fn logs_prints_the_log_and_follows_what_is_appended() {
    let env = Life::new();
    let proc = env.seed_worker(7, Kind::Worker, State::Terminated);
    fs::write(proc.log_path(), "line one\nline two\n").unwrap();
    assert_eq!(
        assert_ok(&env.run("orc-ctl", &["logs", "7"])),
        "line one\nline two\n"
    );

    let proc = env.seed_worker(8, Kind::Worker, State::Running);
    fs::write(proc.log_path(), "first\n").unwrap();
    let follow = Streaming::start(env.tool("orc-ctl").args(["logs", "-f", "8"]));
    assert_eq!(follow.next_line(), "first");
    fs::write(proc.log_path(), "first\nsecond\n").unwrap();
    assert_eq!(follow.next_line(), "second");
    assert_ok(&run(env
        .worker_cmd("orc-notify", 8, Kind::Worker)
        .args(["failed", "done"])));
    // Once the worker has ended (and no shim of it lives), follow ends.
    let (status, _, err) = follow.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    let out = env.run("orc-ctl", &["logs", "9"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: no worker for issue 9 in any session (9)",
    );
}

#[test]
fn env_shows_origins_and_masks_secrets() {
    let env = Life::new();
    let project = env.repo.join(".orc/envs");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join("default.env"), "ORC_MAX_WORKERS=2\n").unwrap();
    let user = env.home.join(".config/orc/envs");
    fs::create_dir_all(&user).unwrap();
    fs::write(user.join("default.env"), "ORC_TERM_GRACE=7\n").unwrap();
    let out = run(env
        .tool("orc-ctl")
        .env("ORC_GH_TOKEN", "abc")
        .env("ORC_POLL_INTERVAL", "3")
        .args(["env", "--json"]));
    let text = assert_ok(&out);
    assert!(!text.contains("abc"), "a secret was shown: {text}");
    let rows = json_lines(&text);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
            .clone()
    };
    assert_eq!(
        row("ORC_GH_TOKEN"),
        json!({"name": "ORC_GH_TOKEN", "value": "****", "origin": "environment"})
    );
    assert_eq!(row("ORC_POLL_INTERVAL")["origin"], "environment");
    assert_eq!(
        row("ORC_MAX_WORKERS"),
        json!({"name": "ORC_MAX_WORKERS", "value": "2",
               "origin": project.join("default.env").to_str().unwrap()})
    );
    assert_eq!(
        row("ORC_TERM_GRACE"),
        json!({"name": "ORC_TERM_GRACE", "value": "7",
               "origin": user.join("default.env").to_str().unwrap()})
    );
    assert_eq!(
        row("ORC_WORKER_TIMEOUT"),
        json!({"name": "ORC_WORKER_TIMEOUT", "value": "3600", "origin": "default"})
    );
    assert_eq!(row("ORC_BASE")["origin"], "unset");
    let table = assert_ok(&run(env
        .tool("orc-ctl")
        .env("ORC_GH_TOKEN", "abc")
        .arg("env")));
    let line = table
        .lines()
        .find(|l| l.starts_with("ORC_GH_TOKEN"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        ["ORC_GH_TOKEN", "****", "environment"]
    );
    assert!(!table.contains("abc"));
}

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

#[test]
fn nice_changes_the_running_agent_and_its_record() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    assert_eq!(proc_ids(w.pid).3, 10);
    for (level, nice) in [("low", 15), ("19", 19), ("high", 5)] {
        if nice < proc_ids(w.pid).3 && !nix::unistd::geteuid().is_root() {
            continue; // raising priority needs privileges
        }
        let record = json_of(&env.run("orc-ctl", &["nice", "7", level]));
        assert_eq!(record["priority"], level);
        assert_eq!(proc_ids(w.pid).3, nice, "{level}");
        assert_eq!(env.record(7, Kind::Worker).priority, level);
    }
    let before = env.record(7, Kind::Worker);
    let out = env.run("orc-ctl", &["nice", "7", "urgent"]);
    assert_fails(&out, 2, "orc-ctl: error: unknown priority (urgent)");
    assert_eq!(env.record(7, Kind::Worker), before);

    assert_ok(&env.run("orc-signal", &["7", "KILL"]));
    let out = env.run("orc-ctl", &["nice", "7", "low"]);
    assert_fails(
        &out,
        1,
        "orc-ctl: error: cannot renice worker 7: it is not running (state TERMINATED killed)",
    );
    env.cleanup(7, &[]);
    env.assert_no_processes();
}

/// `orc-ps --health --json`: exit code and each worker's verdict.
fn health(env: &Life) -> (i32, Vec<(u64, String)>, String) {
    let out = env.run("orc-ps", &["--health", "--json"]);
    let rows = json_lines(&String::from_utf8_lossy(&out.stdout));
    let verdicts = rows
        .iter()
        .map(|r| {
            (
                r["issue"].as_u64().unwrap(),
                r["health"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (out.status.code().unwrap(), verdicts, stderr(&out))
}

#[test]
fn ps_health_says_healthy_zombie_or_unknown() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.seed_worker(8, Kind::Worker, State::Terminated);
    assert_eq!(
        health(&env),
        (
            0,
            vec![(7, "healthy".into()), (8, "healthy".into())],
            String::new()
        )
    );
    let table = assert_ok(&env.run("orc-ps", &["--health"]));
    assert!(table.lines().next().unwrap().contains("HEALTH"), "{table}");

    // The shim dies; the record still says RUNNING.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.shim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(w.shim);
    let state = fs::read(env.proc(7, Kind::Worker).state_path()).unwrap();
    assert_eq!(
        health(&env),
        (
            1,
            vec![(7, "zombie".into()), (8, "healthy".into())],
            String::new()
        )
    );
    assert_eq!(
        fs::read(env.proc(7, Kind::Worker).state_path()).unwrap(),
        state,
        "orc-ps only looks"
    );

    // A worker with no shim identity yet: cannot tell.
    env.seed_worker(9, Kind::Worker, State::Running);
    let (code, verdicts, err) = health(&env);
    assert_eq!((code, err.as_str()), (1, ""));
    assert!(verdicts.contains(&(9, "unknown".into())), "{verdicts:?}");
    // Without --health, no verdict and exit 0.
    assert_ok(&env.run("orc-ps", &["--json"]));
    env.cleanup(7, &[]);
    env.assert_no_processes();
}

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

#[test]
fn logs_follow_prints_the_log_to_its_last_line() {
    let env = Life::new();
    env.issue(7, "hang");
    let w = env.spawn(7, &[]);
    env.wait_record(7, Kind::Worker, |r| r.state == State::Running);
    let follow = Streaming::start(env.tool("orc-ctl").args(["logs", "-f", "7"]));
    // The agent reports its result and goes on; when it is killed, the
    // shim logs how it ended, after the record has ended. Holding the proc
    // lock keeps the shim from that last line for a while.
    assert_ok(&run(env
        .worker_cmd("orc-notify", 7, Kind::Worker)
        .args(["failed", "gave up"])));
    let proc = env.proc(7, Kind::Worker);
    let held = proc.guard().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(w.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(w.pid);
    // logs -f must not stop while the shim can still write.
    let mut lines = Vec::new();
    assert!(
        !common::wait_until(std::time::Duration::from_millis(1500), || {
            lines.extend(std::iter::from_fn(|| follow.try_line()));
            common::life::gone(follow.id() as i32)
        }),
        "orc-ctl logs -f ended while the shim was still writing"
    );
    drop(held);
    let (status, rest, err) = follow.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    lines.extend(rest);
    env.wait_until_settled(7);
    let log = env.log(7, Kind::Worker);
    assert!(
        log.trim_end()
            .ends_with("orc-shim: agent ended (code 137) after its result"),
        "{log}"
    );
    assert_eq!(
        lines.join("\n") + "\n",
        log,
        "the whole log, to its last line"
    );
    env.cleanup(7, &[]);
    env.assert_no_processes();
}
