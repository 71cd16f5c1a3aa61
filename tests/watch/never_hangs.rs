//! orc-watch never waits forever: a worker whose fate cannot be told gets
//! an `error` line after ORC_WATCH_CHECKS checks, one bad worker never
//! stops the others being reported, and a live spawner is waited for.

use std::fs;

use crate::common::life::{Life, Streaming, dead_process, stderr};
use crate::common::{KillOnDrop, assert_ok, corrupt_record, run};
use orc_kernel::ids::Kind;
use orc_kernel::liveness::ProcessId;
use orc_kernel::lock::Holder;
use orc_kernel::procdir::ShimIds;
use orc_kernel::record::State;

use super::{notify, running_with_shim};

/// `orc-watch` giving up on a doubtful worker after two checks a second
/// apart.
fn quick_watch(env: &Life, args: &[&str]) -> Streaming {
    Streaming::start(
        env.tool("orc-watch")
            .env("ORC_WATCH_CHECKS", "2")
            .env("ORC_POLL_INTERVAL", "1")
            .args(["--timeout", "25"])
            .args(args),
    )
}

#[test]
fn a_record_left_new_by_a_dead_spawner_gets_an_error_line() {
    let env = Life::new();
    env.seed_worker(1, Kind::Worker, State::New);
    let session = env.session_name();
    env.seed_lock(1, Holder::Process { id: dead_process() }, &session);
    let _shim = running_with_shim(&env, 2);
    let watch = quick_watch(&env, &["1", "2"]);
    let line = watch.next_json();
    assert_eq!(line["issue"], 1);
    assert_eq!(line["result"], "error");
    let detail = line["detail"].as_str().unwrap();
    assert!(detail.contains("NEW with no shim"), "{detail}");
    assert!(detail.contains("ORC_WATCH_CHECKS"), "{detail}");
    // The other worker is still watched, and reported when it ends.
    notify(&env, 2, "merged", "PR #2");
    assert_eq!(watch.next_json()["issue"], 2);
    let (status, rest, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(rest.is_empty(), "{rest:?}");
    // Watching writes nothing for a worker it only doubts.
    assert_eq!(env.record(1, Kind::Worker).state, State::New);
}

#[test]
fn a_worker_being_spawned_by_a_live_spawner_is_waited_for() {
    let env = Life::new();
    env.seed_worker(1, Kind::Worker, State::New);
    let spawner = KillOnDrop::sleeper();
    env.seed_process_lock(1, spawner.id());
    let out =
        run(env
            .tool("orc-watch")
            .env("ORC_WATCH_CHECKS", "1")
            .args(["--timeout", "2.5", "1"]));
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unreadable_record_never_aborts_a_watch_of_several() {
    let env = Life::new();
    // Unreadable, with a live shim: doubted, then an error line.
    let _live = running_with_shim(&env, 1);
    corrupt_record(&env.proc(1, Kind::Worker));
    // Unreadable, with a dead shim: nothing can change it, error at once.
    let dead = env.seed_worker(3, Kind::Worker, State::Running);
    dead.write_shim(&ShimIds {
        shim: dead_process(),
        agent: None,
    })
    .unwrap();
    corrupt_record(&dead);
    let _shim = running_with_shim(&env, 2);
    let watch = quick_watch(&env, &["1", "2", "3"]);
    let first = watch.next_json();
    assert_eq!(
        (first["issue"].as_u64(), first["result"].as_str()),
        (Some(3), Some("error"))
    );
    assert!(
        first["detail"].as_str().unwrap().contains("is gone"),
        "{first}"
    );
    let second = watch.next_json();
    assert_eq!(
        (second["issue"].as_u64(), second["result"].as_str()),
        (Some(1), Some("error"))
    );
    assert!(
        second["detail"]
            .as_str()
            .unwrap()
            .contains("corrupt record"),
        "{second}"
    );
    notify(&env, 2, "failed", "gave up");
    assert_eq!(watch.next_json()["result"], "failed");
    let (status, _, err) = watch.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    // The unreadable records are left exactly as they were.
    assert!(
        fs::read(env.proc(1, Kind::Worker).state_path())
            .unwrap()
            .starts_with(b"{\"issue\": 7")
    );
}

#[test]
fn a_shim_whose_liveness_stays_unknown_gets_an_error_line() {
    let env = Life::new();
    let proc = env.seed_worker(4, Kind::Worker, State::Running);
    // pid 0 names no process orc can judge: its liveness is unknown.
    proc.write_shim(&ShimIds {
        shim: ProcessId {
            pid: 0,
            start_time: 0,
        },
        agent: None,
    })
    .unwrap();
    let out =
        run(env
            .tool("orc-watch")
            .env("ORC_WATCH_CHECKS", "2")
            .args(["--timeout", "25", "4"]));
    let line: serde_json::Value = serde_json::from_str(assert_ok(&out).trim()).unwrap();
    assert_eq!(line["result"], "error");
    assert!(
        line["detail"].as_str().unwrap().contains("cannot be told"),
        "{line}"
    );
    assert_eq!(env.record(4, Kind::Worker).state, State::Running);
}
