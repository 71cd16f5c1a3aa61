//! Workers through Slurm beside headless ones (issue 16's benchmark): how
//! long from `orc-spawn` to the agent running, and from SIGKILL of the
//! agent to `orc-watch` printing `crashed`. Runs only where a Slurm cluster
//! answers (`scripts/slurm-up` starts one on this machine).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::procdir::Proc;
use orc_kernel::record::State;

use crate::stats::Samples;
use crate::world::{BoxResult, World};

/// Whether a Slurm cluster answers with a node ready for jobs.
pub fn reachable() -> bool {
    Command::new("sinfo")
        .args(["-h", "-N", "-o", "%t"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|s| ["idle", "mix"].contains(&s.trim()))
        })
}

/// Rows of figures: (what, samples).
pub fn run(world: &World, runs: usize) -> BoxResult<Vec<(String, Samples)>> {
    let mut rows = Vec::new();
    let mut next = 1u32;
    for backend in ["headless", "slurm"] {
        eprintln!("bench: {runs} spawns and crashes, ORC_BACKEND={backend}");
        let (mut start, mut crash) = (Samples::default(), Samples::default());
        for _ in 0..runs {
            let n = next;
            next += 1;
            add_issue(world, n)?;
            let (took, proc) = spawn_until_running(world, n, backend)?;
            start.push(took);
            crash.push(crash_latency(world, n, &proc)?);
            let status = crate::lifecycle::tool(world, "orc-cleanup")
                .args(["--force", &n.to_string()])
                .status()?;
            if !status.success() {
                return Err(format!("orc-cleanup {n} failed").into());
            }
        }
        rows.push((
            format!("`orc-spawn` start → agent running (record RUNNING), `ORC_BACKEND={backend}`"),
            start,
        ));
        rows.push((
            format!("SIGKILL of the agent → `orc-watch` prints `crashed`, `ORC_BACKEND={backend}`"),
            crash,
        ));
    }
    Ok(rows)
}

fn add_issue(world: &World, n: u32) -> BoxResult<()> {
    let dir = world.repo.join(".orc").join("issues");
    std::fs::create_dir_all(&dir)?;
    let text = format!("---\ntitle: Cluster bench {n}\n---\nfake-mode: hang\n");
    std::fs::write(dir.join(format!("{n}.md")), text)?;
    Ok(())
}

/// Spawn `n` on `backend`; the time until the node (or local) shim has
/// started the agent and the agent has reported its first phase.
fn spawn_until_running(world: &World, n: u32, backend: &str) -> BoxResult<(Duration, Proc)> {
    let proc = Proc::new(&world.session(None)?, Kind::Worker, Issue::from(n));
    let begin = Instant::now();
    let out = crate::lifecycle::tool(world, "orc-spawn")
        .args(["--backend", backend, &n.to_string()])
        .stdout(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "orc-spawn --backend {backend} {n} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    crate::lifecycle::wait("the agent to run", || {
        proc.read()
            .ok()
            .flatten()
            .is_some_and(|r| r.state == State::Running)
    })?;
    let took = begin.elapsed();
    crate::lifecycle::wait("the agent to report its phase", || {
        proc.read()
            .ok()
            .flatten()
            .is_some_and(|r| r.detail.starts_with("phase1"))
    })?;
    Ok((took, proc))
}

/// SIGKILL the agent (found by its worktree: on this single-node cluster
/// the node is this host), time until `orc-watch` prints `crashed`.
fn crash_latency(world: &World, n: u32, proc: &Proc) -> BoxResult<Duration> {
    let record = proc.read()?.ok_or("no record")?;
    let worktree = record.worktree.ok_or("no worktree")?;
    let agent = agent_pid(&worktree).ok_or("the agent's process was not found")?;
    let mut watch = crate::lifecycle::tool(world, "orc-watch")
        .arg(n.to_string())
        .stdout(Stdio::piped())
        .spawn()?;
    crate::lifecycle::wait("orc-watch to open the FIFO", || {
        matches!(
            orc_kernel::wake::ring(&proc.wake_path(), "bench"),
            Ok(orc_kernel::wake::Rang::Delivered)
        )
    })?;
    let stdout = watch.stdout.take().ok_or("no stdout")?;
    let begin = Instant::now();
    kill(Pid::from_raw(agent), Signal::SIGKILL)?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let took = begin.elapsed();
    watch.wait()?;
    if !line.contains("\"crashed\"") {
        return Err(format!("orc-watch said {line}").into());
    }
    Ok(took)
}

/// The fake agent of the worktree: the `bash .../fake-agent` process whose
/// working directory it is.
fn agent_pid(worktree: &str) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cwd = std::fs::read_link(e.path().join("cwd")).ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let is_agent = cmd
            .split(|b| *b == 0)
            .nth(1)
            .is_some_and(|w| w.ends_with(b"fake-agent"));
        (is_agent && cwd == std::path::Path::new(worktree)).then_some(pid)
    })
}
