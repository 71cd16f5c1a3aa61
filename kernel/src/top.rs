//! `orc-top`: the fleet at a glance. Everything here is plain code the
//! binary draws with a terminal library: what the screen shows and in which
//! order ([`model`], [`view`], [`layout`]), where it comes from ([`fleet`],
//! [`queue`], [`schedules`], [`tail`], [`memory`]), how changes are noticed
//! ([`watcher`]) and what its keys do ([`actions`], through the same kernel
//! calls as `orc-ctl`, `orc-cleanup` and `orc-queue`).
//!
//! Changes are noticed through inotify on the state directory: a record
//! replaced (`state.json` renamed into place), a log written to, a proc
//! directory made or removed, the event log appended to, the queue or the
//! schedules rewritten. A ring of a worker's wake FIFO is seen the same way
//! (a write to a FIFO is a modification of it), without reading the FIFO:
//! a reader would take the ring away from the `orc-watch` or dispatcher it
//! is meant for. Where inotify cannot be had, everything is re-read every
//! [`POLL_FALLBACK`].

pub mod actions;
pub mod fleet;
pub mod layout;
pub mod memory;
pub mod model;
pub mod queue;
pub mod schedules;
pub mod tail;
pub mod view;
pub mod watcher;

use std::time::Duration;

/// How often everything is re-read when file-system notifications are
/// not available.
pub const POLL_FALLBACK: Duration = Duration::from_secs(2);

/// How often the liveness, health and memory of running workers are
/// looked at again: a shim killed with SIGKILL changes no file.
pub const LIVENESS_EVERY: Duration = Duration::from_secs(2);

/// How often the memory of running workers is read again (a pass over
/// `/proc`, the costliest look of an idle screen).
pub const MEMORY_EVERY: Duration = Duration::from_secs(10);
