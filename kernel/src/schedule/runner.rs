//! Runner scripts: what the OS scheduler starts, one per schedule, mode
//! 0700, always the same template.
//!
//! The template execs `orc-cron run --scheduled ID` (or `orc-at`) under
//! `env -i` with only `PATH`, `HOME` and `ORC_STATE_DIR`, its output
//! appended to the run log; `orc-cron run ID` by hand runs the same script
//! with `--by-hand` (output to the terminal), so a manual test is the real
//! thing. The run itself gets the environment captured at registration
//! (capture.rs), never the scheduler's. The script's only variable parts
//! are the executable, the id, the state directory, the log, `HOME` and
//! `PATH`, each a single-quoted literal that the shell assigns and never
//! evaluates. What the schedule runs (a prompt, a command) stays in
//! `schedules.json`; it never appears in shell text.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{ensure_private_dir, write_atomic};
use crate::paths::StateDir;
use crate::profile::quote;

/// The data a runner script carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerData<'a> {
    /// The `orc-cron` or `orc-at` executable to exec.
    pub exe: &'a Path,
    /// The schedule id.
    pub id: &'a str,
    /// The state directory the run must use.
    pub state: &'a Path,
    /// The run log, which also takes the runner's own output.
    pub log: &'a Path,
    /// `PATH` as it was at registration.
    pub path: &'a str,
    /// `HOME` as it was at registration.
    pub home: &'a str,
}

const TEMPLATE: &str = "#!/bin/sh
# orc schedule runner. Generated from a fixed template: the values below
# are single-quoted literals; what the schedule runs lives in schedules.json,
# with the environment its runs get (captured when it was added).
ORC_RUNNER_EXE=@EXE@
ORC_RUNNER_ID=@ID@
ORC_RUNNER_LOG=@LOG@
ORC_RUNNER_PATH=@PATH@
ORC_RUNNER_HOME=@HOME@
ORC_RUNNER_STATE=@STATE@
# Nothing else passes, but the test clock (ORC_NOW, tests only).
if [ \"${1:-}\" = --by-hand ]; then
  shift
  exec /usr/bin/env -i PATH=\"$ORC_RUNNER_PATH\" HOME=\"$ORC_RUNNER_HOME\" \\
    ORC_STATE_DIR=\"$ORC_RUNNER_STATE\" ${ORC_NOW:+\"ORC_NOW=$ORC_NOW\"} \"$ORC_RUNNER_EXE\" run --by-hand \"$@\" \"$ORC_RUNNER_ID\"
fi
exec /usr/bin/env -i PATH=\"$ORC_RUNNER_PATH\" HOME=\"$ORC_RUNNER_HOME\" \\
  ORC_STATE_DIR=\"$ORC_RUNNER_STATE\" ${ORC_NOW:+\"ORC_NOW=$ORC_NOW\"} \"$ORC_RUNNER_EXE\" run --scheduled \"$ORC_RUNNER_ID\" \\
  </dev/null >>\"$ORC_RUNNER_LOG\" 2>&1
";

/// The script text for `data`.
pub fn script(data: &RunnerData<'_>) -> Result<String> {
    let text = |what: &str, p: &Path| -> Result<String> {
        p.to_str().map(quote).ok_or_else(|| {
            Error::usage(
                format!("the {what} path is not UTF-8"),
                p.display().to_string(),
            )
        })
    };
    // One pass over the template, so a value that happens to contain a
    // marker such as `@ID@` is never substituted into again.
    let values = [
        ("@EXE@", text("executable", data.exe)?),
        ("@ID@", quote(data.id)),
        ("@LOG@", text("log", data.log)?),
        ("@PATH@", quote(data.path)),
        ("@HOME@", quote(data.home)),
        ("@STATE@", text("state directory", data.state)?),
    ];
    let mut out = String::with_capacity(TEMPLATE.len() + 256);
    let mut rest = TEMPLATE;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match values.iter().find(|(marker, _)| tail.starts_with(marker)) {
            Some((marker, value)) => {
                out.push_str(value);
                rest = &tail[marker.len()..];
            }
            None => {
                out.push('@');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// `runners/<id>.sh`.
pub fn path(state: &StateDir, id: &str) -> PathBuf {
    state.runners().join(format!("{id}.sh"))
}

/// Write the runner of `data.id` (mode 0700, atomically) and make sure the
/// log directory exists for its redirection. Returns the script's path.
pub fn write(state: &StateDir, data: &RunnerData<'_>) -> Result<PathBuf> {
    ensure_private_dir(&state.runners())?;
    ensure_private_dir(&state.logs())?;
    let path = path(state, data.id);
    write_atomic(&path, script(data)?.as_bytes(), 0o700)?;
    Ok(path)
}

/// Remove a runner; one that is already gone is success.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_literals() -> Result<()> {
        let data = RunnerData {
            exe: Path::new("/opt/orc x/orc-cron"),
            id: "nightly",
            state: Path::new("/s/@ID@"),
            log: Path::new("/s/logs/nightly.run.log"),
            path: "/bin:/it's $(here)",
            home: "/home/u",
        };
        let text = script(&data)?;
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("ORC_RUNNER_EXE='/opt/orc x/orc-cron'\n"));
        assert!(text.contains("ORC_RUNNER_PATH='/bin:/it'\\''s $(here)'\n"));
        assert!(text.contains("ORC_RUNNER_STATE='/s/@ID@'\n"));
        assert!(text.contains("ORC_RUNNER_HOME='/home/u'\n"));
        assert!(text.contains("ORC_RUNNER_ID='nightly'\n"));
        Ok(())
    }
}
