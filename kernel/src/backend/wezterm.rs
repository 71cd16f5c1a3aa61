//! The `wezterm` backend: a tab per worker, opened with `wezterm cli spawn`
//! in the current window, titled `<kind>-<N>`, with the shim as the tab's
//! program and the agent attached to the tab's terminal.
//!
//! Closing a tab, WezTerm sends the tab's process SIGHUP and SIGKILL a
//! moment later; the interactive shim keeps its supervisor out of the
//! tab's process (see `backend::pane`), so the worker still ends like TERM.
//! WezTerm has no equivalent of tmux's `pipe-pane`: the agent's screen
//! stays in the tab (`wezterm cli get-text --pane-id N` prints it), and
//! the proc log holds the lifecycle lines and the pane id.

use super::{ShimLaunch, client, note, prepare_log, scrubbed_command, utf8};
use crate::error::Result;

/// WezTerm's own `TERM` (its `term` setting's default).
const TERM: &str = "xterm-256color";

/// The arguments of `wezterm` that open the tab; the one place that knows
/// its command line.
fn spawn_args(cwd: &str, command: Vec<String>) -> Vec<String> {
    let mut args: Vec<String> = ["cli", "spawn", "--cwd", cwd, "--"]
        .map(String::from)
        .into();
    args.extend(command);
    args
}

/// The arguments that title the tab holding `pane`.
fn title_args(pane: &str, title: &str) -> Vec<String> {
    ["cli", "set-tab-title", "--pane-id", pane, title]
        .map(String::from)
        .into()
}

/// Open the worker's tab with the shim in it.
pub(super) fn launch(l: &ShimLaunch) -> Result<()> {
    let name = l.worker_name()?;
    let command = scrubbed_command(l, TERM)?;
    prepare_log(&l.log)?;
    let out = client("wezterm", &spawn_args(utf8(&l.cwd)?, command))?
        .into_result("wezterm", "open a tab")?;
    // `spawn` prints the new pane's id.
    let pane = out.trim();
    if pane.is_empty() || !pane.bytes().all(|b| b.is_ascii_digit()) {
        note(
            &l.log,
            &format!("running in a wezterm tab (pane id unknown: {pane:?})"),
        );
        return Ok(());
    }
    // Titles came with WezTerm 20230408; an older one keeps its default.
    let titled = client("wezterm", &title_args(pane, &name)).is_ok_and(|r| r.ok);
    note(
        &l.log,
        &format!(
            "running in wezterm pane {pane}{}; see it with `wezterm cli activate-pane --pane-id {pane}`",
            if titled {
                format!(" (tab {name})")
            } else {
                String::new()
            }
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tab_runs_the_command_in_the_worktree() {
        let args = spawn_args("/w t", vec!["/usr/bin/env".into(), "-i".into()]);
        assert_eq!(
            args,
            ["cli", "spawn", "--cwd", "/w t", "--", "/usr/bin/env", "-i"]
        );
        assert_eq!(
            title_args("7", "worker-3"),
            ["cli", "set-tab-title", "--pane-id", "7", "worker-3"]
        );
    }
}
