//! orc-ctl gc on a state directory seeded with stale and live entries.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use crate::common::life::{Life, dead_process, json_lines, stderr, without_lock_files};
use crate::common::{KillOnDrop, assert_ok, corrupt_record, process_holder};
use orc_kernel::ids::Kind;
use orc_kernel::lock::Holder;
use orc_kernel::record::State;

use super::{id_of, with_shim};

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
    // Only a temporary file older than a minute counts as a crash's
    // leftover: a younger one may be a write in flight.
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    stale.insert(("leftover".into(), tmp));
    let young = ended.dir().join(".orc-tmp-in-flight");
    fs::write(&young, "being written").unwrap();
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

/// The lines of gc's JSON output whose action is one of `actions`.
fn with_action(lines: &[serde_json::Value], actions: &[&str]) -> Removals {
    lines
        .iter()
        .filter(|l| actions.contains(&l["action"].as_str().unwrap()))
        .map(|l| {
            (
                l["what"].as_str().unwrap().to_string(),
                PathBuf::from(l["path"].as_str().unwrap()),
            )
        })
        .collect()
}

fn removals(lines: &[serde_json::Value]) -> Removals {
    with_action(lines, &["removed", "would-remove"])
}

/// Everything gc printed, whatever the action.
fn all_items(lines: &[serde_json::Value]) -> Removals {
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

    // A dry run writes nothing at all: not even a lock file.
    let before = env.snapshot();
    let dry = json_lines(&assert_ok(
        &env.run("orc-ctl", &["gc", "--dry-run", "--json"]),
    ));
    assert_eq!(removals(&dry), stale, "--dry-run names exactly the stale");
    let kept = with_action(&dry, &["kept"]);
    let lock = |n: u32| env.issue_lock(n).record_path().to_path_buf();
    let procs = env.session().procs();
    let expected_kept: Removals = [
        ("lock", lock(8)),
        ("lock", lock(10)),
        ("lock", lock(11)),
        ("lock", lock(12)),
        ("proc", procs.join("worker-8")),
        ("proc", procs.join("worker-9")),
    ]
    .into_iter()
    .map(|(w, p)| (w.to_string(), p))
    .collect();
    assert_eq!(kept, expected_kept, "what is kept on doubt is listed");
    assert_eq!(all_items(&dry).len(), dry.len(), "{dry:?}");
    let text = assert_ok(&env.run("orc-ctl", &["gc", "--dry-run"]));
    let lines: Vec<&str> = text.lines().collect();
    let summary = format!(
        "would remove {}, kept {}, nothing else to clean",
        stale.len(),
        expected_kept.len()
    );
    assert_eq!(lines.last(), Some(&summary.as_str()), "{text}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("would remove "))
            .count(),
        stale.len() + 1,
        "{text}"
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("kept ")).count(), 6);
    before.assert_same(&env.snapshot());

    let out = env.run("orc-ctl", &["gc", "--json"]);
    let done = json_lines(&assert_ok(&out));
    assert_eq!(removals(&done), stale);
    assert!(
        stderr(&out).contains(&format!(
            "orc-ctl: removed {}, kept 6, nothing else to clean",
            stale.len()
        )),
        "{}",
        stderr(&out)
    );
    // gc takes the proc and spawn locks it judges under: lock files are
    // made and never deleted (README), so they are left out of the check.
    let gone: Vec<String> = without_lock_files(before).diff(&without_lock_files(env.snapshot()));
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
    let again = assert_ok(&env.run("orc-ctl", &["gc"]));
    assert_eq!(
        again.lines().last(),
        Some("removed 0, kept 6, nothing else to clean"),
        "{again}"
    );
    assert!(
        again
            .lines()
            .all(|l| l.starts_with("kept ") || l.starts_with("removed 0"))
    );
}

#[test]
fn gc_never_frees_a_lock_a_live_session_took_from_the_command_line() {
    let env = Life::new();
    assert_ok(&env.run("orc-lock", &["acquire", "5"]));
    assert!(env.session().dir().is_dir(), "the holding session exists");
    let out = assert_ok(&env.run("orc-ctl", &["gc"]));
    assert!(out.contains("kept lock"), "{out}");
    assert_eq!(
        env.lock_record(5).map(|l| l.session),
        Some(env.session_name()),
        "{out}"
    );
    // A refused acquire leaves no session behind.
    let mut cmd = env.tool("orc-lock");
    let other = crate::common::run(cmd.env("ORC_SESSION", "other-1").args(["acquire", "5"]));
    assert_eq!(other.status.code(), Some(5));
    assert!(!env.state.join("sessions/other-1").exists());
}

#[test]
fn gc_records_crashed_for_a_worker_whose_shim_is_dead() {
    let env = Life::new();
    let proc = env.seed_worker(6, Kind::Worker, State::Running);
    with_shim(&proc, dead_process());
    let unknown = env.seed_worker(7, Kind::Worker, State::Running);
    with_shim(
        &unknown,
        orc_kernel::liveness::ProcessId {
            pid: 0,
            start_time: 0,
        },
    );
    let dry = assert_ok(&env.run("orc-ctl", &["gc", "--dry-run"]));
    assert!(dry.contains("would record crashed for proc"), "{dry}");
    assert_eq!(
        env.record(6, Kind::Worker).state,
        State::Running,
        "a dry run writes nothing"
    );
    let out = assert_ok(&env.run("orc-ctl", &["gc"]));
    assert!(out.contains("recorded crashed for proc"), "{out}");
    assert!(
        out.lines().last().unwrap().contains("recorded 1 crashed"),
        "{out}"
    );
    let record = env.record(6, Kind::Worker);
    assert_eq!(record.state, State::Terminated);
    assert_eq!(record.result, Some(orc_kernel::record::Outcome::Crashed));
    assert!(record.detail.contains("orc-ctl gc"), "{}", record.detail);
    // A shim whose fate cannot be told keeps its worker as it is.
    assert_eq!(env.record(7, Kind::Worker).state, State::Running);
    assert!(out.contains("cannot be told"), "{out}");
}

#[test]
fn a_shim_whose_launch_gc_removed_starts_nothing_and_makes_nothing_again() {
    let env = Life::new();
    let session = env.session_name();
    // orc-spawn was killed after writing READY and starting the shim, which
    // had not yet written its identity: gc removes the launch, and the shim
    // then finds its worker gone.
    let proc = env.seed_worker(20, Kind::Worker, State::Ready);
    env.seed_lock(20, Holder::Process { id: dead_process() }, &session);
    // While the shim holds the proc lock to write its identity, gc leaves
    // the launch alone; it judges it only under that lock.
    let orc_kernel::lock::Standing::Locked(shim_writing) = proc.try_guard().unwrap() else {
        panic!("the proc lock is free");
    };
    let out = assert_ok(&env.run("orc-ctl", &["gc"]));
    assert!(!out.contains("removed proc"), "{out}");
    assert!(proc.dir().exists(), "{out}");
    drop(shim_writing);
    let out = assert_ok(&env.run("orc-ctl", &["gc"]));
    assert!(out.contains("removed proc"), "{out}");
    assert!(!proc.dir().exists(), "{out}");
    // A worker that ended before its shim started: nothing starts either.
    env.seed_worker(21, Kind::Worker, State::Terminated);
    let marker = env.home.join("agent-ran");
    let agent = format!("touch '{}'", marker.display());
    for n in ["20", "21"] {
        let shim = env.run(
            "orc-shim",
            &[
                "--session",
                &session,
                "--issue",
                n,
                "--",
                "sh",
                "-c",
                &agent,
            ],
        );
        assert_ne!(shim.status.code(), Some(0), "worker {n}: the shim refuses");
        let err = stderr(&shim);
        let why = if n == "20" {
            "no such worker"
        } else {
            "before its shim started"
        };
        assert!(err.contains(why), "worker {n}: {err}");
    }
    assert!(!marker.exists(), "no agent ran");
    assert!(
        !proc.dir().exists(),
        "the removed directory is not made again"
    );
    assert!(
        orc_kernel::procdir::Proc::new(&env.session(), Kind::Worker, 21.into())
            .shim()
            .unwrap()
            .is_none(),
        "the ended worker gets no shim identity"
    );
}
