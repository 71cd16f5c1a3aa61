//! The launch pipeline: every agent orc starts — a new worker, a resumed
//! worker, a reviewer — goes through [`pipeline::run`], one sequence of
//! steps with one undo list. What differs is the [`pipeline::Plan`]: how
//! the issue is claimed, how the record is made, and which worktree the
//! agent runs in ([`fresh`], [`resume`], [`reviewer`]).
//!
//! Layers, top to bottom: `crate::spawn` (the public entry point) picks a
//! plan; the plans use the pipeline; the pipeline uses the shared steps
//! (`undo`, `env`, `capacity`, `start`, `target`) and `request` (what is asked and
//! what is answered). Nothing here imports `crate::spawn`.

pub(crate) mod capacity;
pub(crate) mod env;
pub(crate) mod fresh;
pub(crate) mod pipeline;
pub(crate) mod prep;
pub mod request;
pub(crate) mod resume;
pub(crate) mod reviewer;
pub(crate) mod start;
pub(crate) mod target;
pub(crate) mod undo;
