//! The measurements: each returns the samples of one row of the report.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use orc_kernel::ids::Kind;
use orc_kernel::liveness::ProcessId;
use orc_kernel::procdir::Proc;
use orc_kernel::record::State;
use orc_kernel::wake::{self, Doorbell};

use crate::Plan;
use crate::stats::Samples;
use crate::world::{BoxResult, World};

/// Time `f` `runs` times after `warmup` untimed runs.
fn time_runs(
    warmup: usize,
    runs: usize,
    mut f: impl FnMut(usize) -> BoxResult<Duration>,
) -> BoxResult<Samples> {
    let mut samples = Samples::default();
    for i in 0..warmup + runs {
        let took = f(i)?;
        if i >= warmup {
            samples.push(took);
        }
    }
    Ok(samples)
}

/// Spawn `cmd`, wait for it, and return how long that took; it must succeed.
fn time_command(cmd: &mut Command) -> BoxResult<Duration> {
    let start = Instant::now();
    let status = cmd.status()?;
    let took = start.elapsed();
    if !status.success() {
        return Err(format!("{cmd:?} failed: {status}").into());
    }
    Ok(took)
}

pub fn baseline(plan: &Plan) -> BoxResult<Samples> {
    eprintln!("bench: baseline process spawn");
    time_runs(plan.warmup, plan.baseline_runs, |_| {
        time_command(Command::new("/bin/true").stdout(Stdio::null()))
    })
}

/// `orc-ps --json` over a session of `ps_workers` in a realistic mix of
/// states; active ones have a live shim to judge.
pub fn ps(world: &World, plan: &Plan) -> BoxResult<Samples> {
    eprintln!("bench: seeding {} workers for orc-ps", plan.ps_workers);
    let session = world.session(None)?;
    let me = ProcessId::current();
    for issue in 1..=plan.ps_workers {
        let state = match issue % 10 {
            0..=3 => State::Running,
            4 => State::Waiting,
            5 => State::Suspended,
            _ => State::Terminated,
        };
        world.seed(&session, issue, state, me)?;
    }
    settle();
    let out = world
        .cmd("orc-ps")
        .arg("--json")
        .stdout(Stdio::piped())
        .output()?;
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    if !out.status.success() || lines != plan.ps_workers as usize {
        return Err(format!("orc-ps listed {lines} workers, not {}", plan.ps_workers).into());
    }
    eprintln!(
        "bench: orc-ps --json ({} bytes of output)",
        out.stdout.len()
    );
    time_runs(plan.warmup, plan.ps_runs, |_| {
        time_command(world.cmd("orc-ps").arg("--json"))
    })
}

/// Running workers in a session of their own, each with its lock held by
/// a live process, ready for one `orc-notify` each.
fn seed_running(world: &World, session: &str, first: u32, count: usize) -> BoxResult<Vec<u32>> {
    let session = world.session(Some(session))?;
    let me = ProcessId::current();
    let issues: Vec<u32> = (first..).take(count).collect();
    for &issue in &issues {
        world.seed(&session, issue, State::Running, me)?;
        world.lock(issue, me, session.name())?;
    }
    settle();
    Ok(issues)
}

/// Flush what seeding wrote, so a measurement does not pay for its
/// write-back.
fn settle() {
    nix::unistd::sync();
}

fn notify_cmd(world: &World, session: &str, issue: u32) -> Command {
    let mut cmd = world.cmd("orc-notify");
    cmd.args(["failed", "bench run"])
        .env("ORC_SESSION", session)
        .env("ORC_ISSUE", issue.to_string());
    cmd
}

/// One `orc-notify`: process start to exit, with no reader on the FIFO.
/// Each run is paired with one durable write of a record-sized file in the
/// same directory tree (`write_atomic`: temp file, fsync, rename, fsync the
/// directory), so the disk's fsync latency at that moment is known too.
pub fn notify(world: &World, plan: &Plan) -> BoxResult<(Samples, Samples)> {
    eprintln!("bench: orc-notify");
    let issues = seed_running(
        world,
        "bench-notify",
        10_000,
        plan.warmup + plan.notify_runs,
    )?;
    let probe = world.state.join("bench-durable-write.json");
    let record = vec![b'x'; 600];
    let mut durable = Samples::default();
    let notify = time_runs(plan.warmup, plan.notify_runs, |i| {
        let start = Instant::now();
        orc_kernel::fsutil::write_atomic(&probe, &record, 0o600)?;
        if i >= plan.warmup {
            durable.push(start.elapsed());
        }
        time_command(&mut notify_cmd(world, "bench-notify", issues[i]))
    })?;
    Ok((notify, durable))
}

/// Block in poll(2) on `bell` in a thread of its own; the thread says when
/// it is about to poll, and returns when it woke.
fn blocked_reader(bell: Doorbell) -> BoxResult<std::thread::JoinHandle<Option<Instant>>> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut bell = bell;
        let _ = ready_tx.send(());
        let mut fds = [PollFd::new(bell.fd(), PollFlags::POLLIN)];
        let woke = loop {
            match poll(&mut fds, PollTimeout::from(10_000u16)) {
                Ok(n) if n > 0 => break Some(Instant::now()),
                Err(nix::errno::Errno::EINTR) => continue,
                _ => break None,
            }
        };
        bell.drain();
        woke
    });
    ready_rx.recv()?;
    Ok(reader)
}

fn woke_after(
    reader: std::thread::JoinHandle<Option<Instant>>,
    start: Instant,
) -> BoxResult<Duration> {
    let woke = reader
        .join()
        .map_err(|_| "the reader thread panicked")?
        .ok_or("the reader did not wake within 10 s")?;
    Ok(woke.saturating_duration_since(start))
}

/// From launching `orc-notify` to a reader blocked on the worker's FIFO
/// waking up: what `orc-watch` waits for.
pub fn wake_from_launch(world: &World, plan: &Plan) -> BoxResult<Samples> {
    eprintln!("bench: wake latency from launch");
    let issues = seed_running(world, "bench-wake", 20_000, plan.warmup + plan.wake_runs)?;
    let session = world.session(Some("bench-wake"))?;
    time_runs(plan.warmup, plan.wake_runs, |i| {
        let proc = Proc::new(&session, Kind::Worker, issues[i].into());
        let reader = blocked_reader(Doorbell::open(&proc.wake_path())?)?;
        let start = Instant::now();
        time_command(&mut notify_cmd(world, "bench-wake", issues[i]))?;
        woke_after(reader, start)
    })
}

/// From the doorbell's write to the reader waking: the same `wake::ring`
/// orc-notify calls, timed in this process, so the process start and the
/// record and lock work are left out.
pub fn wake_from_write(world: &World, plan: &Plan) -> BoxResult<Samples> {
    eprintln!("bench: wake latency from the FIFO write");
    let path = world.state.join("bench-wake-fifo");
    wake::create(&path)?;
    time_runs(plan.warmup, plan.ring_runs, |_| {
        let reader = blocked_reader(Doorbell::open(&path)?)?;
        let start = Instant::now();
        wake::ring(&path, "{\"issue\":1}")?;
        woke_after(reader, start)
    })
}
