//! Cleanup's part in the repository: remove a worker's worktrees and
//! branches, but only what [`worktree::leftover::assess`] finds held
//! elsewhere. A worker's `merged` claim is not proof. Without `--force`, a
//! worktree with uncommitted changes or commits on no branch refuses the
//! whole cleanup (exit 7), and an unmerged branch is kept and reported.
//! With `--force`, each discarded tip is first written to the worker's log
//! and to the event stream (`"discarded": {"branch": ..., "tip": ...}`), so
//! `git branch <name> <tip>` brings it back until git's own gc. A branch
//! orc did not make is never deleted, forced or not.

use std::path::Path;

use crate::context::Context;
use crate::error::Result;
use crate::events::{self, Discarded, Event};
use crate::fsutil::{append_line, ensure_private_dir};
use crate::ids::Issue;
use crate::paths;
use crate::procdir::Proc;
use crate::record::Record;
use crate::repo::Repo;
use crate::tracker::{TrackerKind, github::Github};
use crate::trust;
use crate::worktree::{self, leftover};

/// What cleanup did in the repository.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    pub worktrees: Vec<String>,
    pub branches: Vec<String>,
    pub kept_branches: Vec<String>,
    pub foreign_branches: Vec<String>,
    pub discarded: Vec<Discarded>,
}

/// Remove worker `issue`'s worktrees and branches as far as nothing is lost.
pub(crate) fn remove(
    ctx: &Context,
    repo: &Repo,
    issue: Issue,
    record: Option<&Record>,
    proc: &Proc,
    force: bool,
) -> Result<Removed> {
    let base = match record.and_then(|r| r.base.clone()) {
        Some(name) => worktree::resolve_base(repo, Some(&name))
            .or_else(|_| worktree::resolve_base(repo, None)),
        None => worktree::resolve_base(repo, None),
    }
    .ok();
    let gh = merged_prs(ctx, repo);
    let judge = leftover::Judge {
        base: base.as_ref(),
        recorded: record.and_then(|r| r.branch.as_deref()),
        merged: &gh,
    };
    let left = leftover::assess(repo, issue, &judge)?;
    // A worktree at risk refuses the whole cleanup; a kept branch does not
    // stop the rest.
    if !force
        && !left.at_risk.is_empty()
        && let Some(refused) = leftover::refusal(&left, issue)
    {
        return Err(refused);
    }
    let mut done = Removed {
        foreign_branches: left.foreign.clone(),
        ..Removed::default()
    };
    if force {
        for w in &left.at_risk {
            let changes = match w.risk {
                leftover::Risk::Uncommitted => leftover::snapshot_commit(&w.path),
                leftover::Risk::Commits => None,
            };
            let d = Discarded {
                branch: None,
                worktree: Some(w.path.display().to_string()),
                tip: w.head.clone().unwrap_or_default(),
                changes,
            };
            record_discard(ctx, proc, issue, &d)?;
            done.discarded.push(d);
        }
        for b in &left.kept {
            let d = Discarded {
                branch: Some(b.name.clone()),
                worktree: None,
                tip: b.tip.clone(),
                changes: None,
            };
            record_discard(ctx, proc, issue, &d)?;
            done.discarded.push(d);
        }
    }
    let base_name = base.as_ref().map_or("", |b| b.name.as_str());
    let home = paths::home().ok();
    let forced_paths = left
        .at_risk
        .iter()
        .filter(|_| force)
        .map(|w| w.path.clone());
    for path in left.worktrees.iter().cloned().chain(forced_paths) {
        worktree::remove_worktree(repo, &path, base_name)?;
        if let Some(home) = &home {
            trust::revoke(&ctx.state, home, &path)?;
        }
        done.worktrees.push(path.display().to_string());
    }
    for b in &left.branches {
        worktree::remove_branch(repo, &b.name, base_name)?;
        done.branches.push(b.name.clone());
    }
    for b in &left.kept {
        if force {
            worktree::remove_branch(repo, &b.name, base_name)?;
            done.branches.push(b.name.clone());
        } else {
            done.kept_branches.push(b.name.clone());
        }
    }
    Ok(done)
}

/// The merged pull requests of a branch, from GitHub when it is the
/// tracker and gh answers; none otherwise (then only refs are proof).
fn merged_prs(ctx: &Context, repo: &Repo) -> impl Fn(&str) -> Vec<(u32, String)> + use<> {
    let gh = TrackerKind::select(ctx.config.get("ORC_TRACKER"), &repo.root)
        .ok()
        .filter(|k| *k == TrackerKind::Github)
        .and_then(|_| Github::new(None, Some(&repo.root)).ok());
    move |branch: &str| match &gh {
        Some(gh) => gh
            .merged_prs(branch)
            .map(|prs| prs.into_iter().map(|p| (p.number, p.head)).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// Write a discard to the worker's log (or, without a proc directory, the
/// session's `logs/discarded.log`) and to the event stream, before it
/// happens.
pub(crate) fn record_discard(
    ctx: &Context,
    proc: &Proc,
    issue: Issue,
    d: &Discarded,
) -> Result<()> {
    let what = match (&d.branch, &d.worktree) {
        (Some(b), _) => format!("branch {b}"),
        (None, Some(w)) => format!("worktree {w}"),
        (None, None) => "work".to_string(),
    };
    let mut text = format!(
        "discarded {what} at {} (recover: git branch <name> {})",
        d.tip, d.tip
    );
    if let Some(c) = &d.changes {
        text.push_str(&format!(
            "; its uncommitted changes are commit {c} (git checkout {c} -- . restores them)"
        ));
    }
    if proc.dir().is_dir() {
        proc.log("orc-cleanup", &text)?;
    } else {
        let dir = ctx.session.dir().join("logs");
        ensure_private_dir(&dir)?;
        let line = format!(
            "[{}] orc-cleanup: {} {issue}: {text}",
            crate::clock::now_rfc3339()?,
            proc.kind()
        );
        append_line(&dir.join("discarded.log"), &line)?;
    }
    let base = Record::new(issue, proc.kind(), ctx.session.name(), "");
    let event = Event {
        detail: text,
        discarded: Some(d.clone()),
        state: None,
        ..Event::of("discarded", &base)?
    };
    ctx.session.ensure(None)?;
    events::append(&ctx.session, &event)
}

/// Whether the reviewer's detached copy at `path` has a HEAD that no ref
/// holds (a reviewer is told not to commit; if it did, that is kept).
pub(crate) fn reviewer_head_unheld(repo: &Repo, path: &Path) -> Result<Option<String>> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()
        .map_err(|e| crate::error::Error::io("run git rev-parse in", path, e))?;
    let head = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || head.is_empty() {
        return Ok(None);
    }
    let none = std::collections::BTreeSet::new();
    let held = worktree::contained::holder(repo, &head, None, &none, &[])?;
    Ok(held.is_none().then_some(head))
}
