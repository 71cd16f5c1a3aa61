//! The two ways a landing is built — from git's objects ([`super::objects`])
//! and in a scratch worktree ([`super::merge::build`], for git before 2.38)
//! — build the same thing: the same trees, messages, parents and refusals,
//! on real repositories.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::git::Git;
use super::job::{Built, Job, Method};
use super::merge;
use super::objects;
use super::scratch::Scratch;
use crate::ids::Issue;
use crate::repo::Repo;

fn sh(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn commit_file(dir: &Path, file: &str, text: &str, msg: &str) -> String {
    if let Some(parent) = Path::new(file).parent() {
        fs::create_dir_all(dir.join(parent)).unwrap();
    }
    fs::write(dir.join(file), text).unwrap();
    sh(dir, &["add", file]);
    sh(dir, &["commit", "-q", "-m", msg]);
    sh(dir, &["rev-parse", "HEAD"])
}

/// A repository whose `main` holds a README and issue 1's file; the branch
/// `issue/1` adds `a.txt` (and, with `clash`, rewrites the README); `main`
/// then moves on by `b.txt` (and its own README) unless `ff`.
fn world(tmp: &Path, ff: bool, clash: bool) -> (Repo, String, String) {
    let dir = tmp.join("repo");
    fs::create_dir(&dir).unwrap();
    sh(&dir, &["init", "-q", "-b", "main"]);
    sh(&dir, &["config", "user.name", "orc test"]);
    sh(&dir, &["config", "user.email", "orc@example.invalid"]);
    sh(&dir, &["config", "commit.gpgsign", "false"]);
    commit_file(&dir, "README.md", "hello\n", "initial");
    let issue = "---\ntitle: One\nstate: open\n---\nDo it.\n";
    commit_file(&dir, ".orc/issues/1.md", issue, "the issue");
    sh(&dir, &["checkout", "-q", "-b", "issue/1"]);
    commit_file(&dir, "a.txt", "a\n", "work");
    if clash {
        commit_file(&dir, "README.md", "branch\n", "branch readme");
    }
    let tip = sh(&dir, &["rev-parse", "HEAD"]);
    sh(&dir, &["checkout", "-q", "main"]);
    if !ff {
        commit_file(&dir, "b.txt", "b\n", "main moves");
        if clash {
            commit_file(&dir, "README.md", "main\n", "main readme");
        }
    }
    let old = sh(&dir, &["rev-parse", "HEAD"]);
    (Repo::at(&dir).unwrap(), old, tip)
}

fn job(method: Method) -> Job {
    Job {
        issue: Issue::from(1),
        title: "One".into(),
        branch: "issue/1".into(),
        base: "main".into(),
        method,
        close: true,
        now: "2026-12-04T00:00:00Z".into(),
    }
}

/// What a build made, without commit ids (times differ): each new commit
/// from the head down to `old` as (tree, parent count, message), and the
/// flag; or the refusal.
fn shape(repo: &Repo, old: &str, built: Built) -> Shape {
    let (commit, head, tracked) = built?;
    let dir = &repo.root;
    let mut out = vec![format!(
        "landed {}",
        sh(dir, &["rev-parse", &format!("{commit}^{{tree}}")])
    )];
    let listed = sh(
        dir,
        &["rev-list", "--first-parent", &format!("{old}..{head}")],
    );
    // The landed commit's id (in the closed issue and its commit's
    // message) depends on the second it was made: it is read as <landed>.
    let short = &commit[..12];
    let landed = |text: String| text.replace(&commit, "<landed>").replace(short, "<landed>");
    for c in listed.lines() {
        let files: Vec<String> = sh(dir, &["ls-tree", "-r", c])
            .lines()
            .filter(|l| !l.ends_with(".orc/issues/1.md"))
            .map(str::to_string)
            .collect();
        let issue = landed(sh(dir, &["show", &format!("{c}:.orc/issues/1.md")]));
        let parents = sh(dir, &["show", "-s", "--format=%P", c])
            .split(' ')
            .count();
        let message = landed(sh(dir, &["show", "-s", "--format=%B", c]));
        out.push(format!(
            "{files:?}, issue {issue:?}, {parents} parent(s): {message}"
        ));
    }
    Ok((out, tracked))
}

type Shape = Result<(Vec<String>, bool), String>;

fn both(ff: bool, clash: bool, method: Method) -> (Shape, Shape) {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, old, tip) = world(tmp.path(), ff, clash);
    let job = job(method);
    let from_objects = objects::build(&repo, &job, &old, &tip).unwrap();
    let a = shape(&repo, &old, from_objects);
    let scratch = Scratch::create(&repo, job.issue, &old).unwrap();
    let in_worktree = merge::build(&scratch, &repo, &job, &old, &tip).unwrap();
    scratch.remove().unwrap();
    let b = shape(&repo, &old, in_worktree);
    // Nothing of either is left in the checkout.
    assert_eq!(sh(&repo.root, &["status", "--porcelain"]), "");
    let main = Git::at(&repo.root).commit_of("refs/heads/main").unwrap();
    assert_eq!(main.as_deref(), Some(old.as_str()), "a build moves no ref");
    (a, b)
}

#[test]
fn objects_and_worktree_build_the_same_landing() {
    if !objects::supported() {
        eprintln!("skipped: git is older than 2.38 (no merge-tree --write-tree)");
        return;
    }
    for (ff, clash, method) in [
        (false, false, Method::Merge),
        (false, false, Method::Squash),
        (true, false, Method::Ff),
        (true, false, Method::Merge),
        (false, false, Method::Ff),
        (false, true, Method::Merge),
        (false, true, Method::Squash),
    ] {
        let (a, b) = both(ff, clash, method);
        assert_eq!(a, b, "ff {ff}, clash {clash}, {}", method.as_str());
    }
}

#[test]
fn the_refusals_are_worded_alike() {
    if !objects::supported() {
        eprintln!("skipped: git is older than 2.38 (no merge-tree --write-tree)");
        return;
    }
    let (a, _) = both(false, true, Method::Merge);
    assert_eq!(
        a,
        Err("issue/1 conflicts with main in README.md".to_string())
    );
    let (a, _) = both(false, false, Method::Ff);
    assert!(a.is_err_and(|why| why.starts_with("main cannot be fast-forwarded")));
}
