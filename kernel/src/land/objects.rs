//! Building a landing from git's objects alone (git 2.38 and later): the
//! merge is `git merge-tree --write-tree` of the base's tip and the
//! branch's, its commit is made with `git commit-tree`, and the issue's
//! closing is written into a tree through a scratch index of orc's own.
//! Nothing is checked out, so landing costs the same in a repository of ten
//! files or of a million (a scratch worktree of 100,000 files took 30 s to
//! check out on the benchmark machine), and nothing is left on disk by a
//! landing killed half way but unreferenced objects git's gc collects.
//!
//! It builds exactly what `merge::build` builds in a worktree: the
//! same commits, messages and refusals (a unit test compares the two).

use std::ffi::OsStr;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::repo::Repo;

use super::close;
use super::git::{Git, reason};
use super::job::{
    Built, Identity, Job, Method, close_message, issue_file, merge_message, no_fast_forward,
    no_merge, nothing_to_squash, squash_message,
};

/// Whether the git on PATH has `merge-tree --write-tree` (2.38 or later).
pub(super) fn supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        std::process::Command::new("git")
            .arg("version")
            .output()
            .ok()
            .and_then(|out| version_at_least(&String::from_utf8_lossy(&out.stdout), (2, 38)))
            .unwrap_or(false)
    })
}

/// Whether `git version` printed `text` naming at least `want`.
fn version_at_least(text: &str, want: (u32, u32)) -> Option<bool> {
    let number = text.trim().strip_prefix("git version ")?;
    let mut parts = number.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts
        .next()?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((major, minor) >= want)
}

/// Build the landing of `tip` on `old` in `repo`: see [`Built`].
pub(super) fn build(repo: &Repo, job: &Job, old: &str, tip: &str) -> Result<Built> {
    let g = Git::at(&repo.root);
    let ident = Identity::of(repo)?;
    let with = |args: &[&str]| ident.with(args);
    let mut head = old.to_string();
    let commit = if g.is_ancestor(tip, old)? {
        tip.to_string()
    } else {
        match job.method {
            Method::Ff => {
                if !g.is_ancestor(old, tip)? {
                    return Ok(Err(no_fast_forward(job)));
                }
                head = tip.to_string();
            }
            Method::Merge | Method::Squash => {
                let tree = match merged_tree(&g, job, old, tip)? {
                    Ok(tree) => tree,
                    Err(why) => return Ok(Err(why)),
                };
                let parents: Vec<&str> = if job.method == Method::Merge {
                    vec!["-p", old, "-p", tip]
                } else {
                    if tree == g.ok(["rev-parse", &format!("{old}^{{tree}}")])? {
                        return Ok(Err(nothing_to_squash(job)));
                    }
                    vec!["-p", old]
                };
                let msg = match job.method {
                    Method::Merge => merge_message(job, tip),
                    _ => squash_message(job, tip),
                };
                let mut args = vec!["commit-tree", tree.as_str()];
                args.extend(parents);
                args.extend(["-m", msg.as_str()]);
                head = g.ok(with(&args))?;
            }
        }
        head.clone()
    };
    let file = issue_file(job);
    let tracked = job.close && g.succeeds(["cat-file", "-e", &format!("{head}:{file}")])?;
    if tracked && let Some(closed) = closed_issue(&g, job, &head, &file, &commit)? {
        let tree = tree_with(&g, &head, &file, &closed)?;
        let msg = close_message(job, &commit);
        head = g.ok(with(&["commit-tree", &tree, "-p", &head, "-m", &msg]))?;
    }
    Ok(Ok((commit, head, tracked)))
}

/// The tree of merging `tip` into `old`, or the words for a conflict.
fn merged_tree(
    g: &Git,
    job: &Job,
    old: &str,
    tip: &str,
) -> Result<std::result::Result<String, String>> {
    let out = g.run([
        "merge-tree",
        "--write-tree",
        "--name-only",
        "--no-messages",
        old,
        tip,
    ])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match out.status.code() {
        Some(0) => match lines.next() {
            Some(tree) if !tree.trim().is_empty() => Ok(Ok(tree.trim().to_string())),
            _ => Err(Error::failure(
                "git merge-tree printed no tree",
                format!("{old} {tip}"),
            )),
        },
        Some(1) => {
            let files: Vec<&str> = lines.skip(1).take_while(|l| !l.is_empty()).collect();
            Ok(Err(no_merge(job, &files, &reason(&out))))
        }
        _ => Ok(Err(no_merge(job, &[], &reason(&out)))),
    }
}

/// The issue file at `head`, closed by `commit`; `None` when it has no
/// front matter to close.
fn closed_issue(
    g: &Git,
    job: &Job,
    head: &str,
    file: &str,
    commit: &str,
) -> Result<Option<String>> {
    let spec = format!("{head}:{file}");
    let out = g.run(["cat-file", "blob", &spec])?;
    if !out.status.success() {
        return Err(Error::failure(reason(&out), spec));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| Error::failure("the issue file is not UTF-8 text", spec))?;
    Ok(close::closed_text(&text, &job.now, commit))
}

/// The tree of `head` with `file` holding `text` (its mode kept), written
/// through a scratch index so neither the repository's index nor any
/// worktree is touched.
fn tree_with(g: &Git, head: &str, file: &str, text: &str) -> Result<String> {
    let scratch = tempfile::tempdir()
        .map_err(|e| Error::io("create a scratch index in", &std::env::temp_dir(), e))?;
    let body = scratch.path().join("issue.md");
    std::fs::write(&body, text).map_err(|e| Error::io("write", &body, e))?;
    let index = scratch.path().join("index");
    let listed = g.ok(["ls-tree", head, "--", file])?;
    let mode = listed
        .split_whitespace()
        .next()
        .unwrap_or("100644")
        .to_string();
    // As `git add` would store it: the file's clean filter, by its path.
    let path_flag = format!("--path={file}");
    let blob = g.ok([
        OsStr::new("hash-object"),
        OsStr::new("-w"),
        OsStr::new(&path_flag),
        body.as_os_str(),
    ])?;
    let in_index = |args: &[&str]| -> Result<String> {
        let out = g.run_with_index(args, Some(&index))?;
        if !out.status.success() {
            return Err(Error::failure(
                reason(&out),
                format!("git {}", args.join(" ")),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    in_index(&["read-tree", head])?;
    in_index(&[
        "update-index",
        "--cacheinfo",
        &format!("{mode},{blob},{file}"),
    ])?;
    in_index(&["write-tree"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_versions_are_read() {
        assert_eq!(
            version_at_least("git version 2.47.3\n", (2, 38)),
            Some(true)
        );
        assert_eq!(version_at_least("git version 2.38.0", (2, 38)), Some(true));
        assert_eq!(version_at_least("git version 2.34.1", (2, 38)), Some(false));
        assert_eq!(
            version_at_least("git version 2.39.3 (Apple Git-146)", (2, 38)),
            Some(true)
        );
        assert_eq!(version_at_least("git version 3.0.rc1", (2, 38)), Some(true));
        assert_eq!(version_at_least("nonsense", (2, 38)), None);
    }
}
