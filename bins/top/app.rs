//! The loop: wait for a key, a change in the state directory or the next
//! second; read again only what changed; draw. Idle, it wakes once a
//! second to move the clocks on, and reads nothing but the running
//! workers' liveness every two seconds.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use orc_kernel::error::Result;
use orc_kernel::paths::StateDir;
use orc_kernel::session::Session;
use orc_kernel::top::fleet::{Fleet, Scope};
use orc_kernel::top::model::{SchedRow, counts};
use orc_kernel::top::queue::{self, Queue};
use orc_kernel::top::tail::Tail;
use orc_kernel::top::view::View;
use orc_kernel::top::watcher::{Change, Watcher};
use orc_kernel::top::{LIVENESS_EVERY, MEMORY_EVERY, POLL_FALLBACK, schedules};

use crate::keys::Mode;
use crate::term::Term;

/// Events kept per session for the tail.
const EVENTS_KEPT: usize = 50;

/// The least time between two draws: a chatty log redraws at most this
/// often, and a record change is still on screen well within 100 ms.
const DRAW_GAP: Duration = Duration::from_millis(20);

/// Everything on screen.
pub struct App {
    /// The workers.
    pub fleet: Fleet,
    /// Their order and selection.
    pub view: View,
    /// The queue of each session shown.
    pub queues: HashMap<String, Queue>,
    /// The schedules.
    pub schedules: Vec<SchedRow>,
    /// The event tail of each session shown.
    pub tails: HashMap<String, Tail>,
    /// The session's limit, with one session.
    pub capacity: Option<u64>,
    /// Whether to use colour.
    pub colour: bool,
    /// What keys mean now.
    pub mode: Mode,
    /// Whether the queue panel has the keys (Tab).
    pub queue_focus: bool,
    /// The selected queue entry.
    pub queue_index: usize,
    /// The last thing an action said, and when.
    pub message: Option<(String, Instant)>,
    /// How many rows the table showed last (for page keys).
    pub page: usize,
    /// Whether inotify is watching (else: polling).
    pub live: bool,
    pub(crate) quit: bool,
    watcher: Option<Watcher>,
}

impl App {
    /// Read everything once and set up the watches.
    pub fn new(state: StateDir, scope: Scope, capacity: Option<u64>, colour: bool) -> Result<App> {
        // Watches first, then the reads: a change between the two is seen.
        let watcher = Watcher::new(&state, &scope).ok();
        let mut app = App {
            fleet: Fleet::new(state, scope),
            view: View::new(),
            queues: HashMap::new(),
            schedules: Vec::new(),
            tails: HashMap::new(),
            capacity,
            colour,
            mode: Mode::Normal,
            queue_focus: false,
            queue_index: 0,
            message: None,
            page: 10,
            live: watcher.is_some(),
            quit: false,
            watcher,
        };
        app.reload_everything()?;
        Ok(app)
    }

    /// The queue rows of every session shown, in order.
    pub fn queue_rows(&self) -> Vec<(&str, &orc_kernel::top::model::QueueRow)> {
        let mut names: Vec<&String> = self.queues.keys().collect();
        names.sort();
        names
            .into_iter()
            .flat_map(|n| self.queues[n].rows.iter().map(move |r| (n.as_str(), r)))
            .collect()
    }

    /// The header's counts.
    pub fn counts(&self) -> orc_kernel::top::model::Counts {
        let queue: Vec<_> = self
            .queue_rows()
            .into_iter()
            .map(|(_, r)| r.clone())
            .collect();
        counts(self.fleet.rows.values(), &queue, self.capacity)
    }

    fn reload_everything(&mut self) -> Result<()> {
        self.fleet.reload_all()?;
        self.fleet.read_memory();
        let sessions = self.fleet.sessions()?;
        self.queues.clear();
        for s in &sessions {
            self.reload_queue(s);
            if !self.tails.contains_key(s.name()) {
                let label = matches!(self.fleet.scope(), Scope::All).then(|| s.name().to_string());
                let tail = Tail::new(s.events_path(), label, EVENTS_KEPT);
                self.tails.insert(s.name().to_string(), tail);
            }
        }
        for tail in self.tails.values_mut() {
            tail.update();
        }
        self.schedules = schedules::load(self.fleet.state()).unwrap_or_default();
        self.view.rebuild(&self.fleet.rows);
        Ok(())
    }

    fn reload_queue(&mut self, session: &Session) {
        let q = queue::load(session);
        if q.rows.is_empty() && q.dispatcher.is_empty() {
            self.queues.remove(session.name());
        } else {
            self.queues.insert(session.name().to_string(), q);
        }
    }

    fn apply(&mut self, changes: Vec<Change>) -> Result<()> {
        if changes.contains(&Change::Everything) {
            return self.reload_everything();
        }
        for change in changes {
            match change {
                Change::Proc {
                    session,
                    kind,
                    issue,
                } => self.fleet.reload(&session, kind, issue),
                Change::Events(s) => {
                    if let Some(t) = self.tails.get_mut(&s) {
                        t.update();
                    }
                }
                Change::Queue(s) => {
                    if let Ok(session) = Session::open(self.fleet.state(), &s) {
                        self.reload_queue(&session);
                    }
                }
                Change::Schedules => {
                    self.schedules = schedules::load(self.fleet.state()).unwrap_or_default();
                }
                Change::Everything => {}
            }
        }
        self.view.rebuild(&self.fleet.rows);
        Ok(())
    }

    /// Say `text` in the footer for a while.
    pub fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), Instant::now()));
    }

    /// Run until the quit key.
    pub fn run(mut self) -> Result<()> {
        let mut term = Term::start()?;
        let mut last_draw: Option<Instant> = None;
        let mut dirty = true;
        let mut last_liveness = Instant::now();
        let mut last_memory = Instant::now();
        let mut last_poll = Instant::now();
        let mut last_tick = self.tick_of(epoch());
        while !self.quit {
            if dirty && last_draw.is_none_or(|t| t.elapsed() >= DRAW_GAP) {
                term.terminal
                    .draw(|f| crate::draw::draw(f, &mut self))
                    .map_err(|e| {
                        orc_kernel::Error::io("draw on", std::path::Path::new("terminal"), e)
                    })?;
                last_draw = Some(Instant::now());
                dirty = false;
            }
            // Sleep until the clocks on screen move (each second while a
            // worker runs, else each minute), until a message is due to
            // go, or until the liveness check; sooner when a draw is owed.
            let mut wait = self.until_next_tick(epoch());
            if let Some((_, at)) = &self.message {
                let left = crate::draw::MESSAGE_FOR.saturating_sub(at.elapsed());
                if !left.is_zero() {
                    wait = wait.min(left + Duration::from_millis(1));
                }
            }
            if self.fleet.any_running() {
                wait = wait.min(LIVENESS_EVERY.saturating_sub(last_liveness.elapsed()));
            }
            if self.watcher.is_none() {
                wait = wait.min(POLL_FALLBACK.saturating_sub(last_poll.elapsed()));
            }
            if dirty {
                wait = wait.min(DRAW_GAP);
            }
            let (key_ready, fs_ready, hung_up) = self.wait(wait)?;
            if hung_up {
                // The terminal is gone: nobody to show anything to.
                return Ok(());
            }
            if key_ready || event::poll(Duration::ZERO).unwrap_or(false) {
                while event::poll(Duration::ZERO).unwrap_or(false) {
                    if let Ok(ev) = event::read() {
                        match ev {
                            Event::Key(k) => crate::keys::handle(&mut self, &mut term, k)?,
                            Event::Resize(..) => {}
                            _ => continue,
                        }
                        dirty = true;
                    }
                }
            }
            if fs_ready && let Some(w) = self.watcher.as_mut() {
                let changes = w.read();
                if !changes.is_empty() {
                    self.apply(changes)?;
                    dirty = true;
                }
            }
            if self.watcher.is_none() && last_poll.elapsed() >= POLL_FALLBACK {
                self.reload_everything()?;
                last_poll = Instant::now();
                dirty = true;
            }
            if last_liveness.elapsed() >= LIVENESS_EVERY {
                let memory = last_memory.elapsed() >= MEMORY_EVERY;
                if memory {
                    last_memory = Instant::now();
                }
                if self.fleet.recheck_running(memory) {
                    self.view.rebuild(&self.fleet.rows);
                    dirty = true;
                }
                last_liveness = Instant::now();
            }
            if let Some((_, at)) = &self.message
                && at.elapsed() >= crate::draw::MESSAGE_FOR
            {
                self.message = None;
                dirty = true;
            }
            let tick = self.tick_of(epoch());
            if tick != last_tick {
                last_tick = tick;
                dirty = true;
            }
        }
        Ok(())
    }

    /// The clocks' resolution now: a second while a worker runs (its age
    /// counts seconds), else a minute (the header's clock).
    fn resolution(&self) -> u64 {
        if self.fleet.any_running() { 1 } else { 60 }
    }

    /// Which tick of the clocks `t` (since the epoch) falls in.
    fn tick_of(&self, t: Duration) -> u64 {
        t.as_secs() / self.resolution()
    }

    /// Time from `t` (since the epoch) to the next tick.
    fn until_next_tick(&self, t: Duration) -> Duration {
        let step = self.resolution();
        let next = Duration::from_secs((t.as_secs() / step + 1) * step);
        next.saturating_sub(t)
    }

    /// Block until a key, a change, or `wait`: which of the first two, and
    /// whether the terminal hung up.
    fn wait(&self, wait: Duration) -> Result<(bool, bool, bool)> {
        let stdin = std::io::stdin();
        let ms = i32::try_from(wait.as_millis()).unwrap_or(1000).max(1);
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        if let Some(w) = &self.watcher {
            fds.push(PollFd::new(w.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(orc_kernel::Error::failure(
                    format!("poll failed: {e}"),
                    "orc-top",
                ));
            }
        }
        let ready = |fd: Option<&PollFd>| {
            fd.and_then(PollFd::revents)
                .is_some_and(|r| r.contains(PollFlags::POLLIN))
        };
        let hung_up = fds.first().and_then(PollFd::revents).is_some_and(|r| {
            r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
        });
        Ok((ready(fds.first()), ready(fds.get(1)), hung_up))
    }
}

/// Time since the epoch (the clocks on screen move on whole seconds).
fn epoch() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}
