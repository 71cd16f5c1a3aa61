//! The one way this module runs git: argv only (never a shell), `-C <main
//! root>`, and a failure that shows git's reason and the command.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Output};

use crate::error::{Error, Result};
use crate::lock::FileLock;
use crate::repo::Repo;

/// `origin/main` or `main` as a full ref name, so a tag or another ref of
/// the same short name can never be picked instead (a remote-tracking
/// branch first, then a local one); a name that is full already, or names
/// neither, as is.
pub(super) fn full_ref(repo: &Repo, name: &str) -> Result<String> {
    if name.starts_with("refs/") {
        return Ok(name.to_string());
    }
    let candidates = [format!("refs/remotes/{name}"), format!("refs/heads/{name}")];
    Ok(first_existing(repo, &candidates)?.unwrap_or_else(|| name.to_string()))
}

/// The first of the full ref names `candidates` that exists, asked of git
/// once for all of them.
pub(super) fn first_existing(repo: &Repo, candidates: &[String]) -> Result<Option<String>> {
    let mut args = vec![
        "for-each-ref".to_string(),
        "--format=%(refname)".to_string(),
    ];
    args.extend(candidates.iter().cloned());
    let listed = git(repo, &args)?;
    // A pattern also matches the refs below it (`main/x`): only an exact
    // line counts. Branch names cannot hold glob characters.
    Ok(candidates
        .iter()
        .find(|full| listed.lines().any(|l| l == full.as_str()))
        .cloned())
}

/// Whether the full ref name `full` exists.
pub(super) fn has_ref(repo: &Repo, full: &str) -> Result<bool> {
    let out = run(repo, ["show-ref", "--verify", "--quiet", full])?;
    Ok(out.status.success())
}

/// Run git in the main root and return its stdout, or an error with git's
/// reason and the command.
pub(super) fn git<I, S>(repo: &Repo, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    git_bytes(repo, args).map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// [`git`] for output that is not text, such as paths in `-z` listings.
pub(super) fn git_bytes<I, S>(repo: &Repo, args: I) -> Result<Vec<u8>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = run(repo, &args)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(git_error(&out, &args, repo))
    }
}

/// The lock file that serialises orc's `git worktree` and `git branch`
/// commands in one repository (in its common dir; never deleted, like
/// every lock file of orc's).
const WORKTREES_LOCK: &str = "orc-worktrees.lock";

/// Run git in the main root; the caller judges the exit status.
///
/// `git worktree` and `git branch` commands of one repository run one at a
/// time: git reads every linked worktree's administrative directory for
/// them, and fails ("failed to read .git/worktrees/<id>/commondir") when it
/// finds one that a concurrent `worktree add` or `remove` of another issue
/// has only half made or half removed. `git config` too: a second writer
/// fails at once on git's `config.lock` instead of waiting.
pub(super) fn run<I, S>(repo: &Repo, args: I) -> Result<Output>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let _serial = match args.first().and_then(|a| a.to_str()) {
        Some("worktree" | "branch" | "config") => {
            Some(FileLock::exclusive(&repo.common_dir.join(WORKTREES_LOCK))?)
        }
        _ => None,
    };
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(&repo.root).args(&args);
    // The repository is named by its root; an inherited GIT_DIR (say, from
    // a git hook) would otherwise point every command elsewhere.
    crate::repo::scrub_git_env(&mut cmd)
        .output()
        .map_err(|e| Error::io("run git in", &repo.root, e))
}

fn git_error<S: AsRef<OsStr>>(out: &Output, args: &[S], repo: &Repo) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Progress and hook output can come before the reason; git marks the
    // reason itself with `fatal:` or `error:`.
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let first = lines
        .iter()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or(lines.first())
        .map_or_else(
            || format!("git exited with {}", out.status),
            |l| l.to_string(),
        );
    let mut command = format!("git -C {}", repo.root.display());
    for arg in args {
        command.push(' ');
        command.push_str(&arg.as_ref().to_string_lossy());
    }
    Error::failure(first, command)
}
