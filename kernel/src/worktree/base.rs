//! The base branch a worktree starts from.

use super::git::{first_existing, git, has_ref, run};
use crate::error::{Error, Result};
use crate::repo::Repo;

/// The branch a worktree starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The branch's name, e.g. `main`: what a pull request targets.
    pub name: String,
    /// What the worktree branches from: `origin/main`, or `main` when the
    /// repository has no `origin`.
    pub start: String,
}

/// The base to branch from: `explicit` if given (a branch of `origin`, or a
/// local one), else the default branch: `origin/HEAD` (or `origin/main`,
/// `origin/master`) with an `origin` remote, otherwise the branch checked
/// out in the main worktree.
pub fn resolve_base(repo: &Repo, explicit: Option<&str>) -> Result<Base> {
    match explicit {
        Some(name) => explicit_base(repo, name),
        None if has_origin(repo)? => origin_default(repo),
        None => local_default(repo),
    }
}

fn explicit_base(repo: &Repo, name: &str) -> Result<Base> {
    let checked = run(repo, ["check-ref-format", "--branch", name])?;
    // `--branch` expands `@{-1}` and the like; a base must be named as is.
    if !checked.status.success() || String::from_utf8_lossy(&checked.stdout).trim() != name {
        return Err(Error::usage("not a valid branch name", name)
            .hint("pass --base with a branch name such as main"));
    }
    // A branch of origin, a local one, or `origin/<branch>` named in full:
    // one question to git for the three.
    let candidates = [
        format!("refs/remotes/origin/{name}"),
        format!("refs/heads/{name}"),
        format!("refs/remotes/{name}"),
    ];
    let found = first_existing(repo, &candidates)?;
    let at = found.and_then(|f| candidates.iter().position(|c| *c == f));
    let (short, start) = match at {
        Some(0) => (name, format!("origin/{name}")),
        Some(1) => (name, name.to_string()),
        _ => match name.strip_prefix("origin/") {
            Some(short) if at == Some(2) => (short, name.to_string()),
            _ => {
                return Err(Error::usage("base branch does not exist", name)
                    .hint("fetch it (`git fetch origin`) or pass an existing branch to --base"));
            }
        },
    };
    Ok(Base {
        name: short.to_string(),
        start,
    })
}

fn has_origin(repo: &Repo) -> Result<bool> {
    let remotes = git(repo, ["remote"])?;
    Ok(remotes.lines().any(|r| r == "origin"))
}

fn origin_default(repo: &Repo) -> Result<Base> {
    let head = run(
        repo,
        ["symbolic-ref", "--quiet", "refs/remotes/origin/HEAD"],
    )?;
    let target = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let mut candidates: Vec<String> = Vec::new();
    if let Some(name) = target.strip_prefix("refs/remotes/origin/") {
        candidates.push(name.to_string());
    }
    candidates.extend(["main".to_string(), "master".to_string()]);
    let full: Vec<String> = candidates
        .iter()
        .map(|name| format!("refs/remotes/origin/{name}"))
        .collect();
    if let Some(found) = first_existing(repo, &full)?
        && let Some(name) = found.strip_prefix("refs/remotes/origin/")
    {
        return Ok(Base {
            start: format!("origin/{name}"),
            name: name.to_string(),
        });
    }
    Err(
        Error::failure("cannot tell the default branch of origin", "origin/HEAD").hint(
            "run `git fetch origin && git remote set-head origin --auto`, or pass --base BRANCH",
        ),
    )
}

fn local_default(repo: &Repo) -> Result<Base> {
    let head = run(repo, ["symbolic-ref", "--quiet", "HEAD"])?;
    let target = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let Some(name) = target.strip_prefix("refs/heads/") else {
        return Err(Error::failure(
            "the main worktree is not on a branch",
            repo.root.display().to_string(),
        )
        .hint("check out the default branch there, or pass --base BRANCH"));
    };
    if !has_ref(repo, &target)? {
        return Err(Error::failure("the base branch has no commits yet", name)
            .hint("make a first commit on it, or pass --base BRANCH"));
    }
    Ok(Base {
        name: name.to_string(),
        start: name.to_string(),
    })
}
