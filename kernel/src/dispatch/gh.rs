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
/// The fields of the one batched `gh pr list` a turn of dispatch makes:
/// every pull request of the run with its checks.
pub const LIST_FIELDS: &str =
    "number,state,baseRefName,headRefName,headRefOid,url,statusCheckRollup";
/// How many pull requests the batched list asks for (the newest first; a
/// branch not among them is looked up on its own).
pub const LIST_LIMIT: &str = "100";
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
    /// The commit at the head of its branch.
    #[serde(rename = "headRefOid", default)]
    pub head_oid: Option<String>,
    /// Its checks, as `gh pr list` reports them (absent from `gh pr view`).
    #[serde(rename = "statusCheckRollup", default)]
    pub rollup: Option<Vec<Rollup>>,
}

impl Pr {
    /// The checks of the rollup, in `gh pr checks`' buckets.
    pub fn checks(&self) -> Vec<Check> {
        self.rollup
            .iter()
            .flatten()
            .map(|r| Check {
                name: r
                    .name
                    .clone()
                    .or_else(|| r.context.clone())
                    .unwrap_or_default(),
                bucket: r.bucket().to_string(),
            })
            .collect()
    }
}

/// One entry of a pull request's `statusCheckRollup`: a check run
/// (`name`, `status`, `conclusion`) or a commit status (`context`, `state`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rollup {
    /// A check run's name.
    #[serde(default)]
    pub name: Option<String>,
    /// A commit status's name.
    #[serde(default)]
    pub context: Option<String>,
    /// A check run's `QUEUED`, `IN_PROGRESS`, `COMPLETED`.
    #[serde(default)]
    pub status: Option<String>,
    /// A check run's `SUCCESS`, `FAILURE`, `NEUTRAL`, `SKIPPED`, ….
    #[serde(default)]
    pub conclusion: Option<String>,
    /// A commit status's `SUCCESS`, `PENDING`, `FAILURE`, `ERROR`.
    #[serde(default)]
    pub state: Option<String>,
}

impl Rollup {
    /// `pass`, `fail`, `pending`, `skipping` or `cancel`, as `gh pr checks`.
    pub fn bucket(&self) -> &'static str {
        let up = |o: &Option<String>| o.as_deref().unwrap_or("").to_ascii_uppercase();
        if self.context.is_some() || self.state.is_some() && self.status.is_none() {
            return match up(&self.state).as_str() {
                "SUCCESS" => "pass",
                "PENDING" | "EXPECTED" | "" => "pending",
                _ => "fail",
            };
        }
        if up(&self.status) != "COMPLETED" {
            return "pending";
        }
        match up(&self.conclusion).as_str() {
            "SUCCESS" | "NEUTRAL" => "pass",
            "SKIPPED" => "skipping",
            "CANCELLED" | "STALE" => "cancel",
            _ => "fail",
        }
    }
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

/// How to reach gh for one repository (every call is counted, with the
/// tracker's, in [`crate::tracker::github::calls`]).
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
        crate::tracker::github::count_call();
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

    /// `gh pr list`: the newest pull requests with their checks, or with
    /// `head`, those of one branch; one call for all of a turn's workers.
    pub fn pr_list(&self, head: Option<&str>) -> Result<Vec<Pr>> {
        let mut args = vec!["pr", "list", "--state", "all", "--limit", LIST_LIMIT];
        if let Some(head) = head {
            args.extend(["--head", head]);
        }
        args.extend(["--json", LIST_FIELDS]);
        let ran = self.run(&args)?;
        if !ran.ok {
            return Err(Error::failure(
                format!("gh pr list failed: {}", ran.why()),
                head.unwrap_or("the pull requests").to_string(),
            ));
        }
        serde_json::from_str(&ran.stdout).map_err(|e| {
            Error::failure(
                format!("cannot read gh's pull requests: {e}"),
                head.unwrap_or("gh pr list").to_string(),
            )
        })
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
    /// `--match-head-commit` makes GitHub refuse if the branch moved since
    /// it was verified.
    pub fn pr_merge(
        &self,
        pr: u32,
        flag: &str,
        head: Option<&str>,
    ) -> Result<std::result::Result<(), String>> {
        let n = pr.to_string();
        let mut args = vec!["pr", "merge", &n, flag];
        if let Some(head) = head {
            args.extend(["--match-head-commit", head]);
        }
        let ran = self.run(&args)?;
        Ok(if ran.ok { Ok(()) } else { Err(ran.why()) })
    }

    /// `gh issue close N --comment TEXT` (an issue closed already is not
    /// an error).
    pub fn issue_close(&self, issue: Issue, comment: &str) -> Result<()> {
        let n = issue.to_string();
        let ran = self.run(&["issue", "close", &n, "--comment", comment])?;
        if ran.ok || ran.stderr.to_ascii_lowercase().contains("already closed") {
            Ok(())
        } else {
            Err(Error::failure(
                format!("gh issue close failed: {}", ran.why()),
                format!("#{issue}"),
            ))
        }
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

/// Whether a failed gh call is worth trying again: GitHub's 5xx, the
/// network, a rate limit. Anything else (not found, no permission, bad
/// input) is an answer.
pub fn is_transient(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    const WORDS: [&str; 16] = [
        "http 500",
        "http 502",
        "http 503",
        "http 504",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "internal server error",
        "timeout",
        "timed out",
        "connection reset",
        "connection refused",
        "could not connect",
        "no such host",
        "network is unreachable",
        "rate limit",
    ];
    WORDS.iter().any(|w| m.contains(w)) || m.contains("dial tcp") || m.ends_with(": eof")
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
    fn rollups_fall_in_the_buckets_of_gh_pr_checks() {
        let pr: Pr = serde_json::from_str(
            r#"{"number":7,"state":"OPEN","statusCheckRollup":[
              {"__typename":"CheckRun","name":"a","status":"COMPLETED","conclusion":"SUCCESS"},
              {"__typename":"CheckRun","name":"b","status":"IN_PROGRESS","conclusion":""},
              {"__typename":"CheckRun","name":"c","status":"COMPLETED","conclusion":"FAILURE"},
              {"__typename":"CheckRun","name":"d","status":"COMPLETED","conclusion":"SKIPPED"},
              {"__typename":"StatusContext","context":"e","state":"PENDING"},
              {"__typename":"StatusContext","context":"f","state":"SUCCESS"}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(String, String)> = pr
            .checks()
            .into_iter()
            .map(|c| (c.name, c.bucket))
            .collect();
        let want = [
            ("a", "pass"),
            ("b", "pending"),
            ("c", "fail"),
            ("d", "skipping"),
            ("e", "pending"),
            ("f", "pass"),
        ];
        assert_eq!(
            got,
            want.map(|(n, b)| (n.to_string(), b.to_string())).to_vec()
        );
    }

    #[test]
    fn transient_failures_are_told_from_answers() {
        assert!(is_transient(
            "gh pr list failed: HTTP 502: Bad Gateway (https://api.github.com/graphql)"
        ));
        assert!(is_transient("API rate limit exceeded for user ID 1."));
        assert!(is_transient(
            "Post \"https://api.github.com/graphql\": dial tcp: lookup api.github.com: no such host"
        ));
        assert!(!is_transient("no pull requests found for branch \"x\""));
        assert!(!is_transient("HTTP 404: Not Found"));
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
            head_oid: None,
            rollup: None,
        });
        assert_eq!((pr.number, pr.base.as_str()), (7, "main"));
    }
}
