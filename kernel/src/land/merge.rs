//! Merging a branch into its base without GitHub: the merge is built from
//! git's objects alone ([`super::objects`]; with a git older than 2.38, in a
//! scratch worktree orc owns, the base's tip detached), the local issue is
//! closed in a commit of its own on top of it (that commit can name the
//! merge), and the base ref then moves from the tip it was built on to the
//! result in one compare-and-swap: `git update-ref <base> <new> <old>`, or,
//! where the base is checked out, `git merge --ff-only` in that worktree
//! (git updates the ref against the old value there too, and refuses to
//! overwrite local changes). A base checked out with uncommitted changes is
//! never merged into: a person decides. A base that moved meanwhile is
//! merged again from its new tip, a few times at most.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::repo::Repo;
use crate::tracker::local;

use super::close;
use super::git::{Git, reason};
use super::job::{
    Built, Identity, Job, Method, close_message, issue_file, merge_message, no_fast_forward,
    no_merge, nothing_to_squash, squash_message,
};
use super::objects;
use super::scratch::Scratch;

/// How many times a base that moved under a merge is merged again.
const ATTEMPTS: usize = 3;

/// How the issue file was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// In a commit on the base, right after the merge.
    InCommit,
    /// The file is not tracked: written in place after the merge.
    InPlace,
    /// Nothing to close (not asked, or no such file).
    No,
}

/// What a landing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landed {
    /// The base holds the change.
    Done {
        /// The commit that put the branch on the base (the branch's tip
        /// for `ff`, or when the base held it already).
        commit: String,
        /// The base's new tip.
        head: String,
        /// The branch's tip that was landed.
        tip: String,
        /// How the issue was closed.
        closed: Closed,
    },
    /// Nothing was changed; a person must decide, for this reason.
    Refused(String),
}

/// Land `job` in `repo`. `before_update` gets the base's new tip before
/// the first change (the ref moves, or, when the base holds the branch
/// already, the issue is closed): to write it down, so a run killed right
/// after finds it there.
pub fn land(
    repo: &Repo,
    job: &Job,
    before_update: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<Landed> {
    let root = Git::at(&repo.root);
    let base_ref = format!("refs/heads/{}", job.base);
    let Some(tip) = root.commit_of(&format!("refs/heads/{}", job.branch))? else {
        return Ok(Landed::Refused(format!("branch {} is gone", job.branch)));
    };
    for _ in 0..ATTEMPTS {
        let Some(old) = root.commit_of(&base_ref)? else {
            return Ok(Landed::Refused(format!(
                "the base branch {} does not exist in this repository",
                job.base
            )));
        };
        let checkout = checked_out_at(repo, &job.base)?;
        if let Some(why) = dirty(checkout.as_deref(), &job.base)? {
            return Ok(Landed::Refused(why));
        }
        let built = if objects::supported() {
            objects::build(repo, job, &old, &tip)
        } else {
            let scratch = Scratch::create(repo, job.issue, &old)?;
            let built = build(&scratch, repo, job, &old, &tip);
            scratch.remove()?;
            built
        };
        let (commit, head, in_commit) = match built? {
            Ok(b) => b,
            Err(why) => return Ok(Landed::Refused(why)),
        };
        before_update(&head)?;
        if head != old {
            let moved = match &checkout {
                Some(w) => {
                    if let Some(why) = dirty(Some(w), &job.base)? {
                        return Ok(Landed::Refused(why));
                    }
                    let out = Git::at(w).run(["merge", "--ff-only", "--quiet", &head])?;
                    if !out.status.success() {
                        if root.commit_of(&base_ref)?.as_deref() == Some(old.as_str()) {
                            return Ok(Landed::Refused(format!(
                                "git refused to move {} at {}: {}",
                                job.base,
                                w.display(),
                                reason(&out)
                            )));
                        }
                        true
                    } else {
                        false
                    }
                }
                None => {
                    let msg = format!("orc: land issue #{}", job.issue);
                    let out = root.run(["update-ref", "-m", &msg, &base_ref, &head, &old])?;
                    !out.status.success()
                }
            };
            if moved {
                continue;
            }
        }
        let closed = if in_commit {
            Closed::InCommit
        } else if job.close && close_in_place(repo, job, &commit)? {
            Closed::InPlace
        } else {
            Closed::No
        };
        return Ok(Landed::Done {
            commit,
            head,
            tip,
            closed,
        });
    }
    Ok(Landed::Refused(format!(
        "{} kept moving while orc merged into it ({ATTEMPTS} attempts)",
        job.base
    )))
}

/// Build the merge on `old` in the scratch worktree (git before 2.38,
/// which has no `merge-tree --write-tree`): see [`Built`].
pub(super) fn build(
    scratch: &Scratch,
    repo: &Repo,
    job: &Job,
    old: &str,
    tip: &str,
) -> Result<Built> {
    let g = Git::at(scratch.path());
    let ident = Identity::of(repo)?;
    let with = |args: &[&str]| ident.with(args);
    if !g.is_ancestor(tip, old)? {
        match job.method {
            Method::Ff => {
                if !g.is_ancestor(old, tip)? {
                    return Ok(Err(no_fast_forward(job)));
                }
                g.ok(["checkout", "--quiet", "--detach", tip])?;
            }
            Method::Merge => {
                let msg = merge_message(job, tip);
                let out = g.run(with(&["merge", "--no-ff", "--no-verify", "-m", &msg, tip]))?;
                if !out.status.success() {
                    return Ok(Err(conflict(&g, job, &out)?));
                }
            }
            Method::Squash => {
                let out = g.run(["merge", "--squash", tip])?;
                if !out.status.success() {
                    return Ok(Err(conflict(&g, job, &out)?));
                }
                if g.succeeds(["diff", "--cached", "--quiet"])? {
                    return Ok(Err(nothing_to_squash(job)));
                }
                let msg = squash_message(job, tip);
                g.ok(with(&["commit", "--quiet", "--no-verify", "-m", &msg]))?;
            }
        }
    }
    let commit = if g.is_ancestor(tip, old)? {
        tip.to_string()
    } else {
        g.ok(["rev-parse", "HEAD"])?
    };
    let file = issue_file(job);
    let tracked = job.close && g.succeeds(["ls-files", "--error-unmatch", "--", &file])?;
    if tracked {
        let path = scratch.path().join(&file);
        let text = crate::fsutil::read_to_string(&path)?;
        if let Some(closed) = close::closed_text(&text, &job.now, &commit) {
            std::fs::write(&path, closed).map_err(|e| Error::io("write", &path, e))?;
            g.ok(["add", "--", &file])?;
            let msg = close_message(job, &commit);
            g.ok(with(&["commit", "--quiet", "--no-verify", "-m", &msg]))?;
        }
    }
    let head = g.ok(["rev-parse", "HEAD"])?;
    Ok(Ok((commit, head, tracked)))
}

/// The words for a merge that stopped on a conflict (the scratch worktree
/// is thrown away, so nothing needs aborting).
fn conflict(g: &Git, job: &Job, out: &std::process::Output) -> Result<String> {
    let files = g.ok(["diff", "--name-only", "--diff-filter=U"])?;
    let files: Vec<&str> = files.lines().collect();
    Ok(no_merge(job, &files, &reason(out)))
}

/// Why the base must not be merged into: checked out at `at` with tracked
/// changes.
fn dirty(at: Option<&Path>, base: &str) -> Result<Option<String>> {
    let Some(at) = at else { return Ok(None) };
    let changes = Git::at(at).tracked_changes()?;
    if changes.is_empty() {
        return Ok(None);
    }
    let shown: Vec<&str> = changes.iter().take(5).map(|l| l.trim()).collect();
    Ok(Some(format!(
        "{base} is checked out at {} with uncommitted changes ({}{}); orc does not merge over \
         a person's work: commit or stash them, then land again",
        at.display(),
        shown.join(", "),
        if changes.len() > 5 { ", …" } else { "" }
    )))
}

/// The worktree where `branch` is checked out, if any.
pub fn checked_out_at(repo: &Repo, branch: &str) -> Result<Option<PathBuf>> {
    let out = Git::at(&repo.root).ok(["worktree", "list", "--porcelain"])?;
    let mut path: Option<PathBuf> = None;
    let want = format!("branch refs/heads/{branch}");
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(PathBuf::from(p));
        } else if line == want {
            return Ok(path.filter(|p| p.is_dir()));
        }
    }
    Ok(None)
}

/// Close the untracked issue file in the main checkout; whether it did (a
/// file closed already, tracked, or missing is left as it is).
pub fn close_in_place(repo: &Repo, job: &Job, commit: &str) -> Result<bool> {
    let path = local::issue_path(&repo.root, job.issue);
    if !path.is_file() {
        return Ok(false);
    }
    let tracked = Git::at(&repo.root).succeeds([
        "ls-files",
        "--error-unmatch",
        "--",
        &format!(".orc/issues/{}.md", job.issue),
    ])?;
    if tracked {
        // Tracked here but not on the base (the checkout is on another
        // branch): editing it would leave a modified file behind.
        return Ok(false);
    }
    let text = crate::fsutil::read_to_string(&path)?;
    let Some(closed) = close::closed_text(&text, &job.now, commit) else {
        return Ok(false);
    };
    let mode = std::fs::metadata(&path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
        .map_err(|e| Error::io("inspect", &path, e))?;
    crate::fsutil::write_atomic(&path, closed.as_bytes(), mode)?;
    Ok(true)
}
