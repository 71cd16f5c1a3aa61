//! Hostile input and shared machines (issue 11): every setting checked up
//! front, canonical input, state directories another user controls,
//! predictable shared paths, secrets kept off the process table and out of
//! the output, and cleanup that stays clean. Every refusal asserts the exit
//! code, the message and that the state directory and the repository are
//! byte-for-byte unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "hostile/canonical.rs"]
mod canonical;
#[path = "hostile/cleanup.rs"]
mod cleanup;
#[path = "hostile/other_user.rs"]
mod other_user;
#[path = "hostile/prompt.rs"]
mod prompt;
#[path = "sched_env/mod.rs"]
mod sched_env;
#[path = "hostile/settings.rs"]
mod settings;
#[path = "hostile/shared.rs"]
mod shared;
#[path = "hostile/statedir.rs"]
mod statedir;
