//! The fault-injection suite: every writer (orc-spawn, orc-state,
//! orc-notify, orc-signal, orc-cleanup, orc-ctl, the shim) is SIGKILLed at
//! random points, and writes meet a full disk, each followed by the
//! invariants of `faults/kit.rs`. Hundreds of iterations under CI (env CI
//! set), fewer locally; `ORC_FAULT_ITERATIONS` and `ORC_FAULT_SEED` override
//! the count and replay a run. Figures: docs/faults.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "faults/enospc.rs"]
mod enospc;
#[path = "faults/kit.rs"]
mod kit;
#[path = "faults/workers.rs"]
mod workers;
#[path = "faults/writers.rs"]
mod writers;
