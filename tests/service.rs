//! orc-ctl service: the unit it writes (checked by systemd-analyze where
//! it is installed), install, status and uninstall through a recording
//! fake systemctl, and a simulated reboot: every shim and the dispatcher
//! killed with SIGKILL, the service's command started again, and every
//! interrupted issue completes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch_env;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use dispatch_env::{Env, stderr, stdout, wait_for};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(120);

/// A world with a fake `systemctl` that records its calls (and fails when
/// the file `systemctl.fail` exists).
fn env() -> Env {
    let mut e = Env::new();
    e.fixture(serde_json::json!({ "pr_default": dispatch_env::pr("MERGED", &["pass"]) }));
    let fakes = e.root.join("fakes");
    fs::create_dir_all(&fakes).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> {root}/systemctl.log\n\
         if [ -f {root}/systemctl.fail ]; then echo 'Failed to connect to bus' >&2; exit 1; fi\n\
         [ \"$2\" = is-active ] && echo active\nexit 0\n",
        root = e.root.display()
    );
    let path = fakes.join("systemctl");
    fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    let path_var = format!("{}:{}", fakes.display(), e.path());
    e.set("PATH", &path_var);
    e
}

fn unit_file(e: &Env) -> PathBuf {
    let dir = e.home.join(".config/systemd/user");
    let mut units: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|d| d.flatten().map(|f| f.path()).collect())
        .unwrap_or_default();
    assert_eq!(units.len(), 1, "{units:?}");
    units.remove(0)
}

/// Undo systemd's quoting of one value (`"..."`, `\"`, `\\`, `%%`, `$$`).
fn unquote(text: &str) -> String {
    let inner = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    inner
        .replace("\\\"", "\"")
        .replace("\\\\", "\\")
        .replace("%%", "%")
        .replace("$$", "$")
}

/// The service's command as systemd would run it: program, arguments,
/// directory and whole environment.
fn service_command(unit: &Path) -> Command {
    let text = fs::read_to_string(unit).unwrap();
    let mut cmd: Option<Command> = None;
    let mut dir = None;
    let mut vars = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Environment=") {
            let kv = unquote(v);
            let (k, v) = kv.split_once('=').unwrap();
            vars.push((k.to_string(), v.to_string()));
        } else if let Some(d) = line.strip_prefix("WorkingDirectory=") {
            dir = Some(d.to_string());
        } else if let Some(exec) = line.strip_prefix("ExecStart=") {
            let words: Vec<String> = exec
                .split("\" \"")
                .map(|w| unquote(&format!("\"{}\"", w.trim_matches('"'))))
                .collect();
            let mut c = Command::new(&words[0]);
            c.args(&words[1..]);
            cmd = Some(c);
        }
    }
    let mut cmd = cmd.expect("ExecStart");
    cmd.env_clear()
        .envs(vars)
        .current_dir(dir.expect("WorkingDirectory"));
    cmd
}

/// Start the service's command; the recording fake gh needs its fixture
/// (the one variable the unit cannot know).
fn start(e: &Env, unit: &Path, out: &Path) -> Child {
    service_command(unit)
        .env("GH_FAKE", &e.gh)
        .stdout(fs::File::create(out).unwrap())
        .stderr(fs::File::create(out.with_extension("err")).unwrap())
        .spawn()
        .unwrap()
}

fn events(file: &Path) -> Vec<Value> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn count(file: &Path, name: &str) -> usize {
    events(file).iter().filter(|v| v["event"] == name).count()
}

#[test]
fn install_writes_a_unit_systemd_accepts_and_status_and_uninstall_follow() {
    let e = env();
    let out = e.run(
        "orc-ctl",
        &["service", "install", "--label", "q", "--max", "2"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("installed orc-dispatch-repo-"),
        "{}",
        stdout(&out)
    );
    let unit = unit_file(&e);
    let text = fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\"--label\" \"q\" \"--follow\" \"--max\" \"2\""),
        "{text}"
    );
    assert!(
        text.contains("KillMode=process"),
        "workers outlive a stop: {text}"
    );
    assert!(
        text.contains(&format!("WorkingDirectory={}\n", e.repo.display())),
        "{text}"
    );
    assert!(
        text.contains("Environment=\"ORC_AGENT_CMD=fake-agent {issue}\""),
        "{text}"
    );
    let calls = fs::read_to_string(e.root.join("systemctl.log")).unwrap();
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        calls.contains(&format!("--user enable --now {name}")),
        "{calls}"
    );

    match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
    {
        Ok(v) => assert!(
            v.status.success(),
            "systemd-analyze verify: {}{}",
            stdout(&v),
            stderr(&v)
        ),
        Err(_) if std::env::var_os("CI").is_some() => panic!("systemd-analyze is missing"),
        Err(_) => eprintln!("skipped: systemd-analyze verify (systemd-analyze is not installed)"),
    }

    let status = e.run("orc-ctl", &["service", "status", "--json"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let s: Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(s["installed"], true);
    assert_eq!(s["active"], "active");
    assert_eq!(s["manager"], "systemd");

    let gone = e.run("orc-ctl", &["service", "uninstall"]);
    assert!(gone.status.success(), "{}", stderr(&gone));
    assert!(!unit.exists());
    let calls = fs::read_to_string(e.root.join("systemctl.log")).unwrap();
    assert!(
        calls.contains(&format!("--user disable --now {name}")),
        "{calls}"
    );

    // A service manager that refuses: an error, and no unit left behind.
    fs::write(e.root.join("systemctl.fail"), "").unwrap();
    let refused = e.run("orc-ctl", &["service", "install"]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("Failed to connect to bus"),
        "{}",
        stderr(&refused)
    );
    assert!(
        fs::read_dir(e.home.join(".config/systemd/user"))
            .unwrap()
            .next()
            .is_none()
    );
    let bad = e.run("orc-ctl", &["service", "install", "--max", "0"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

/// The pids of every shim and agent of the session.
fn shims_and_agents(e: &Env) -> Vec<(i32, Option<i32>)> {
    let procs = e.session().join("procs");
    let mut out = Vec::new();
    for dir in fs::read_dir(procs).unwrap().flatten() {
        let Ok(text) = fs::read(dir.path().join("shim.pid")) else {
            continue;
        };
        let ids: Value = serde_json::from_slice(&text).unwrap();
        let shim = ids["shim"]["pid"].as_i64().unwrap() as i32;
        let agent = ids["agent"]["pid"].as_i64().map(|p| p as i32);
        out.push((shim, agent));
    }
    out
}

#[test]
fn after_a_simulated_reboot_every_interrupted_issue_completes() {
    let mut e = env();
    e.set("ORC_RETRY_BACKOFF", "1");
    e.set("ORC_TRACKER_POLL", "3600");
    for n in 1..=3 {
        e.issue(n, "", "fake-mode: slow-once 600");
    }
    let out = e.run("orc-ctl", &["service", "install", "--label", "q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = unit_file(&e);

    let before = e.root.join("before.jsonl");
    let mut first = start(&e, &unit, &before);
    wait_for("three workers in their slow first attempt", LONG, || {
        count(&before, "spawned") == 3
            && (1..=3).all(|n| {
                e.record("worker", n)
                    .is_some_and(|r| r["detail"].as_str().unwrap_or("").contains("phase1:slow"))
            })
    });
    // The machine goes down: everything dies at once, nothing is told.
    kill(Pid::from_raw(first.id() as i32), Signal::SIGKILL).unwrap();
    first.wait().unwrap();
    let victims = shims_and_agents(&e);
    assert_eq!(victims.len(), 3);
    for (shim, agent) in &victims {
        let _ = kill(Pid::from_raw(*shim), Signal::SIGKILL);
        if let Some(agent) = agent {
            let _ = killpg(Pid::from_raw(*agent), Signal::SIGKILL);
        }
    }
    wait_for("the shims to be gone", LONG, || {
        victims.iter().all(|(shim, _)| {
            let stat = fs::read_to_string(format!("/proc/{shim}/stat")).unwrap_or_default();
            stat.is_empty() || stat.contains(") Z ")
        })
    });
    for n in 1..=3 {
        assert_eq!(
            e.record("worker", n).unwrap()["state"],
            "RUNNING",
            "a record the reboot left"
        );
    }

    // The service starts again at login.
    let after = e.root.join("after.jsonl");
    let mut second = start(&e, &unit, &after);
    let deadline = std::time::Instant::now() + LONG;
    while count(&after, "merged") < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "every interrupted issue to merge: {:#?}\n{}",
            events(&after),
            fs::read_to_string(after.with_extension("err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let evs = events(&after);
    for n in 1..=3u32 {
        let crashed = evs
            .iter()
            .any(|v| v["event"] == "finished" && v["issue"] == n && v["result"] == "crashed");
        assert!(crashed, "#{n} found crashed: {evs:?}");
        let resumed = evs
            .iter()
            .any(|v| v["event"] == "spawned" && v["issue"] == n && v["resumed"] == true);
        assert!(resumed, "#{n} resumed in its worktree: {evs:?}");
    }
    kill(Pid::from_raw(second.id() as i32), Signal::SIGTERM).unwrap();
    second.wait().unwrap();
    assert_eq!(events(&after).last().unwrap()["event"], "summary");
}
