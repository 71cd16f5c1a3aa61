//! What each key does. One key an action; the destructive ones (TERM,
//! KILL, clean up) ask `y/N` first; every action goes through
//! `orc_kernel::top::actions`, the calls `orc-ctl` and `orc-cleanup` make.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use orc_kernel::error::Result;
use orc_kernel::ids::Issue;
use orc_kernel::procdir::Proc;
use orc_kernel::session::Session;
use orc_kernel::top::actions::{self, Action, PRIORITIES, QueueAction};
use orc_kernel::top::model::Key;

use crate::app::App;
use crate::term::Term;

/// What the keys mean now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Moving and acting.
    Normal,
    /// The key list is shown; any key closes it.
    Help,
    /// Waiting for y/N before `action` on `key`.
    Confirm {
        /// The action.
        action: Action,
        /// Its worker.
        key: Key,
    },
    /// Waiting for y/N before `action` on queued `issue` of `session`.
    ConfirmQueue {
        /// The order.
        action: QueueAction,
        /// The session.
        session: String,
        /// The issue.
        issue: Issue,
    },
    /// Choosing a priority for `key`.
    Priority(Key),
    /// Typing an issue number to jump to.
    Find(String),
}

/// The key list `?` shows: key, what it does.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓ j k", "move (PgUp PgDn Home End g G)"),
    ("/", "jump to an issue: type its number, Enter"),
    ("Tab", "move between the workers and the queue"),
    ("s", "suspend: checkpoint and stop (orc-ctl suspend)"),
    ("r", "resume a suspended or ended worker (orc-ctl resume)"),
    ("t", "TERM: ask it to stop (orc-ctl term) - asks first"),
    ("K", "KILL: stop it now (orc-ctl kill) - asks first"),
    ("p", "priority: then c(ritical) h(igh) n(ormal) l(ow)"),
    ("l Enter", "open the log in $PAGER"),
    ("a", "attach to a tmux worker's window"),
    ("c", "clean up an ended worker (orc-cleanup) - asks first"),
    ("R", "retry the queued issue now (orc-queue retry)"),
    ("S", "skip the queued issue (orc-queue skip) - asks first"),
    ("o", "sort: attention, issue, age, priority"),
    ("e", "hide or show ended workers"),
    ("?", "this list"),
    ("q", "quit"),
];

/// Act on one key press.
pub fn handle(app: &mut App, term: &mut Term, k: KeyEvent) -> Result<()> {
    if k.kind != KeyEventKind::Press {
        return Ok(());
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        app.quit = true;
        return Ok(());
    }
    let mode = std::mem::replace(&mut app.mode, Mode::Normal);
    match mode {
        Mode::Normal => normal(app, term, k.code),
        Mode::Help => Ok(()),
        Mode::Confirm { action, key } => {
            if matches!(k.code, KeyCode::Char('y' | 'Y')) {
                run(app, &key, &action);
            } else {
                app.say(format!("{} cancelled", action.verb()));
            }
            Ok(())
        }
        Mode::ConfirmQueue {
            action,
            session,
            issue,
        } => {
            if matches!(k.code, KeyCode::Char('y' | 'Y')) {
                give(app, term, &session, issue, action)?;
            } else {
                app.say(format!("{} cancelled", action.verb()));
            }
            Ok(())
        }
        Mode::Priority(key) => {
            let level = match k.code {
                KeyCode::Char('c' | '1') => Some(PRIORITIES[0]),
                KeyCode::Char('h' | '2') => Some(PRIORITIES[1]),
                KeyCode::Char('n' | '3') => Some(PRIORITIES[2]),
                KeyCode::Char('l' | '4') => Some(PRIORITIES[3]),
                _ => None,
            };
            match level {
                Some(l) => run(app, &key, &Action::Priority(l.to_string())),
                None => app.say("priority unchanged"),
            }
            Ok(())
        }
        Mode::Find(mut text) => {
            match k.code {
                KeyCode::Char(c) if c.is_ascii_digit() => {
                    text.push(c);
                    app.mode = Mode::Find(text);
                }
                KeyCode::Backspace => {
                    text.pop();
                    app.mode = Mode::Find(text);
                }
                KeyCode::Enter => find(app, &text),
                _ => {}
            }
            Ok(())
        }
    }
}

fn normal(app: &mut App, term: &mut Term, code: KeyCode) -> Result<()> {
    let page = isize::try_from(app.page.max(1)).unwrap_or(10);
    match code {
        KeyCode::Char('q') => app.quit = true,
        KeyCode::Char('?') | KeyCode::F(1) => app.mode = Mode::Help,
        KeyCode::Up | KeyCode::Char('k') => move_by(app, -1),
        KeyCode::Down | KeyCode::Char('j') => move_by(app, 1),
        KeyCode::PageUp => move_by(app, -page),
        KeyCode::PageDown => move_by(app, page),
        KeyCode::Home | KeyCode::Char('g') => move_by(app, isize::MIN / 2),
        KeyCode::End | KeyCode::Char('G') => move_by(app, isize::MAX / 2),
        KeyCode::Tab => {
            app.queue_focus = !app.queue_focus && !app.queue_rows().is_empty();
        }
        KeyCode::Char('/') => app.mode = Mode::Find(String::new()),
        KeyCode::Char('o') => {
            app.view.sort = app.view.sort.next();
            app.view.rebuild(&app.fleet.rows);
            app.say(format!("sorted by {}", app.view.sort.name()));
        }
        KeyCode::Char('e') => {
            app.view.hide_ended = !app.view.hide_ended;
            app.view.rebuild(&app.fleet.rows);
            let how = if app.view.hide_ended {
                "hidden"
            } else {
                "shown"
            };
            app.say(format!("ended workers {how}"));
        }
        KeyCode::Char('s') => ask(app, Action::Suspend),
        KeyCode::Char('r') => ask(app, Action::Resume),
        KeyCode::Char('t') => ask(app, Action::Term),
        KeyCode::Char('K') => ask(app, Action::Kill),
        KeyCode::Char('c') => ask(app, Action::Cleanup),
        KeyCode::Char('p') => match selected(app) {
            Some(key) => {
                app.mode = Mode::Priority(key);
                app.say("priority: c(ritical) h(igh) n(ormal) l(ow), any other key to cancel");
            }
            None => app.say("no worker selected"),
        },
        KeyCode::Char('R') => ask_queue(app, term, QueueAction::Retry)?,
        KeyCode::Char('S') => ask_queue(app, term, QueueAction::Skip)?,
        KeyCode::Char('l') | KeyCode::Enter => open_log(app, term)?,
        KeyCode::Char('a') => attach(app, term)?,
        _ => {}
    }
    Ok(())
}

fn move_by(app: &mut App, delta: isize) {
    if app.queue_focus {
        let len = app.queue_rows().len();
        let last = len.saturating_sub(1);
        app.queue_index = app.queue_index.saturating_add_signed(delta).min(last);
    } else {
        app.view.move_by(delta);
    }
}

fn selected(app: &App) -> Option<Key> {
    app.view.selected().cloned()
}

/// Ask first, or act at once.
fn ask(app: &mut App, action: Action) {
    let Some(key) = selected(app) else {
        app.say("no worker selected");
        return;
    };
    if action.destructive() {
        app.say(action.question(&key));
        app.mode = Mode::Confirm { action, key };
    } else {
        run(app, &key, &action);
    }
}

fn run(app: &mut App, key: &Key, action: &Action) {
    let said = match actions::act(app.fleet.state(), key, action) {
        Ok(line) => line,
        Err(e) => e.render("orc-top").replace('\n', " "),
    };
    // The files changed; the watcher says so too, but show it now.
    app.fleet.reload(&key.session, key.kind, key.issue);
    app.view.rebuild(&app.fleet.rows);
    app.say(said);
}

/// The queued issue the queue keys act on: the queue's selection when it
/// has the keys, else the selected worker's issue when it is queued.
fn queued(app: &App) -> Option<(String, Issue)> {
    let rows = app.queue_rows();
    if app.queue_focus {
        return rows
            .get(app.queue_index)
            .map(|(s, r)| (s.to_string(), r.issue));
    }
    let key = app.view.selected()?;
    rows.iter()
        .find(|(s, r)| *s == key.session && r.issue == key.issue)
        .map(|(s, r)| (s.to_string(), r.issue))
}

fn ask_queue(app: &mut App, term: &mut Term, action: QueueAction) -> Result<()> {
    let Some((session, issue)) = queued(app) else {
        app.say("no queued issue selected (Tab moves to the queue)");
        return Ok(());
    };
    if action.destructive() {
        app.say(action.question(&session, issue));
        app.mode = Mode::ConfirmQueue {
            action,
            session,
            issue,
        };
        return Ok(());
    }
    give(app, term, &session, issue, action)
}

/// Give a queue order; a running dispatcher answers at its next step, so
/// say so on screen while waiting.
fn give(
    app: &mut App,
    term: &mut Term,
    session: &str,
    issue: Issue,
    action: QueueAction,
) -> Result<()> {
    app.say(format!(
        "{} #{issue}: waiting for the dispatcher's answer...",
        action.verb()
    ));
    let _ = term.terminal.draw(|f| crate::draw::draw(f, app));
    let said = match actions::order(app.fleet.state(), session, issue, action) {
        Ok(line) => line,
        Err(e) => e.render("orc-top").replace('\n', " "),
    };
    app.say(said);
    Ok(())
}

fn find(app: &mut App, text: &str) {
    let Ok(n) = text.parse::<u32>() else {
        app.say("type an issue number, then Enter");
        return;
    };
    if app.view.select_where(|k| k.issue.get() == n) {
        app.queue_focus = false;
        return;
    }
    if let Some(i) = app
        .queue_rows()
        .iter()
        .position(|(_, r)| r.issue.get() == n)
    {
        app.queue_focus = true;
        app.queue_index = i;
        return;
    }
    app.say(format!("no worker or queued issue #{n}"));
}

fn open_log(app: &mut App, term: &mut Term) -> Result<()> {
    let Some(key) = selected(app) else {
        app.say("no worker selected");
        return Ok(());
    };
    let session = Session::open(app.fleet.state(), &key.session)?;
    let log = Proc::new(&session, key.kind, key.issue).log_path();
    if !log.exists() {
        app.say(format!("{} #{} has no log yet", key.kind, key.issue));
        return Ok(());
    }
    let mut pager = std::process::Command::new("/bin/sh");
    pager
        .arg("-c")
        .arg("exec ${PAGER:-less} \"$1\"")
        .arg("sh")
        .arg(&log);
    term.hand_over(&mut pager)
}

fn attach(app: &mut App, term: &mut Term) -> Result<()> {
    let Some(key) = selected(app) else {
        app.say("no worker selected");
        return Ok(());
    };
    let ctx = actions::target(app.fleet.state(), &key)?.context()?;
    let name = format!("{}-{}", key.kind, key.issue);
    let socket = ctx.config.get("ORC_TMUX_SOCKET");
    let Some((server, target)) =
        orc_kernel::backend::tmux::find_window(socket, &key.session, &name)
    else {
        app.say(format!("{name} has no tmux window (headless, or ended)"));
        return Ok(());
    };
    // Inside tmux, on the same server: switch this client to the window.
    if std::env::var_os("TMUX").is_some() {
        let switched = std::process::Command::new("tmux")
            .args(&server)
            .args(["switch-client", "-t", &target])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if switched {
            return Ok(());
        }
    }
    let mut tmux = std::process::Command::new("tmux");
    tmux.args(&server)
        .args(["attach-session", "-t", &target])
        .env_remove("TMUX");
    term.hand_over(&mut tmux)?;
    app.say(format!("back from {name}"));
    Ok(())
}
