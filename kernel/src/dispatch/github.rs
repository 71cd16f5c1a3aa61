//! The GitHub end of a worker's claim: waiting for a pull request's checks
//! that still run (bounded by `ORC_CI_WAIT`, a look every `ORC_CI_POLL`
//! seconds, each wait in the event stream), asking GitHub again after a
//! transient failure (5xx, the network, a rate limit: backoff, or the
//! limit's reset time; never the end of an issue), merging the pull request
//! with its verified head, and after the merge deleting the remote branch
//! (`ORC_DELETE_BRANCH`) and reaping the local worktree and branch.

use crate::error::Result;
use crate::land::{self, Git, Proof, Reaped};
use crate::record::Outcome;

use super::engine::Dispatcher;
use super::journal::{End, Phase, Then};
use super::policy;
use super::step::{Line, Step};
use super::verify::{self, Evidence};

/// The first wait after a failed gh call, in seconds (doubled each time,
/// at most [`policy::MAX_BACKOFF`]).
const GH_BACKOFF: u64 = 5;

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Item `i`'s pull request has checks still running: look again in
    /// `ORC_CI_POLL` seconds, or give up on them after `ORC_CI_WAIT`.
    pub(super) fn wait_for_checks(&mut self, i: usize, pr: u32, why: &str) -> Result<()> {
        let issue = self.items[i].issue();
        let now = self.clock.now();
        self.items[i].j.pr = Some(pr);
        self.items[i].j.gh_errors = 0;
        let since = match self.items[i].j.waiting_since.clone() {
            Some(t) => crate::clock::parse(&t).unwrap_or(now),
            None => {
                self.items[i].j.waiting_since = Some(crate::clock::format(&now));
                now
            }
        };
        let limit = self.set.ci_wait;
        if (now - since).num_seconds() >= secs(limit) {
            let why =
                format!("ci-passed claimed, but PR #{pr}'s {why} after {limit}s (ORC_CI_WAIT)");
            return self.end(i, End::Unverified, why);
        }
        let until = now + chrono::Duration::seconds(secs(self.set.ci_poll));
        let at = crate::clock::format(&until);
        self.items[i].j.detail = format!("PR #{pr}: {why}");
        self.set_phase(i, Phase::Verify { until: at.clone() })?;
        self.emit(Step::Waiting {
            issue,
            pr: Some(pr),
            detail: why.to_string(),
            until: at,
        })
    }

    /// GitHub could not be reached: try again after a backoff (or when
    /// the rate limit resets), then verify (`merge` false) or merge again.
    pub(super) fn wait_for_github(&mut self, i: usize, merge: bool, why: &str) -> Result<()> {
        let issue = self.items[i].issue();
        self.prs = None;
        let errors = self.items[i].j.gh_errors + 1;
        self.items[i].j.gh_errors = errors;
        let now = self.clock.now();
        let delay = policy::backoff(GH_BACKOFF, errors);
        let (until, _) = policy::throttle_until(now, why, "", delay);
        let until = if why.to_ascii_lowercase().contains("rate limit") {
            until
        } else {
            now + chrono::Duration::seconds(secs(delay))
        };
        let at = crate::clock::format(&until);
        let phase = if merge {
            Phase::Wait {
                until: at.clone(),
                then: Then::Merge,
            }
        } else {
            Phase::Verify { until: at.clone() }
        };
        self.set_phase(i, phase)?;
        self.emit(Step::Waiting {
            issue,
            pr: self.items[i].j.pr,
            detail: format!("GitHub could not be reached (try {errors}): {why}"),
            until: at,
        })
    }

    /// Merge item `i`'s approved pull request with the head that was
    /// verified, then check that it is merged with green checks, delete
    /// its remote branch and reap. A refused merge (a conflict, red
    /// required checks, a head that moved) or red checks after it are
    /// escalated; GitHub out of reach is asked again.
    pub(super) fn merge_github(&mut self, i: usize) -> Result<()> {
        let issue = self.items[i].issue();
        let Some(pr) = self.items[i].j.pr else {
            return self.escalate(i, "approved, but dispatch does not know the PR".into());
        };
        let Some(rec) = self.worker(issue).read()? else {
            return self.escalate(
                i,
                format!("PR #{pr} approved, but the worker's record is gone"),
            );
        };
        // The head that was verified; a merge left done by a run killed
        // mid-way is "already merged", which the look after it confirms.
        let head = self.items[i].j.pr_head.clone();
        match self
            .gh
            .pr_merge(pr, self.set.land.method.gh_flag(), head.as_deref())
        {
            Ok(Ok(())) => {}
            Ok(Err(why)) if why.to_ascii_lowercase().contains("already merged") => {}
            Ok(Err(why)) if crate::dispatch::gh::is_transient(&why) => {
                return self.wait_for_github(i, true, &why);
            }
            Ok(Err(why)) => {
                return self.escalate(i, format!("the merge of PR #{pr} failed: {why}"));
            }
            Err(e) => return self.escalate(i, format!("cannot merge PR #{pr}: {e}")),
        }
        self.prs = None;
        let snap = self.pr_snapshot();
        match verify::check(&self.ctx, &self.gh, &snap, &rec, Outcome::Merged) {
            Evidence::Verified { detail, head, .. } => {
                self.emit(Step::Verified {
                    issue,
                    pr: Some(pr),
                    detail: detail.clone(),
                })?;
                self.merged_on_github(i, pr, head, detail)
            }
            Evidence::Unreachable(why) => self.wait_for_github(i, true, &why),
            Evidence::Missing(why) | Evidence::Pending { why, .. } | Evidence::Red { why, .. } => {
                self.escalate(i, format!("after merging PR #{pr}: {why}"))
            }
        }
    }

    /// Item `i`'s pull request is merged and verified: delete its remote
    /// branch (`ORC_DELETE_BRANCH`), reap the worktree and local branch
    /// (the branch's tip is the merged pull request's head), end merged.
    pub(super) fn merged_on_github(
        &mut self,
        i: usize,
        pr: u32,
        head: Option<String>,
        mut detail: String,
    ) -> Result<()> {
        let issue = self.items[i].issue();
        // Written down first: a run killed while reaping finds the issue
        // merged, never its claim to verify again without its branch.
        self.items[i].j.detail = detail.clone();
        self.set_phase(i, Phase::Done { end: End::Merged })?;
        let repo = self.ctx.repo()?.clone();
        let rec = self.worker(issue).read()?;
        let branch = rec.as_ref().and_then(|r| r.branch.clone());
        let base = rec
            .as_ref()
            .and_then(|r| r.base.clone())
            .map(|b| b.strip_prefix("origin/").unwrap_or(&b).to_string())
            .unwrap_or_default();
        if let (Some(branch), true) = (&branch, self.set.land.delete_branch) {
            match delete_remote(&repo.root, branch) {
                Ok(Some(what)) => detail.push_str(&format!("; {what}")),
                Ok(None) => {}
                Err(why) => self.emit(Step::Warning {
                    issue: Some(issue),
                    detail: format!("could not delete the remote branch {branch}: {why}"),
                })?,
            }
        }
        let mut reaped = false;
        if let (Some(branch), Some(tip)) = (&branch, head.as_deref()) {
            let proof = Proof {
                base: &base,
                tip,
                commit: tip,
                pr_merged: true,
            };
            let path = rec.as_ref().and_then(|r| r.worktree.clone());
            match land::reap(
                &self.ctx,
                &repo,
                path.as_deref().map(std::path::Path::new),
                branch,
                &proof,
            )? {
                Reaped::Gone => {
                    reaped = true;
                    detail.push_str("; worktree and branch removed");
                }
                Reaped::Kept(why) => detail.push_str(&format!("; kept: {why}")),
            }
        }
        if reaped && self.tracker == crate::tracker::TrackerKind::Github {
            let body = format!("Merged in PR #{pr} (orc-dispatch verified it: {detail}).");
            match self.gh.issue_close(issue, &body) {
                Ok(()) => detail.push_str("; issue closed"),
                Err(e) => self.emit(Step::Warning {
                    issue: Some(issue),
                    detail: format!("PR #{pr} merged, but the issue could not be closed: {e}"),
                })?,
            }
        }
        // The work is finished with: the session's lock goes. The records
        // stay (this run and the next know the issue merged from its
        // journal) until `orc-cleanup` or `orc-ctl gc`.
        let session = self.ctx.session.name().to_string();
        crate::lock::IssueLock::new(&self.ctx.state, &repo, issue)
            .release(|l| l.session == session)?;
        self.end(i, End::Merged, detail)
    }
}

/// Delete `branch` on `origin` when it is there (`git push origin
/// --delete`, no GitHub call); `Ok(None)` when there is nothing to delete.
fn delete_remote(
    root: &std::path::Path,
    branch: &str,
) -> std::result::Result<Option<String>, String> {
    let git = Git::at(root);
    let has_origin = git
        .succeeds(["remote", "get-url", "origin"])
        .map_err(|e| e.to_string())?;
    if !has_origin {
        return Ok(None);
    }
    let remote = format!("refs/heads/{branch}");
    let listed = git
        .ok(["ls-remote", "--heads", "origin", &remote])
        .map_err(|e| e.to_string())?;
    if listed.is_empty() {
        return Ok(None);
    }
    git.ok(["push", "--quiet", "origin", "--delete", branch])
        .map_err(|e| e.to_string())?;
    Ok(Some(format!("remote branch {branch} deleted")))
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / 4)
}
