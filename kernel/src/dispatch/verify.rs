//! Verified completion: a worker's `ci-passed` or `merged` is a claim, and
//! dispatch accepts it only when the evidence agrees. The branch must have
//! commits beyond its base, the pull request must exist, come from that
//! branch (found by its head branch, never by a number in the worker's
//! words) and target that base (and be merged, for `merged`), and its
//! checks must be green. Checks still running are waited for, red ones go
//! back to the worker, and a GitHub that cannot be reached is asked again;
//! anything else missing is `unverified`: doubt is never coerced into
//! success.

use std::path::Path;
use std::process::Command;

use crate::context::Context;
use crate::record::{Outcome, Record};
use crate::worktree;

use super::gh::{Gh, Pr, is_transient};

/// The pull requests of one look at GitHub (one batched `gh pr list`), or
/// why they could not be read.
pub type Snapshot = std::result::Result<Vec<Pr>, String>;

/// What the evidence says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The claim holds.
    Verified {
        /// The pull request.
        pr: u32,
        /// Whether the pull request is merged already.
        merged: bool,
        /// The commit at the pull request's head, as GitHub has it.
        head: Option<String>,
        /// What was checked, in one line.
        detail: String,
    },
    /// The pull request's checks are still running.
    Pending {
        /// The pull request.
        pr: u32,
        /// Which checks.
        why: String,
    },
    /// The pull request's checks failed.
    Red {
        /// The pull request.
        pr: u32,
        /// Which checks.
        why: String,
    },
    /// GitHub could not be asked (a 5xx, the network, a rate limit): ask
    /// again later; nothing is decided.
    Unreachable(String),
    /// The claim does not hold, or cannot be checked; why.
    Missing(String),
}

/// Check the evidence for a worker whose record claims `claim`
/// (`ci-passed` or `merged`), in the pull requests of `snap` (a branch
/// not among them is looked up with one more call).
pub fn check(ctx: &Context, gh: &Gh, snap: &Snapshot, record: &Record, claim: Outcome) -> Evidence {
    match gather(ctx, gh, snap, record, claim) {
        Ok(evidence) | Err(evidence) => evidence,
    }
}

fn gather(
    ctx: &Context,
    gh: &Gh,
    snap: &Snapshot,
    record: &Record,
    claim: Outcome,
) -> Result<Evidence, Evidence> {
    let missing = Evidence::Missing;
    let branch = record
        .branch
        .as_deref()
        .ok_or_else(|| missing("the worker has no branch".into()))?;
    let base = record
        .base
        .as_deref()
        .ok_or_else(|| missing("the worker has no base".into()))?;
    let repo = ctx.repo().map_err(|e| missing(e.to_string()))?;
    let start = worktree::resolve_base(repo, Some(base))
        .map_err(|e| missing(format!("cannot resolve the base: {e}")))?
        .start;
    let mut commits = worktree::commits_beyond(repo, branch, &start)
        .map_err(|e| missing(format!("cannot count the branch's commits: {e}")))?;
    if commits == 0 && claim == Outcome::Merged {
        // A merge commit (or a fast-forward) fetched into the base holds the
        // branch's commits: count them from where the branch was created.
        commits = since_creation(&repo.root, branch);
    }
    if commits == 0 {
        return Err(missing(format!(
            "branch {branch} has no commits beyond {base}"
        )));
    }
    let base_name = base.strip_prefix("origin/").unwrap_or(base);
    let tip = crate::land::Git::at(&repo.root)
        .commit_of(&format!("refs/heads/{branch}"))
        .ok()
        .flatten();
    let pr = find_pr(gh, snap, branch, base_name, tip.as_deref())?;
    if pr.base != base_name {
        return Err(missing(format!(
            "PR #{} targets {}, not {base_name}",
            pr.number, pr.base
        )));
    }
    let state = pr.state.to_ascii_uppercase();
    let state_ok = match claim {
        Outcome::Merged => state == "MERGED",
        _ => state == "OPEN" || state == "MERGED",
    };
    if !state_ok {
        return Err(missing(format!(
            "PR #{} is {}",
            pr.number,
            pr.state.to_lowercase()
        )));
    }
    let checks = pr.checks();
    let named = |buckets: &[&str]| -> Vec<String> {
        checks
            .iter()
            .filter(|c| buckets.contains(&c.bucket.as_str()))
            .map(|c| c.name.clone())
            .collect()
    };
    let red = named(&["fail", "cancel"]);
    if !red.is_empty() {
        return Err(Evidence::Red {
            pr: pr.number,
            why: format!("checks failed: {}", red.join(", ")),
        });
    }
    let waiting = named(&["pending"]);
    if !waiting.is_empty() {
        return Err(Evidence::Pending {
            pr: pr.number,
            why: format!("checks still running: {}", waiting.join(", ")),
        });
    }
    let green = if checks.is_empty() {
        "no checks reported (no CI on this pull request)".to_string()
    } else {
        format!("{} checks passed", checks.len())
    };
    Ok(Evidence::Verified {
        pr: pr.number,
        merged: state == "MERGED",
        head: pr.head_oid.clone(),
        detail: format!(
            "PR #{} {}, {commits} commit(s) beyond {base_name}, {green}",
            pr.number,
            state.to_lowercase()
        ),
    })
}

/// The pull request of `branch` (never the number a worker's words name:
/// a branch has the one it has): an open one into `base` first, then a
/// merged one, then whatever there is (to say what is wrong with it).
fn find_pr(
    gh: &Gh,
    snap: &Snapshot,
    branch: &str,
    base: &str,
    tip: Option<&str>,
) -> Result<Pr, Evidence> {
    let unreachable = |why: String| {
        if is_transient(&why) {
            Evidence::Unreachable(why)
        } else {
            Evidence::Missing(format!("cannot look up the pull requests: {why}"))
        }
    };
    let all = snap.clone().map_err(unreachable)?;
    let mut found: Vec<Pr> = all.into_iter().filter(|p| p.head == branch).collect();
    // The turn's list was read before this branch's last commit (a worker
    // that ended later in the same turn): ask for this branch afresh.
    let stale = tip.is_some()
        && found
            .iter()
            .any(|p| p.head_oid.is_some() && p.head_oid.as_deref() != tip);
    if found.is_empty() || stale {
        found = gh
            .pr_list(Some(branch))
            .map_err(|e| unreachable(e.to_string()))?
            .into_iter()
            .filter(|p| p.head == branch)
            .collect();
    }
    let rank = |p: &Pr| -> u8 {
        let state = p.state.to_ascii_uppercase();
        match (p.base == base, state.as_str()) {
            (true, "OPEN") => 0,
            (true, "MERGED") => 1,
            (true, _) => 2,
            _ => 3,
        }
    };
    found.sort_by_key(|p| (rank(p), std::cmp::Reverse(p.number)));
    found
        .into_iter()
        .next()
        .ok_or_else(|| Evidence::Missing(format!("no pull request from branch {branch}")))
}

/// Commits on `branch` since it was created, from its reflog (0 when the
/// reflog cannot tell).
pub(super) fn since_creation(root: &Path, branch: &str) -> u32 {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let reflog = format!("refs/heads/{branch}");
    let Some(created) = git(&["reflog", "show", "--format=%H", &reflog])
        .and_then(|text| text.lines().last().map(str::to_string))
    else {
        return 0;
    };
    let range = format!("{created}..{reflog}");
    git(&["rev-list", "--count", &range])
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
