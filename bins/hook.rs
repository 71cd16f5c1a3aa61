//! orc-hook: orc's Claude Code hooks (internal; hooks/hooks.json runs it).
//!
//! A hook that exits 2 blocks what it hooks, so this tool never does: bad
//! arguments exit 1 (a non-blocking error Claude Code shows and ignores),
//! and everything it cannot make sense of at run time exits 0, silently.

// orc-hook parses by itself (a hook must never exit 2); it shares only the
// generation of completions and man pages.
#[allow(dead_code)]
mod common;

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orc_kernel::cli::after_help;
use orc_kernel::hook;

const EXAMPLES: &str = r#"  echo '{"hook_event_name":"Stop","cwd":"'"$PWD"'"}' | orc-hook stop
  echo '{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"orc-ps"}}' | orc-hook pretooluse
  ORC_DISABLE_STOP_GUARD=1 claude ...   # turn the Stop guard off"#;

/// Claude Code hooks for orc workers. `orc-hook stop` reads a Stop event on
/// stdin; inside a worker's worktree whose record is not terminal it prints
/// {"decision":"block","reason":...} so the agent keeps going and finishes
/// with orc-notify. Anywhere else, or on input it does not understand, it
/// prints nothing and exits 0 (fail open). Never exits 2, which would block.
#[derive(Parser)]
#[command(name = "orc-hook", version, after_long_help = after_help(EXAMPLES, &[
    "  ORC_DISABLE_STOP_GUARD  1 turns the Stop guard off (also from a profile)",
    "  ORC_ISSUE, ORC_KIND     the worker, when the cwd is outside its worktree"]))]
struct Cli {
    #[command(subcommand)]
    event: Event,
}

#[derive(Subcommand)]
enum Event {
    /// The Stop guard: keep a worker's turn going until it has called orc-notify.
    Stop,
    /// PreToolUse: allow the read-only orc commands (orc-ps, orc-watch,
    /// orc-ctl logs|env, orc-queue) in any turn, plainly written; no
    /// opinion on anything else.
    Pretooluse,
}

fn main() -> ExitCode {
    if let Some(code) = common::generated::<Cli>("orc-hook") {
        return code;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are successes; anything else is a
            // non-blocking error (never 2: that would block the event).
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.event {
        Event::Pretooluse => {
            let mut input = Vec::new();
            let _ = std::io::stdin().lock().read_to_end(&mut input);
            let root = std::env::var("CLAUDE_PLUGIN_ROOT").ok();
            if let Some(json) = orc_kernel::permit::pre_tool_use(&input, root.as_deref()) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{json}").and_then(|()| out.flush());
            }
            ExitCode::SUCCESS
        }
        Event::Stop => {
            let mut input = Vec::new();
            // Unreadable input is treated like empty input: allowed.
            let _ = std::io::stdin().lock().read_to_end(&mut input);
            let cwd = std::env::current_dir().ok();
            let decision = hook::stop_guard(&input, &|k| std::env::var(k).ok(), cwd.as_deref());
            if let Some(json) = decision.output() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{json}").and_then(|()| out.flush());
            }
            ExitCode::SUCCESS
        }
    }
}
