//! What every tool's `main` shares: printing results, rendering errors, and
//! turning the outcome into an exit code. Broken pipes exit 0.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::error::{Error, Kind, Result};

/// Run a tool's body and map its result to an exit code. The body returns
/// the exit code for success paths that are not 0 (e.g. `orc-state`'s 3).
pub fn run(tool: &str, body: impl FnOnce() -> Result<u8>) -> ExitCode {
    match body() {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.kind() == Kind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}", e.render(tool));
            ExitCode::from(e.code())
        }
    }
}

/// Report a command-line parse error like every other orc error: the
/// parser's message (`error: …` with its usage and tip lines) is printed
/// as `orc-<tool>: error: …` on stderr, and the tool exits 2. A usage
/// screen shown because nothing was given gets the error line on top.
pub fn usage_error(tool: &str, message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{}", usage_text(tool, message));
    ExitCode::from(crate::exit::USAGE)
}

fn usage_text(tool: &str, message: &str) -> String {
    let message = message.trim_end();
    match message.strip_prefix("error: ") {
        Some(rest) => format!("{tool}: error: {rest}"),
        None => format!("{tool}: error: missing arguments\n\n{message}"),
    }
}

/// Write one line to stdout; a closed pipe becomes [`Kind::BrokenPipe`].
pub fn out(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("write", std::path::Path::new("stdout"), e))
}

/// Write a warning to stderr: `orc-<tool>: warning: …`.
pub fn warn(tool: &str, err: &Error) {
    let text = err.render(tool).replacen(": error: ", ": warning: ", 1);
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Whether stdout is a terminal (tables for people, JSON for programs).
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress lines only for people).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// Render rows as a left-aligned table with two spaces between columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// The environment variables every tool reads.
// One literal a line: a `\` line continuation would also eat the indent of
// the first line.
pub const COMMON_ENV: &str = concat!(
    "  ORC_STATE_DIR   state directory (absolute; default ${XDG_STATE_HOME:-~/.local/state}/orc)\n",
    "  ORC_SESSION     session name (default <repo-name>-<8 hex of the main repository root>)\n",
    "  ORC_ENV         configuration profile (default: default); see envs/README.md",
);

/// The environment a worker-side tool reads to find itself.
pub const WORKER_ENV: &str = concat!(
    "  ORC_ISSUE       this worker's issue (else --issue, else .orc-env in the worktree)\n",
    "  ORC_KIND        worker or reviewer (default worker)",
);

/// Long-help trailer: examples, environment and the exit-code table.
pub fn after_help(examples: &str, env: &[&str]) -> String {
    let mut text = String::new();
    if !examples.is_empty() {
        text.push_str("Examples:\n");
        text.push_str(examples);
        text.push_str("\n\n");
    }
    text.push_str("Environment:\n");
    text.push_str(COMMON_ENV);
    for extra in env {
        text.push('\n');
        text.push_str(extra);
    }
    text.push_str("\n\n");
    text.push_str(crate::exit::TABLE);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_read_like_orc_errors() {
        let clap = "error: unexpected argument '-1' found\n\nUsage: orc-lock acquire <ISSUE>\n";
        assert_eq!(
            usage_text("orc-lock", clap),
            "orc-lock: error: unexpected argument '-1' found\n\nUsage: orc-lock acquire <ISSUE>"
        );
        assert!(
            usage_text("orc-lock", "Usage: orc-lock <COMMAND>\n")
                .starts_with("orc-lock: error: missing arguments\n\nUsage:")
        );
    }
}
