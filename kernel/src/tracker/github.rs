//! The GitHub tracker, through the `gh` CLI.
//!
//! `gh` already knows the user's login, host and default repository, so orc
//! asks it rather than talking to the API itself. It runs from an argv, never
//! a shell, with prompts and update notices off, and its failures are sorted
//! into errors a user can act on: not installed, not logged in, no such
//! issue or repository, rate limited, or anything else with gh's own words.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;

use super::{Comment, IssueData};
use crate::clock;
use crate::error::{Error, Kind, Result};
use crate::ids::Issue;
use crate::record::nice_of;

/// The fields `gh issue view` is asked for.
pub const VIEW_FIELDS: &str = "number,title,labels,body,comments,state,url,createdAt";
/// The fields `gh issue list` is asked for (comments would cost a query each).
pub const LIST_FIELDS: &str = "number,title,labels,body,state,url,createdAt";
/// The most issues one `gh issue list` returns.
pub const LIST_LIMIT: u32 = 500;

/// How to reach GitHub: the `gh` program, the repository and where to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Github {
    /// The `gh` executable (tests pass a fake script).
    pub program: PathBuf,
    /// `OWNER/REPO`, passed as `--repo`; `None` lets gh choose from the
    /// remotes of the checkout it runs in.
    pub repo: Option<String>,
    /// The directory gh runs in (the repository root); `None`: the current
    /// directory. It decides the repository when `repo` is `None`.
    pub dir: Option<PathBuf>,
}

/// What a gh call was for, to word its errors.
enum Op {
    View(Issue),
    List,
    Prs,
}

/// A merged pull request's number and head commit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MergedPr {
    /// Its number.
    pub number: u32,
    /// The commit its head branch pointed at when it was merged.
    #[serde(rename = "headRefOid")]
    pub head: String,
}

impl Github {
    /// `gh` from `PATH`, with `repo` checked as `OWNER/REPO`.
    pub fn new(repo: Option<&str>, dir: Option<&Path>) -> Result<Github> {
        if let Some(repo) = repo {
            check_repo_slug(repo)?;
        }
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", Path::new("."), e))?;
        Ok(Github {
            program: find_gh(std::env::var_os("PATH"), &cwd)?,
            repo: repo.map(str::to_string),
            dir: dir.map(Path::to_path_buf),
        })
    }

    /// `gh issue view N --json … [--repo R]`.
    pub fn fetch(&self, issue: Issue) -> Result<IssueData> {
        let mut args = vec![
            "issue".to_string(),
            "view".to_string(),
            issue.to_string(),
            "--json".to_string(),
            VIEW_FIELDS.to_string(),
        ];
        let stdout = self.run(&mut args, &Op::View(issue))?;
        let raw: GhIssue =
            serde_json::from_slice(&stdout).map_err(|e| unparsable(&e.to_string(), &args))?;
        let data = raw.into_issue(&args)?;
        if data.number != issue {
            return Err(unparsable(
                &format!("asked for issue {issue}, got {}", data.number),
                &args,
            ));
        }
        Ok(data)
    }

    /// `gh issue list --state open --limit 500 --json … [--label L] [--repo R]`,
    /// sorted by number. The issues have no comments.
    pub fn list(&self, label: Option<&str>) -> Result<Vec<IssueData>> {
        self.list_matching(label, None)
    }

    /// [`Github::list`], narrowed by a GitHub search query (`--search Q`,
    /// e.g. `label:bug no:assignee`) when one is given.
    pub fn list_matching(
        &self,
        label: Option<&str>,
        search: Option<&str>,
    ) -> Result<Vec<IssueData>> {
        let mut args: Vec<String> = [
            "issue",
            "list",
            "--state",
            "open",
            "--limit",
            &LIST_LIMIT.to_string(),
            "--json",
            LIST_FIELDS,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(label) = label {
            if label.trim().is_empty() || label.chars().any(char::is_control) {
                return Err(Error::usage("invalid label", label));
            }
            args.extend(["--label".to_string(), label.to_string()]);
        }
        if let Some(query) = search {
            if query.trim().is_empty() || query.chars().any(char::is_control) {
                return Err(Error::usage("invalid search query", query));
            }
            args.extend(["--search".to_string(), query.to_string()]);
        }
        let stdout = self.run(&mut args, &Op::List)?;
        let raw: Vec<GhIssue> =
            serde_json::from_slice(&stdout).map_err(|e| unparsable(&e.to_string(), &args))?;
        let mut issues = raw
            .into_iter()
            .map(|r| r.into_issue(&args))
            .collect::<Result<Vec<_>>>()?;
        issues.sort_by_key(|i| i.number);
        Ok(issues)
    }

    /// The merged pull requests whose head branch is `branch`:
    /// `gh pr list --head B --state merged --json number,headRefOid`.
    pub fn merged_prs(&self, branch: &str) -> Result<Vec<MergedPr>> {
        let mut args: Vec<String> = [
            "pr",
            "list",
            "--head",
            branch,
            "--state",
            "merged",
            "--json",
            "number,headRefOid",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let stdout = self.run(&mut args, &Op::Prs)?;
        serde_json::from_slice(&stdout).map_err(|e| unparsable(&e.to_string(), &args))
    }

    /// Run gh with `args` (plus `--repo`, appended here) and return its
    /// standard output, or the error its failure means.
    fn run(&self, args: &mut Vec<String>, op: &Op) -> Result<Vec<u8>> {
        count_call();
        if let Some(repo) = &self.repo {
            check_repo_slug(repo)?;
            args.extend(["--repo".to_string(), repo.clone()]);
        }
        let mut cmd = Command::new(&self.program);
        cmd.args(args.iter())
            .stdin(Stdio::null())
            .env("GH_PROMPT_DISABLED", "1")
            .env("GH_NO_UPDATE_NOTIFIER", "1");
        if let Some(dir) = &self.dir {
            // A missing directory would surface as ENOENT from the spawn,
            // indistinguishable from a missing gh.
            if !dir.is_dir() {
                return Err(Error::failure(
                    "cannot run gh: no such directory",
                    dir.display().to_string(),
                ));
            }
            cmd.current_dir(dir);
        }
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(not_installed(&self.program.display().to_string()));
            }
            Err(e) => return Err(Error::io("run", &self.program, e)),
        };
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failure(&out, op, args))
        }
    }

    /// The error a failed gh call means, judged from its stderr.
    fn failure(&self, out: &Output, op: &Op, args: &[String]) -> Error {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lower = stderr.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        let repo = self.repo.as_deref();
        if has(&["gh auth login", "not logged in", "bad credentials"]) {
            return Error::failure("gh is not logged in to GitHub", self.repo_subject())
                .hint("run `gh auth login`, or set GH_TOKEN");
        }
        if has(&["rate limit"]) {
            return Error::new(
                Kind::TempFail,
                "GitHub API rate limit exceeded",
                command(args),
            )
            .hint("wait and retry; `gh api rate_limit` shows when it resets");
        }
        if has(&["could not resolve to a repository"]) {
            return Error::failure("repository not found on GitHub", self.repo_subject())
                .hint("check --repo OWNER/REPO and that your gh account can see it");
        }
        if has(&[
            "failed to determine base repo",
            "no git remotes",
            "none of the git remotes",
            "not a git repository",
        ]) {
            return Error::failure(
                "gh cannot tell which repository to use",
                self.repo_subject(),
            )
            .hint("pass --repo OWNER/REPO");
        }
        if let Op::View(issue) = op
            && has(&["could not resolve", "not found"])
        {
            let subject = match repo {
                Some(repo) => format!("{repo}#{issue}"),
                None => format!("#{issue}"),
            };
            return Error::failure(format!("issue {issue} not found on GitHub"), subject).hint(
                "check the issue number, and pass --repo OWNER/REPO when the issue lives in \
                 another repository",
            );
        }
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty());
        let what = match first {
            Some(line) => format!("gh failed: {line}"),
            None => format!("gh failed with {}", out.status),
        };
        Error::failure(what, command(args))
    }

    fn repo_subject(&self) -> String {
        match (&self.repo, &self.dir) {
            (Some(repo), _) => repo.clone(),
            (None, Some(dir)) => dir.display().to_string(),
            (None, None) => ".".to_string(),
        }
    }
}

/// Find `gh` in `path` (a `PATH` value).
fn find_gh(path: Option<OsString>, cwd: &Path) -> Result<PathBuf> {
    which::which_in("gh", path, cwd).map_err(|_| not_installed("gh"))
}

fn not_installed(program: &str) -> Error {
    Error::failure("the GitHub CLI (gh) is not installed", program).hint(
        "install it from https://cli.github.com and run `gh auth login`, or use the local \
         tracker: mkdir -p .orc/issues",
    )
}

fn unparsable(why: &str, args: &[String]) -> Error {
    Error::failure(format!("cannot parse gh's output: {why}"), command(args))
        .hint("orc needs gh 2.x with --json; check `gh --version`")
}

/// The command line as a user would type it, for error subjects.
fn command(args: &[String]) -> String {
    format!("gh {}", args.join(" "))
}

/// Check `text` is `OWNER/REPO` as GitHub allows them: one `/`, each side
/// 1-100 of `[A-Za-z0-9._-]`, not starting with `-`, and not `.` or `..`.
pub fn check_repo_slug(text: &str) -> Result<()> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && !p.starts_with('-')
            && p != "."
            && p != ".."
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    match text.split_once('/') {
        Some((owner, repo)) if part_ok(owner) && part_ok(repo) => Ok(()),
        _ => Err(Error::usage("not a GitHub repository (OWNER/REPO)", text)
            .hint("write the repository as OWNER/REPO, for example acme/widgets")),
    }
}

/// The issues a body says this one waits for: `depends on #12`,
/// `blocked by #12, #13 and #14`, `Depends-on: #3` (any case, anywhere in a
/// line, outside fenced code), in order of appearance, without repeats or
/// `own`. References to other repositories (`owner/repo#5`) are not ours.
pub fn depends_on_from_body(body: &str, own: Issue) -> Vec<Issue> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in body.lines() {
        let start = line.trim_start();
        if start.starts_with("```") || start.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        for phrase in ["depends on", "depends-on", "blocked by", "blocked-by"] {
            let mut from = 0;
            while let Some(pos) = lower[from..].find(phrase) {
                let begin = from + pos;
                from = begin + phrase.len();
                let glued = begin > 0 && lower.as_bytes()[begin - 1].is_ascii_alphanumeric();
                if !glued {
                    references(&lower.as_bytes()[from..], own, &mut out);
                }
            }
        }
    }
    out
}

/// Collect `#N` references from the start of `text`: `: #1, #2 and #3`.
fn references(text: &[u8], own: Issue, out: &mut Vec<Issue>) {
    let skip = |i: &mut usize, set: &[u8]| {
        while text.get(*i).is_some_and(|b| set.contains(b)) {
            *i += 1;
        }
    };
    let mut i = 0;
    skip(&mut i, b" \t:*_");
    while text.get(i) == Some(&b'#') {
        let digits = i + 1;
        i = digits;
        skip(&mut i, b"0123456789");
        let glued = text
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
        if i == digits || glued {
            return;
        }
        let number = std::str::from_utf8(&text[digits..i])
            .ok()
            .and_then(|s| Issue::parse(s).ok());
        if let Some(issue) = number.filter(|n| *n != own && !out.contains(n)) {
            out.push(issue);
        }
        skip(&mut i, b" \t,");
        if text[i..].starts_with(b"and ") || text[i..].starts_with(b"or ") {
            i += if text[i..].starts_with(b"and ") { 4 } else { 3 };
            skip(&mut i, b" \t");
        }
    }
}

/// The most urgent priority the labels give: `priority:high` (any name or
/// nice value `nice_of` accepts) or `P0`-`P3` (critical, high, normal,
/// low). Labels that look like priorities but are not valid are ignored:
/// they belong to the project, and a fetch should not fail on them.
pub fn priority_from_labels(labels: &[String]) -> Option<String> {
    labels
        .iter()
        .filter_map(|label| {
            let label = label.trim().to_ascii_lowercase();
            let name = match label.as_str() {
                "p0" => "critical".to_string(),
                "p1" => "high".to_string(),
                "p2" => "normal".to_string(),
                "p3" => "low".to_string(),
                other => other.strip_prefix("priority:")?.trim().to_string(),
            };
            nice_of(&name).ok().map(|nice| (nice, name))
        })
        .min_by_key(|(nice, _)| *nice)
        .map(|(_, name)| name)
}

#[derive(Deserialize)]
struct GhIssue {
    number: u64,
    title: String,
    #[serde(default)]
    labels: Vec<GhLabel>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    comments: Vec<GhComment>,
    state: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "createdAt")]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct GhLabel {
    name: String,
}

#[derive(Deserialize)]
struct GhComment {
    #[serde(default)]
    author: Option<GhAuthor>,
    #[serde(default)]
    body: String,
    #[serde(default, rename = "createdAt")]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct GhAuthor {
    login: String,
}

impl GhIssue {
    fn into_issue(self, args: &[String]) -> Result<IssueData> {
        let number = Issue::parse(&self.number.to_string())
            .map_err(|_| unparsable(&format!("bad issue number {}", self.number), args))?;
        let open = match self.state.to_ascii_uppercase().as_str() {
            "OPEN" => true,
            "CLOSED" => false,
            other => return Err(unparsable(&format!("unknown state {other:?}"), args)),
        };
        let time = |t: Option<String>| -> Result<Option<String>> {
            match t.filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => clock::parse(&t)
                    .map(|t| Some(clock::format(&t)))
                    .map_err(|_| unparsable(&format!("bad time {t:?}"), args)),
            }
        };
        let labels: Vec<String> = self.labels.into_iter().map(|l| l.name).collect();
        let comments = self
            .comments
            .into_iter()
            .map(|c| {
                Ok(Comment {
                    // GitHub shows deleted accounts as "ghost".
                    author: c.author.map_or_else(|| "ghost".to_string(), |a| a.login),
                    body: c.body.replace("\r\n", "\n"),
                    created_at: time(c.created_at)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // Titles are one line on GitHub; a stray newline must not break the
        // task file's heading. Direction overrides are refused, as in every
        // title and detail orc takes.
        let title = self.title.replace(['\r', '\n'], " ");
        crate::text::check_line(&format!("the title of issue #{number}"), &title)
            .map_err(|e| e.hint("edit the issue's title on GitHub"))?;
        Ok(IssueData {
            number,
            title,
            priority: priority_from_labels(&labels),
            labels,
            depends_on: depends_on_from_body(&self.body, number),
            body: self.body.replace("\r\n", "\n"),
            comments,
            open,
            url: self.url.filter(|u| !u.is_empty()),
            created_at: time(self.created_at)?,
        })
    }
}

#[cfg(test)]
mod tests;

/// Every gh call this process made (the tracker's and dispatch's), for the
/// GitHub call budget that `orc-dispatch` reports.
static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Count one gh call.
pub fn count_call() {
    CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many gh calls this process has made.
pub fn calls() -> u64 {
    CALLS.load(std::sync::atomic::Ordering::Relaxed)
}
