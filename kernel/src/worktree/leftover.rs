//! An issue's leftovers — the worktrees under `.worktrees/issue/<N>-*` and
//! the branches `issue/<N>-*` — judged before any is removed. Nothing with
//! work found nowhere else goes on anyone's word:
//!
//! - a branch goes only if orc made it ([`super::owner`], or the worker's
//!   record names it) and its tip is held elsewhere ([`super::contained`]);
//!   a person's branch of the same shape is never touched;
//! - a worktree goes only if it has no uncommitted changes and its HEAD
//!   (detached or not) is held by a ref that stays.
//!
//! Cleanup and spawn both judge with [`assess`] and word a refusal with
//! [`refusal`], so they say the same thing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::base::Base;
use super::contained::{Holder, holder, tip};
use super::listing::find;
use super::owner;
use crate::error::{Error, Kind, Result};
use crate::ids::Issue;
use crate::repo::Repo;

/// One of orc's branches of the issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// `issue/<N>-<slug>`.
    pub name: String,
    /// The commit it points at.
    pub tip: String,
    /// Where that commit is held besides (`None`: nowhere else).
    pub held_by: Option<Holder>,
}

/// Why a worktree cannot go without losing work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Risk {
    /// It has uncommitted changes.
    Uncommitted,
    /// Its HEAD holds commits that no ref that stays holds.
    Commits,
}

/// A worktree whose removal would lose work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtRisk {
    /// The worktree.
    pub path: PathBuf,
    /// Its HEAD commit.
    pub head: Option<String>,
    /// What would be lost.
    pub risk: Risk,
}

/// The judgement of an issue's leftovers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Worktrees that can go without losing anything.
    pub worktrees: Vec<PathBuf>,
    /// orc's branches whose tips are held elsewhere: they can go.
    pub branches: Vec<Branch>,
    /// orc's branches whose tips are held nowhere else: they stay.
    pub kept: Vec<Branch>,
    /// Branches of the issue's shape that orc did not make: never touched.
    pub foreign: Vec<String>,
    /// Worktrees whose removal would lose work.
    pub at_risk: Vec<AtRisk>,
}

/// What the judgement knows beyond git.
pub struct Judge<'a> {
    /// The base branch, if it resolves (it is looked at first, not required).
    pub base: Option<&'a Base>,
    /// A branch the worker's record names: orc made it even without a mark.
    pub recorded: Option<&'a str>,
    /// The merged pull requests (number, head commit) of a branch, asked
    /// only when no ref holds its tip.
    pub merged: &'a dyn Fn(&str) -> Vec<(u32, String)>,
}

/// Judge `issue`'s leftovers in `repo`.
pub fn assess(repo: &Repo, issue: Issue, judge: &Judge<'_>) -> Result<Leftovers> {
    let found = find(repo, issue)?;
    let mut out = Leftovers::default();
    let mut candidates = Vec::new();
    for name in found.iter().filter_map(|f| f.branch.as_deref()) {
        let ours = judge.recorded == Some(name) || owner::is_marked(repo, name)?;
        match tip(repo, &format!("refs/heads/{name}"))? {
            Some(sha) if ours => candidates.push((name.to_string(), sha)),
            Some(_) => out.foreign.push(name.to_string()),
            None => {}
        }
    }
    // Every candidate is on its way out until proven the only holder of
    // its tip; the ones on their way out never vouch for each other.
    let mut leaving: BTreeSet<String> = candidates
        .iter()
        .map(|(n, _)| format!("refs/heads/{n}"))
        .collect();
    for (name, sha) in candidates {
        let mut held = holder(repo, &sha, judge.base, &leaving, &[])?;
        if held.is_none() {
            held = holder(repo, &sha, judge.base, &leaving, &(judge.merged)(&name))?;
        }
        let branch = Branch {
            name: name.clone(),
            tip: sha,
            held_by: held,
        };
        if branch.held_by.is_some() {
            out.branches.push(branch);
        } else {
            leaving.remove(&format!("refs/heads/{name}"));
            out.kept.push(branch);
        }
    }
    for f in &found {
        let Some(path) = &f.path else { continue };
        if !path.is_dir() {
            out.worktrees.push(path.clone());
            continue;
        }
        let risk = if is_dirty(path)? {
            Some(Risk::Uncommitted)
        } else {
            match &f.head {
                Some(head) if holder(repo, head, judge.base, &leaving, &[])?.is_none() => {
                    Some(Risk::Commits)
                }
                _ => None,
            }
        };
        match risk {
            Some(risk) => out.at_risk.push(AtRisk {
                path: path.clone(),
                head: f.head.clone(),
                risk,
            }),
            None => out.worktrees.push(path.clone()),
        }
    }
    Ok(out)
}

/// The error that refuses to remove an at-risk worktree or a kept branch
/// (exit 7, work kept), worded the same for cleanup and spawn.
pub fn refusal(left: &Leftovers, issue: Issue) -> Option<Error> {
    if let Some(w) = left.at_risk.first() {
        let at = w.path.display().to_string();
        return Some(match w.risk {
            Risk::Uncommitted => Error::new(Kind::WorkKept, "the worktree has uncommitted changes", at)
                .hint(format!(
                    "commit or stash them, or `orc-cleanup --force {issue}` discards them"
                )),
            Risk::Commits => Error::new(
                Kind::WorkKept,
                format!(
                    "the worktree's HEAD ({}) has commits found on no branch",
                    short(w.head.as_deref())
                ),
                at,
            )
            .hint(format!(
                "keep them with `git -C {} branch <name>`, or `orc-cleanup --force {issue}` discards them",
                w.path.display()
            )),
        });
    }
    left.kept.first().map(|b| {
        Error::new(
            Kind::WorkKept,
            format!("branch {} has commits found nowhere else", b.name),
            b.tip.clone(),
        )
        .hint(format!(
            "merge or push it, or `orc-cleanup --force {issue}` discards it"
        ))
    })
}

fn short(sha: Option<&str>) -> &str {
    sha.map_or("?", |s| &s[..s.len().min(12)])
}

/// Uncommitted changes, ignoring orc's own files (excluded by info/exclude).
/// A directory git no longer knows as a worktree holds nothing to save.
pub fn is_dirty(path: &Path) -> Result<bool> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["status", "--porcelain", "--untracked-files=normal"])
        .output()
        .map_err(|e| Error::io("run git status in", path, e))?;
    if !out.status.success() {
        return Ok(false);
    }
    Ok(!out.stdout.is_empty())
}

/// A commit of everything in the worktree that is not ignored — tracked
/// changes and untracked files alike — on top of its HEAD, that no ref
/// holds: a forced discard names it, and `git checkout <sha> -- .`
/// brings the files back until git's own gc. Built in a scratch index, so
/// the worktree and its index are not touched.
pub fn snapshot_commit(path: &Path) -> Option<String> {
    let scratch = tempfile::tempdir().ok()?;
    let index = scratch.path().join("index");
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(path)
            .args(args)
            .env("GIT_INDEX_FILE", &index)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        out.status.success().then_some(text)
    };
    git(&["read-tree", "HEAD"])?;
    git(&["add", "-A", "."])?;
    let tree = git(&["write-tree"])?;
    let sha = git(&[
        "-c",
        "user.name=orc",
        "-c",
        "user.email=orc@localhost",
        "commit-tree",
        &tree,
        "-p",
        "HEAD",
        "-m",
        "orc-cleanup --force: the worktree's uncommitted changes",
    ])?;
    (!sha.is_empty()).then_some(sha)
}
