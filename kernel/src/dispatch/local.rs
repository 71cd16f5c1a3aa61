//! The local end of a worker's claim, without GitHub (`ORC_MERGE=local`,
//! the default with the local tracker): orc checks the branch itself, runs
//! the project's check on its tip, has it reviewed, merges it into the base,
//! closes the issue (its file, or the GitHub issue) and reaps the worktree
//! and branch — each step through [`crate::land`], each decision written to
//! the journal first. The check runs in the dispatcher's loop: while it
//! runs, other workers go on under their shims, and their ends wait for the
//! next turn.

use crate::error::Result;
use crate::ids::Kind;
use crate::land::{self, Closed, Git, Job, Landed, Proof, Reaped};
use crate::record::{Outcome, Record};
use crate::tracker::TrackerKind;
use crate::worktree;

use super::engine::Dispatcher;
use super::journal::{End, Phase};
use super::step::{Line, Step};

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Verify item `i`'s claim locally: commits beyond the base (or, for
    /// `merged`, the tip already in the base), then the check, then the
    /// review or the merge.
    pub(super) fn verify_local(&mut self, i: usize, rec: &Record, claim: Outcome) -> Result<()> {
        let issue = self.items[i].issue();
        let (branch, base) = match (rec.branch.as_deref(), rec.base.as_deref()) {
            (Some(b), Some(base)) => (b.to_string(), local_base(base)),
            _ => {
                let why = format!("{claim} claimed, but the worker has no branch or base");
                return self.end(i, End::Unverified, why);
            }
        };
        let repo = self.ctx.repo()?.clone();
        let root = Git::at(&repo.root);
        let Some(tip) = root.commit_of(&format!("refs/heads/{branch}"))? else {
            let why = format!("{claim} claimed, but branch {branch} does not exist");
            return self.end(i, End::Unverified, why);
        };
        let base_ref = format!("refs/heads/{base}");
        if root.commit_of(&base_ref)?.is_none() {
            let why = format!("{claim} claimed, but the base branch {base} does not exist here");
            return self.end(i, End::Unverified, why);
        }
        if claim == Outcome::Merged {
            // A worker's `merged` holds locally only if the base has its tip
            // and the branch made commits of its own.
            let made = super::verify::since_creation(&repo.root, &branch) > 0;
            if !(made && root.is_ancestor(&tip, &base_ref)?) {
                let why = format!(
                    "merged claimed, but {base} does not hold commits of branch {branch} ({}); \
                     the branch is kept",
                    short(&tip)
                );
                return self.end(i, End::Unverified, why);
            }
            let detail = format!("{base} holds {branch} at {}", short(&tip));
            self.emit(Step::Verified {
                issue,
                pr: None,
                detail,
            })?;
            return self.merge_verified(i);
        }
        let commits = worktree::commits_beyond(&repo, &format!("refs/heads/{branch}"), &base_ref)?;
        if commits == 0 {
            let why = format!("{claim} claimed, but branch {branch} has no commits beyond {base}");
            return self.end(i, End::Unverified, why);
        }
        let mut detail = format!("{branch} has {commits} commit(s) beyond {base}");
        match self.set.land.check_cmd.clone() {
            None => detail.push_str("; no check command (ORC_CHECK_CMD is unset)"),
            Some(cmd) => {
                let log = self
                    .ctx
                    .session
                    .dir()
                    .join("logs")
                    .join(format!("check-{issue}.{}.log", rec.attempt));
                let run =
                    land::run_check(&repo, issue, &tip, &cmd, self.set.land.check_timeout, &log)?;
                let said = run.summary(&cmd);
                self.emit(Step::Checked {
                    issue,
                    passed: run.passed,
                    detail: said.clone(),
                })?;
                if !run.passed {
                    let reason = format!(
                        "orc ran the project's check on your branch and it failed: {said}. The \
                         end of its output:\n\n{}\n\nFix the cause, commit, and report \
                         ci-passed again.",
                        run.tail
                    );
                    return self.resume_with(i, &said, reason);
                }
                detail.push_str(&format!("; {said}"));
            }
        }
        self.emit(Step::Verified {
            issue,
            pr: None,
            detail: detail.clone(),
        })?;
        self.items[i].j.detail = detail;
        self.after_verified(i)
    }

    /// A failed check: the worker resumes with `reason`, within the retry
    /// limit; then a person decides.
    pub(super) fn resume_with(&mut self, i: usize, said: &str, reason: String) -> Result<()> {
        let failures = self.items[i].j.failures + 1;
        self.items[i].j.failures = failures;
        if failures > self.set.retry_max {
            let why = format!("{said} (after {failures} failed attempt(s))");
            return self.escalate(i, why);
        }
        self.items[i].j.detail = said.to_string();
        self.items[i].j.reason = Some(reason);
        self.set_phase(i, Phase::Resume)
    }

    /// Merge item `i`'s verified branch into its base, close the issue and
    /// reap; a refusal goes to a person with nothing changed.
    pub(super) fn merge_local(&mut self, i: usize) -> Result<()> {
        let issue = self.items[i].issue();
        let Some(rec) = self.worker(issue).read()? else {
            return self.escalate(i, "merging, but the worker's record is gone".into());
        };
        let (Some(branch), Some(base)) = (rec.branch.clone(), rec.base.as_deref().map(local_base))
        else {
            return self.escalate(i, "merging, but the worker has no branch or base".into());
        };
        let repo = self.ctx.repo()?.clone();
        let job = Job {
            issue,
            title: self.items[i].data.title.clone(),
            branch: branch.clone(),
            base: base.clone(),
            method: self.set.land.method,
            close: self.tracker == TrackerKind::Local,
            now: self.clock.stamp(),
        };
        let root = Git::at(&repo.root);
        let done_before = match self.items[i].j.landed.clone() {
            Some(head) => root.is_ancestor(&head, &format!("refs/heads/{base}"))?,
            None => false,
        };
        let landed = if done_before {
            // A run killed after the base moved: the merge is done.
            let tip = root
                .commit_of(&format!("refs/heads/{branch}"))?
                .unwrap_or_default();
            let head = self.items[i].j.landed.clone().unwrap_or_default();
            // Killed before an untracked issue file was closed: close it
            // now (a file closed in the landing's commit, or already, is
            // left alone).
            let closed = if job.close && land::close_in_place(&repo, &job, &head)? {
                Closed::InPlace
            } else {
                Closed::No
            };
            Landed::Done {
                commit: head.clone(),
                head,
                tip,
                closed,
            }
        } else {
            let proc = self.worker(issue);
            let mut journal = self.items[i].j.clone();
            let mut save = |head: &str| {
                journal.landed = Some(head.to_string());
                super::journal::save(&proc, &journal)
            };
            let landed = land::land(&repo, &job, &mut save)?;
            if let Landed::Done { head, .. } = &landed {
                self.items[i].j.landed = Some(head.clone());
            }
            landed
        };
        let (commit, head, tip, closed) = match landed {
            Landed::Refused(why) => return self.escalate(i, why),
            Landed::Done {
                commit,
                head,
                tip,
                closed,
            } => (commit, head, tip, closed),
        };
        let mut detail = format!(
            "{branch} merged into {base} ({}) as {}",
            job.method.as_str(),
            short(&commit)
        );
        match closed {
            Closed::InCommit => {
                detail.push_str(&format!("; issue closed in {}", short(&head)));
            }
            Closed::InPlace => detail.push_str("; issue file closed"),
            Closed::No => {}
        }
        if self.tracker == TrackerKind::Github {
            // Merged here, tracked on GitHub: the GitHub issue is closed.
            let body = format!("Merged into {base} as {commit} by orc-dispatch ({branch}).");
            match self.gh.issue_close(issue, &body) {
                Ok(()) => detail.push_str("; GitHub issue closed"),
                Err(e) => self.emit(Step::Warning {
                    issue: Some(issue),
                    detail: format!("merged, but the issue could not be closed: {e}"),
                })?,
            }
        }
        let proof = Proof {
            base: &base,
            tip: &tip,
            commit: &commit,
            pr_merged: false,
        };
        let path = rec.worktree.as_deref().map(std::path::Path::new);
        match land::reap(&self.ctx, &repo, path, &branch, &proof)? {
            Reaped::Gone => {
                let opts = crate::cleanup::Options::default();
                if let Err(e) = crate::cleanup::cleanup(&self.ctx, Kind::Worker, issue, opts) {
                    self.emit(Step::Warning {
                        issue: Some(issue),
                        detail: format!("merged, but the cleanup failed: {e}"),
                    })?;
                }
                detail.push_str("; worktree and branch removed");
                // The proc directory (and the journal with it) is gone: the
                // run remembers the end in memory; the tracker has it closed.
                self.items[i].j.detail = detail.clone();
                self.items[i].j.phase = Phase::Done { end: End::Merged };
                self.emit(Step::Ended {
                    issue,
                    end: End::Merged,
                    detail,
                })
            }
            Reaped::Kept(why) => {
                detail.push_str(&format!("; kept: {why}"));
                let session = self.ctx.session.name().to_string();
                crate::lock::IssueLock::new(&self.ctx.state, &repo, issue)
                    .release(|l| l.session == session)?;
                self.end(i, End::Merged, detail)
            }
        }
    }
}

/// `main` for `origin/main`: orc merges into the local branch.
fn local_base(base: &str) -> String {
    base.strip_prefix("origin/").unwrap_or(base).to_string()
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}
