//! The worker's address space: one git worktree and branch per issue,
//! `<root>/.worktrees/issue/<N>-<slug>` on `issue/<N>-<slug>`.
//!
//! Every git call goes through one helper (`worktree/git.rs`): argv only,
//! never a shell, run with `-C <main root>`, and a failure shows git's own
//! reason from stderr and the command. Callers hold the issue lock, so
//! nothing here coordinates workers of the same issue; different issues
//! never share a path or branch. Split by concept: `naming` (slug, branch,
//! path), `base` (what to branch from), `git` (running it), and this file
//! (create, find, remove).

mod base;
pub mod contained;
mod git;
pub mod leftover;
mod listing;
mod naming;
pub mod owner;
#[cfg(test)]
mod tests;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{read_to_string, write_atomic};
use crate::ids::Issue;
use crate::repo::Repo;

pub use base::{Base, resolve_base};
pub use listing::{Found, find};
pub use naming::{MAX_SLUG, branch_name, slug, worktree_path};

use git::{full_ref, git, has_ref, run};
use listing::list_worktrees;
use naming::issues_dir;

/// Lines orc keeps in the shared `info/exclude`: the worktrees inside the
/// main checkout, and the task and env files inside each worktree.
pub const EXCLUDES: [&str; 2] = [".worktrees/", ".orc-*"];

/// A worktree created for an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    /// Its directory.
    pub path: PathBuf,
    /// Its branch, `issue/<N>-<slug>`.
    pub branch: String,
    /// The base it started from.
    pub base: Base,
}

/// Create the issue's worktree and branch from `base`, and mark the branch
/// as orc's ([`owner`]). Leftovers of an earlier attempt for the same issue
/// are removed first when nothing would be lost with them (the caller holds
/// the issue lock, so nothing live uses them); otherwise the create is
/// refused as cleanup would refuse (exit 7), and a person's own branch of
/// the same shape is never touched. `info/exclude` gets [`EXCLUDES`]. On
/// failure nothing of this call is left behind.
pub fn create(repo: &Repo, issue: Issue, title: &str, base: &Base) -> Result<Worktree> {
    let branch = branch_name(issue, title);
    let path = worktree_path(repo, issue, title);
    check_inside(repo, &path)?;
    clear_leftovers(repo, issue, base, &branch)?;
    clear_target(&path)?;
    ensure_excludes(repo)?;
    if has_ref(repo, &format!("refs/heads/{branch}"))? {
        // Never ours to take over (clear_leftovers removed orc's own), and
        // a rollback would delete it.
        return Err(Error::failure(
            "a branch of this name exists and orc did not create it",
            branch,
        )
        .hint("rename it (git branch -m), or retitle the issue"));
    }
    let start = full_ref(repo, &base.start)?;
    // A concurrent `remove` of another issue may delete the empty
    // `.worktrees/issue/` just after git created it; one retry covers that.
    for attempt in 0..2 {
        // Marked before it exists: a spawn killed at any point never
        // leaves a branch of orc's that looks like a person's.
        owner::mark(repo, &branch, issue)?;
        let added = git(
            repo,
            [
                OsStr::new("worktree"),
                OsStr::new("add"),
                OsStr::new("--quiet"),
                // The issue branch is pushed under its own name; tracking
                // the base would point a bare `git push` or `gh pr create`
                // at the base branch.
                OsStr::new("--no-track"),
                OsStr::new("-b"),
                OsStr::new(&branch),
                path.as_os_str(),
                OsStr::new(&start),
            ],
        );
        match added {
            Ok(_) => {
                return Ok(Worktree {
                    path,
                    branch,
                    base: base.clone(),
                });
            }
            Err(err) => {
                let vanished = path.parent().is_some_and(|p| !p.is_dir());
                rollback(repo, &path, &branch);
                if attempt > 0 || !vanished {
                    return Err(err);
                }
            }
        }
    }
    owner::unmark(repo, &branch);
    Err(Error::failure(
        "cannot create worktree",
        path.display().to_string(),
    ))
}

/// A detached, throw-away worktree at `path` on `rev` (a reviewer's view of
/// a worker's branch): the worker's own worktree is never written to.
/// An earlier one at the same path is replaced.
pub fn create_detached(repo: &Repo, path: &Path, rev: &str) -> Result<()> {
    check_inside(repo, path)?;
    let earlier = list_worktrees(repo)?
        .into_iter()
        .find(|(p, _, _)| same_path(p, path));
    if let Some((_, _, Some(head))) = &earlier
        && path.is_dir()
        && contained::holder(repo, head, None, &Default::default(), &[])?.is_none()
    {
        // Commits made in the copy (against its instructions) are kept.
        return Err(Error::new(
            crate::error::Kind::WorkKept,
            format!("the earlier copy's HEAD ({head}) has commits found on no branch"),
            path.display().to_string(),
        )
        .hint("keep them on a branch (git -C <copy> branch <name>), or remove the copy with orc-cleanup --force"));
    }
    if path.exists() || earlier.is_some() {
        remove_worktree(repo, path, "")?;
    }
    clear_target(path)?;
    ensure_excludes(repo)?;
    let start = full_ref(repo, rev)?;
    let added = git(
        repo,
        [
            OsStr::new("worktree"),
            OsStr::new("add"),
            OsStr::new("--quiet"),
            OsStr::new("--detach"),
            path.as_os_str(),
            OsStr::new(&start),
        ],
    );
    if let Err(e) = added {
        if path.exists() {
            let _ = remove_worktree(repo, path, "");
        }
        return Err(e);
    }
    Ok(())
}

/// The target must be free; an empty directory (a crash between mkdir and
/// checkout) is taken over, anything else may be someone's work.
/// Refuse a worktree path that leaves the repository through a symlink on
/// the way (a committed `.worktrees` link, say, pointing at another
/// directory): orc creates worktrees only inside the repository.
pub fn check_inside(repo: &Repo, path: &Path) -> Result<()> {
    let root = fs::canonicalize(&repo.root).map_err(|e| Error::io("resolve", &repo.root, e))?;
    let Ok(rel) = path.strip_prefix(&repo.root) else {
        return Ok(());
    };
    let mut at = repo.root.clone();
    for part in rel.components() {
        at.push(part);
        let Ok(meta) = fs::symlink_metadata(&at) else {
            return Ok(());
        };
        if meta.file_type().is_symlink() {
            let target =
                fs::canonicalize(&at).unwrap_or_else(|_| fs::read_link(&at).unwrap_or_default());
            if !target.starts_with(&root) {
                return Err(Error::failure(
                    format!(
                        "refusing a worktree path through a symbolic link that leaves the repository (to {})",
                        target.display()
                    ),
                    at.display().to_string(),
                )
                .hint("remove the link (git rm it if it is committed); orc makes .worktrees/ itself"));
            }
        }
    }
    Ok(())
}

fn clear_target(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspect", path, e)),
        Ok(meta) if meta.is_dir() && fs::remove_dir(path).is_ok() => Ok(()),
        Ok(_) => Err(Error::failure(
            "worktree path exists and is not a worktree of this repository",
            path.display().to_string(),
        )
        .hint("move it away, then retry")),
    }
}

/// Undo a failed `git worktree add`: the directory and branch did not exist
/// before it ran, so whatever is there now is its doing.
fn rollback(repo: &Repo, path: &Path, branch: &str) {
    if path.exists() {
        let removed = git(
            repo,
            [
                OsStr::new("worktree"),
                OsStr::new("remove"),
                OsStr::new("--force"),
                path.as_os_str(),
            ],
        );
        if removed.is_err() {
            let _ = fs::remove_dir_all(path);
        }
    }
    let _ = git(repo, ["worktree", "prune"]);
    if has_ref(repo, &format!("refs/heads/{branch}")).unwrap_or(false) {
        let _ = git(repo, ["branch", "-D", "--", branch]);
    }
    owner::unmark(repo, branch);
    remove_empty_parents(repo, path);
}

/// Add [`EXCLUDES`] to `<common dir>/info/exclude`, each line once. Never
/// touches `.gitignore`, which belongs to the project.
pub fn ensure_excludes(repo: &Repo) -> Result<()> {
    let info = repo.common_dir.join("info");
    let file = info.join("exclude");
    let (mut text, mode) = match fs::metadata(&file) {
        Ok(meta) => (read_to_string(&file)?, meta.permissions().mode() & 0o7777),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (String::new(), 0o644),
        Err(e) => return Err(Error::io("inspect", &file, e)),
    };
    let missing: Vec<&str> = EXCLUDES
        .into_iter()
        .filter(|want| !text.lines().any(|l| l.trim() == *want))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    for line in missing {
        text.push_str(line);
        text.push('\n');
    }
    fs::create_dir_all(&info).map_err(|e| Error::io("create directory", &info, e))?;
    write_atomic(&file, text.as_bytes(), mode)
}

/// Remove a worktree and its branch: `git worktree remove --force`, or
/// `git worktree prune` when the directory is already gone, then
/// `git branch -D`. Refuses to delete `base` or the branch checked out in
/// the main worktree. Removing what is already gone is not an error.
pub fn remove(repo: &Repo, path: &Path, branch: &str, base: &str) -> Result<()> {
    remove_parts(repo, Some(path), Some(branch), base)
}

/// Remove only the worktree at `path` (its branch stays).
pub fn remove_worktree(repo: &Repo, path: &Path, base: &str) -> Result<()> {
    remove_parts(repo, Some(path), None, base)
}

/// Delete only `branch` (never `base` nor the main worktree's branch).
pub fn remove_branch(repo: &Repo, branch: &str, base: &str) -> Result<()> {
    remove_parts(repo, None, Some(branch), base)
}

/// Remove the leftovers of `issue` that hold nothing found elsewhere;
/// refuse (exit 7) when one does, and when a branch orc did not make has
/// the name the new one needs.
fn clear_leftovers(repo: &Repo, issue: Issue, base: &Base, branch: &str) -> Result<()> {
    let judge = leftover::Judge {
        base: Some(base),
        recorded: None,
        merged: &|_| Vec::new(),
    };
    let left = leftover::assess(repo, issue, &judge)?;
    if let Some(refused) = leftover::refusal(&left, issue) {
        return Err(refused);
    }
    if left.foreign.iter().any(|b| b == branch) {
        return Err(Error::failure(
            "a branch of this name exists and orc did not create it",
            branch,
        )
        .hint("rename it (git branch -m), or retitle the issue"));
    }
    for path in &left.worktrees {
        remove_parts(repo, Some(path), None, &base.name)?;
    }
    for b in &left.branches {
        remove_parts(repo, None, Some(&b.name), &base.name)?;
    }
    Ok(())
}

fn remove_parts(repo: &Repo, path: Option<&Path>, branch: Option<&str>, base: &str) -> Result<()> {
    if let Some(branch) = branch {
        check_deletable(repo, branch, base)?;
    }
    if let Some(path) = path {
        if same_path(path, &repo.root) {
            return Err(Error::usage(
                "refusing to remove the main worktree",
                path.display().to_string(),
            ));
        }
        if path.exists() {
            git(
                repo,
                [
                    OsStr::new("worktree"),
                    OsStr::new("remove"),
                    OsStr::new("--force"),
                    path.as_os_str(),
                ],
            )?;
        } else {
            git(repo, ["worktree", "prune"])?;
        }
        remove_empty_parents(repo, path);
    }
    if let Some(branch) = branch
        && has_ref(repo, &format!("refs/heads/{branch}"))?
    {
        git(repo, ["branch", "-D", "--", branch])?;
    }
    Ok(())
}

/// The base and the main worktree's branch are never an issue's to delete.
fn check_deletable(repo: &Repo, branch: &str, base: &str) -> Result<()> {
    let base = base.strip_prefix("origin/").unwrap_or(base);
    if branch.is_empty() || branch == base {
        return Err(Error::usage("refusing to delete the base branch", branch)
            .hint("only an issue's own branch is removed"));
    }
    let head = run(repo, ["symbolic-ref", "--quiet", "HEAD"])?;
    let main = String::from_utf8_lossy(&head.stdout).trim().to_string();
    if main.strip_prefix("refs/heads/") == Some(branch) {
        return Err(Error::usage(
            "refusing to delete the branch checked out in the main worktree",
            branch,
        )
        .hint(format!("it is checked out at {}", repo.root.display())));
    }
    Ok(())
}

/// Drop `.worktrees/issue/` and `.worktrees/` once the last worktree is
/// gone, so the checkout looks as it did before orc. Only empty ones, and
/// only these two.
fn remove_empty_parents(repo: &Repo, path: &Path) {
    let issues = issues_dir(repo);
    if path.parent() == Some(issues.as_path()) && fs::remove_dir(&issues).is_ok() {
        let _ = fs::remove_dir(repo.root.join(".worktrees"));
    }
}

/// How many commits `branch` has that `base_start` has not.
pub fn commits_beyond(repo: &Repo, branch: &str, base_start: &str) -> Result<u32> {
    let range = format!(
        "{}..{}",
        full_ref(repo, base_start)?,
        full_ref(repo, branch)?
    );
    let count = git(repo, ["rev-list", "--count", "--end-of-options", &range])?;
    count
        .trim()
        .parse()
        .map_err(|_| Error::failure("unexpected output of git rev-list --count", count.trim()))
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
