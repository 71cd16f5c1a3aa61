//! What a landing is asked to do, and the words and commits both ways of
//! building it share: in a scratch worktree (`merge::build`) and from
//! git's objects (`objects::build`).

use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::repo::Repo;

use super::git::Git;

/// `ORC_MERGE_METHOD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Fast-forward only: the base becomes the branch's tip.
    Ff,
    /// A merge commit (always, even when a fast-forward would do).
    Merge,
    /// One new commit with the branch's changes.
    Squash,
}

impl Method {
    /// `ff`, `merge` or `squash` (`rebase` is taken as `ff`: the base's
    /// history stays linear either way).
    pub fn parse(text: &str) -> Result<Method> {
        match text {
            "ff" | "rebase" => Ok(Method::Ff),
            "merge" => Ok(Method::Merge),
            "squash" => Ok(Method::Squash),
            other => {
                Err(Error::usage("unknown ORC_MERGE_METHOD", other).hint("use ff, merge or squash"))
            }
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ff => "ff",
            Method::Merge => "merge",
            Method::Squash => "squash",
        }
    }

    /// The `gh pr merge` flag that does the same on GitHub.
    pub fn gh_flag(self) -> &'static str {
        match self {
            Method::Ff => "--rebase",
            Method::Merge => "--merge",
            Method::Squash => "--squash",
        }
    }
}

/// What to land.
#[derive(Debug, Clone)]
pub struct Job {
    /// The issue.
    pub issue: Issue,
    /// Its title, for the commit messages.
    pub title: String,
    /// The worker's branch.
    pub branch: String,
    /// The branch it merges into (a local branch name, e.g. `main`).
    pub base: String,
    /// How.
    pub method: Method,
    /// Close `.orc/issues/<N>.md` (the local tracker).
    pub close: bool,
    /// The time written into the closed issue.
    pub now: String,
}

/// What a build gives: the merging commit, the new tip, and whether the
/// issue's closing is in it; or why it cannot be built (a conflict, a base
/// that a fast-forward cannot reach).
pub(super) type Built = std::result::Result<(String, String, bool), String>;

/// The refusal of a fast-forward the base cannot make.
pub(super) fn no_fast_forward(job: &Job) -> String {
    format!(
        "{} cannot be fast-forwarded to {}: {} has moved since the branch \
         was made (rebase the branch, or use ORC_MERGE_METHOD=merge)",
        job.base, job.branch, job.base
    )
}

/// The refusal of a merge that stopped: on a conflict in `files`, or, with
/// none named, for git's `reason`.
pub(super) fn no_merge(job: &Job, files: &[&str], reason: &str) -> String {
    if files.is_empty() {
        format!("{} does not merge into {}: {reason}", job.branch, job.base)
    } else {
        format!(
            "{} conflicts with {} in {}",
            job.branch,
            job.base,
            files.join(", ")
        )
    }
}

/// The refusal of a squash that would change nothing.
pub(super) fn nothing_to_squash(job: &Job) -> String {
    format!("squashing {} into {} changes nothing", job.branch, job.base)
}

/// The message of the merge commit of `tip`.
pub(super) fn merge_message(job: &Job, tip: &str) -> String {
    format!(
        "Merge issue #{}: {}\n\nBranch {} at {}, landed by orc.",
        job.issue, job.title, job.branch, tip
    )
}

/// The message of the squashed commit of `tip`.
pub(super) fn squash_message(job: &Job, tip: &str) -> String {
    format!(
        "Issue #{}: {}\n\nSquashed from {} at {} by orc.",
        job.issue, job.title, job.branch, tip
    )
}

/// The message of the commit that closes the issue merged by `commit`.
pub(super) fn close_message(job: &Job, commit: &str) -> String {
    format!(
        "Close issue #{}: merged in {}\n\n{}",
        job.issue,
        commit.get(..12).unwrap_or(commit),
        job.title
    )
}

/// The issue's file in the repository.
pub(super) fn issue_file(job: &Job) -> String {
    format!(".orc/issues/{}.md", job.issue)
}

/// The identity git commits with: `-c user.name=orc -c user.email=…` in
/// front of a command when git has none of its own (a fresh machine, a CI
/// container); nothing when it has one.
pub(super) struct Identity(Vec<String>);

impl Identity {
    /// Ask git once whether it knows who commits in `repo`.
    pub(super) fn of(repo: &Repo) -> Result<Identity> {
        let known = Git::at(&repo.root).succeeds(["var", "GIT_COMMITTER_IDENT"])?;
        Ok(Identity(if known {
            Vec::new()
        } else {
            ["-c", "user.name=orc", "-c", "user.email=orc@localhost"]
                .map(str::to_string)
                .to_vec()
        }))
    }

    /// The arguments of a committing git command, the identity first.
    pub(super) fn with(&self, args: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .map(String::as_str)
            .chain(args.iter().copied())
            .map(str::to_string)
            .collect()
    }
}
