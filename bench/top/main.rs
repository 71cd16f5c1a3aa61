//! The benchmark of `orc-top` (run by `bench/run` after the others):
//! orc-top runs on a pseudo-terminal of 100×30 over a session of 1,000
//! ended workers, and this program reads what it draws into a screen grid
//! ([`vt`]), so "on screen" means the cells of the terminal say it.
//!
//! - `orc-notify` → screen: a running worker #1 ends with `orc-notify`;
//!   from launching `orc-notify` to the terminal's row #1 reading
//!   TERMINATED (target: 100 ms). `orc-notify`'s own start-to-exit time is
//!   reported beside it.
//! - key → screen: the sort key `o` to the footer naming the new order,
//!   with the 1,000 rows re-sorted.
//! - start → first screen with the fleet.
//! - idle CPU: orc-top's user + system time over a quiet period, with the
//!   1,000 ended workers alone, then with one running worker too (its age
//!   ticks each second and its liveness is re-read every 2 s).
//!
//! `bench-top [--quick] [--bin-dir DIR]`.

#[allow(dead_code)]
#[path = "../stats.rs"]
mod stats;
mod vt;
#[allow(dead_code)]
#[path = "../world.rs"]
mod world;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};
use orc_kernel::ids::{Issue, Kind};
use orc_kernel::liveness::ProcessId;
use orc_kernel::procdir::Proc;
use orc_kernel::record::State;
use orc_kernel::session::Session;

use stats::{Row, Samples};
use world::{BoxResult, World};

const WIDTH: u16 = 100;
const HEIGHT: u16 = 30;
const FLEET: u32 = 1000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-top: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// orc-top on a pseudo-terminal, and what it has drawn so far.
struct Top {
    child: Child,
    bytes: Receiver<(Instant, Vec<u8>)>,
    screen: vt::Screen,
    _master: OwnedFd,
}

impl Top {
    fn start(world: &World) -> BoxResult<Top> {
        let size = Winsize {
            ws_row: HEIGHT,
            ws_col: WIDTH,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None)?;
        let mut cmd = world.cmd("orc-top");
        cmd.env("NO_COLOR", "1")
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::null());
        let child = cmd.spawn()?;
        drop(pty.slave);
        let mut reader = std::fs::File::from(pty.master.try_clone()?);
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                    break;
                }
            }
        });
        Ok(Top {
            child,
            bytes: rx,
            screen: vt::Screen::new(usize::from(WIDTH), usize::from(HEIGHT)),
            _master: pty.master,
        })
    }

    /// Read what orc-top draws until `cond` holds of the screen; when the
    /// write that made it hold arrived.
    fn wait(&mut self, what: &str, cond: impl Fn(&vt::Screen) -> bool) -> BoxResult<Instant> {
        let deadline = Instant::now() + Duration::from_secs(30);
        if cond(&self.screen) {
            return Ok(Instant::now());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, bytes) = self
                .bytes
                .recv_timeout(left)
                .map_err(|_| format!("the screen never showed {what}"))?;
            self.screen.feed(&bytes);
            if cond(&self.screen) {
                return Ok(at);
            }
        }
    }

    fn key(&self, key: &[u8]) -> BoxResult<()> {
        nix::unistd::write(&self._master, key)?;
        Ok(())
    }

    /// orc-top's CPU time over `period` of nothing happening, after a
    /// second to settle: (CPU, wall).
    fn idle(&mut self, period: Duration) -> BoxResult<(Duration, Duration)> {
        std::thread::sleep(Duration::from_secs(1));
        // What it drew meanwhile is read, so the pipe never fills.
        while let Ok((_, bytes)) = self.bytes.try_recv() {
            self.screen.feed(&bytes);
        }
        let before = self.cpu()?;
        let start = Instant::now();
        std::thread::sleep(period);
        Ok((self.cpu()? - before, start.elapsed()))
    }

    /// User plus system CPU time of orc-top so far.
    fn cpu(&self) -> BoxResult<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        let rest = &stat[stat.rfind(')').ok_or("bad stat")? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15; `rest` starts at field 3.
        let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.ok_or("no CLK_TCK")?;
        Ok(Duration::from_secs_f64(ticks as f64 / hz as f64))
    }
}

impl Drop for Top {
    fn drop(&mut self) {
        let _ = self.key(b"q");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run() -> BoxResult<()> {
    let mut quick = false;
    let mut bin_dir = default_bin_dir()?;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--bin-dir" => bin_dir = PathBuf::from(args.next().ok_or("--bin-dir needs a DIR")?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let (runs, keys, idle) = if quick {
        (5, 5, Duration::from_secs(3))
    } else {
        (100, 60, Duration::from_secs(20))
    };
    let world = World::new(&std::path::absolute(&bin_dir)?, None)?;
    let session = world.session(None)?;
    let me = ProcessId::current();
    for issue in 2..2 + FLEET {
        world.seed(&session, issue, State::Terminated, me)?;
    }
    nix::unistd::sync();

    let started = Instant::now();
    let mut top = Top::start(&world)?;
    let first = top.wait("the fleet", |s| s.row_of(2).is_some())?;
    let mut start_row = Samples::default();
    start_row.push(first - started);

    let mut to_screen = Samples::default();
    let mut notify_own = Samples::default();
    for i in 0..runs + 2 {
        let (screen, own) = one_end(&world, &session, &mut top, me)?;
        if i >= 2 {
            to_screen.push(screen);
            notify_own.push(own);
        }
    }

    let mut key_rows = Samples::default();
    let mut sort = 0;
    let names = ["issue", "age", "priority", "attention"];
    for _ in 0..keys {
        let name = names[sort % names.len()];
        let pressed = Instant::now();
        top.key(b"o")?;
        let at = top.wait("the new sort", |s| s.shows(&format!("sorted by {name}")))?;
        key_rows.push(at - pressed);
        sort += 1;
    }
    // Back to the attention order, which the idle period runs in.
    while sort % names.len() != 0 {
        top.key(b"o")?;
        let name = names[sort % names.len()];
        top.wait("the sort", |s| s.shows(&format!("sorted by {name}")))?;
        sort += 1;
    }

    // Idle: nothing changing; first with no worker running, then with one
    // (whose age ticks each second and whose liveness is read every 2 s).
    std::fs::remove_dir_all(Proc::new(&session, Kind::Worker, Issue::from(1)).dir())?;
    top.wait("worker 1 gone", |s| s.row_of(1).is_none())?;
    let idle_none = top.idle(idle)?;
    world.seed(&session, 1, State::Running, me)?;
    top.wait("worker 1 running", |s| {
        s.row_of(1).is_some_and(|r| r.contains("RUNNING"))
    })?;
    let idle_one = top.idle(idle)?;

    println!("## orc-top\n");
    println!(
        "- {FLEET} ended workers in the session, plus the one measured; terminal {WIDTH}×{HEIGHT}, NO_COLOR"
    );
    println!(
        "- Load average (1/5/15 min): {}\n",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{}", stats::HEADER);
    let ms = Duration::from_millis;
    for row in [
        Row {
            name: "`orc-notify` launched → the worker's row reads TERMINATED on the terminal"
                .into(),
            samples: to_screen,
            target: Some(ms(100)),
        },
        Row {
            name: "… of which `orc-notify` itself (start to exit)".into(),
            samples: notify_own,
            target: None,
        },
        Row {
            name: format!("key `o` → the {FLEET} rows re-sorted on the terminal"),
            samples: key_rows,
            target: Some(ms(100)),
        },
        Row {
            name: format!("start → first screen with {FLEET} workers"),
            samples: start_row,
            target: None,
        },
    ] {
        println!("{}", row.markdown());
    }
    for (what, (used, wall)) in [("no worker running", idle_none), ("one running", idle_one)] {
        println!(
            "\nIdle, {what} and {FLEET} ended: {:.3} s of CPU over {:.1} s ({:.3}% of one CPU).",
            used.as_secs_f64(),
            wall.as_secs_f64(),
            100.0 * used.as_secs_f64() / wall.as_secs_f64()
        );
    }
    Ok(())
}

/// Worker #1 runs, then ends with `orc-notify`: (launch → screen, notify's
/// own time). Its proc directory is removed first, so every run starts the
/// same.
fn one_end(
    world: &World,
    session: &Session,
    top: &mut Top,
    me: ProcessId,
) -> BoxResult<(Duration, Duration)> {
    let proc = Proc::new(session, Kind::Worker, Issue::from(1));
    if proc.exists() {
        std::fs::remove_dir_all(proc.dir())?;
        top.wait("worker 1 gone", |s| s.row_of(1).is_none())?;
    }
    world.seed(session, 1, State::Running, me)?;
    world.lock(1, me, session.name())?;
    top.wait("worker 1 running", |s| {
        s.row_of(1).is_some_and(|r| r.contains("RUNNING"))
    })?;
    nix::unistd::sync();
    let mut notify = world.cmd("orc-notify");
    notify
        .args(["failed", "bench run"])
        .env("ORC_SESSION", session.name())
        .env("ORC_ISSUE", "1");
    let launched = Instant::now();
    let mut child = notify.spawn()?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send((Instant::now(), status.map(|s| s.success()).unwrap_or(false)));
    });
    let shown = top.wait("worker 1 ended", |s| {
        s.row_of(1).is_some_and(|r| r.contains("TERMINATED"))
    })?;
    let (exited, ok) = rx.recv_timeout(Duration::from_secs(30))?;
    if !ok {
        return Err("orc-notify failed".into());
    }
    Ok((shown - launched, exited - launched))
}

/// `target/release`, the directory above `target/release/examples/`.
fn default_bin_dir() -> BoxResult<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("no directory above the executable")?;
    Ok(dir.to_path_buf())
}
