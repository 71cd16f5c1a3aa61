//! Time and waiting for the run queue.
//!
//! The dispatcher's clock is the real one, or, when `ORC_NOW` is set, a
//! virtual one that starts there and jumps to the next timer instead of
//! sleeping: a test then sees the exact backoff sequence at once. Waiting
//! for workers is always real: on their wake FIFOs (the shim rings as the
//! agent ends), with a poll interval as the fallback that notices a shim
//! that died without ringing.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::Signal;

use crate::clock;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::queue::inbox;
use crate::session::Session;
use crate::supervise;
use crate::wake::Doorbell;

/// The dispatcher's clock.
#[derive(Debug, Clone)]
pub struct Clock {
    virtual_now: Option<DateTime<Utc>>,
}

impl Clock {
    /// Virtual from `ORC_NOW` when it is set, else real.
    pub fn from_env() -> Result<Clock> {
        let frozen = std::env::var("ORC_NOW").is_ok_and(|v| !v.is_empty());
        Ok(Clock {
            virtual_now: if frozen { Some(clock::now()?) } else { None },
        })
    }

    /// Whether timers jump instead of sleeping.
    pub fn is_virtual(&self) -> bool {
        self.virtual_now.is_some()
    }

    /// Now.
    pub fn now(&self) -> DateTime<Utc> {
        self.virtual_now.unwrap_or_else(Utc::now)
    }

    /// Now, as events and journals write it.
    pub fn stamp(&self) -> String {
        clock::format(&self.now())
    }

    /// Move a virtual clock forward to `t` (never back); a real clock is
    /// left alone.
    pub fn advance_to(&mut self, t: DateTime<Utc>) {
        if let Some(now) = self.virtual_now.as_mut()
            && t > *now
        {
            *now = t;
        }
    }

    /// How long until `t` on this clock (zero when past).
    pub fn until(&self, t: DateTime<Utc>) -> Duration {
        (t - self.now()).to_std().unwrap_or(Duration::ZERO)
    }
}

/// The doorbells of the workers being watched, and the dispatcher's own:
/// its order inbox, the self-pipe of SIGTERM and SIGINT, and the local
/// tracker's directory.
#[derive(Debug, Default)]
pub struct Bells {
    open: BTreeMap<(Kind, Issue), Doorbell>,
    orders: Option<Doorbell>,
    stop_pipe: Option<OwnedFd>,
    tracker: Option<Inotify>,
    tracker_changed: bool,
}

impl Bells {
    /// Listen on the session's dispatcher doorbell, rung by `orc-queue`
    /// after it posts an order.
    pub fn listen_for_orders(&mut self, session: &Session) -> Result<()> {
        let path = inbox::wake_path(session);
        if !path.exists() {
            crate::wake::create(&path)?;
        }
        self.orders = Some(Doorbell::open(&path)?);
        Ok(())
    }

    /// Catch SIGTERM and SIGINT: the loop finishes its step and stops.
    pub fn catch_stop(&mut self) -> Result<()> {
        self.stop_pipe = Some(supervise::self_pipe()?);
        supervise::catch(&[Signal::SIGTERM, Signal::SIGINT])
    }

    /// Whether SIGTERM or SIGINT came since the last look.
    pub fn stop_requested(&mut self) -> bool {
        if let Some(fd) = &self.stop_pipe {
            supervise::drain_pipe(fd);
        }
        supervise::take_signals()
            .iter()
            .any(|s| matches!(s, Signal::SIGTERM | Signal::SIGINT))
    }

    /// Wake up when a file in `dir` is created, changed, moved or removed
    /// (the local tracker's `.orc/issues/`); without inotify, the tracker
    /// poll covers it.
    pub fn watch_dir(&mut self, dir: &Path) {
        let flags = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MODIFY;
        let Ok(inotify) = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) else {
            return;
        };
        if inotify.add_watch(dir, flags).is_ok() {
            self.tracker = Some(inotify);
        }
    }

    /// Whether the watched tracker directory changed since the last look.
    pub fn take_tracker_changed(&mut self) -> bool {
        std::mem::take(&mut self.tracker_changed)
    }

    /// Listen to `proc`'s doorbell. A ring left from an earlier attempt
    /// only costs one look at the record; a ring of this attempt, however
    /// early, must not be lost, so nothing is drained here.
    pub fn watch(&mut self, proc: &Proc) {
        let key = (proc.kind(), proc.issue());
        match Doorbell::open(&proc.wake_path()) {
            Ok(bell) => {
                self.open.insert(key, bell);
            }
            // No FIFO: the poll interval covers it.
            Err(_) => {
                self.open.remove(&key);
            }
        }
    }

    /// Stop listening to a worker that ended.
    pub fn forget(&mut self, kind: Kind, issue: Issue) {
        self.open.remove(&(kind, issue));
    }

    /// Block until a doorbell rings, an order or a signal comes, the
    /// tracker's directory changes, or `wait` passes.
    pub fn wait(&mut self, wait: Duration) -> Result<()> {
        let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let rang: Vec<bool> = {
            let mut fds: Vec<PollFd> = self
                .open
                .values()
                .map(|b| PollFd::new(b.fd(), PollFlags::POLLIN))
                .collect();
            let own = [
                self.orders.as_ref().map(Doorbell::fd),
                self.stop_pipe.as_ref().map(AsFd::as_fd),
                self.tracker.as_ref().map(AsFd::as_fd),
            ];
            fds.extend(
                own.into_iter()
                    .flatten()
                    .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
            );
            if fds.is_empty() {
                std::thread::sleep(wait);
                return Ok(());
            }
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::failure(format!("poll failed: {e}"), "wake FIFOs")),
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
                .collect()
        };
        for (bell, rang) in self.open.values_mut().zip(&rang) {
            if *rang {
                bell.drain();
            }
        }
        if let Some(bell) = self.orders.as_mut() {
            bell.drain();
        }
        if let Some(inotify) = &self.tracker {
            // Read every pending event; any of them means "look again".
            while let Ok(events) = inotify.read_events() {
                if events.is_empty() {
                    break;
                }
                self.tracker_changed = true;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_virtual_clock_jumps_forward_only() {
        let start = clock::parse("2026-11-30T08:00:00Z").unwrap_or_default();
        let mut c = Clock {
            virtual_now: Some(start),
        };
        c.advance_to(start + chrono::Duration::seconds(30));
        assert_eq!(c.stamp(), "2026-11-30T08:00:30.000Z");
        c.advance_to(start);
        assert_eq!(c.stamp(), "2026-11-30T08:00:30.000Z");
        assert_eq!(c.until(start), Duration::ZERO);
    }
}
