//! orc-ps --health: healthy, zombie, unknown.

use std::fs;

use crate::common::assert_ok;
use crate::common::life::{Life, json_lines, stderr, wait_gone};
use orc_kernel::ids::Kind;
use orc_kernel::record::State;

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
    // The agent reports its phase once; wait for it, so that report never
    // lands between the two reads of the record below.
    env.wait_record(7, Kind::Worker, |r| r.detail == "phase1:hang");
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
