//! Which `issue/<N>-*` branches orc made. A person may have a branch of
//! that shape too; orc never deletes one it did not create. The mark is
//! git's own branch configuration, `branch.<name>.orc-issue = <N>`: it
//! lives and dies with the branch (`git branch -D` removes it, `-m` moves
//! it) and is shared by every worktree of the repository. It is written
//! before the branch is created, so no interrupted spawn leaves an orc
//! branch without it.

use super::git::run;
use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::repo::Repo;

fn key(branch: &str) -> String {
    format!("branch.{branch}.orc-issue")
}

/// Mark `branch` as made by orc for `issue`.
pub fn mark(repo: &Repo, branch: &str, issue: Issue) -> Result<()> {
    let out = run(
        repo,
        ["config", "--local", &key(branch), &issue.to_string()],
    )?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::failure(
            format!(
                "cannot mark the branch as orc's: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            branch,
        ))
    }
}

/// Take the mark off `branch` (a create that failed before the branch
/// was made, or rolled back).
pub fn unmark(repo: &Repo, branch: &str) {
    let _ = run(repo, ["config", "--local", "--unset-all", &key(branch)]);
}

/// Whether orc made `branch` (for any issue).
pub fn is_marked(repo: &Repo, branch: &str) -> Result<bool> {
    let out = run(repo, ["config", "--local", "--get", &key(branch)])?;
    Ok(out.status.success() && !out.stdout.is_empty())
}
