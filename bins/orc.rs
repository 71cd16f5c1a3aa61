//! orc: `orc TOOL ARGS` runs `orc-TOOL ARGS`, like git; `orc completions`
//! and `orc man` generate shell completions and man pages from every tool's
//! clap definition.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use orc_kernel::cli;
use orc_kernel::error::{Error, Result};
use orc_kernel::exit;

/// Every tool, with its one line; the internal ones last.
const TOOLS: &[(&str, &str)] = &[
    ("spawn", "start a supervised worker for an issue"),
    ("watch", "wait for workers to end"),
    ("signal", "send TERM, SUSPEND or KILL to a worker"),
    ("ps", "list workers"),
    (
        "top",
        "a live view of workers, queue, schedules and events; keys act",
    ),
    (
        "ctl",
        "control workers across sessions; show the configuration",
    ),
    (
        "cleanup",
        "remove a worker's worktree, branch, lock and records",
    ),
    ("dispatch", "run a queue of issues"),
    (
        "queue",
        "show the run queue; retry, skip, requeue, prio, hold, release",
    ),
    ("cron", "recurring schedules"),
    ("at", "one-shot schedules"),
    ("lock", "issue locks and named mutexes"),
    ("state", "worker side: report a phase"),
    ("notify", "worker side: report the result and end"),
    ("ci", "worker side: wait for a pull request's checks"),
    ("shim", "internal: the supervisor of one worker"),
    ("hook", "internal: orc's Claude Code hooks"),
];

/// What `orc` itself does besides running a tool.
const BUILTINS: &[(&str, &str)] = &[
    (
        "completions",
        "print shell completions: orc completions bash|zsh|fish [TOOL]",
    ),
    ("man", "print a tool's man page: orc man TOOL"),
];

const EXAMPLES: &str = "  orc spawn 42                 # the same as orc-spawn 42
  orc watch --any 42 43
  orc ps --health
  orc dispatch --label ready --max 3
  orc cron add --schedule '0 9 * * 1-5' --label ready
  source <(orc completions bash)
  orc man orc-spawn | man -l -";

fn usage() -> String {
    let mut text = String::from(
        "usage: orc TOOL [ARGS...]   (runs orc-TOOL ARGS...)\n\
         \x20      orc completions bash|zsh|fish [TOOL...]\n\
         \x20      orc man TOOL\n\ntools:\n",
    );
    for (name, about) in TOOLS.iter().chain(BUILTINS) {
        text.push_str(&format!("  {name:<11} {about}\n"));
    }
    text.push_str("\n`orc TOOL --help` shows a tool's flags, environment and exit codes.\n\n");
    text.push_str(&cli::after_help(
        EXAMPLES,
        &[
            "  ORC_ROOT        the plugin root: agents, skills, profiles (found from the executable)",
            "  ORC_BIN_DIR     where the launchers in bin/ find the orc-* binaries",
            "  ORC_AGENT       claude, codex, opencode, gemini or custom (default claude)",
            "  ORC_TRACKER     local or github",
            "  ORC_BACKEND     headless, tmux or wezterm (default headless)",
        ],
    ));
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
            "completions" => return completions(&args[1..]),
            "man" => return man(&args[1..]),
            _ => {}
        }
        let valid = tool.starts_with(|c: char| c.is_ascii_lowercase())
            && tool.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
        if !valid {
            return Err(
                Error::usage("not a tool name", tool.clone()).hint("run `orc --help` for the list")
            );
        }
        let name = known(tool)?;
        let program = sibling(&name).unwrap_or_else(|| PathBuf::from(&name));
        let err = Command::new(&program).args(&args[1..]).exec();
        Err(Error::failure(
            format!("cannot run {name}: {err}"),
            program.display().to_string(),
        )
        .hint("orc is not fully installed: run `make install`, or `make build` in a checkout"))
    })
}

/// `orc-TOOL` for a known tool name (with or without the `orc-` prefix).
fn known(tool: &str) -> Result<String> {
    let bare = tool.strip_prefix("orc-").unwrap_or(tool);
    if TOOLS.iter().any(|(name, _)| *name == bare) {
        return Ok(format!("orc-{bare}"));
    }
    let names: Vec<&str> = TOOLS.iter().chain(BUILTINS).map(|(n, _)| *n).collect();
    Err(Error::usage("unknown tool", tool).hint(format!("the tools are: {}", names.join(", "))))
}

/// `orc completions SHELL [TOOL...]`: the completion scripts of the given
/// tools (default: orc and every tool), one after the other.
fn completions(args: &[String]) -> Result<u8> {
    let Some(shell) = args.first() else {
        return Err(Error::usage("which shell?", "orc completions")
            .hint("orc completions bash|zsh|fish [TOOL...]"));
    };
    if !["bash", "zsh", "fish"].contains(&shell.as_str()) {
        return Err(Error::usage("no completions for this shell", shell.clone())
            .hint("orc completions bash|zsh|fish [TOOL...]"));
    }
    let tools: Vec<String> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|t| if t == "orc" { Ok(t.clone()) } else { known(t) })
            .collect::<Result<_>>()?
    } else {
        std::iter::once("orc".to_string())
            .chain(TOOLS.iter().map(|(n, _)| format!("orc-{n}")))
            .collect()
    };
    for tool in tools {
        let text = if tool == "orc" {
            own_completions(shell)
        } else {
            generated(&tool, shell)?
        };
        cli::out(text.trim_end())?;
    }
    Ok(exit::OK)
}

/// `orc man TOOL`: the tool's man page (roff).
fn man(args: &[String]) -> Result<u8> {
    let [tool] = args else {
        return Err(Error::usage("which tool?", "orc man").hint("orc man TOOL, e.g. orc man spawn"));
    };
    let text = if tool == "orc" {
        own_man()
    } else {
        generated(&known(tool)?, "man")?
    };
    cli::out(text.trim_end())?;
    Ok(exit::OK)
}

/// What tool `name` generates for `what` (its hidden `--orc-generate`).
fn generated(name: &str, what: &str) -> Result<String> {
    let program = sibling(name).unwrap_or_else(|| PathBuf::from(name));
    let out = Command::new(&program)
        .args(["--orc-generate", what])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            Error::failure(
                format!("cannot run {name}: {e}"),
                program.display().to_string(),
            )
        })?;
    if !out.status.success() {
        return Err(Error::failure(
            format!("{name} could not generate {what}"),
            program.display().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// orc's own command: the tools and builtins as subcommands.
fn own_command() -> clap::Command {
    let mut cmd = clap::Command::new("orc")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Run coding agents as supervised worker processes, one git worktree per issue")
        .after_long_help(cli::after_help(EXAMPLES, &[]));
    for (name, about) in TOOLS.iter().chain(BUILTINS) {
        cmd = cmd.subcommand(
            clap::Command::new(*name)
                .about(*about)
                .arg(clap::Arg::new("args").num_args(0..).trailing_var_arg(true)),
        );
    }
    cmd
}

fn own_completions(shell: &str) -> String {
    let shell = match shell {
        "zsh" => clap_complete::Shell::Zsh,
        "fish" => clap_complete::Shell::Fish,
        _ => clap_complete::Shell::Bash,
    };
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut own_command(), "orc", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn own_man() -> String {
    let mut buf = Vec::new();
    // Rendering into a Vec cannot fail for want of space.
    let _ = clap_mangen::Man::new(own_command()).render(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The tool next to this executable, so `orc` runs its own build's tools
/// before any other on PATH.
fn sibling(name: &str) -> Option<PathBuf> {
    let path = orc_kernel::paths::bin_dir()?.join(name);
    path.is_file().then_some(path)
}
