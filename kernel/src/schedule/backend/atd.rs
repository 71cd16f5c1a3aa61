//! The atd backend: one at job per one-shot schedule, whose job number is
//! recorded in the registry and removed with `atrm`.
//!
//! The job's time goes to `at -t YYYYMMDDhhmm`, year included. Its script
//! is one line that execs the runner (a quoted path orc chose). `at`
//! copies its caller's environment into the job, so it is started with a
//! minimal one: the runner sets everything a run needs.

use std::collections::BTreeSet;
use std::process::Command;

use super::{complaint, program, program_with};
use crate::error::{Error, Result};
use crate::profile::quote;
use crate::schedule::registry::{Schedule, Timing};
use crate::schedule::when::at_stamp;

/// Queue the runner of `schedule`; returns the at job number.
pub fn install(schedule: &Schedule) -> Result<String> {
    let Timing::At { at } = &schedule.timing else {
        return Err(Error::usage(
            "atd runs one-shot schedules only",
            schedule.id.clone(),
        ));
    };
    let when = crate::clock::parse(at)
        .map_err(|_| Error::failure("the registry holds a bad time", at.clone()))?
        .with_timezone(&chrono::Local);
    let runner = schedule.runner.to_str().ok_or_else(|| {
        Error::usage(
            "the runner path is not UTF-8",
            schedule.runner.display().to_string(),
        )
    })?;
    let script = format!("exec {}\n", quote(runner));
    let stamp = at_stamp(&when);
    let mut cmd = Command::new("at");
    cmd.args(["-t", &stamp]).current_dir("/").env_clear();
    // TZ decides how at reads the time: keep the one orc computed it in.
    for key in ["PATH", "HOME", "TZ", "LANG"] {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    let out = program_with(&mut cmd, "at", Some(script.as_bytes()))?;
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), job_number(&text)) {
        (true, Some(job)) => Ok(job),
        (true, None) => Err(Error::failure(
            format!(
                "at queued a job but did not say its number: {}",
                text.trim()
            ),
            format!("at -t {stamp}"),
        )),
        (false, _) => Err(Error::failure(
            format!("at refused the job: {}", complaint(&out)),
            format!("at -t {stamp}"),
        )),
    }
}

/// The job number in at's "job 12 at Tue Dec  1 09:00:00 2026".
pub fn job_number(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let number = l.trim().strip_prefix("job ")?.split_whitespace().next()?;
        number
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| number.to_string())
    })
}

/// The job numbers in the at queue (`atq`), running ones included.
pub fn queued() -> Result<BTreeSet<String>> {
    let out = program("atq", &[], None)?;
    if !out.status.success() {
        return Err(Error::failure(
            format!("cannot list the at queue: {}", complaint(&out)),
            "atq",
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect())
}

/// Remove job `job` if it is still queued; a job that ran or was removed
/// already is success.
pub fn remove(job: &str) -> Result<()> {
    if !queued()?.contains(job) {
        return Ok(());
    }
    let out = program("atrm", &[job], None)?;
    if out.status.success() || !queued()?.contains(job) {
        return Ok(());
    }
    Err(Error::failure(
        format!("cannot remove the at job: {}", complaint(&out)),
        format!("atrm {job}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_numbers_are_read_from_at_output() {
        let out = "warning: commands will be executed using /bin/sh\njob 17 at Tue Dec  1 09:00:00 2026\n";
        assert_eq!(job_number(out).as_deref(), Some("17"));
        assert_eq!(job_number("job x at y"), None);
        assert_eq!(job_number(""), None);
    }
}
