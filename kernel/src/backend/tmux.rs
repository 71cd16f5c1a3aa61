//! The `tmux` backend: a window per worker, named `<kind>-<N>`, in a
//! detached session `orc-<session>` of its own (created with the first
//! window when missing). The window's command is the shim itself, given as
//! separate arguments (tmux 3.0 and later exec them without a shell), so
//! the agent, the shim's only child, is attached to the pane's terminal.
//!
//! The pane's output reaches the proc log through `pipe-pane`, so
//! `orc-ctl logs` shows it as for a headless worker. `remain-on-exit` is
//! turned off for the window, whatever the user's configuration says, so
//! the window closes when the shim exits; closing the window hangs up the
//! pane, and the shim treats that hang-up like TERM.
//!
//! `ORC_TMUX_SOCKET` picks the server: a name (`tmux -L`) or, with a slash,
//! a path (`tmux -S`). Unset, tmux finds its server as usual (`$TMUX`
//! inside tmux, else the default socket under `TMUX_TMPDIR`).

use std::path::Path;
use std::time::Duration;

use super::{Reply, ShimLaunch, client, note, prepare_log, scrubbed_command, utf8};
use crate::error::{Error, Result};
use crate::profile::{Config, quote};
use crate::repo::Repo;

/// The oldest tmux that execs a multi-word window command directly; older
/// ones join the words into a shell string, which orc never builds.
const MIN_MAJOR: u32 = 3;

/// The command a new window holds until the shim replaces it a moment
/// later; should that never happen, it ends and the window closes.
const PLACEHOLDER: [&str; 2] = ["sleep", "60"];

/// How many more times a window that could not be made is tried.
const RETRIES: u64 = 4;

/// The terminal type when tmux names none.
const FALLBACK_TERM: &str = "screen";

/// Open the worker's window with the shim in it.
pub(super) fn launch(l: &ShimLaunch) -> Result<()> {
    // The configuration as spawn resolved it: the same environment, and the
    // same project profile, found from the worktree.
    let repo = Repo::discover(&l.cwd)?;
    let config = Config::load(repo.as_ref().map(|r| r.root.as_path()))?;
    let tmux = Tmux::new(config.get("ORC_TMUX_SOCKET"));
    tmux.check_version()?;
    let window = Window {
        session: session_name(l.var("ORC_SESSION")?),
        name: l.worker_name()?,
    };
    prepare_log(&l.log)?;
    let pane = tmux.open(&window, l)?;
    note(
        &l.log,
        &format!(
            "running in tmux window {}:{} (pane {pane}); attach with `{} attach -t {}`",
            window.session,
            window.name,
            tmux.invocation(),
            window.target()
        ),
    );
    Ok(())
}

/// Where a person sees worker `name` (`worker-12`) of orc session
/// `session` on the tmux server `socket` (`ORC_TMUX_SOCKET`): the words that
/// choose the server and the window's exact target, when that window
/// exists. `None` for a worker that has no window (headless, ended).
pub fn find_window(
    socket: Option<&str>,
    session: &str,
    name: &str,
) -> Option<(Vec<String>, String)> {
    let tmux = Tmux::new(socket);
    let window = Window {
        session: session_name(session),
        name: name.to_string(),
    };
    let names = tmux
        .run(&[
            "list-windows",
            "-t",
            &format!("={}", window.session),
            "-F",
            "#{window_name}",
        ])
        .ok()?
        .into_result("tmux", "list windows")
        .ok()?;
    names
        .lines()
        .any(|l| l == name)
        .then(|| (tmux.socket.clone(), window.target()))
}

/// A worker's window: its session and its name.
struct Window {
    session: String,
    name: String,
}

impl Window {
    /// The exact-match target of the window (`=` refuses prefix matches),
    /// for a person attaching to it.
    fn target(&self) -> String {
        format!("={}:={}", self.session, self.name)
    }
}

/// One tmux server, as chosen by `ORC_TMUX_SOCKET`.
struct Tmux {
    socket: Vec<String>,
}

impl Tmux {
    fn new(socket: Option<&str>) -> Tmux {
        let socket = match socket.filter(|s| !s.is_empty()) {
            Some(path) if path.contains('/') => vec!["-S".to_string(), path.to_string()],
            Some(name) => vec!["-L".to_string(), name.to_string()],
            None => Vec::new(),
        };
        Tmux { socket }
    }

    /// How a person reaches this server from a shell.
    fn invocation(&self) -> String {
        let mut words = vec!["tmux".to_string()];
        words.extend(self.socket.iter().map(|w| shell_word(w)));
        words.join(" ")
    }

    fn run(&self, args: &[&str]) -> Result<Reply> {
        let mut all = self.socket.clone();
        all.extend(args.iter().map(|a| a.to_string()));
        client("tmux", &all)
    }

    fn check_version(&self) -> Result<()> {
        let version = self.run(&["-V"])?.into_result("tmux", "tell its version")?;
        match major_version(&version) {
            Some(major) if major < MIN_MAJOR => Err(Error::failure(
                format!("tmux {MIN_MAJOR}.0 or later is needed"),
                version.trim().to_string(),
            )
            .hint("upgrade tmux, or run workers with --backend headless")),
            _ => Ok(()),
        }
    }

    /// Open the window with the shim in it; returns the pane's id.
    ///
    /// In two steps, because the tmux server keeps the command line of the
    /// client that started it for its whole life, readable by every local
    /// user: the window is made with a placeholder, then the shim's command
    /// line (its environment included) replaces the placeholder through a
    /// client that lives a few milliseconds. If that fails, the window goes.
    fn open(&self, window: &Window, l: &ShimLaunch) -> Result<String> {
        let pane = self.placeholder(window)?;
        let started = self.start_shim(window, &pane, l);
        if started.is_err() {
            let _ = self.run(&["kill-pane", "-t", &pane]);
        }
        started.map(|()| pane)
    }

    /// One command list starts the shim in `pane`, sets the window's
    /// options and pipes the pane to the log: tmux reads no pane in the
    /// middle of a list, so none of the agent's first output is missed.
    fn start_shim(&self, window: &Window, pane: &str, l: &ShimLaunch) -> Result<()> {
        let command = scrubbed_command(l, &self.default_terminal()?)?;
        let command: Vec<String> = command.iter().map(|w| literal(w)).collect();
        // -c is expanded as a tmux format: '#' must be doubled.
        let cwd = literal(&utf8(&l.cwd)?.replace('#', "##"));
        let pipe = pipe_command(&l.log)?;
        let mut args = vec!["respawn-pane", "-k", "-t", pane, "-c", &cwd, "--"];
        args.extend(command.iter().map(String::as_str));
        args.extend([";", "set-option", "-w", "-t", pane]);
        args.extend(["remain-on-exit", "off"]);
        args.extend([";", "pipe-pane", "-o", "-t", pane, &pipe]);
        let what = format!("start the shim in window {}", window.name);
        self.run(&args)?.into_result("tmux", &what).map(drop)
    }

    /// The `TERM` of tmux's panes (`default-terminal`). Asked once a window
    /// of ours keeps the server up: a server started just for the question
    /// would exit at once (`exit-empty`), under the next client's feet.
    fn default_terminal(&self) -> Result<String> {
        let out = self
            .run(&["show-options", "-gv", "default-terminal"])?
            .into_result("tmux", "show default-terminal")?;
        let term = out.trim();
        Ok(if term.is_empty() { FALLBACK_TERM } else { term }.to_string())
    }

    fn has_session(&self, session: &str) -> Result<bool> {
        Ok(self.run(&["has-session", "-t", &format!("={session}")])?.ok)
    }

    /// A new window holding a placeholder that ends by itself if the shim
    /// never replaces it; the session is created with it when missing.
    ///
    /// Tried again on failure, asking afresh whether the session exists:
    /// two spawns may race to create it (the loser adds a window), and a
    /// server whose last window just closed may take the command and exit
    /// before answering ("server exited unexpectedly"); the next try starts
    /// a new one.
    fn placeholder(&self, window: &Window) -> Result<String> {
        let mut tries = 0;
        let made = loop {
            let exists = self.has_session(&window.session)?;
            match self.new_window(window, exists) {
                Ok(out) => break out,
                Err(e) if tries >= RETRIES => return Err(e),
                Err(_) => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(25 * tries));
                }
            }
        };
        let pane = made.trim().to_string();
        if !pane.starts_with('%') {
            return Err(Error::failure(
                "tmux did not name the new pane",
                format!("{pane:?}"),
            ));
        }
        Ok(pane)
    }

    fn new_window(&self, window: &Window, in_session: bool) -> Result<String> {
        let session_target = format!("={}:", window.session);
        let mut args: Vec<&str> = if in_session {
            vec!["new-window", "-d", "-t", &session_target]
        } else {
            vec!["new-session", "-d", "-s", &window.session]
        };
        args.extend(["-n", &window.name, "-P", "-F", "#{pane_id}", "--"]);
        args.extend(PLACEHOLDER);
        self.run(&args)?
            .into_result("tmux", &format!("open window {}", window.name))
    }
}

/// `orc-<session>`, with what tmux would rewrite (`.` and `:` separate
/// targets) or a shell would need quoting for replaced by `_`.
fn session_name(session: &str) -> String {
    let clean: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("orc-{clean}")
}

/// An argument tmux passes on as it is. tmux reads an argument ending in
/// `;` as the end of a command (and `\;` as a literal `;`), so a trailing
/// `;` gets a backslash before it; nothing else in an argument is special.
fn literal(word: &str) -> String {
    match word.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => word.to_string(),
    }
}

/// The shell command of `pipe-pane` (tmux runs it with `sh -c`, after
/// expanding it as a format): append the pane's output to the log.
fn pipe_command(log: &Path) -> Result<String> {
    let path = utf8(log)?;
    Ok(literal(
        &format!("exec cat >> {}", quote(path)).replace('#', "##"),
    ))
}

/// A word for a shell command shown to a person.
fn shell_word(word: &str) -> String {
    let plain = word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./=:%+@".contains(&b));
    if plain && !word.is_empty() {
        word.to_string()
    } else {
        quote(word)
    }
}

/// The major version in `tmux -V` output (`tmux 3.3a`, `tmux next-3.5`);
/// `None` for builds without a number (`tmux master`).
fn major_version(text: &str) -> Option<u32> {
    let word = text.split_whitespace().nth(1)?;
    let word = word.strip_prefix("next-").unwrap_or(word);
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_are_escaped_for_tmux() {
        assert_eq!(literal("fix it;"), "fix it\\;");
        assert_eq!(literal(";"), "\\;");
        assert_eq!(literal("a\\;"), "a\\\\;");
        assert_eq!(literal("a;b"), "a;b");
        assert_eq!(literal(""), "");
    }

    #[test]
    fn session_names_survive_tmux_targets() {
        assert_eq!(session_name("my.repo-0a1b2c3d"), "orc-my_repo-0a1b2c3d");
        assert_eq!(session_name("a:b c"), "orc-a_b_c");
    }

    #[test]
    fn the_pipe_quotes_the_log_and_escapes_formats() {
        let cmd = pipe_command(Path::new("/s/it's #1/log")).unwrap_or_default();
        assert_eq!(cmd, "exec cat >> '/s/it'\\''s ##1/log'");
    }

    #[test]
    fn versions_are_read_leniently() {
        assert_eq!(major_version("tmux 3.3a\n"), Some(3));
        assert_eq!(major_version("tmux next-3.5"), Some(3));
        assert_eq!(major_version("tmux 2.9"), Some(2));
        assert_eq!(major_version("tmux master"), None);
    }

    #[test]
    fn sockets_are_names_or_paths() {
        assert_eq!(Tmux::new(Some("orc")).invocation(), "tmux -L orc");
        assert_eq!(Tmux::new(Some("/tmp/s")).invocation(), "tmux -S /tmp/s");
        assert_eq!(Tmux::new(Some("")).invocation(), "tmux");
        assert_eq!(Tmux::new(None).invocation(), "tmux");
    }
}
