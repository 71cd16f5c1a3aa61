//! The `slurm` backend on a real Slurm cluster (`scripts/slurm-up` starts a
//! single-node one; `.ci/run` does under CI). Without a reachable cluster
//! each test skips with one line, except under CI, where it fails.
//!
//! The tests run one at a time: a node with two CPUs is all a test's jobs
//! have, and one of them fills it on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use orc_kernel::ids::Kind;
use orc_kernel::record::State;

use common::life::{Life, json_lines, stderr};
use common::{PATIENCE, assert_ok, run, wait_until};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Whether a node in state `s` (sinfo's `%t`, with its flag suffixes such
/// as `*` or `~`) takes or runs jobs: idle, busy, or finishing the last
/// test's job (`comp`).
fn usable(s: &str) -> bool {
    let s = s.trim_end_matches(|c: char| !c.is_ascii_alphabetic());
    ["idle", "mix", "alloc", "comp"].contains(&s)
}

/// Whether a Slurm cluster answers with a node ready for jobs.
fn cluster() -> bool {
    let ok = Command::new("sinfo")
        .args(["-h", "-N", "-o", "%t"])
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|s| usable(s.trim()))
        });
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs a Slurm cluster: .ci/run starts one with scripts/slurm-up"
        );
        eprintln!("skipped: no Slurm cluster reachable (start one as root with scripts/slurm-up)");
    }
    ok
}

/// A test world whose jobs are cancelled when it is dropped.
struct Cluster {
    life: Life,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Cluster {
    type Target = Life;
    fn deref(&self) -> &Life {
        &self.life
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let name_prefix = format!("orc-{}-", self.life.session_name());
        for (id, name) in queue() {
            if name.starts_with(&name_prefix) {
                let _ = Command::new("scancel").arg(id.to_string()).status();
            }
        }
    }
}

fn world() -> Option<Cluster> {
    let turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !cluster() {
        return None;
    }
    Some(Cluster {
        life: Life::new(),
        _turn: turn,
    })
}

/// Every job in the queue: (id, name).
fn queue() -> Vec<(u64, String)> {
    let out = Command::new("squeue")
        .args(["-h", "-o", "%i %j"])
        .output()
        .expect("run squeue");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (id, name) = l.trim().split_once(' ')?;
            Some((id.parse().ok()?, name.to_string()))
        })
        .collect()
}

fn in_queue(job: u64) -> bool {
    queue().iter().any(|(id, _)| *id == job)
}

/// `scontrol show job -o ID`: the job on one line.
fn job_line(job: u64) -> String {
    let out = Command::new("scontrol")
        .args(["show", "job", "-o", &job.to_string()])
        .output()
        .expect("run scontrol");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `Key=Value` of the job (a value without blanks).
fn job_field(job: u64, key: &str) -> Option<String> {
    job_line(job)
        .split_whitespace()
        .find_map(|w| Some(w.strip_prefix(key)?.strip_prefix('=')?.to_string()))
}

/// Spawn worker `n` in a Slurm job; its job id.
fn spawn(c: &Cluster, n: u32, mode: &str, env: &[(&str, &str)]) -> u64 {
    c.issue(n, mode);
    let mut cmd = c.tool("orc-spawn");
    cmd.args(["--backend", "slurm", &n.to_string()]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let spawned = c.spawn_cmd(&mut cmd);
    let job = spawned.json["job"]
        .as_u64()
        .unwrap_or_else(|| panic!("orc-spawn prints the job id: {}", spawned.json));
    let record = c.record(n, Kind::Worker);
    assert_eq!(record.slurm.as_ref().and_then(|j| j.job), Some(job));
    job
}

fn wait_running(c: &Cluster, n: u32) {
    c.wait_record(n, Kind::Worker, |r| r.state == State::Running);
}

/// The pid of the node-side shim of job `job` (this host is the node).
fn node_shim(c: &Cluster) -> Option<i32> {
    c.processes().into_iter().find(|&pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| {
            let words: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            words[0].ends_with(b"orc-shim") && words.get(1) == Some(&&b"--node"[..])
        })
    })
}

#[test]
fn a_worker_runs_in_a_job_and_reports_the_agents_own_result() {
    let Some(c) = world() else { return };
    let job = spawn(
        &c,
        1,
        "ci",
        &[
            ("ORC_WORKER_TIMEOUT", "100"),
            ("ORC_TERM_GRACE", "20"),
            ("ORC_SLURM_ARGS", "--cpus-per-task=1 '--comment=orc test'"),
        ],
    );
    let line = c.watch_one(1);
    assert_eq!(line["result"], "ci-passed", "{line}");
    let record = c.wait_until_settled(1);
    let slurm = record.slurm.expect("the record carries the job");
    assert_eq!(
        slurm.time, "0-00:02:00",
        "timeout + grace, rounded up to minutes"
    );
    assert_eq!(slurm.args, ["--cpus-per-task=1", "--comment=orc test"]);
    assert!(slurm.node.is_some(), "the node is recorded: {slurm:?}");
    assert_eq!(job_field(job, "TimeLimit").as_deref(), Some("00:02:00"));
    assert!(
        job_line(job).contains(" Comment=orc test "),
        "one word each, verbatim"
    );
    assert_eq!(job_field(job, "JobState").as_deref(), Some("COMPLETED"));
    // ci-passed keeps the lock for the session, as on any backend.
    assert_eq!(c.held_locks().len(), 1);
    c.cleanup(1, &[]);
    c.assert_no_processes();
}

#[test]
fn an_agent_that_dies_or_a_job_that_is_cancelled_is_crashed() {
    let Some(c) = world() else { return };
    spawn(&c, 1, "crash", &[]);
    let line = c.watch_one(1);
    assert_eq!(line["result"], "crashed", "{line}");
    assert!(
        line["detail"].as_str().unwrap_or("").contains("code 3"),
        "{line}"
    );

    let job = spawn(&c, 2, "hang", &[]);
    wait_running(&c, 2);
    assert_ok(&run(Command::new("scancel").arg(job.to_string())));
    let line = c.watch_one(2);
    assert_eq!(line["result"], "crashed", "{line}");
    assert!(
        line["detail"].as_str().unwrap_or("").contains("slurm"),
        "{line}"
    );
    c.wait_until_settled(2);
    // Slurm may list a cancelled job as COMPLETING a moment after srun left.
    assert!(wait_until(PATIENCE, || !in_queue(job)), "the job ended");
    c.assert_no_processes();
}

#[test]
fn a_dead_node_side_shim_is_crashed() {
    let Some(c) = world() else { return };
    let job = spawn(&c, 1, "hang", &[]);
    wait_running(&c, 1);
    let shim = node_shim(&c).expect("the node-side shim runs");
    kill(Pid::from_raw(shim), Signal::SIGKILL).expect("kill the node-side shim");
    let line = c.watch_one(1);
    assert_eq!(line["result"], "crashed", "{line}");
    c.wait_until_settled(1);
    assert!(wait_until(PATIENCE, || !in_queue(job)), "the job ended");
    assert!(c.held_locks().is_empty(), "a crash frees the lock");
    c.assert_no_processes();
}

#[test]
fn a_killed_srun_is_crashed_and_its_job_cancelled() {
    let Some(c) = world() else { return };
    let job = spawn(&c, 1, "hang", &[]);
    wait_running(&c, 1);
    let srun = c.shim_ids(1, Kind::Worker).agent.expect("srun runs").pid;
    kill(Pid::from_raw(srun), Signal::SIGKILL).expect("kill srun");
    let line = c.watch_one(1);
    assert_eq!(line["result"], "crashed", "{line}");
    // Two true accounts race to write the record first: the local shim's
    // (srun was killed) and, when Slurm has already ended the step, the
    // node-side shim's (Slurm stopped the job).
    let detail = line["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("srun killed") || detail.contains("slurm stopped the job"),
        "{line}"
    );
    // srun's helper would leave the job to InactiveLimit; the shim cancels it.
    assert!(
        wait_until(Duration::from_secs(10), || !in_queue(job)),
        "the job is cancelled"
    );
    c.assert_no_processes();
}

#[test]
fn term_suspend_and_kill_reach_the_agent_on_the_node() {
    let Some(c) = world() else { return };
    let grace = [("ORC_TERM_GRACE", "5")];
    spawn(&c, 1, "cooperative", &grace);
    wait_running(&c, 1);
    assert_ok(&c.run("orc-signal", &["1", "TERM"]));
    assert_eq!(c.watch_one(1)["result"], "cancelled");

    let first = spawn(&c, 2, "cooperative", &grace);
    wait_running(&c, 2);
    assert_ok(&c.run("orc-signal", &["2", "SUSPEND"]));
    assert_eq!(c.watch_one(2)["result"], "suspended");
    c.wait_until_settled(2);
    // Resume is a new job in the same worktree.
    let mut resume = c.tool("orc-ctl");
    resume.args(["resume", "2"]).env("ORC_TERM_GRACE", "5");
    let resumed = c.spawn_cmd(&mut resume);
    let second = resumed.json["job"].as_u64().expect("a new job id");
    assert_ne!(first, second);
    assert_eq!(c.record(2, Kind::Worker).attempt, 2);
    wait_running(&c, 2);

    assert_ok(&c.run("orc-signal", &["2", "KILL"]));
    assert_eq!(c.watch_one(2)["result"], "killed");
    assert!(
        wait_until(PATIENCE, || !in_queue(second)),
        "KILL cancels the job"
    );
    c.assert_no_processes();
}

#[test]
fn a_job_that_waits_for_resources_is_ready_with_slurms_reason() {
    let Some(c) = world() else { return };
    let cpus = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .to_string();
    let all = format!("--cpus-per-task={cpus}");
    let env = [("ORC_SLURM_ARGS", all.as_str())];
    spawn(&c, 1, "hang", &env);
    wait_running(&c, 1);
    spawn(&c, 2, "hang", &env);
    let waiting = c.wait_record(2, Kind::Worker, |r| r.detail.contains("pending"));
    assert_eq!(waiting.state, State::Ready, "{waiting:?}");
    assert!(waiting.detail.contains("Resources"), "{}", waiting.detail);
    let ps = json_lines(&assert_ok(&c.run("orc-ps", &["--json"])));
    let row = ps
        .iter()
        .find(|r| r["issue"] == 2)
        .expect("worker 2 in orc-ps");
    assert_eq!(row["state"], "READY", "{row}");
    assert!(
        row["detail"].as_str().unwrap_or("").contains("Resources"),
        "{row}"
    );

    assert_ok(&c.run("orc-signal", &["1", "KILL"]));
    wait_running(&c, 2);
    assert_ok(&c.run("orc-signal", &["2", "KILL"]));
    c.wait_until_settled(2);
    c.assert_no_processes();
}

#[test]
fn a_lost_local_shim_leaves_the_job_running_and_its_result_is_still_learnt() {
    let Some(c) = world() else { return };
    let job = spawn(&c, 1, "ok 4", &[]);
    wait_running(&c, 1);
    let ids = c.shim_ids(1, Kind::Worker);
    kill(Pid::from_raw(ids.shim.pid), Signal::SIGKILL).expect("kill the local shim");
    assert!(wait_until(PATIENCE, || {
        ids.shim.liveness() == orc_kernel::liveness::Liveness::Dead
    }));
    assert!(in_queue(job), "the job runs on");
    // Neither recover nor watch calls it crashed while the job runs.
    let out = c.run("orc-ctl", &["recover", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("still runs"), "{}", stderr(&out));
    let line = c.watch_one(1);
    assert_eq!(line["result"], "merged", "the agent's own result: {line}");
    assert!(
        wait_until(PATIENCE, || c.held_locks().is_empty()),
        "lock freed"
    );
    c.assert_no_processes();
}

#[test]
fn cleanup_of_a_running_worker_leaves_no_job_process_lock_or_worktree() {
    let Some(c) = world() else { return };
    let before = c.git_state();
    let job = spawn(&c, 1, "hang", &[("ORC_TERM_GRACE", "3")]);
    wait_running(&c, 1);
    c.cleanup(1, &["--force"]);
    assert!(
        wait_until(PATIENCE, || !in_queue(job)),
        "cleanup cancels the job"
    );
    c.assert_nothing_left(&before);
}

#[test]
fn bad_slurm_arguments_are_refused_before_anything_is_made() {
    let c = Life::new();
    c.issue(1, "ok");
    // The state directory as any earlier command leaves it.
    std::fs::create_dir_all(&c.state).expect("create the state directory");
    std::fs::set_permissions(
        &c.state,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod the state directory");
    let before = c.snapshot();
    for (args, says) in [
        ("--mem='2G", "unclosed '"),
        ("--mem=2G hostname", "not an option"),
    ] {
        let out = run(c
            .tool("orc-spawn")
            .args(["--backend", "slurm", "1"])
            .env("ORC_SLURM_ARGS", args));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(
            stderr(&out).starts_with("orc-spawn: error: "),
            "{}",
            stderr(&out)
        );
        assert_eq!(c.snapshot(), before, "nothing changed");
    }
}

#[test]
fn a_listing_of_workers_with_lost_shims_asks_slurm_once() {
    let Some(c) = world() else { return };
    let jobs: Vec<u64> = (1..=2).map(|n| spawn(&c, n, "hang", &[])).collect();
    for n in 1..=2 {
        wait_running(&c, n);
        let ids = c.shim_ids(n, Kind::Worker);
        kill(Pid::from_raw(ids.shim.pid), Signal::SIGKILL).expect("kill the local shim");
        assert!(wait_until(PATIENCE, || {
            ids.shim.liveness() == orc_kernel::liveness::Liveness::Dead
        }));
    }
    // Slurm's clients, counted: each call appends its name to a file.
    let spy = c.root.join("spy");
    std::fs::create_dir_all(&spy).unwrap();
    let calls = c.root.join("slurm-calls");
    for client in ["squeue", "scontrol"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {client}")])
            .output()
            .unwrap();
        let real = String::from_utf8_lossy(&found.stdout).trim().to_string();
        let script = format!(
            "#!/bin/sh\necho {client} >> '{}'\nexec '{}' \"$@\"\n",
            calls.display(),
            real
        );
        let path = spy.join(client);
        std::fs::write(&path, script).unwrap();
        let mut mode = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut mode, 0o755);
        std::fs::set_permissions(&path, mode).unwrap();
    }
    let mut cmd = c.tool("orc-ps");
    let path = cmd
        .get_envs()
        .find(|(k, _)| *k == "PATH")
        .and_then(|(_, v)| v.map(std::ffi::OsStr::to_os_string))
        .unwrap();
    let mut spied = spy.clone().into_os_string();
    spied.push(":");
    spied.push(path);
    let out = run(cmd.env("PATH", spied).arg("--json"));
    let rows = json_lines(&assert_ok(&out));
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["alive"], "yes", "the job runs on: {row}");
    }
    let asked = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(asked, "squeue\n", "one squeue for both workers");
    for job in jobs {
        assert!(in_queue(job));
    }
    c.cleanup(1, &["--force"]);
    c.cleanup(2, &["--force"]);
}
