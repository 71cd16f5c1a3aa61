//! The repository as git lists it: worktrees and branches, compared before
//! and after.

use std::path::Path;
use std::process::Command;

use crate::common::{SYSTEM_PATH, TestEnv};

/// The repository's worktrees and branches (name and commit), as git
/// lists them: compare one taken before with one taken after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// `git worktree list --porcelain`.
    pub worktrees: String,
    /// `git for-each-ref refs/heads` with each branch's commit.
    pub branches: String,
}

/// Run git in `dir` with the test's `HOME`; panics on failure.
pub fn git_in(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", &env.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The worktrees and branches of the repository at `repo`.
pub fn git_state(env: &TestEnv, repo: &Path) -> GitState {
    GitState {
        worktrees: git_in(env, repo, &["worktree", "list", "--porcelain"]),
        branches: git_in(
            env,
            repo,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
            ],
        ),
    }
}
