//! orc: `orc TOOL ARGS` runs `orc-TOOL ARGS`, like git.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use orc_kernel::cli;
use orc_kernel::error::Error;
use orc_kernel::exit;

const TOOLS: &[(&str, &str)] = &[
    ("spawn", "start a supervised worker for an issue"),
    ("watch", "wait for workers to end"),
    ("signal", "send TERM, SUSPEND or KILL to a worker"),
    ("ps", "list workers"),
    (
        "top",
        "a live view of workers, queue, schedules and events; keys act",
    ),
    ("ctl", "control workers across sessions"),
    (
        "cleanup",
        "remove a worker's worktree, branch, lock and records",
    ),
    ("dispatch", "run a queue of issues"),
    ("cron", "recurring schedules"),
    ("at", "one-shot schedules"),
    ("lock", "issue locks and named mutexes"),
    ("state", "worker side: report a phase"),
    ("notify", "worker side: report the result and end"),
    ("ci", "worker side: wait for a pull request's checks"),
];

fn usage() -> String {
    let mut text = String::from("usage: orc TOOL [ARGS...]   (runs orc-TOOL ARGS...)\n\ntools:\n");
    for (name, about) in TOOLS {
        text.push_str(&format!("  {name:<9} {about}\n"));
    }
    text.push_str("\n`orc TOOL --help` shows a tool's flags, environment and exit codes.\n\n");
    text.push_str(exit::TABLE);
    text
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(tool) = args.first() else {
        return cli::usage_error("orc", &usage());
    };
    cli::run("orc", || {
        match tool.as_str() {
            "-h" | "--help" | "help" => {
                cli::out(&usage())?;
                return Ok(exit::OK);
            }
            "-V" | "--version" => {
                cli::out(&format!("orc {}", env!("CARGO_PKG_VERSION")))?;
                return Ok(exit::OK);
            }
            _ => {}
        }
        let valid = tool.starts_with(|c: char| c.is_ascii_lowercase())
            && tool.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if !valid {
            return Err(
                Error::usage("not a tool name", tool.clone()).hint("run `orc --help` for the list")
            );
        }
        let name = format!("orc-{tool}");
        let program = sibling(&name).unwrap_or_else(|| PathBuf::from(&name));
        let err = Command::new(&program).args(&args[1..]).exec();
        Err(Error::usage(
            format!("cannot run {name}: {err}"),
            program.display().to_string(),
        )
        .hint("run `orc --help` for the list of tools"))
    })
}

/// The tool next to this executable, so `orc` runs its own build's tools
/// before any other on PATH.
fn sibling(name: &str) -> Option<PathBuf> {
    let path = orc_kernel::paths::bin_dir()?.join(name);
    path.is_file().then_some(path)
}
