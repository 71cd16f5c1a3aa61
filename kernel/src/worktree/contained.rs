//! Proof that a commit is held somewhere else, asked before anything that
//! holds it (a branch, a worktree's HEAD) is deleted. A worker's word is
//! never proof: only git's refs and a pull request the tracker reports
//! merged are.
//!
//! A commit is held when it is reachable from the base branch (local or its
//! upstream), from any other ref (a remote branch, a tag, another branch,
//! the stash), or when it is the head commit of a merged pull request.
//! The refs about to be deleted together are named in `except`, so two
//! branches can never vouch for each other on their way out.

use std::collections::BTreeSet;

use serde::Serialize;

use super::base::Base;
use super::git::{git, run};
use crate::error::Result;
use crate::repo::Repo;

/// Where a commit is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Holder {
    /// Reachable from this ref (`refs/heads/main`, `refs/remotes/origin/x`, ...).
    Ref {
        /// The full ref name.
        name: String,
    },
    /// The head commit of this pull request, which the tracker reports merged.
    MergedPr {
        /// The pull request's number.
        number: u32,
    },
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Ref { name } => f.write_str(name),
            Holder::MergedPr { number } => write!(f, "merged pull request #{number}"),
        }
    }
}

/// The commit `rev` names (`refs/heads/x`, `HEAD` of a worktree's repo,
/// a sha), or `None` when it names none.
pub fn tip(repo: &Repo, rev: &str) -> Result<Option<String>> {
    let out = run(
        repo,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && !sha.is_empty()).then_some(sha))
}

/// Where `tip` is held, other than by the refs in `except` (full names):
/// the base first (`base.name` locally, then `base.start`), then any other
/// ref, then a merged pull request of `merged` (number, head commit).
/// `None`: deleting `except` would lose `tip`.
pub fn holder(
    repo: &Repo,
    tip: &str,
    base: Option<&Base>,
    except: &BTreeSet<String>,
    merged: &[(u32, String)],
) -> Result<Option<Holder>> {
    let listed = git(
        repo,
        ["for-each-ref", "--format=%(refname)", "--contains", tip],
    )?;
    let refs: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|r| !r.is_empty() && !except.contains(*r))
        .collect();
    let preferred: Vec<String> = base
        .map(|b| {
            vec![
                format!("refs/heads/{}", b.name),
                format!("refs/remotes/{}", b.start),
            ]
        })
        .unwrap_or_default();
    let found = preferred
        .iter()
        .find(|p| refs.contains(&p.as_str()))
        .cloned()
        .or_else(|| refs.first().map(|r| r.to_string()));
    if let Some(name) = found {
        return Ok(Some(Holder::Ref { name }));
    }
    Ok(merged
        .iter()
        .find(|(_, head)| head == tip)
        .map(|(number, _)| Holder::MergedPr { number: *number }))
}

/// Whether `ancestor` is reachable from `descendant` (both commits).
pub fn is_ancestor(repo: &Repo, ancestor: &str, descendant: &str) -> Result<bool> {
    let out = run(repo, ["merge-base", "--is-ancestor", ancestor, descendant])?;
    Ok(out.status.success())
}
