//! Waiting for a pull request's checks, for workers (`orc-ci wait PR`).
//!
//! An agent's tool call is cut off after about ten minutes, so a wait is
//! done in chunks: each call polls `gh pr checks` until the checks settle
//! or its own timeout (default 9 minutes) passes, then prints `passed`,
//! `failed` or `watching` (call again). The verdict is read from `gh`'s
//! JSON, never from its exit status, which differs between versions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};

/// The verdict on a pull request's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check passed or was skipped (or the repository has none).
    Passed,
    /// A check failed or was cancelled.
    Failed,
    /// Checks are still running (or none reported yet): call again.
    Watching,
}

impl Verdict {
    /// The word printed on stdout.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Watching => "watching",
        }
    }
}

/// One check as `gh pr checks --json name,bucket,state,link` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The check's name.
    #[serde(default)]
    pub name: String,
    /// `pass`, `fail`, `pending`, `skipping` or `cancel`.
    #[serde(default)]
    pub bucket: String,
    /// The raw state (`SUCCESS`, `FAILURE`, `IN_PROGRESS`, …).
    #[serde(default)]
    pub state: String,
    /// Where to read the check's output.
    #[serde(default)]
    pub link: String,
}

/// What one `orc-ci wait` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The pull request.
    pub pr: u32,
    /// The verdict.
    pub verdict: Verdict,
    /// One line: what decided the verdict.
    pub detail: String,
    /// The checks last seen.
    pub checks: Vec<Check>,
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct Wait {
    /// The pull request number.
    pub pr: u32,
    /// `OWNER/REPO`, when not the repository of the current directory.
    pub repo: Option<String>,
    /// Give up (verdict `watching`) after this long.
    pub timeout: Duration,
    /// Time between polls.
    pub interval: Duration,
    /// With no check reported after this long, the repository is taken to
    /// have no CI and the verdict is `passed`.
    pub grace: Duration,
}

/// The verdict on a set of checks; `None` when there are none.
pub fn verdict(checks: &[Check]) -> Option<Verdict> {
    if checks.is_empty() {
        return None;
    }
    let bucket = |b: &str| checks.iter().filter(|c| c.bucket == b).count();
    if bucket("fail") + bucket("cancel") > 0 {
        Some(Verdict::Failed)
    } else if bucket("pass") + bucket("skipping") == checks.len() {
        Some(Verdict::Passed)
    } else {
        Some(Verdict::Watching)
    }
}

/// Parse `gh pr checks --json …` output.
pub fn parse_checks(json: &str) -> Result<Vec<Check>> {
    serde_json::from_str(json).map_err(|e| {
        Error::failure(
            format!("cannot read gh's checks: {e}"),
            json.chars().take(80).collect::<String>(),
        )
    })
}

/// Poll until the checks settle or `w.timeout` passes.
pub fn wait(w: &Wait) -> Result<Report> {
    let gh = gh()?;
    let started = Instant::now();
    loop {
        let checks = poll(&gh, w)?;
        let elapsed = started.elapsed();
        let settled = match verdict(&checks) {
            Some(Verdict::Watching) => None,
            Some(v) => Some((v, summary(&checks))),
            None if elapsed >= w.grace => Some((
                Verdict::Passed,
                format!(
                    "no checks reported after {}s: the repository runs no CI on this PR",
                    w.grace.as_secs()
                ),
            )),
            None => None,
        };
        if let Some((verdict, detail)) = settled {
            return Ok(Report {
                pr: w.pr,
                verdict,
                detail,
                checks,
            });
        }
        if elapsed + w.interval > w.timeout {
            let detail = if checks.is_empty() {
                "no checks reported yet".to_string()
            } else {
                summary(&checks)
            };
            return Ok(Report {
                pr: w.pr,
                verdict: Verdict::Watching,
                detail,
                checks,
            });
        }
        std::thread::sleep(w.interval.max(Duration::from_millis(100)));
    }
}

/// `gh` on PATH.
fn gh() -> Result<PathBuf> {
    which::which("gh").map_err(|_| {
        Error::failure("gh is not on PATH", "gh")
            .hint("install the GitHub CLI and run `gh auth login`")
    })
}

/// One `gh pr checks`; "no checks reported" is an empty list.
fn poll(gh: &Path, w: &Wait) -> Result<Vec<Check>> {
    let mut cmd = Command::new(gh);
    cmd.args([
        "pr",
        "checks",
        &w.pr.to_string(),
        "--json",
        "name,bucket,state,link",
    ]);
    if let Some(repo) = &w.repo {
        cmd.args(["--repo", repo]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::failure(format!("cannot run gh: {e}"), gh.display().to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.trim_start().starts_with('[') {
        return parse_checks(&stdout);
    }
    if stderr.contains("no checks reported") {
        return Ok(Vec::new());
    }
    let first = stderr.lines().next().unwrap_or("").trim().to_string();
    Err(Error::new(
        Kind::Failure,
        format!("gh pr checks failed ({}): {first}", out.status),
        format!("PR {}", w.pr),
    )
    .hint("is this a GitHub repository, and is `gh auth status` happy?"))
}

/// "3 passed, 1 failed: lint" and the like.
fn summary(checks: &[Check]) -> String {
    let mut parts = Vec::new();
    for (bucket, word) in [
        ("pass", "passed"),
        ("fail", "failed"),
        ("cancel", "cancelled"),
        ("pending", "pending"),
        ("skipping", "skipped"),
    ] {
        let n = checks.iter().filter(|c| c.bucket == bucket).count();
        if n > 0 {
            parts.push(format!("{n} {word}"));
        }
    }
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| c.bucket == "fail" || c.bucket == "cancel")
        .map(|c| c.name.as_str())
        .collect();
    let mut text = parts.join(", ");
    if !failing.is_empty() {
        text.push_str(": ");
        text.push_str(&failing.join(", "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, bucket: &str) -> Check {
        Check {
            name: name.to_string(),
            bucket: bucket.to_string(),
            state: String::new(),
            link: String::new(),
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&[]), None);
        assert_eq!(
            verdict(&[check("a", "pass"), check("b", "skipping")]),
            Some(Verdict::Passed)
        );
        assert_eq!(
            verdict(&[check("a", "pass"), check("b", "pending")]),
            Some(Verdict::Watching)
        );
        assert_eq!(
            verdict(&[check("a", "pending"), check("b", "fail")]),
            Some(Verdict::Failed)
        );
        assert_eq!(verdict(&[check("a", "cancel")]), Some(Verdict::Failed));
        assert_eq!(verdict(&[check("a", "weird")]), Some(Verdict::Watching));
    }

    #[test]
    fn parses_gh_json_and_summarises() {
        let json = r#"[{"name":"test","bucket":"pass","state":"SUCCESS","link":"https://x"},
                       {"name":"lint","bucket":"fail","state":"FAILURE","link":""}]"#;
        let checks = parse_checks(json).unwrap_or_default();
        assert_eq!(checks.len(), 2);
        assert_eq!(summary(&checks), "1 passed, 1 failed: lint");
        assert!(parse_checks("nope").is_err());
    }
}
