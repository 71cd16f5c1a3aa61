//! The benchmarks behind `make bench` (run through `bench/run`).
//!
//! Each measurement runs the release binaries as real processes, many
//! times, and reports the median, the 90th percentile and the fastest run
//! next to its target, with the machine, its load and the date: the
//! machine is small and shared, so the figures are for comparing, and no
//! test asserts them.
//!
//! `bench [--quick] [--crash] [--bin-dir DIR]`: `--quick` runs a few
//! iterations of each, to check the program itself; `--crash` runs only
//! the crash latencies (SIGKILL of an agent → `orc-watch`); `--bin-dir`
//! points at other builds (default: the directory above this example,
//! `target/release`).

mod cluster;
mod lifecycle;
mod measure;
mod stats;
mod world;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use stats::Row;
use world::{BoxResult, World};

/// How many of each.
pub struct Plan {
    pub ps_workers: u32,
    pub ps_runs: usize,
    pub notify_runs: usize,
    pub wake_runs: usize,
    pub ring_runs: usize,
    pub baseline_runs: usize,
    pub warmup: usize,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            ps_workers: 1000,
            ps_runs: 60,
            notify_runs: 200,
            wake_runs: 200,
            ring_runs: 1000,
            baseline_runs: 200,
            warmup: 5,
        }
    }

    fn quick() -> Plan {
        Plan {
            ps_workers: 1000,
            ps_runs: 3,
            notify_runs: 5,
            wake_runs: 5,
            ring_runs: 20,
            baseline_runs: 5,
            warmup: 1,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> BoxResult<()> {
    let mut plan = Plan::full();
    let mut life = lifecycle::Plan {
        crash_runs: 20,
        spawn_runs: 20,
        fan_out: 100,
    };
    let mut bin_dir = default_bin_dir()?;
    let mut crash_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => {
                plan = Plan::quick();
                life = lifecycle::Plan {
                    crash_runs: 3,
                    spawn_runs: 3,
                    fan_out: 10,
                };
            }
            "--crash" => crash_only = true,
            "--bin-dir" => bin_dir = PathBuf::from(args.next().ok_or("--bin-dir needs a DIR")?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    for tool in ["orc-ps", "orc-notify"] {
        if !bin_dir.join(tool).is_file() {
            return Err(format!("no {tool} in {} (run `make build`)", bin_dir.display()).into());
        }
    }
    let load_before = load_average();
    if crash_only {
        return crash_report(&bin_dir, life.crash_runs, &load_before);
    }
    let world = World::new(&bin_dir, None)?;
    let ms = Duration::from_millis;
    let ps = measure::ps(&world, &plan)?;
    let (notify, durable) = measure::notify(&world, &plan)?;
    let mut rows = vec![
        Row {
            name: "baseline: spawn and wait for `/bin/true`".into(),
            samples: measure::baseline(&plan)?,
            target: None,
        },
        Row {
            name: format!("`orc-ps --json` over {} workers", plan.ps_workers),
            samples: ps,
            target: Some(ms(50)),
        },
        Row {
            name: "`orc-notify` (start to exit)".into(),
            samples: notify,
            target: Some(ms(5)),
        },
        Row {
            name: "reference: one durable write (temp file, fsync, rename, fsync dir), paired with each `orc-notify`".into(),
            samples: durable,
            target: None,
        },
        Row {
            name: "wake: `orc-notify` launched → reader wakes".into(),
            samples: measure::wake_from_launch(&world, &plan)?,
            target: Some(ms(5)),
        },
        Row {
            name: "wake: FIFO write (`wake::ring`) → reader wakes".into(),
            samples: measure::wake_from_write(&world, &plan)?,
            target: None,
        },
    ];
    // The same orc-notify with the state in memory: how much of it is the
    // fsyncs that make its writes durable.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && filesystem(&world.state) != "tmpfs" {
        let in_memory = World::new(&bin_dir, Some(shm))?;
        rows.push(Row {
            name: "`orc-notify`, state directory on tmpfs (fsync costs nothing)".into(),
            samples: measure::notify(&in_memory, &plan)?.0,
            target: None,
        });
    }
    let lifecycle_world = World::new(&bin_dir, None)?;
    let figures = lifecycle::run(&lifecycle_world, &life)?;
    for (what, samples) in &figures.crash {
        rows.push(Row {
            name: format!("crash: SIGKILL of the agent → `orc-watch` prints `crashed`; {what}"),
            samples: samples.clone(),
            target: Some(ms(5)),
        });
    }
    rows.push(Row {
        name: "`orc-spawn` (local tracker, fake agent; start to exit, agent started)".into(),
        samples: figures.spawn.clone(),
        target: None,
    });
    rows.push(Row {
        name: "… of which git processes (trace2 `exit` events)".into(),
        samples: figures.spawn_git.clone(),
        target: None,
    });
    // Through Slurm beside headless, where a cluster answers.
    if cluster::reachable() {
        let runs = if life.crash_runs < 10 { 3 } else { 10 };
        let cluster_world = World::new(&bin_dir, None)?;
        for (name, samples) in cluster::run(&cluster_world, runs)? {
            rows.push(Row {
                name,
                samples,
                target: None,
            });
        }
    } else {
        eprintln!("bench: no Slurm cluster answers: no cluster rows (scripts/slurm-up starts one)");
    }
    let load_after = load_average();

    println!("# orc benchmarks\n");
    println!("- Date: {}", orc_kernel::clock::format(&chrono::Utc::now()));
    println!("- Machine: {}", machine());
    println!("- Load average (1/5/15 min): {load_before} before, {load_after} after");
    println!(
        "- State directory: {} ({})",
        filesystem(&world.state),
        world.state.display()
    );
    println!("- Binaries: {} (commit {})\n", bin_dir.display(), commit());
    println!("{}", stats::HEADER);
    for row in &rows {
        println!("{}", row.markdown());
    }
    let own = figures
        .spawn
        .median()
        .saturating_sub(figures.spawn_git.median());
    println!(
        "\n`orc-spawn` medians: {} in all, {} in git, {} orc's own ({:.0}% git).",
        stats::ms(figures.spawn.median()),
        stats::ms(figures.spawn_git.median()),
        stats::ms(own),
        100.0 * figures.spawn_git.median().as_secs_f64()
            / figures.spawn.median().as_secs_f64().max(1e-9)
    );
    let mut rss = figures.shim_rss_kib.clone();
    rss.sort_unstable();
    if let Some(median) = rss.get(rss.len() / 2) {
        println!(
            "\nIdle `orc-shim` RSS over {} shims: median {} KiB, max {} KiB (target < 4096 KiB: {}).",
            rss.len(),
            median,
            rss.last().copied().unwrap_or(0),
            if *median < 4096 { "met" } else { "missed" }
        );
    }
    let (workers, reported, terminal, zombies, took) = figures.fan_out;
    println!(
        "\n{workers} workers of the fake agent at once: {reported} reported by `orc-watch`, {terminal} terminal records, {zombies} zombies left unreaped by orc, {:.1} s from the first spawn to the last report.",
        took.as_secs_f64()
    );
    Ok(())
}

/// `--crash`: only the crash latencies, as a report of their own: with
/// the state directory on the disk, and again on tmpfs (`/dev/shm`), where
/// the fsyncs that make the record and the lock durable cost nothing.
fn crash_report(bin_dir: &Path, runs: usize, load_before: &str) -> BoxResult<()> {
    let world = World::new(bin_dir, None)?;
    let mut rows = crash_rows(&world, runs, "")?;
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && filesystem(&world.state) != "tmpfs" {
        rows.extend(crash_rows(
            &World::new(bin_dir, Some(shm))?,
            runs,
            ", state on tmpfs",
        )?);
    }
    println!("# orc crash latencies\n");
    println!("- Date: {}", orc_kernel::clock::format(&chrono::Utc::now()));
    println!("- Machine: {}", machine());
    println!(
        "- Load average (1/5/15 min): {load_before} before, {} after",
        load_average()
    );
    println!(
        "- State directory: {} ({})",
        filesystem(&world.state),
        world.state.display()
    );
    println!("- Binaries: {} (commit {})\n", bin_dir.display(), commit());
    println!("{}", stats::HEADER);
    for row in &rows {
        println!("{}", row.markdown());
    }
    Ok(())
}

fn crash_rows(world: &World, runs: usize, suffix: &str) -> BoxResult<Vec<Row>> {
    let next = std::cell::Cell::new(1u32);
    let issue = |mode: &str| -> BoxResult<u32> {
        let n = next.get();
        next.set(n + 1);
        lifecycle::add_issue(world, n, mode)?;
        Ok(n)
    };
    Ok(lifecycle::crashes(world, runs, &issue)?
        .into_iter()
        .map(|(what, samples)| Row {
            name: format!(
                "crash: SIGKILL of the agent → `orc-watch` prints `crashed`; {what}{suffix}"
            ),
            samples,
            target: Some(Duration::from_millis(5)),
        })
        .collect())
}

/// `target/release`, the directory above `target/release/examples/bench`.
fn default_bin_dir() -> BoxResult<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no directory above the executable")?;
    Ok(dir.to_path_buf())
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_string(), |t| t.trim().to_string())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    let text = read_trimmed("/proc/loadavg");
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The checked-out commit the binaries were built from, if in a checkout.
fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
}

/// `N CPUs (nproc), model, OS kernel`.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let kernel = read_trimmed("/proc/sys/kernel/osrelease");
    format!(
        "{cpus} CPUs (nproc), {model}, {} {kernel}",
        std::env::consts::OS
    )
}

/// The file system holding `path`, by name where known.
#[cfg(target_os = "linux")]
fn filesystem(path: &Path) -> String {
    match nix::sys::statfs::statfs(path) {
        Ok(fs) => match fs.filesystem_type().0 as u64 {
            0xEF53 => "ext4".to_string(),
            0x0102_1994 => "tmpfs".to_string(),
            0x9123_683E => "btrfs".to_string(),
            0x5846_5342 => "xfs".to_string(),
            0x794C_7630 => "overlayfs".to_string(),
            other => format!("file system 0x{other:x}"),
        },
        Err(e) => format!("unknown file system ({e})"),
    }
}

#[cfg(not(target_os = "linux"))]
fn filesystem(_path: &Path) -> String {
    "unknown file system".to_string()
}
