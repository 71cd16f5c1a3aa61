//! Pull requests through the `gh` CLI: view, checks, merge, and comments
//! on issues. Like the tracker, gh runs from an argv in the repository
//! root, with prompts off, and its words are kept in the errors.
//!
//! A missing `gh` is not an error until a call needs it: a run whose
//! workers never claim a pull request does not need gh at all.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ids::Issue;

/// The fields `gh pr view` is asked for.
pub const PR_FIELDS: &str = "number,state,baseRefName,headRefName,url";
/// The fields `gh pr checks` is asked for (as `orc-ci` asks).
pub const CHECK_FIELDS: &str = "name,bucket,state,link";

/// A pull request as gh reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Pr {
    /// Its number.
    pub number: u32,
    /// `OPEN`, `CLOSED` or `MERGED`.
    pub state: String,
    /// The branch it merges into.
    #[serde(rename = "baseRefName", default)]
    pub base: String,
    /// The branch it merges from.
    #[serde(rename = "headRefName", default)]
    pub head: String,
    /// Its web address.
    #[serde(default)]
    pub url: Option<String>,
}

/// One check of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Check {
    /// The check's name.
    #[serde(default)]
    pub name: String,
    /// `pass`, `fail`, `pending`, `skipping` or `cancel`.
    #[serde(default)]
    pub bucket: String,
}

/// What one gh call returned.
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// gh's first line of complaint.
    fn why(&self) -> String {
        let line = self.stderr.lines().map(str::trim).find(|l| !l.is_empty());
        line.unwrap_or("gh failed without a message").to_string()
    }
}

/// How to reach gh for one repository.
#[derive(Debug, Clone)]
pub struct Gh {
    program: Option<PathBuf>,
    repo: Option<String>,
    dir: PathBuf,
}

impl Gh {
    /// gh from `PATH`, run in `dir`, for `repo` (`OWNER/REPO`) if given.
    pub fn new(repo: Option<&str>, dir: &Path) -> Gh {
        let path = std::env::var_os("PATH");
        Gh {
            program: which::which_in("gh", path, dir).ok(),
            repo: repo.map(str::to_string),
            dir: dir.to_path_buf(),
        }
    }

    fn run(&self, args: &[&str]) -> Result<Ran> {
        let program = self.program.as_ref().ok_or_else(|| {
            Error::failure("the GitHub CLI (gh) is not installed", "gh")
                .hint("install it from https://cli.github.com and run `gh auth login`")
        })?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .env("GH_PROMPT_DISABLED", "1")
            .env("GH_NO_UPDATE_NOTIFIER", "1");
        if let Some(repo) = &self.repo {
            cmd.args(["--repo", repo]);
        }
        let out = cmd.output().map_err(|e| Error::io("run", program, e))?;
        Ok(Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// `gh pr view TARGET` (a number or a branch); `None` when gh finds no
    /// such pull request.
    pub fn pr_view(&self, target: &str) -> Result<Option<Pr>> {
        let ran = self.run(&["pr", "view", target, "--json", PR_FIELDS])?;
        if !ran.ok {
            let lower = ran.stderr.to_ascii_lowercase();
            if lower.contains("no pull requests found") || lower.contains("could not resolve") {
                return Ok(None);
            }
            return Err(Error::failure(
                format!("gh pr view failed: {}", ran.why()),
                target,
            ));
        }
        serde_json::from_str(&ran.stdout)
            .map(Some)
            .map_err(|e| Error::failure(format!("cannot read gh's pull request: {e}"), target))
    }

    /// `gh pr checks N`; "no checks reported" is an empty list.
    pub fn pr_checks(&self, pr: u32) -> Result<Vec<Check>> {
        let n = pr.to_string();
        let ran = self.run(&["pr", "checks", &n, "--json", CHECK_FIELDS])?;
        // gh exits non-zero when a check failed or is pending, with the
        // JSON on stdout all the same: the JSON decides, not the status.
        if ran.stdout.trim_start().starts_with('[') {
            return serde_json::from_str(&ran.stdout).map_err(|e| {
                Error::failure(format!("cannot read gh's checks: {e}"), format!("PR #{n}"))
            });
        }
        if ran.stderr.contains("no checks reported") {
            return Ok(Vec::new());
        }
        Err(Error::failure(
            format!("gh pr checks failed: {}", ran.why()),
            format!("PR #{n}"),
        ))
    }

    /// `gh pr merge N FLAG`; `Err(reason)` inside when GitHub refused.
    pub fn pr_merge(&self, pr: u32, flag: &str) -> Result<std::result::Result<(), String>> {
        let ran = self.run(&["pr", "merge", &pr.to_string(), flag])?;
        Ok(if ran.ok { Ok(()) } else { Err(ran.why()) })
    }

    /// `gh issue comment N --body TEXT`.
    pub fn issue_comment(&self, issue: Issue, body: &str) -> Result<()> {
        let ran = self.run(&["issue", "comment", &issue.to_string(), "--body", body])?;
        if ran.ok {
            Ok(())
        } else {
            Err(Error::failure(
                format!("gh issue comment failed: {}", ran.why()),
                format!("#{issue}"),
            ))
        }
    }
}

/// The verdict on a set of checks: `Ok(())` when every check passed or was
/// skipped (none at all counts: the repository runs no CI), else what is
/// wrong with them.
pub fn checks_green(checks: &[Check]) -> std::result::Result<String, String> {
    if checks.is_empty() {
        return Ok("no checks reported (no CI on this pull request)".to_string());
    }
    let named = |buckets: &[&str]| -> Vec<&str> {
        checks
            .iter()
            .filter(|c| buckets.contains(&c.bucket.as_str()))
            .map(|c| c.name.as_str())
            .collect()
    };
    let red = named(&["fail", "cancel"]);
    if !red.is_empty() {
        return Err(format!("checks failed: {}", red.join(", ")));
    }
    let green = named(&["pass", "skipping"]);
    if green.len() == checks.len() {
        return Ok(format!("{} checks passed", green.len()));
    }
    let waiting: Vec<&str> = checks
        .iter()
        .filter(|c| !matches!(c.bucket.as_str(), "pass" | "skipping"))
        .map(|c| c.name.as_str())
        .collect();
    Err(format!("checks still running: {}", waiting.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, bucket: &str) -> Check {
        Check {
            name: name.into(),
            bucket: bucket.into(),
        }
    }

    #[test]
    fn green_means_every_check_passed_or_skipped() {
        assert!(checks_green(&[]).is_ok());
        assert!(checks_green(&[check("a", "pass"), check("b", "skipping")]).is_ok());
        assert_eq!(
            checks_green(&[check("a", "pass"), check("lint", "fail")]),
            Err("checks failed: lint".to_string())
        );
        assert_eq!(
            checks_green(&[check("a", "pending")]),
            Err("checks still running: a".to_string())
        );
    }

    #[test]
    fn pull_requests_parse_from_gh_json() {
        let pr: Pr = serde_json::from_str(
            r#"{"number":7,"state":"OPEN","baseRefName":"main","headRefName":"issue/7-x","url":"u"}"#,
        )
        .unwrap_or(Pr {
            number: 0,
            state: String::new(),
            base: String::new(),
            head: String::new(),
            url: None,
        });
        assert_eq!((pr.number, pr.base.as_str()), (7, "main"));
    }
}
