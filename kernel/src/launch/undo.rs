//! The undo list of a launch: every artefact a step makes pushes the step
//! that removes it; a failure anywhere runs them in reverse, success
//! disarms them.

use crate::error::Result;

/// One undo step: what it undoes, and how.
type Step = (&'static str, Box<dyn FnOnce() -> Result<()>>);

/// Steps to undo, run in reverse unless disarmed.
#[derive(Default)]
pub(crate) struct Undo {
    steps: Vec<Step>,
}

impl Undo {
    /// Add a step; it runs if the launch fails after this point.
    pub(crate) fn push(&mut self, what: &'static str, step: impl FnOnce() -> Result<()> + 'static) {
        self.steps.push((what, Box::new(step)));
    }

    /// The launch succeeded: keep everything.
    pub(crate) fn disarm(mut self) {
        self.steps.clear();
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        while let Some((what, step)) = self.steps.pop() {
            if let Err(e) = step() {
                eprintln!("orc-spawn: warning: could not undo {what}: {e}");
            }
        }
    }
}
