//! orc-kernel: all of orc's logic, with no command-line parsing.
//!
//! One concept a module. The binaries in `bins/` parse their arguments, call
//! into this crate, print, and map errors to exit codes with [`cli`].

pub mod cli;
pub mod clock;
pub mod context;
pub mod error;
pub mod events;
pub mod exit;
pub mod fsutil;
pub mod ids;
pub mod liveness;
pub mod lock;
pub mod paths;
pub mod procdir;
pub mod profile;
pub mod record;
pub mod repo;
pub mod session;
pub mod signal;
pub mod trust;
pub mod wake;
pub mod worker;
pub mod worktree;

pub use error::{Error, Result};
