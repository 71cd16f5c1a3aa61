//! The run queue as others see it: `queue.json` in the session, written by
//! `orc-dispatch` at every change, read by `orc-queue` and `orc-top`, and
//! the control inbox through which `orc-queue` gives orders to a running
//! dispatcher.
//!
//! # `queue.json` (format version 1)
//!
//! One JSON document, replaced atomically (temporary file, fsync, rename),
//! so a reader sees the last complete state, never a half-written one. It
//! stays after the dispatcher exits: the last state is still shown.
//!
//! ```json
//! {
//!   "version": 1,
//!   "session": "app-1a2b3c4d",
//!   "updated_at": "2026-12-04T17:00:00.000Z",
//!   "dispatcher": {
//!     "pid": 4242, "running": true, "follow": true,
//!     "source": "label:ready", "max": 5, "max_reviewers": 5,
//!     "started_at": "2026-12-04T16:00:00.000Z", "stopped_at": null
//!   },
//!   "issues": [
//!     {
//!       "issue": 12, "position": 1, "title": "Fix the parser",
//!       "priority": "high", "effective_priority": "critical",
//!       "state": "waiting-retry", "until": "2026-12-04T17:00:30.000Z",
//!       "reason": "failed: tests do not build",
//!       "waiting_for": [], "kind": null, "pr": null,
//!       "attempts": 2, "failures": 1, "stalls": 0, "throttles": 0,
//!       "hold": false, "skip": false, "priority_override": null
//!     }
//!   ]
//! }
//! ```
//!
//! `state` is one of [`State`]'s names; `reason` says why in words (the
//! dependency waited for, a cycle named as a cycle, the check that
//! failed); `until` is set for `waiting-retry`. `hold`, `skip` and
//! `priority_override` are a person's orders, and a restarted dispatcher
//! keeps them. Fields may be added in a later version; none is removed or
//! changes meaning without `version` changing.

mod file;
pub mod inbox;
pub mod show;

pub use file::{DispatcherInfo, Entry, QueueFile, State, VERSION, load, path, save};
