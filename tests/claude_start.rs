//! Twenty real Claude Code start-ups at once never corrupt `~/.claude.json`:
//! twenty `orc-spawn` calls race, each worker's shim takes the launch lock
//! around its `claude`'s start-up rewrite of the file (kernel/src/startup.rs),
//! the start-ups never overlap, every worker ends `ci-passed`, and the file
//! parses after every start-up, every worktree's trust entry still in it.
//!
//! Against the loopback mock; skipped (one line) without `claude` unless CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/world.rs"]
mod world;

use std::fs;
use std::time::Duration;

use mock_anthropic::{MockApi, Reply, bash_calls, system_text};
use serde_json::Value;
use world::{World, output_within, wait_until};

const WORKER_MARK: &str = "You are orc's worker agent.";
const N: u32 = 20;

fn script(body: &Value) -> Option<Reply> {
    if !system_text(body).contains(WORKER_MARK) {
        return None;
    }
    Some(match bash_calls(body).len() {
        0 => Reply::Bash("orc-notify ci-passed started".into()),
        _ => Reply::Text("Reported.".into()),
    })
}

/// (taken, released) of the launch lock, from a worker's log line.
fn lock_span(log: &str) -> Option<(String, String)> {
    let line = log.lines().find(|l| l.contains("launch lock held from "))?;
    let rest = line.split("launch lock held from ").nth(1)?;
    let (taken, rest) = rest.split_once(" to ")?;
    let released = rest.split_whitespace().next()?;
    Some((taken.to_string(), released.to_string()))
}

#[test]
fn twenty_claude_start_ups_never_corrupt_claude_json() {
    let Some(claude) = world::claude() else {
        return;
    };
    let w = World::new();
    for n in 1..=N {
        w.issue(n, &format!("Start {n}"), "Report at once.");
    }
    // A user's existing file, which must survive every start-up.
    let file = w.home.join(".claude.json");
    fs::write(&file, r#"{"userSetting": "kept", "projects": {}}"#).unwrap();
    let mut api = MockApi::start(script, 20 * N as usize, Duration::from_secs(900));
    let env = w.claude_env(&claude, &api.base_url());

    let spawns: Vec<_> = (1..=N)
        .map(|n| {
            let mut c = w.orc("orc-spawn");
            c.arg(n.to_string())
                .envs(env.iter().cloned())
                .env("ORC_MAX_WORKERS", "25")
                .env("ORC_WORKER_TIMEOUT", "300");
            std::thread::spawn(move || output_within(c, Duration::from_secs(900)))
        })
        .collect();
    let mut parsed_after = 0;
    for (i, s) in spawns.into_iter().enumerate() {
        let out = s.join().unwrap();
        assert!(
            out.status.success(),
            "spawn {}: {}",
            i + 1,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every worker ends; after each start-up the file parses.
    let mut seen = std::collections::BTreeSet::new();
    let done = wait_until(Duration::from_secs(600), || {
        for n in 1..=N {
            if !seen.contains(&n) && lock_span(&w.log(&format!("worker-{n}"))).is_some() {
                seen.insert(n);
                let text = fs::read_to_string(&file).unwrap();
                serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|e| panic!("after start-up {n}: {e}\n{text}"));
                parsed_after += 1;
            }
        }
        // Every worker ended and every shim has logged its hold of the
        // launch lock (a shim may log it just after a fast agent's end).
        seen.len() == N as usize
            && (1..=N).all(|n| {
                w.record(&format!("worker-{n}"))
                    .is_some_and(|r| r["state"] == "TERMINATED")
            })
    });
    for n in 1..=N {
        w.end_worker(&format!("worker-{n}"));
    }
    let context = format!("mock:\n{}", api.transcript());
    assert!(done, "not every worker ended\n{context}");
    assert_eq!(parsed_after, N as usize);
    let mut spans = Vec::new();
    for n in 1..=N {
        let name = format!("worker-{n}");
        let record = w.record(&name).unwrap();
        assert_eq!(
            record["result"],
            "ci-passed",
            "{name}: {record}\n{}",
            w.log(&name)
        );
        spans.push(lock_span(&w.log(&name)).unwrap_or_else(|| panic!("{}", w.log(&name))));
    }
    // The start-ups were one at a time.
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[0].1 <= pair[1].0,
            "start-ups overlapped: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    // The file parses, kept the user's setting and every worktree's trust.
    let doc: Value = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(doc["userSetting"], "kept");
    for n in 1..=N {
        let wt = w.record(&format!("worker-{n}")).unwrap()["worktree"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            doc["projects"][&wt]["hasTrustDialogAccepted"], true,
            "worker {n}'s trust entry was lost"
        );
    }
    api.stop();
}
