//! orc-top as a person uses it: running in a real tmux server (its own
//! socket under the test's own `TMUX_TMPDIR`), driven with `send-keys`,
//! read with `capture-pane`, while real workers of the scripted fake agent
//! start, end, are suspended and killed.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::life::{Life, fake_bin};
use common::{PATIENCE, SYSTEM_PATH, assert_fails, bin, run, wait_until};
use orc_kernel::ids::Kind;
use orc_kernel::record::{Outcome, State};

/// orc-top in a tmux server of its own; the server dies with it.
struct Top<'a> {
    life: &'a Life,
    tmpdir: PathBuf,
    socket: String,
}

/// Tells the servers of one test apart: a server being killed still
/// holds its socket for a moment.
static SERVERS: AtomicUsize = AtomicUsize::new(0);

impl<'a> Top<'a> {
    /// `orc-top` in a `width`×`height` window, with `extra` variables.
    /// `None` when tmux is missing outside CI (the test is skipped).
    fn start(life: &'a Life, width: u32, height: u32, extra: &[(&str, &str)]) -> Option<Top<'a>> {
        Top::start_with(life, width, height, extra, &[])
    }

    /// [`Top::start`] with arguments for orc-top.
    fn start_with(
        life: &'a Life,
        width: u32,
        height: u32,
        extra: &[(&str, &str)],
        args: &[&str],
    ) -> Option<Top<'a>> {
        if which("tmux").is_none() {
            assert!(std::env::var_os("CI").is_none(), "tmux is missing in CI");
            eprintln!("skipped: tmux is not installed");
            return None;
        }
        let tmpdir = life.root.join("tmux");
        std::fs::create_dir_all(&tmpdir).unwrap();
        let socket = format!("orc-top-{}", SERVERS.fetch_add(1, Ordering::SeqCst));
        let top = Top {
            life,
            tmpdir,
            socket,
        };
        let mut cmd = top.tmux();
        cmd.args(["-f", "/dev/null", "new-session", "-d", "-s", "top"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg("-c")
            .arg(&life.repo);
        for (k, v) in extra {
            cmd.args(["-e", &format!("{k}={v}")]);
        }
        cmd.arg("--").arg(bin("orc-top")).args(args);
        let out = run(&mut cmd);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        Some(top)
    }

    /// A tmux command for this server, with the tools' environment.
    fn tmux(&self) -> Command {
        let mut path = bin("orc-top").parent().unwrap().as_os_str().to_owned();
        path.push(":");
        path.push(fake_bin());
        path.push(":");
        path.push(SYSTEM_PATH);
        let mut cmd = Command::new("tmux");
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.life.home)
            .env("ORC_STATE_DIR", &self.life.state)
            .env("ORC_AGENT", "custom")
            .env("ORC_AGENT_CMD", "fake-agent {issue}")
            .env("ORC_TRACKER", "local")
            .env("TMUX_TMPDIR", &self.tmpdir)
            .arg("-L")
            .arg(&self.socket)
            .current_dir(&self.life.repo);
        cmd
    }

    /// The screen as text; with `escapes`, with its colours and attributes.
    fn screen_with(&self, escapes: bool) -> String {
        let mut cmd = self.tmux();
        cmd.args(["capture-pane", "-p", "-t", "top"]);
        if escapes {
            cmd.arg("-e");
        }
        let out: Output = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.screen_with(false)
    }

    /// Wait until the screen satisfies `cond`; fail showing the screen.
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let held = wait_until(PATIENCE, || {
            last = self.screen();
            cond(&last)
        });
        assert!(held, "the screen never showed {what}:\n{last}");
        last
    }

    /// Press keys (tmux key names: `Enter`, `Tab`, letters).
    fn keys(&self, keys: &[&str]) {
        let out = run(self.tmux().args(["send-keys", "-t", "top"]).args(keys));
        assert!(out.status.success(), "send-keys: {out:?}");
    }

    /// Select issue `n` with `/ N Enter` and wait until its row is marked.
    fn select(&self, n: u32) {
        self.keys(&["/"]);
        self.keys(&[&n.to_string(), "Enter"]);
        self.wait(&format!("#{n} selected"), |s| {
            s.lines().any(|l| l.starts_with(&format!("> #{n} ")))
        });
    }
}

impl Drop for Top<'_> {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(SYSTEM_PATH)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The table row of issue `n` (selected or not), or "".
fn row(screen: &str, n: u32) -> String {
    let tag = format!("#{n} ");
    screen
        .lines()
        .find(|l| l.get(2..).is_some_and(|rest| rest.starts_with(&tag)))
        .unwrap_or("")
        .to_string()
}

fn active(life: &Life, n: u32) -> bool {
    life.try_record(n, Kind::Worker)
        .is_some_and(|r| r.state.is_active())
}

#[test]
fn workers_appear_and_change_state_when_they_end() {
    let life = Life::new();
    life.issue(1, "cooperative");
    life.issue(2, "cooperative");
    let Some(top) = Top::start(&life, 100, 30, &[]) else {
        return;
    };
    top.wait("an empty session", |s| {
        s.contains("no workers in this session")
    });
    life.spawn(1, &[]);
    life.spawn(2, &[]);
    let screen = top.wait("two running workers", |s| {
        row(s, 1).contains("RUNNING") && row(s, 2).contains("RUNNING")
    });
    assert!(row(&screen, 1).contains("Issue 1 in"), "{screen}");
    assert!(screen.contains("running 2/5"), "{screen}");
    // Worker 1 ends (asked from the command line): its row says how.
    common::assert_ok(&life.run("orc-signal", &["1", "TERM"]));
    let screen = top.wait("worker 1 ended", |s| {
        let r = row(s, 1);
        r.contains("TERMINATED") && r.contains("cancelled")
    });
    assert!(row(&screen, 2).contains("RUNNING"), "{screen}");
    assert!(screen.contains("running 1/5"), "{screen}");
    // The event is appended just after the record is replaced.
    top.wait("the notify event", |s| {
        s.contains("notify #1 worker TERMINATED cancelled")
    });
    common::assert_ok(&life.run("orc-signal", &["2", "TERM"]));
    top.wait("worker 2 ended", |s| row(s, 2).contains("TERMINATED"));
}

#[test]
fn suspend_and_kill_keys_act_on_the_selected_worker_only() {
    let life = Life::new();
    for n in 1..=3 {
        life.issue(n, "cooperative");
    }
    let Some(top) = Top::start(&life, 100, 30, &[]) else {
        return;
    };
    for n in 1..=3 {
        life.spawn(n, &[]);
    }
    top.wait("three running workers", |s| {
        (1..=3).all(|n| row(s, n).contains("RUNNING"))
    });

    top.select(2);
    top.keys(&["s"]);
    let r = life.wait_record(2, Kind::Worker, |r| r.state == State::Suspended);
    assert_eq!(r.result, Some(Outcome::Suspended));
    assert!(active(&life, 1) && active(&life, 3));
    top.wait("worker 2 suspended", |s| row(s, 2).contains("SUSPENDED"));

    // KILL asks first; `n` leaves the worker alone.
    top.select(1);
    top.keys(&["K"]);
    top.wait("the kill question", |s| {
        s.contains("Kill worker #1") && s.contains("y/N")
    });
    top.keys(&["n"]);
    top.wait("the kill cancelled", |s| s.contains("kill cancelled"));
    assert!(active(&life, 1));

    top.select(3);
    top.keys(&["K"]);
    top.wait("the kill question", |s| s.contains("Kill worker #3"));
    assert!(active(&life, 3), "nothing happens before the answer");
    top.keys(&["y"]);
    let r = life.wait_record(3, Kind::Worker, |r| !r.state.is_active());
    assert_eq!(r.result, Some(Outcome::Killed));
    top.wait("worker 3 killed", |s| row(s, 3).contains("killed"));
    assert!(active(&life, 1), "worker 1 still runs");
    assert_eq!(
        life.try_record(2, Kind::Worker).map(|r| r.state),
        Some(State::Suspended)
    );
    common::assert_ok(&life.run("orc-signal", &["1", "TERM"]));
    life.wait_ended(1);
}

#[test]
fn eighty_by_twenty_four_without_colour_reads_the_same() {
    let life = Life::new();
    life.issue(4, "cooperative");
    life.spawn(4, &[]);
    let Some(plain) = Top::start(&life, 80, 24, &[("NO_COLOR", "1")]) else {
        return;
    };
    let screen = plain.wait("worker 4", |s| row(s, 4).contains("RUNNING"));
    assert!(row(&screen, 4).contains("healthy"), "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");
    assert!(screen.contains("q quit"), "the keys fit: {screen}");
    let escapes = plain.screen_with(true);
    assert!(!has_colour(&escapes), "NO_COLOR: {escapes:?}");
    drop(plain);

    let coloured = Top::start(&life, 80, 24, &[]).unwrap();
    coloured.wait("worker 4", |s| row(s, 4).contains("RUNNING"));
    assert!(has_colour(&coloured.screen_with(true)));
    common::assert_ok(&life.run("orc-signal", &["4", "TERM"]));
    life.wait_ended(4);
}

/// Whether `text` holds an SGR sequence setting a foreground colour.
fn has_colour(text: &str) -> bool {
    text.split("\x1b[").skip(1).any(|seq| {
        let params = seq.split('m').next().unwrap_or("");
        params
            .split(';')
            .any(|p| p.len() == 2 && p.starts_with('3') && p != "39")
    })
}

#[test]
fn the_queue_panel_follows_queue_json() {
    let life = Life::new();
    let session = life.session();
    let Some(top) = Top::start(&life, 100, 30, &[]) else {
        return;
    };
    top.wait("the screen", |s| s.contains("no workers"));
    assert!(!top.screen().contains("QUEUE"));
    let queue = r#"{"version":1,"dispatcher":{"pid":1,"running":true,"source":"label:ready"},
        "issues":[{"issue":12,"position":1,"title":"Fix","priority":"high","state":"held",
        "reason":"waits for #4"},{"issue":13,"position":2,"title":"Other","priority":"normal",
        "state":"gave-up","reason":"failed 3 times"}]}"#;
    write_atomically(&session.dir().join("queue.json"), queue);
    let screen = top.wait("the queue", |s| s.contains("QUEUE (2)"));
    assert!(
        screen.contains("#12") && screen.contains("held"),
        "{screen}"
    );
    assert!(screen.contains("needs a person 1"), "gave-up: {screen}");
    assert!(screen.contains("waiting 1"), "held: {screen}");
}

fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-test");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn without_a_terminal_it_says_so() {
    let life = Life::new();
    let out = run(life.cmd("orc-top").stdin(std::process::Stdio::null()));
    assert_fails(
        &out,
        2,
        "orc-top: error: orc-top needs a terminal (stdin/stdout)",
    );
}

#[test]
fn priority_and_clean_up_keys_go_through_orc_ctl_and_orc_cleanup() {
    let life = Life::new();
    life.issue(5, "cooperative");
    life.issue(6, "fail");
    let Some(top) = Top::start(&life, 100, 30, &[]) else {
        return;
    };
    life.spawn(5, &[]);
    life.spawn(6, &[]);
    life.wait_until_settled(6);
    top.wait("both workers", |s| {
        row(s, 5).contains("RUNNING") && row(s, 6).contains("TERMINATED")
    });

    top.select(5);
    top.keys(&["p"]);
    top.wait("the priority menu", |s| s.contains("c(ritical) h(igh)"));
    top.keys(&["l"]);
    life.wait_record(5, Kind::Worker, |r| r.priority == "low");
    top.wait("priority low", |s| row(s, 5).contains("low"));

    // A running worker is not cleaned up, even when confirmed.
    top.keys(&["c"]);
    top.wait("the clean-up question", |s| {
        s.contains("Clean up worker #5")
    });
    top.keys(&["y"]);
    top.wait("the refusal", |s| s.contains("it is still running"));
    assert!(active(&life, 5));

    top.select(6);
    top.keys(&["c"]);
    top.wait("the clean-up question", |s| {
        s.contains("Clean up worker #6")
    });
    top.keys(&["y"]);
    top.wait("worker 6 gone", |s| {
        row(s, 6).is_empty() && s.contains("cleaned up worker #6")
    });
    assert!(life.try_record(6, Kind::Worker).is_none());
    assert!(!life.proc(6, Kind::Worker).dir().exists());
    common::assert_ok(&life.run("orc-signal", &["5", "TERM"]));
    life.wait_ended(5);
}

#[test]
fn all_shows_every_session_and_one_session_only_its_own() {
    let life = Life::new();
    life.issue(7, "cooperative");
    let other = life.named_session("other-1");
    life.seed_in(&other, 8, Kind::Worker, State::Running, |_| {});
    life.spawn(7, &[]);
    let Some(all) = Top::start_with(&life, 120, 30, &[], &["--all"]) else {
        return;
    };
    let screen = all.wait("both sessions", |s| {
        row(s, 7).contains("RUNNING") && row(s, 8).contains("RUNNING")
    });
    assert!(row(&screen, 8).contains("other-1"), "{screen}");
    assert!(screen.contains("all sessions"), "{screen}");
    drop(all);
    let one = Top::start(&life, 120, 30, &[]).unwrap();
    let screen = one.wait("this session", |s| row(s, 7).contains("RUNNING"));
    assert!(row(&screen, 8).is_empty(), "{screen}");
    drop(one);
    let named = Top::start_with(&life, 120, 30, &[], &["--session", "other-1"]).unwrap();
    let screen = named.wait("the other session", |s| row(s, 8).contains("RUNNING"));
    assert!(row(&screen, 7).is_empty(), "{screen}");
    common::assert_ok(&life.run("orc-signal", &["7", "TERM"]));
    life.wait_ended(7);
}

/// The queue panel's line of issue `n`, or "".
fn queue_line(screen: &str, n: u32) -> String {
    let tag = format!(" #{n} ");
    screen
        .lines()
        .skip_while(|l| !l.starts_with("QUEUE"))
        .skip(1)
        .find(|l| l.contains(&tag))
        .unwrap_or("")
        .to_string()
}

#[test]
fn retry_and_skip_keys_give_orc_queue_orders() {
    use orc_kernel::ids::Issue;
    use orc_kernel::queue::{self, Entry, QueueFile, State as QState};
    let life = Life::new();
    let session = life.session();
    let mut held = Entry::new(Issue::from(12));
    held.position = 1;
    held.state = QState::Held;
    held.reason = "waits for #4".into();
    let mut gave_up = Entry::new(Issue::from(13));
    gave_up.position = 2;
    gave_up.state = QState::GaveUp;
    gave_up.reason = "failed 3 times".into();
    let file = QueueFile {
        version: queue::VERSION,
        session: session.name().to_string(),
        updated_at: orc_kernel::clock::now_rfc3339().unwrap(),
        dispatcher: None,
        issues: vec![held, gave_up],
    };
    queue::save(&session, &file).unwrap();
    let Some(top) = Top::start(&life, 100, 30, &[]) else {
        return;
    };
    top.wait("the queue", |s| queue_line(s, 13).contains("gave-up"));
    // R without a queued issue selected says so.
    top.keys(&["R"]);
    top.wait("the hint", |s| s.contains("no queued issue selected"));

    top.keys(&["Tab"]);
    top.wait("#12 selected", |s| queue_line(s, 12).starts_with("> "));
    top.keys(&["S"]);
    top.wait("the skip question", |s| s.contains("Skip #12"));
    assert_eq!(state_of(&session, 12), "held", "nothing before the answer");
    top.keys(&["y"]);
    top.wait("#12 skipped", |s| queue_line(s, 12).contains("skipped"));
    assert_eq!(state_of(&session, 12), "skipped");

    top.keys(&["j", "R"]);
    top.wait("#13 queued again", |s| queue_line(s, 13).contains("queued"));
    assert_eq!(state_of(&session, 13), "queued");
}

fn state_of(session: &orc_kernel::session::Session, n: u32) -> String {
    let file = orc_kernel::queue::load(session).unwrap().unwrap();
    let entry = file.issues.iter().find(|e| e.issue.get() == n).unwrap();
    entry.state.as_str().to_string()
}
