//! Every install layout runs a real worker: the real Claude Code CLI as
//! `orc:worker`, in its worktree, against the loopback mock of the API,
//! ending `ci-passed`. One test a layout:
//!
//! - a checkout: the built binaries find the plugin root above themselves;
//! - `ORC_BIN_DIR` anywhere: binaries copied to a directory of their own,
//!   run through the checkout's launchers;
//! - `make install PREFIX=…`: binaries in `PREFIX/bin`, the plugin (agents,
//!   skills, hooks, manifest) in `PREFIX/share/orc`, run from a shell with
//!   nothing but `PREFIX/bin` on PATH;
//! - a marketplace install (`claude plugin marketplace add` + `install`):
//!   the plugin in Claude Code's cache, its build in the plugin's data
//!   directory, run from a shell through the cached launchers.
//!
//! The cron and atd runners have their own test in tests/sched_claude.rs.
//! Skipped (one line) when `claude` is missing and `CI` is unset.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/world.rs"]
mod world;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use mock_anthropic::{MockApi, Reply, bash_calls, conversation_text, system_text};
use serde_json::Value;
use world::{SYSTEM_PATH, World, bin_dir, output_within, plugin_root, run_bounded, wait_until};

/// One `claude` worker at a time: two shared cores.
static SERIAL: Mutex<()> = Mutex::new(());
/// A line of agents/worker.md, which Claude Code puts in the worker's system prompt.
const WORKER_MARK: &str = "You are orc's worker agent.";
/// How long any one command may run here.
const LIMIT: Duration = Duration::from_secs(150);

/// The scripted worker: report a phase, commit, report `ci-passed`.
fn script(body: &Value) -> Option<Reply> {
    if !system_text(body).contains(WORKER_MARK) {
        return None;
    }
    Some(match bash_calls(body).len() {
        0 => Reply::Bash("orc-state RUNNING phase2:implement".into()),
        1 => Reply::Bash(
            "echo hello > hello.txt && git add hello.txt && git commit -q -m 'layout: hello'"
                .into(),
        ),
        2 => Reply::Bash("orc-notify ci-passed \"layout: committed\"".into()),
        _ => Reply::Text("Reported.".into()),
    })
}

/// The environment of a shell that runs orc in this layout: `path_first`
/// before the `claude` CLI's directory and the system's.
fn shell_env(w: &World, claude: &Path, api: &MockApi, path_first: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = w
        .claude_env(claude, &api.base_url())
        .into_iter()
        .filter(|(k, _)| k != "ORC_BIN_DIR" && k != "PATH")
        .collect();
    env.push((
        "PATH".into(),
        format!("{path_first}:{}", world::claude_path(claude)),
    ));
    env.push(("ORC_WORKER_TIMEOUT".into(), "120".into()));
    env
}

/// Spawn issue 1 with `bin/orc-spawn` and wait for it with `bin/orc-watch`
/// (`bin` is the layout's tool directory), then check that the worker was
/// the real claude as `orc:worker` in its worktree, loaded the plugin from
/// `root`, and ended `ci-passed`.
fn one_worker(w: &World, api: &mut MockApi, bin: &Path, env: &[(String, String)], root: &Path) {
    let tool = |name: &str| {
        let mut c = Command::new(bin.join(name));
        c.current_dir(&w.repo).env_clear().envs(env.iter().cloned());
        c
    };
    let out = output_within(
        {
            let mut c = tool("orc-spawn");
            c.arg("1");
            c
        },
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "orc-spawn failed: {stderr}");
    let spawned: Value = serde_json::from_slice(&out.stdout).expect("orc-spawn's JSON");
    let worktree = spawned["worktree"].as_str().expect("worktree").to_string();
    let watch = run_bounded(
        {
            let mut c = tool("orc-watch");
            c.args(["--timeout", "120", "1"]);
            c
        },
        LIMIT,
    );
    let done = wait_until(Duration::from_secs(60), || {
        w.pids("worker-1").iter().all(|p| !world::alive(*p))
    });
    w.end_worker("worker-1");
    let context = format!(
        "spawn stderr: {stderr}\nwatch: {} {}\nmock:\n{}\nworker log:\n{}",
        watch.stdout,
        watch.stderr,
        api.transcript(),
        w.log("worker-1")
    );
    assert!(
        watch.stdout.contains("\"result\":\"ci-passed\""),
        "{context}"
    );
    assert!(done, "the worker did not exit\n{context}");
    let record = w.record("worker-1").expect("the worker's record");
    assert_eq!(record["result"], "ci-passed", "{record}\n{context}");

    // The real claude, as orc:worker, in its worktree, with this plugin.
    let requests = api.requests();
    let worker: Vec<_> = requests
        .iter()
        .filter(|s| system_text(&s.body).contains(WORKER_MARK))
        .collect();
    assert!(worker.len() >= 3, "{context}");
    assert!(
        worker.iter().all(|s| conversation_text(&s.body)
            .contains(&format!("Primary working directory: {worktree}"))),
        "{context}"
    );
    let log = w.log("worker-1");
    let init: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["type"] == "system" && e["subtype"] == "init")
        .unwrap_or_else(|| panic!("no system/init in the worker's log\n{context}"));
    assert_eq!(init["cwd"], worktree.as_str(), "{init}");
    assert!(
        init["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "orc:worker")),
        "{init}"
    );
    let root = root.canonicalize().unwrap();
    let loaded: Vec<PathBuf> = init["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "orc")
        .filter_map(|p| p["path"].as_str())
        .map(|p| Path::new(p).canonicalize().unwrap_or_else(|_| p.into()))
        .collect();
    assert!(
        loaded.contains(&root),
        "the worker loaded orc from {loaded:?}, not {}\n{init}",
        root.display()
    );
    assert!(
        w.git(&["log", "--format=%s", record["branch"].as_str().unwrap()])
            .contains("layout: hello")
    );
    api.stop();
    assert!(api.unmatched().is_empty(), "{}", api.transcript());
}

/// Copies of the built orc binaries in `dir` (not links: a copy cannot
/// find the checkout above itself).
fn copy_binaries(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for entry in fs::read_dir(bin_dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if (name == "orc" || name.starts_with("orc-")) && !name.ends_with(".d") && path.is_file() {
            fs::copy(&path, dir.join(&name)).unwrap();
        }
    }
}

/// A world with issue 1 and a mock serving the worker.
fn setup() -> Option<(PathBuf, World, MockApi)> {
    let claude = world::claude()?;
    let w = World::new();
    w.issue(1, "Say hello", "Add a file hello.txt that says hello.");
    let api = MockApi::start(script, 40, LIMIT * 2);
    Some((claude, w, api))
}

#[test]
fn a_checkout_runs_a_real_worker() {
    let Some((claude, w, mut api)) = setup() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The test build in the checkout's target directory, no ORC_* hints.
    let env = shell_env(&w, &claude, &api, &bin_dir().display().to_string());
    one_worker(&w, &mut api, &bin_dir(), &env, &plugin_root());
}

#[test]
fn orc_bin_dir_anywhere_runs_a_real_worker() {
    let Some((claude, w, mut api)) = setup() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bins = w.root.join("opt-orc-bin");
    copy_binaries(&bins);
    let mut env = shell_env(
        &w,
        &claude,
        &api,
        &plugin_root().join("bin").display().to_string(),
    );
    env.push(("ORC_BIN_DIR".into(), bins.display().to_string()));
    one_worker(
        &w,
        &mut api,
        &plugin_root().join("bin"),
        &env,
        &plugin_root(),
    );
}

#[test]
fn make_install_runs_a_real_worker() {
    let Some((claude, w, mut api)) = setup() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = w.root.join("prefix");
    // The install recipe itself, on the test build (no release build here).
    let out = output_within(
        {
            let mut c = Command::new("make");
            c.arg("-C")
                .arg(plugin_root())
                .args(["--no-print-directory", "install", "BUILD="])
                .arg(format!("REL={}", bin_dir().display()))
                .arg(format!("PREFIX={}", prefix.display()))
                .env_clear()
                .env("HOME", &w.home)
                .env("PATH", SYSTEM_PATH);
            c
        },
        LIMIT,
    );
    assert!(
        out.status.success(),
        "make install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let share = prefix.join("share/orc");
    for file in [
        ".claude-plugin/plugin.json",
        "agents/worker.md",
        "skills/orchestrate/SKILL.md",
        "hooks/hooks.json",
        "envs/default.env",
        "bin/orc-hook",
        "bin/orc-setup",
    ] {
        assert!(share.join(file).exists(), "{file} is not installed");
    }
    for file in [
        "share/man/man1/orc-spawn.1",
        "share/man/man1/orc.1",
        "share/bash-completion/completions/orc-spawn",
        "share/zsh/site-functions/_orc-spawn",
        "share/fish/vendor_completions.d/orc-spawn.fish",
    ] {
        assert!(prefix.join(file).is_file(), "{file} is not installed");
    }
    // The installed hook runs the installed binaries (here: no worker, so
    // the Stop guard lets the turn end with no output).
    let hook = Command::new(share.join("bin/orc-hook"))
        .arg("stop")
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", &w.home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        hook.status.success() && hook.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&hook.stderr)
    );
    let bin = prefix.join("bin");
    let env = shell_env(&w, &claude, &api, &bin.display().to_string());
    one_worker(&w, &mut api, &bin, &env, &share);

    let out = output_within(
        {
            let mut c = Command::new("make");
            c.arg("-C")
                .arg(plugin_root())
                .args(["--no-print-directory", "uninstall"])
                .arg(format!("PREFIX={}", prefix.display()))
                .env_clear()
                .env("PATH", SYSTEM_PATH);
            c
        },
        LIMIT,
    );
    assert!(out.status.success());
    assert!(!share.exists() && !bin.join("orc-spawn").exists());
    assert!(!prefix.join("share/man/man1/orc-spawn.1").exists());
}

#[test]
fn a_marketplace_install_runs_a_real_worker() {
    let Some((claude, w, mut api)) = setup() else {
        return;
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The repository as a clone holds it: its files, no build output.
    let market = w.root.join("market");
    let files = Command::new("git")
        .args(["ls-files", "-co", "--exclude-standard", "-z"])
        .current_dir(plugin_root())
        .output()
        .unwrap();
    for name in files.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let from = plugin_root().join(&name);
        let to = market.join(&name);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        let meta = fs::symlink_metadata(&from);
        match meta {
            Ok(m) if m.file_type().is_symlink() => {
                std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap()
            }
            Ok(m) if m.is_file() => {
                fs::copy(&from, &to).unwrap();
            }
            _ => {}
        }
    }
    let claude_cmd = |args: &[&str]| {
        let mut c = Command::new(&claude);
        c.args(args)
            .current_dir(&w.root)
            .env_clear()
            .envs(w.claude_env(&claude, &api.base_url()));
        output_within(c, LIMIT)
    };
    let added = claude_cmd(&[
        "plugin",
        "marketplace",
        "add",
        &market.display().to_string(),
    ]);
    assert!(
        added.status.success(),
        "{}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );
    let installed = claude_cmd(&["plugin", "install", "orc@orc-market"]);
    assert!(
        installed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&installed.stdout),
        String::from_utf8_lossy(&installed.stderr)
    );
    let cache = w.home.join(".claude/plugins/cache/orc-market/orc");
    let root = fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("{}: {e}", cache.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| p.join(".claude-plugin/plugin.json").is_file())
        .expect("the installed plugin in Claude Code's cache");
    // Its build, where the SessionStart hook puts it: the plugin's data
    // directory (copied here instead of a release build in the test).
    copy_binaries(
        &w.home
            .join(".claude/plugins/data/orc-orc-market/target/release"),
    );
    // A shell with the cached launchers on PATH, and no ORC_* hints.
    let bin = root.join("bin");
    let env = shell_env(&w, &claude, &api, &bin.display().to_string());
    one_worker(&w, &mut api, &bin, &env, &root);
}
