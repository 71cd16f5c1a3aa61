//! The lifecycle measurements: real workers of the scripted fake agent,
//! spawned, supervised, killed and reaped by the release binaries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::procdir::Proc;

use crate::stats::Samples;
use crate::world::{BoxResult, World};

/// How many of each.
pub struct Plan {
    /// Crash-latency runs.
    pub crash_runs: usize,
    /// Spawns timed for orc's own and git's share.
    pub spawn_runs: usize,
    /// Workers at once in the fan-out run.
    pub fan_out: u32,
}

/// What the lifecycle measurements found.
pub struct Figures {
    /// SIGKILL of the agent → `orc-watch` prints `crashed`: one row per
    /// agent (lone, or leaving a child and a setsid grandchild) and
    /// containment (`ORC_CONTAIN`).
    pub crash: Vec<(String, Samples)>,
    /// `orc-spawn`, start to exit.
    pub spawn: Samples,
    /// The part of each spawn spent in git processes.
    pub spawn_git: Samples,
    /// RSS of idle shims, in KiB.
    pub shim_rss_kib: Vec<u64>,
    /// The fan-out run: workers, reaped, terminal records, zombies, time.
    pub fan_out: (u32, usize, usize, usize, Duration),
}

fn fake_agent_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("bin")
}

/// A tool command whose workers run the fake agent, with no limit but ours.
pub(crate) fn tool(world: &World, name: &str) -> Command {
    let mut cmd = world.cmd(name);
    let mut path = fake_agent_dir().into_os_string();
    path.push(":");
    path.push(world.bin_dir.as_os_str());
    path.push(":/usr/local/bin:/usr/bin:/bin");
    cmd.env("PATH", path)
        .env("ORC_AGENT", "custom")
        .env("ORC_AGENT_CMD", "fake-agent {issue}")
        .env("ORC_TRACKER", "local")
        .env("ORC_MAX_WORKERS", "1000")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@orc.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@orc.invalid");
    cmd
}

pub fn add_issue(world: &World, n: u32, mode: &str) -> BoxResult<()> {
    let dir = world.repo.join(".orc").join("issues");
    std::fs::create_dir_all(&dir)?;
    let text = format!("---\ntitle: Bench issue {n}\n---\nfake-mode: {mode}\n");
    std::fs::write(dir.join(format!("{n}.md")), text)?;
    Ok(())
}

fn spawn(world: &World, n: u32, trace: Option<&Path>) -> BoxResult<(Duration, serde_json::Value)> {
    let mut cmd = tool(world, "orc-spawn");
    cmd.arg(n.to_string()).stdout(Stdio::piped());
    if let Some(trace) = trace {
        cmd.env("GIT_TRACE2_EVENT", trace);
    }
    let start = Instant::now();
    let out = cmd.output()?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(format!("orc-spawn {n} failed: {}", out.status).into());
    }
    Ok((took, serde_json::from_slice(&out.stdout)?))
}

fn cleanup(world: &World, n: u32) -> BoxResult<()> {
    let status = tool(world, "orc-cleanup")
        .args(["--force", &n.to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("orc-cleanup {n} failed").into())
    }
}

fn proc_of(world: &World, n: u32) -> BoxResult<Proc> {
    Ok(Proc::new(
        &world.session(None)?,
        Kind::Worker,
        Issue::from(n),
    ))
}

/// Wait (polling, this is a benchmark) until `cond` holds, or fail.
pub(crate) fn wait(what: &str, mut cond: impl FnMut() -> bool) -> BoxResult<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Seconds the git processes of one traced run took, from trace2's `exit`
/// events (each process's own elapsed time). Nested git calls (a git that
/// runs git) would count twice; spawn's calls are all top level.
fn git_time(trace: &Path) -> BoxResult<Duration> {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let mut total = 0.0;
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if event["event"] == "exit" && event["nesting"].as_u64().unwrap_or(1) <= 1 {
            total += event["t_abs"].as_f64().unwrap_or(0.0);
        }
    }
    Ok(Duration::from_secs_f64(total))
}

fn rss_kib(pid: i64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run every lifecycle measurement.
pub fn run(world: &World, plan: &Plan) -> BoxResult<Figures> {
    let next = std::cell::Cell::new(1u32);
    let issue = |mode: &str| -> BoxResult<u32> {
        let n = next.get();
        next.set(n + 1);
        add_issue(world, n, mode)?;
        Ok(n)
    };

    eprintln!(
        "bench: {} spawns (orc's own time and git's)",
        plan.spawn_runs
    );
    let traces = tempfile::tempdir()?;
    let (mut spawn_s, mut spawn_git, mut rss) =
        (Samples::default(), Samples::default(), Vec::new());
    for i in 0..plan.spawn_runs {
        let n = issue("hang")?;
        let trace = traces.path().join(format!("{i}.json"));
        let (took, out) = spawn(world, n, Some(&trace))?;
        spawn_s.push(took);
        spawn_git.push(git_time(&trace)?);
        if let Some(shim) = out["shim_pid"].as_i64() {
            // Idle: the agent has started and waits; the shim only polls.
            std::thread::sleep(Duration::from_millis(50));
            rss.extend(rss_kib(shim));
        }
        cleanup(world, n)?;
    }

    let crash = crashes(world, plan.crash_runs, &issue)?;

    eprintln!("bench: {} workers at once", plan.fan_out);
    let first = next.get();
    let issues: Vec<u32> = (0..plan.fan_out)
        .map(|_| issue("ok"))
        .collect::<BoxResult<_>>()?;
    let start = Instant::now();
    for &n in &issues {
        spawn(world, n, None)?;
    }
    let mut watch = tool(world, "orc-watch");
    watch
        .args(issues.iter().map(u32::to_string))
        .stdout(Stdio::piped());
    let out = watch.output()?;
    let took = start.elapsed();
    let reported = String::from_utf8_lossy(&out.stdout).lines().count();
    let mut terminal = 0;
    for &n in &issues {
        if proc_of(world, n)?.read()?.is_some_and(|r| r.is_terminal()) {
            terminal += 1;
        }
    }
    // Every shim has reaped its agent and exited: nothing left in Z state.
    std::thread::sleep(Duration::from_millis(500));
    let zombies = zombie_count(&world.state);
    for n in first..next.get() {
        cleanup(world, n)?;
    }
    Ok(Figures {
        crash,
        spawn: spawn_s,
        spawn_git,
        shim_rss_kib: rss,
        fan_out: (plan.fan_out, reported, terminal, zombies, took),
    })
}

/// SIGKILL → `orc-watch` for a lone agent and for one that leaves a child
/// and a setsid grandchild, in each containment this machine allows; the
/// issues come from `issue(mode)`.
pub fn crashes(
    world: &World,
    runs: usize,
    issue: &dyn Fn(&str) -> BoxResult<u32>,
) -> BoxResult<Vec<(String, Samples)>> {
    let mut crash = Vec::new();
    let cgroups =
        match orc_kernel::contain::Cgroup::create(&format!("bench-{}", std::process::id())) {
            Ok(c) => {
                c.remove();
                vec!["cgroup", "group"]
            }
            Err(e) => {
                eprintln!("bench: no cgroup rows: {e}");
                vec!["group"]
            }
        };
    for contain in cgroups {
        for (mode, what) in [
            ("hang", "a lone agent"),
            ("escape", "an agent with a child and a setsid grandchild"),
        ] {
            eprintln!(
                "bench: {} crash latencies, {what}, ORC_CONTAIN={contain}",
                runs
            );
            let mut samples = Samples::default();
            for _ in 0..runs {
                let n = issue(mode)?;
                samples.push(crash_latency(world, n, contain)?);
            }
            crash.push((format!("{what}, `ORC_CONTAIN={contain}`"), samples));
        }
    }

    Ok(crash)
}

/// One crash: spawn issue `n` (its mode already written), wait until the
/// agent has reported its phase and `orc-watch` waits on the FIFO, SIGKILL
/// the agent, time until `orc-watch` prints `crashed`. Then check that
/// whatever the agent started (`.orc-fake-child`, `.orc-fake-grandchild`)
/// is gone too.
fn crash_latency(world: &World, n: u32, contain: &str) -> BoxResult<Duration> {
    let mut cmd = tool(world, "orc-spawn");
    let out = cmd
        .env("ORC_CONTAIN", contain)
        .arg(n.to_string())
        .stdout(Stdio::piped())
        .output()?;
    if !out.status.success() {
        return Err(format!("orc-spawn {n} failed: {}", out.status).into());
    }
    let out: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let agent = out["pid"].as_i64().ok_or("spawn printed no pid")? as i32;
    let worktree = PathBuf::from(out["worktree"].as_str().ok_or("no worktree")?);
    let proc = proc_of(world, n)?;
    wait("the agent to report its phase", || {
        proc.read()
            .ok()
            .flatten()
            .is_some_and(|r| r.detail.starts_with("phase1"))
    })?;
    let mut watch = tool(world, "orc-watch")
        .arg(n.to_string())
        .stdout(Stdio::piped())
        .spawn()?;
    // orc-watch is blocked once it holds the FIFO's reading end.
    wait("orc-watch to open the FIFO", || {
        matches!(
            orc_kernel::wake::ring(&proc.wake_path(), "bench"),
            Ok(orc_kernel::wake::Rang::Delivered)
        )
    })?;
    let stdout = watch.stdout.take().ok_or("no stdout")?;
    let start = Instant::now();
    kill(Pid::from_raw(agent), Signal::SIGKILL)?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let took = start.elapsed();
    if !line.contains("\"crashed\"") {
        return Err(format!("orc-watch said {line}").into());
    }
    watch.wait()?;
    for file in [".orc-fake-child", ".orc-fake-grandchild"] {
        let Ok(text) = std::fs::read_to_string(worktree.join(file)) else {
            continue;
        };
        let pid: i32 = text.trim().parse()?;
        wait("what the agent left to die", || gone(pid))?;
    }
    cleanup(world, n)?;
    Ok(took)
}

/// Whether `pid` has exited (no such process, or a zombie).
fn gone(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    matches!(state, Some("Z" | "X"))
}

/// Zombies orc failed to reap: processes in state Z whose parent belongs to
/// this benchmark's world (its environment names our state directory) and
/// is not init. (A shim detaches to init, which reaps it in its own time;
/// some container inits do so lazily, which is not orc's to fix.)
fn zombie_count(state: &Path) -> usize {
    let marker = format!("ORC_STATE_DIR={}", state.display());
    let ours = |ppid: &str| {
        std::fs::read(format!("/proc/{ppid}/environ"))
            .map(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
            .unwrap_or(false)
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let mut rest = stat.rsplit(')').next().unwrap_or("").split_whitespace();
            let (state, ppid) = (rest.next(), rest.next().unwrap_or("1"));
            state == Some("Z") && ppid != "1" && ours(ppid)
        })
        .count()
}
