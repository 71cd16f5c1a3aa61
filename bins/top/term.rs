//! The terminal while orc-top runs: raw mode and the alternate screen,
//! given back on exit and around a pager or a tmux attach. Standard error
//! goes to /dev/null meanwhile (a warning written there would tear the
//! screen); it is restored before orc-top prints its own errors.

use std::io::{Stdout, Write, stdout};
use std::os::fd::OwnedFd;
use std::path::Path;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use orc_kernel::error::{Error, Result};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The terminal, set up; dropping it gives the terminal back.
pub struct Term {
    /// The ratatui terminal.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    saved_stderr: Option<OwnedFd>,
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::io(what, Path::new("terminal"), e)
}

impl Term {
    /// Raw mode, the alternate screen, no cursor.
    pub fn start() -> Result<Term> {
        let saved_stderr = quiet_stderr();
        enter()?;
        let terminal =
            Terminal::new(CrosstermBackend::new(stdout())).map_err(|e| io("set up", e))?;
        Ok(Term {
            terminal,
            saved_stderr,
        })
    }

    /// Give the terminal to `child` (a pager, tmux) until it exits.
    pub fn hand_over(&mut self, child: &mut std::process::Command) -> Result<()> {
        leave();
        if let Some(fd) = &self.saved_stderr {
            let _ = nix::unistd::dup2_stderr(fd);
        }
        let status = child.status();
        self.saved_stderr = quiet_stderr();
        enter()?;
        self.terminal.clear().map_err(|e| io("clear", e))?;
        status.map(|_| ()).map_err(|e| io("run a program from", e))
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        leave();
        if let Some(fd) = &self.saved_stderr {
            let _ = nix::unistd::dup2_stderr(fd);
        }
    }
}

fn enter() -> Result<()> {
    enable_raw_mode().map_err(|e| io("enter raw mode on", e))?;
    execute!(stdout(), EnterAlternateScreen, Hide).map_err(|e| io("enter", e))
}

fn leave() {
    let _ = execute!(stdout(), Show, LeaveAlternateScreen);
    let _ = disable_raw_mode();
    let _ = stdout().flush();
}

/// Point stderr at /dev/null; the original, to restore.
fn quiet_stderr() -> Option<OwnedFd> {
    let saved = nix::unistd::dup(std::io::stderr()).ok()?;
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok()?;
    nix::unistd::dup2_stderr(&null).ok()?;
    Some(saved)
}
