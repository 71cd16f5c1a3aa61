//! The `headless` backend: the shim forks into the background in a session
//! of its own (`orc-shim --detach`), with its output and the agent's in the
//! proc log.

use std::process::{Command, Stdio};

use super::ShimLaunch;
use crate::error::{Error, Result};

/// Start the shim detached; returns once its first process has exited,
/// leaving the supervisor running.
pub(super) fn launch(l: &ShimLaunch) -> Result<()> {
    let log = crate::fsutil::open_append(&l.log)?;
    let err = log
        .try_clone()
        .map_err(|e| Error::io("open the log", &l.log, e))?;
    let mut args = vec!["--detach".to_string()];
    args.extend(l.args.iter().cloned());
    let status = Command::new(&l.program)
        .args(&args)
        .env_clear()
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&l.cwd)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .status()
        .map_err(|e| {
            Error::failure(
                format!("cannot start the shim: {e}"),
                l.program.display().to_string(),
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::failure(
            format!("the shim did not start ({status})"),
            l.log.display().to_string(),
        ))
    }
}
