//! Verified completion: a worker's `ci-passed` or `merged` is a claim, and
//! dispatch accepts it only when the evidence agrees. The branch must have
//! commits beyond its base, the pull request must exist, come from that
//! branch and target that base (and be merged, for `merged`), and its checks
//! must be green. Anything missing, or anything that cannot be checked, is
//! `unverified`: doubt is never coerced into success.

use std::path::Path;
use std::process::Command;

use crate::context::Context;
use crate::record::{Outcome, Record};
use crate::worktree;

use super::gh::{Gh, Pr, checks_green};
use super::policy::pr_number;

/// What the evidence says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Evidence {
    /// The claim holds.
    Verified {
        /// The pull request.
        pr: u32,
        /// Whether the pull request is merged already.
        merged: bool,
        /// What was checked, in one line.
        detail: String,
    },
    /// The claim does not hold, or cannot be checked; why.
    Missing(String),
}

/// Check the evidence for a worker whose record claims `claim`
/// (`ci-passed` or `merged`).
pub fn check(ctx: &Context, gh: &Gh, record: &Record, claim: Outcome) -> Evidence {
    match gather(ctx, gh, record, claim) {
        Ok((pr, merged, detail)) => Evidence::Verified { pr, merged, detail },
        Err(why) => Evidence::Missing(why),
    }
}

fn gather(
    ctx: &Context,
    gh: &Gh,
    record: &Record,
    claim: Outcome,
) -> Result<(u32, bool, String), String> {
    let branch = record.branch.as_deref().ok_or("the worker has no branch")?;
    let base = record.base.as_deref().ok_or("the worker has no base")?;
    let repo = ctx.repo().map_err(|e| e.to_string())?;
    let start = worktree::resolve_base(repo, Some(base))
        .map_err(|e| format!("cannot resolve the base: {e}"))?
        .start;
    let mut commits = worktree::commits_beyond(repo, branch, &start)
        .map_err(|e| format!("cannot count the branch's commits: {e}"))?;
    if commits == 0 && claim == Outcome::Merged {
        // A merge commit (or a fast-forward) fetched into the base holds the
        // branch's commits: count them from where the branch was created.
        commits = since_creation(&repo.root, branch);
    }
    if commits == 0 {
        return Err(format!("branch {branch} has no commits beyond {base}"));
    }
    let pr = find_pr(gh, record, branch)?;
    let base_name = base.strip_prefix("origin/").unwrap_or(base);
    if pr.base != base_name {
        return Err(format!(
            "PR #{} targets {}, not {base_name}",
            pr.number, pr.base
        ));
    }
    if pr.head != branch {
        return Err(format!(
            "PR #{} comes from {}, not {branch}",
            pr.number, pr.head
        ));
    }
    let state = pr.state.to_ascii_uppercase();
    let state_ok = match claim {
        Outcome::Merged => state == "MERGED",
        _ => state == "OPEN" || state == "MERGED",
    };
    if !state_ok {
        return Err(format!("PR #{} is {}", pr.number, pr.state.to_lowercase()));
    }
    let checks = gh
        .pr_checks(pr.number)
        .map_err(|e| format!("cannot read the checks of PR #{}: {e}", pr.number))?;
    let green = checks_green(&checks).map_err(|why| format!("PR #{}: {why}", pr.number))?;
    Ok((
        pr.number,
        state == "MERGED",
        format!(
            "PR #{} {}, {commits} commit(s) beyond {base_name}, {green}",
            pr.number,
            state.to_lowercase()
        ),
    ))
}

/// The pull request the worker named, else the one of its branch.
fn find_pr(gh: &Gh, record: &Record, branch: &str) -> Result<Pr, String> {
    let target = match pr_number(&record.detail) {
        Some(n) => n.to_string(),
        None => branch.to_string(),
    };
    match gh.pr_view(&target) {
        Ok(Some(pr)) => Ok(pr),
        Ok(None) => Err(format!("no pull request found for {target}")),
        Err(e) => Err(format!("cannot look up the pull request: {e}")),
    }
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
