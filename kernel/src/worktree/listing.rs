//! Finding what belongs to an issue: its worktrees under
//! `<root>/.worktrees/issue/<N>-*` and its branches `issue/<N>-*`, by
//! number, whatever the title was.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::git::{git, git_bytes};
use super::naming::issues_dir;
use crate::error::Result;
use crate::ids::Issue;
use crate::repo::Repo;

/// Something in the repository that belongs to an issue, whatever the
/// issue's title was when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// A registered worktree under `<root>/.worktrees/issue/` (its
    /// directory may be gone from disk).
    pub path: Option<PathBuf>,
    /// A branch `issue/<N>-*`: the one checked out at `path`, or a branch
    /// with no worktree.
    pub branch: Option<String>,
    /// The commit checked out at `path` (detached or not), if any.
    pub head: Option<String>,
}

/// The worktrees under `<root>/.worktrees/issue/<N>-*` and the branches
/// `issue/<N>-*` of `issue`, found by number so a title changed since the
/// spawn does not hide them.
pub fn find(repo: &Repo, issue: Issue) -> Result<Vec<Found>> {
    let prefix = format!("{issue}-");
    let is_ours = |branch: &str| {
        branch
            .strip_prefix("issue/")
            .and_then(|rest| rest.strip_prefix(&prefix))
            .is_some_and(|slug| !slug.is_empty() && !slug.contains('/'))
    };
    let issues = issues_dir(repo);
    let mut found = Vec::new();
    for (path, branch, head) in list_worktrees(repo)? {
        let in_place = path.parent() == Some(issues.as_path())
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix));
        if in_place {
            found.push(Found {
                path: Some(path),
                branch: branch.filter(|b| is_ours(b)),
                head,
            });
        }
    }
    let refs = git(
        repo,
        ["for-each-ref", "--format=%(refname)", "refs/heads/issue/"],
    )?;
    for branch in refs.lines().filter_map(|r| r.strip_prefix("refs/heads/")) {
        let listed = found.iter().any(|f| f.branch.as_deref() == Some(branch));
        if is_ours(branch) && !listed {
            found.push(Found {
                path: None,
                branch: Some(branch.to_string()),
                head: None,
            });
        }
    }
    Ok(found)
}

/// A worktree as `git worktree list` shows it: path, branch (`None` when
/// detached or bare) and the commit checked out.
type Listed = (PathBuf, Option<String>, Option<String>);

/// `git worktree list --porcelain -z`: each worktree's path, branch and HEAD.
pub(super) fn list_worktrees(repo: &Repo) -> Result<Vec<Listed>> {
    let out = git_bytes(repo, ["worktree", "list", "--porcelain", "-z"])?;
    let mut list = Vec::new();
    let mut current: Option<Listed> = None;
    for field in out.split(|&b| b == 0) {
        if let Some(path) = field.strip_prefix(b"worktree ") {
            list.extend(current.take());
            current = Some((PathBuf::from(OsStr::from_bytes(path)), None, None));
        } else if let Some(name) = field.strip_prefix(b"branch refs/heads/")
            && let Some((_, branch, _)) = current.as_mut()
        {
            *branch = Some(String::from_utf8_lossy(name).into_owned());
        } else if let Some(sha) = field.strip_prefix(b"HEAD ")
            && let Some((_, _, head)) = current.as_mut()
        {
            *head = Some(String::from_utf8_lossy(sha).into_owned());
        }
    }
    list.extend(current);
    Ok(list)
}
