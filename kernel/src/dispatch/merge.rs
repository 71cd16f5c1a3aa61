//! The end of the loop: merging approved work (`ORC_AUTO_MERGE=true`,
//! locally or on GitHub), and escalating to a person when the loop cannot
//! go on — a comment on the issue, with the worktree and the issue lock
//! kept so nothing of the work is lost while a person decides.

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::ids::Issue;
use crate::lock::{Holder, IssueLock, LockStatus};
use crate::tracker::{TrackerKind, local};

use super::engine::Dispatcher;
use super::journal::End;
use super::step::{Line, Step};

/// Who signs the comments dispatch leaves on issues.
pub const AUTHOR: &str = "orc-dispatch";

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Item `i`'s worker's claim holds: on to the merge. A merge on GitHub
    /// is written down first (`gh pr merge` is its first change). A local
    /// one writes the journal itself, the phase with the base's new tip,
    /// before its first change (the base moves, or the issue is closed), so
    /// the phase is only set here: a run killed before that acts on the
    /// worker's end again, as it would have, and a landing costs one synced
    /// write less.
    pub(super) fn merge_verified(&mut self, i: usize) -> Result<()> {
        if self.set.land.place == crate::land::Where::Local {
            self.dirty = true;
            self.items[i].j.phase = super::journal::Phase::Merging;
        } else {
            self.set_phase(i, super::journal::Phase::Merging)?;
        }
        self.merge(i)
    }

    /// Merge item `i`'s verified, approved work: locally, or its pull
    /// request on GitHub.
    pub(super) fn merge(&mut self, i: usize) -> Result<()> {
        match self.set.land.place {
            crate::land::Where::Local => self.merge_local(i),
            crate::land::Where::Github => self.merge_github(i),
        }
    }

    /// Hand item `i` to a person: comment on the issue, keep the worktree,
    /// make sure the session holds the issue lock, end as escalated.
    pub(super) fn escalate(&mut self, i: usize, why: String) -> Result<()> {
        let issue = self.items[i].issue();
        let body = format!(
            "orc-dispatch needs a person here: {why}.\n\nThe worker's worktree and branch are \
             kept, and this session holds the issue lock until `orc-cleanup {issue}` or \
             `orc-lock release {issue}`."
        );
        if let Err(e) = self.comment(issue, &body) {
            self.emit(Step::Warning {
                issue: Some(issue),
                detail: format!("could not comment on the issue: {e}"),
            })?;
        }
        self.keep_lock(issue)?;
        self.end(i, End::Escalated, why)
    }

    /// The session takes the issue lock if nobody holds it (a result such
    /// as `blocked` released it), so no one else starts over the work.
    fn keep_lock(&self, issue: Issue) -> Result<()> {
        let lock = IssueLock::new(&self.ctx.state, self.ctx.repo()?, issue);
        if matches!(lock.check()?, LockStatus::Free | LockStatus::Stale(_)) {
            let session = self.ctx.session.name().to_string();
            let holder = Holder::Session {
                session: session.clone(),
            };
            // A racer that took it first holds it: that is as good.
            let _ = lock.acquire(holder, &session);
        }
        Ok(())
    }

    /// Comment on `issue` in its tracker: `gh issue comment`, or a
    /// `## Comment by orc-dispatch` section in the local issue's file.
    fn comment(&self, issue: Issue, body: &str) -> Result<()> {
        match self.tracker {
            TrackerKind::Github => self.gh.issue_comment(issue, body),
            TrackerKind::Local => {
                let path = local::issue_path(&self.ctx.repo()?.root, issue);
                let mut text = crate::fsutil::read_to_string(&path)?;
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("\n## Comment by {AUTHOR}\n\n{body}\n"));
                let mode = std::fs::metadata(&path)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                    .map_err(|e| Error::io("inspect", &path, e))?;
                write_atomic(&path, text.as_bytes(), mode)
            }
        }
    }
}
