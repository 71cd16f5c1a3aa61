//! orc-kernel: all of orc's logic, with no command-line parsing.
//!
//! One concept a module. The binaries in `bins/` parse their arguments, call
//! into this crate, print, and map errors to exit codes with [`cli`].

pub mod agent;
pub mod alert;
pub mod backend;
pub mod ci;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod contain;
pub mod context;
pub mod ctl;
pub mod desktop;
pub mod dispatch;
pub mod ending;
pub mod error;
pub mod events;
pub mod exit;
pub mod fsutil;
pub mod gc;
pub mod health;
pub mod hook;
pub mod ids;
pub mod land;
pub mod launch;
pub mod liveness;
pub mod lock;
pub mod paths;
pub mod permit;
pub mod places;
pub mod procdir;
pub mod profile;
pub mod ps;
pub mod queue;
pub mod record;
pub mod repo;
pub mod review;
pub mod schedule;
pub mod secret;
pub mod service;
pub mod session;
pub mod shim;
pub mod signal;
pub mod slurm;
pub mod spawn;
pub mod startup;
pub mod supervise;
pub mod target;
pub mod text;
pub mod top;
pub mod tracker;
pub mod trust;
pub mod wake;
pub mod watch;
pub mod worker;
pub mod worktree;

pub use error::{Error, Result};
