//! After a landing: the worker's worktree and branch go, on proof. The
//! branch is deleted only when the base holds its tip (a merge or a
//! fast-forward), or holds the squash commit orc made from exactly that tip
//! (the commit message names the tip, so `git branch x <tip>` recovers the
//! original commits until git's own gc), or its tip is the head of a pull
//! request GitHub reports merged. The worktree goes only when it has
//! nothing uncommitted and its HEAD is the branch's tip or held by a ref
//! that stays ([`contained::holder`], as cleanup judges a leftover);
//! otherwise both stay and the caller says so.

use std::collections::BTreeSet;
use std::path::Path;

use crate::context::Context;
use crate::error::Result;
use crate::repo::Repo;
use crate::trust;
use crate::worktree::{self, contained};

use super::git::Git;

/// What the reaping did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaped {
    /// The worktree (if any) and the branch are gone.
    Gone,
    /// Kept, for this reason.
    Kept(String),
}

/// What proves the branch is safe to delete.
#[derive(Debug, Clone)]
pub struct Proof<'a> {
    /// The base branch (local name).
    pub base: &'a str,
    /// The branch tip that was landed.
    pub tip: &'a str,
    /// The commit that landed it (the tip itself, a merge, or a squash).
    pub commit: &'a str,
    /// GitHub reports the pull request whose head is `tip` merged.
    pub pr_merged: bool,
}

/// Remove `branch` and its worktree at `path` if the proof holds.
pub fn reap(
    ctx: &Context,
    repo: &Repo,
    path: Option<&Path>,
    branch: &str,
    proof: &Proof<'_>,
) -> Result<Reaped> {
    let root = Git::at(&repo.root);
    let base_ref = format!("refs/heads/{}", proof.base);
    let now = root.commit_of(&format!("refs/heads/{branch}"))?;
    if let Some(now) = &now {
        // A merge or fast-forward needs no second question.
        let held = root.is_ancestor(now, &base_ref)?
            || (now == proof.tip
                && (proof.pr_merged || root.is_ancestor(proof.commit, &base_ref)?));
        if !held {
            return Ok(Reaped::Kept(format!(
                "branch {branch} is at {now}, which {} does not hold",
                proof.base
            )));
        }
    }
    if let Some(path) = path.filter(|p| p.is_dir()) {
        // A worktree git no longer knows (half removed) holds nothing to
        // save, as cleanup judges it too.
        let out = Git::at(path).run(["status", "--porcelain", "--untracked-files=normal"])?;
        let status = if out.status.success() {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            String::new()
        };
        // Files missing from the worktree lose nothing (its commit is
        // landed): that is what a removal cut short by a kill leaves.
        let work = status
            .lines()
            .any(|l| !matches!(l.get(..2), Some(" D" | "D " | "DD")));
        if work {
            return Ok(Reaped::Kept(format!(
                "the worktree {} has uncommitted changes",
                path.display()
            )));
        }
        // A HEAD detached from the branch (the agent checked out a commit
        // and went on) may hold commits no ref holds: they would go with
        // the worktree's own reflog.
        let head = Git::at(path).commit_of("HEAD")?;
        if let Some(head) = head.filter(|h| Some(h) != now.as_ref()) {
            let leaving = BTreeSet::from([format!("refs/heads/{branch}")]);
            if contained::holder(repo, &head, None, &leaving, &[])?.is_none() {
                return Ok(Reaped::Kept(format!(
                    "the worktree {} is at {head}, which no other branch or tag holds",
                    path.display()
                )));
            }
        }
        worktree::remove_worktree(repo, path, proof.base)?;
        if let Ok(home) = crate::paths::home() {
            trust::revoke(&ctx.state, &home, path)?;
        }
    }
    if now.is_some() {
        worktree::remove_branch(repo, branch, proof.base)?;
    }
    // orc's directories under `.worktrees/` once empty (a reviewer's
    // cleanup leaves `review/`), so the checkout looks as it did before.
    let top = repo.root.join(".worktrees");
    for dir in ["issue", "review", "land"] {
        let _ = std::fs::remove_dir(top.join(dir));
    }
    let _ = std::fs::remove_dir(&top);
    Ok(Reaped::Gone)
}
