//! orc-queue and the living queue of orc-dispatch: queue.json, orders
//! with and without a running dispatcher, --follow (admission,
//! reconciliation, a clean stop), stalls, and telling a person once
//! through a webhook served by the test itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch_env;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dispatch_env::{Env, parse_events, stderr, stdout, wait_for};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(90);

/// A world whose pull requests are merged and green.
fn env() -> Env {
    let e = Env::new();
    e.fixture(serde_json::json!({ "pr_default": dispatch_env::pr("MERGED", &["pass"]) }));
    e
}

/// `orc-queue --json`: one object per issue.
fn queue(e: &Env) -> Vec<Value> {
    let out = e.run("orc-queue", &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    parse_events(&stdout(&out))
}

fn entry(q: &[Value], n: u32) -> Value {
    q.iter()
        .find(|v| v["issue"] == n)
        .cloned()
        .unwrap_or_else(|| panic!("#{n} not in the queue: {q:?}"))
}

fn events_in(file: &Path) -> Vec<Value> {
    let text = fs::read_to_string(file).unwrap_or_default();
    // The last line may be half-written.
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn has_event(file: &Path, name: &str, n: u32) -> bool {
    events_in(file)
        .iter()
        .any(|v| v["event"] == name && v["issue"] == n)
}

fn term(child: &mut Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap()
}

#[test]
fn the_queue_shows_states_and_reasons_after_the_dispatcher_is_gone() {
    let e = env();
    e.issue(1, "", "fake-mode: ok");
    e.issue(2, "", "fake-mode: fail");
    e.issue(3, "depends_on: [2]", "fake-mode: ok");
    e.issue(4, "depends_on: [5]", "fake-mode: ok");
    e.issue(5, "depends_on: [4]", "fake-mode: ok");
    let run = e.dispatch(&["--label", "q", "--retries", "0"]);
    run.assert_code(1);

    let q = queue(&e);
    assert_eq!(q.len(), 5, "{q:?}");
    assert_eq!(entry(&q, 1)["state"], "landed");
    assert_eq!(entry(&q, 2)["state"], "gave-up");
    assert!(
        entry(&q, 2)["reason"].as_str().unwrap().contains("failed"),
        "{q:?}"
    );
    assert_eq!(entry(&q, 3)["state"], "blocked");
    assert_eq!(entry(&q, 3)["reason"], "waits for #2 (gave-up)");
    assert_eq!(entry(&q, 3)["waiting_for"], serde_json::json!([2]));
    let cycle = entry(&q, 4)["reason"].as_str().unwrap().to_string();
    assert_eq!(cycle, "waits for #5 (a dependency cycle: #4 -> #5 -> #4)");
    assert_eq!(entry(&q, 4)["state"], "blocked");
    let positions: Vec<u64> = q.iter().map(|v| v["position"].as_u64().unwrap()).collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);

    // The file itself: versioned, and its dispatcher is known to be gone.
    let file: Value =
        serde_json::from_slice(&fs::read(e.session().join("queue.json")).unwrap()).unwrap();
    assert_eq!(file["version"], 1);
    assert_eq!(file["dispatcher"]["running"], false);
    assert!(file["dispatcher"]["stopped_at"].is_string());
}

#[test]
fn orders_without_a_dispatcher_change_queue_json_for_the_next_one() {
    let e = env();
    e.issue(1, "", "fake-mode: ok");
    e.issue(2, "", "fake-mode: flaky 1");
    e.issue(3, "priority: low", "fake-mode: ok");
    e.dispatch(&["--retries", "0", "1", "2"]).assert_code(1);
    let queue_json = e.session().join("queue.json");
    let before = fs::read(&queue_json).unwrap();

    // Bad input: a clear error, nothing changed.
    let bad = e.run("orc-queue", &["prio", "2", "urgent"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).starts_with("orc-queue: error: unknown priority"),
        "{}",
        stderr(&bad)
    );
    let absent = e.run("orc-queue", &["hold", "9"]);
    assert_eq!(absent.status.code(), Some(2), "{}", stderr(&absent));
    assert!(stderr(&absent).contains("#9 is not in the queue"));
    // Refused: a merged issue is not requeued.
    let merged = e.run("orc-queue", &["requeue", "1"]);
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert!(
        stderr(&merged).contains("#1 is merged"),
        "{}",
        stderr(&merged)
    );
    assert_eq!(fs::read(&queue_json).unwrap(), before);

    let ok = e.run("orc-queue", &["requeue", "2"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("#2 is queued"), "{}", stdout(&ok));
    let q = queue(&e);
    assert_eq!(entry(&q, 2)["state"], "queued");
    assert_eq!(entry(&q, 2)["failures"], 0);
    assert!(
        e.run("orc-queue", &["prio", "2", "critical"])
            .status
            .success()
    );
    assert_eq!(entry(&queue(&e), 2)["priority_override"], "critical");
    // Every order is in the session's event log.
    let log = fs::read_to_string(e.session().join("events.jsonl")).unwrap();
    let orders: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "order")
        .collect();
    assert_eq!(orders.len(), 2, "{log}");

    // The next dispatcher retries #2 from its journal, at its new priority.
    let run = e.dispatch(&["1", "2"]);
    assert_eq!(run.end(2), "merged", "{run}");
    let q = queue(&e);
    assert_eq!(entry(&q, 2)["state"], "landed");
    assert_eq!(entry(&q, 2)["priority"], "critical", "{q:?}");
}

#[test]
fn a_running_dispatcher_takes_orders_and_stops_cleanly_leaving_workers() {
    let mut e = env();
    e.set("ORC_TRACKER_POLL", "3600");
    e.issue(1, "priority: critical", "fake-mode: hang");
    e.issue(2, "", "fake-mode: ok");
    e.issue(3, "priority: high\ndepends_on: [2]", "fake-mode: ok");
    let file = e.root.join("events.jsonl");
    let mut child = e.dispatch_bg(&["--label", "q", "--max", "1", "--follow"], &file);
    wait_for("#1 to run", LONG, || has_event(&file, "spawned", 1));

    // A second dispatcher is refused, naming the first one's pid.
    let second = e.dispatch(&["--label", "q"]);
    second.assert_code(5);
    assert!(
        second.stderr.contains(&format!("pid {}", child.id())),
        "{second}"
    );

    // queue.json is written at most every 250 ms while the queue churns.
    wait_for("queue.json to show #1 running", LONG, || {
        entry(&queue(&e), 1)["state"] == "running"
    });
    let q = queue(&e);
    assert_eq!(entry(&q, 2)["state"], "queued");
    // #3 waits for #2 and lends it its priority.
    assert_eq!(entry(&q, 3)["state"], "held");
    assert_eq!(entry(&q, 2)["effective_priority"], "high", "{q:?}");

    let hold = e.run("orc-queue", &["hold", "2"]);
    assert!(hold.status.success(), "{}", stderr(&hold));
    assert_eq!(entry(&queue(&e), 2)["state"], "held");
    assert!(
        entry(&queue(&e), 2)["reason"]
            .as_str()
            .unwrap()
            .contains("held by a person")
    );
    let refused = e.run("orc-queue", &["skip", "1"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("runs now"),
        "{}",
        stderr(&refused)
    );
    let orders: Vec<Value> = events_in(&file)
        .into_iter()
        .filter(|v| v["event"] == "order")
        .collect();
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert_eq!(orders[0]["applied"], true);
    assert_eq!(orders[1]["applied"], false);

    let status = term(&mut child);
    assert!(
        status.code().is_some(),
        "stopped by its own hand: {status:?}"
    );
    let events = events_in(&file);
    assert!(
        events
            .iter()
            .any(|v| v["event"] == "stopping" && v["running"] == 1)
    );
    assert_eq!(events.last().unwrap()["event"], "summary");
    // The worker runs on, for the next dispatcher to adopt.
    let rec = e.record("worker", 1).unwrap();
    assert_eq!(rec["state"], "RUNNING", "{rec}");
    let q = queue(&e);
    assert_eq!(entry(&q, 1)["state"], "running");
    let kill = e.run("orc-ctl", &["kill", "1"]);
    assert!(kill.status.success(), "{}", stderr(&kill));
}

#[test]
fn an_order_is_taken_between_the_landings_of_one_long_turn() {
    // Five workers end together, and orc lands them one after the other in
    // one turn of its loop, each after a check of 0.5 s. An order given
    // during that turn is applied at the next landing, not after the last.
    let mut e = Env::new();
    e.set("ORC_MERGE", "local");
    e.set("ORC_AUTO_MERGE", "true");
    e.set("ORC_REVIEW", "false");
    e.set("ORC_CHECK_CMD", "sleep 0.5");
    for n in 1..=5 {
        e.issue(n, "", "fake-mode: ready");
    }
    e.issue(6, "depends_on: [5]", "fake-mode: ready");
    let file = e.root.join("events.jsonl");
    let mut child = e.dispatch_bg(&["--label", "q", "--max", "5"], &file);
    wait_for("the first landing's check", LONG, || {
        events_in(&file).iter().any(|v| v["event"] == "checked")
    });
    let order = e.run("orc-queue", &["prio", "6", "high"]);
    assert!(order.status.success(), "{}", stderr(&order));
    assert!(child.wait().unwrap().success());
    let events = events_in(&file);
    let at = |pred: &dyn Fn(&Value) -> bool| events.iter().position(pred);
    let ordered = at(&|v| v["event"] == "order" && v["issue"] == 6).expect("the order event");
    let last_merge = (1..=5)
        .filter_map(|n| at(&|v| v["event"] == "merged" && v["issue"] == n))
        .max()
        .expect("merged events");
    assert!(
        ordered < last_merge,
        "the order waited for the turn to end: {events:?}"
    );
    assert_eq!(events[ordered]["applied"], true, "{:?}", events[ordered]);
}

#[test]
fn follow_admits_new_issues_and_reconciles_closed_ones() {
    let mut e = env();
    e.set("ORC_TRACKER_POLL", "3600");
    e.issue(1, "", "fake-mode: cooperative");
    e.issue(2, "depends_on: [1]", "fake-mode: ok");
    let file = e.root.join("events.jsonl");
    let mut child = e.dispatch_bg(&["--label", "q", "--max", "2", "--follow"], &file);
    wait_for("#1 to run", LONG, || has_event(&file, "spawned", 1));

    // A new issue appears: admitted on the file change, not the poll.
    e.issue(7, "", "fake-mode: ok");
    wait_for("#7 to merge", LONG, || has_event(&file, "merged", 7));
    // #2 is unlabelled while queued: dropped. #1 is closed while it runs:
    // asked to stop, its worktree kept.
    fs::write(e.issue_path(2), "---\ntitle: Issue 2\nlabels: []\n---\nx\n").unwrap();
    wait_for("#2 to be dropped", LONG, || has_event(&file, "skipped", 2));
    let text = fs::read_to_string(e.issue_path(1)).unwrap();
    fs::write(
        e.issue_path(1),
        text.replace("labels: [q]", "labels: [q]\nstate: closed"),
    )
    .unwrap();
    wait_for("#1 to be cancelled", LONG, || {
        has_event(&file, "cancelled", 1)
    });
    wait_for("#1 to be stopped", LONG, || {
        events_in(&file)
            .iter()
            .any(|v| v["event"] == "skipped" && v["issue"] == 1)
    });
    assert!(e.has_worktree(1), "never lose work");
    assert_eq!(e.record("worker", 1).unwrap()["result"], "cancelled");
    wait_for("queue.json to say so", LONG, || {
        entry(&queue(&e), 1)["state"] == "skipped"
    });
    let q = queue(&e);
    assert_eq!(entry(&q, 2)["state"], "skipped");
    assert_eq!(entry(&q, 7)["state"], "landed");
    term(&mut child);
}

#[test]
fn a_stalled_worker_is_stopped_and_retried_apart_from_failures() {
    let mut e = env();
    e.set("ORC_STALL_TIMEOUT", "2");
    e.set("ORC_TERM_GRACE", "2");
    e.issue(1, "", "fake-mode: stall-once");
    let run = e.dispatch(&["1"]);
    assert_eq!(run.end(1), "merged", "{run}");
    let stalled = run.of("stalled", 1);
    assert_eq!(stalled.len(), 1, "{run}");
    assert_eq!(stalled[0]["stalls"], 1);
    assert!(
        run.of("retried", 1).is_empty(),
        "a stall is not a failure: {run}"
    );
    let j = e.journal(1).unwrap();
    assert_eq!(j["stalls"], 1);
    assert_eq!(j["failures"], 0);
}

/// A loopback HTTP server: records each request's body; answers with the
/// statuses of `script` in turn, then 200.
fn webhook_server(script: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&bodies);
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap_or_default();
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
            let status = script.next().unwrap_or(200);
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, bodies)
}

#[test]
fn a_person_is_told_once_through_the_webhook() {
    let mut e = env();
    let (url, bodies) = webhook_server(vec![500]);
    e.set("ORC_NOTIFY_WEBHOOK", &url);
    e.issue(1, "", "fake-mode: fail");
    e.issue(2, "", "fake-mode: ok");
    let run = e.dispatch(&["--retries", "0", "1", "2"]);
    assert_eq!(run.end(1), "gave-up", "{run}");
    let told = run.of("notified", 1);
    assert_eq!(told.len(), 1, "{run}");
    assert_eq!(told[0]["reason"], "gave-up");
    assert!(run.of("notified", 2).is_empty(), "a merge needs nobody");
    // The first POST got a 500 and was retried; the run waited for it.
    let got = bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let body: Value = serde_json::from_str(&got[1]).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("orc: #1 gave-up: "),
        "{body}"
    );
    assert_eq!(body["orc"]["issue"], 1);

    // The same issue and reason: nobody is told again.
    let again = e.dispatch(&["--retries", "0", "1", "2"]);
    assert!(again.all("notified").is_empty(), "{again}");
    assert_eq!(bodies.lock().unwrap().len(), 2);
    // Put back by a person and failing again: news again.
    assert!(e.run("orc-queue", &["requeue", "1"]).status.success());
    let third = e.dispatch(&["--retries", "0", "1", "2"]);
    assert_eq!(third.of("notified", 1).len(), 1, "{third}");
}

#[test]
fn a_bad_webhook_address_is_refused_before_anything_starts() {
    let mut e = env();
    e.set("ORC_NOTIFY_WEBHOOK", "hooks.example.invalid/x");
    e.issue(1, "", "fake-mode: ok");
    let run = e.dispatch(&["1"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("ORC_NOTIFY_WEBHOOK is not an http(s) address"),
        "{run}"
    );
    assert!(e.record("worker", 1).is_none());
}
