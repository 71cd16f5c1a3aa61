//! Tests of worktree management against real git repositories.

use std::process::Command;

use super::*;
use crate::error::Kind;

/// Run git in `dir` and return its stdout; the test fails on an error.
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn configure(dir: &Path) {
    sh(dir, &["config", "user.name", "orc test"]);
    sh(dir, &["config", "user.email", "orc@example.invalid"]);
    sh(dir, &["config", "commit.gpgsign", "false"]);
}

/// A repository at `<tmp>/<name>` with one commit on `main`.
fn init_repo(tmp: &Path, name: &str) -> Repo {
    let dir = tmp.join(name);
    fs::create_dir(&dir).unwrap();
    sh(&dir, &["init", "-q", "-b", "main"]);
    configure(&dir);
    fs::write(dir.join("README.md"), "hello\n").unwrap();
    sh(&dir, &["add", "README.md"]);
    sh(&dir, &["commit", "-q", "-m", "initial"]);
    Repo::at(&dir).unwrap()
}

/// A clone of a bare copy of a fresh repository: `origin` is set up.
fn cloned_repo(tmp: &Path) -> Repo {
    let src = init_repo(tmp, "src");
    let bare = tmp.join("origin.git");
    let work = tmp.join("work");
    sh(
        tmp,
        &[
            "clone",
            "-q",
            "--bare",
            path_str(&src.root),
            path_str(&bare),
        ],
    );
    sh(tmp, &["clone", "-q", path_str(&bare), path_str(&work)]);
    configure(&work);
    Repo::at(&work).unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Everything `create` and `remove` may touch outside `.git`.
fn snapshot(repo: &Repo) -> (String, String, String, Vec<PathBuf>) {
    let files = walkdir::WalkDir::new(&repo.root)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
        .map(|e| e.unwrap().into_path())
        .collect();
    (
        sh(&repo.root, &["worktree", "list", "--porcelain"]),
        sh(&repo.root, &["branch", "--list", "--all"]),
        sh(&repo.root, &["status", "--porcelain", "--ignored"]),
        files,
    )
}

fn exclude_lines(repo: &Repo) -> Vec<String> {
    fs::read_to_string(repo.common_dir.join("info").join("exclude"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn create_then_remove_leaves_the_repository_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let before = snapshot(&repo);
    let base = resolve_base(&repo, None).unwrap();
    assert_eq!(base.name, "main");
    assert_eq!(base.start, "main");

    let wt = create(&repo, Issue::from(42), "Fix login", &base).unwrap();
    assert_eq!(wt.branch, "issue/42-fix-login");
    assert_eq!(wt.path, repo.root.join(".worktrees/issue/42-fix-login"));
    assert!(wt.path.join("README.md").is_file());
    // The task and env files are ignored in the worktree, and the
    // worktrees are invisible from the main checkout.
    fs::write(wt.path.join(".orc-task.md"), "task").unwrap();
    assert_eq!(sh(&wt.path, &["status", "--porcelain"]), "");
    assert_eq!(sh(&repo.root, &["status", "--porcelain"]), "");
    assert!(sh(&repo.root, &["branch", "--list"]).contains("issue/42-fix-login"));

    remove(&repo, &wt.path, &wt.branch, &base.name).unwrap();
    assert_eq!(snapshot(&repo), before);
    // Twice is fine.
    remove(&repo, &wt.path, &wt.branch, &base.name).unwrap();
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn remove_after_the_directory_was_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let before = snapshot(&repo);
    let base = resolve_base(&repo, None).unwrap();
    let wt = create(&repo, Issue::from(3), "gone", &base).unwrap();
    fs::remove_dir_all(&wt.path).unwrap();
    remove(&repo, &wt.path, &wt.branch, &base.name).unwrap();
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn create_clears_leftovers_that_hold_nothing_of_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let base = resolve_base(&repo, None).unwrap();
    let old = create(&repo, Issue::from(7), "Old title", &base).unwrap();
    assert!(owner::is_marked(&repo, &old.branch).unwrap());
    let gone = create(&repo, Issue::from(8), "x", &base).unwrap();
    fs::remove_dir_all(&gone.path).unwrap();
    // A person's branches of the same shape, and of another issue.
    sh(&repo.root, &["branch", "issue/7-other"]);
    sh(&repo.root, &["branch", "issue/70-keep"]);

    let new = create(&repo, Issue::from(7), "New title", &base).unwrap();
    assert!(!old.path.exists());
    let found = find(&repo, Issue::from(7)).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].path.as_deref(), Some(new.path.as_path()));
    assert_eq!(found[0].branch.as_deref(), Some(new.branch.as_str()));
    assert!(found[0].head.is_some());
    assert_eq!(found[1].branch.as_deref(), Some("issue/7-other"));
    let branches = sh(&repo.root, &["branch", "--list"]);
    assert!(!branches.contains("issue/7-old-title"), "{branches}");
    assert!(branches.contains("issue/7-other"), "a person's: {branches}");
    assert!(branches.contains("issue/70-keep"), "{branches}");

    // A leftover whose directory is gone is cleared too.
    let again = create(&repo, Issue::from(8), "y", &base).unwrap();
    assert_eq!(find(&repo, Issue::from(8)).unwrap().len(), 1);
    assert!(!sh(&repo.root, &["branch", "--list"]).contains("issue/8-x"));
    assert!(again.path.is_dir());
}

#[test]
fn create_refuses_a_leftover_with_work_and_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let base = resolve_base(&repo, None).unwrap();
    let old = create(&repo, Issue::from(7), "Old title", &base).unwrap();
    fs::write(old.path.join("dirty.txt"), "uncommitted").unwrap();
    let err = create(&repo, Issue::from(7), "New title", &base).unwrap_err();
    assert_eq!(err.code(), crate::exit::WORK_KEPT);
    assert_eq!(err.what(), "the worktree has uncommitted changes");
    assert!(old.path.join("dirty.txt").is_file());

    sh(&old.path, &["add", "dirty.txt"]);
    sh(&old.path, &["commit", "-q", "-m", "work"]);
    let err = create(&repo, Issue::from(7), "New title", &base).unwrap_err();
    assert_eq!(err.code(), crate::exit::WORK_KEPT);
    assert_eq!(
        err.what(),
        format!("branch {} has commits found nowhere else", old.branch)
    );
    assert!(old.path.is_dir());
    assert_eq!(find(&repo, Issue::from(7)).unwrap().len(), 1);
}

#[test]
fn containment_never_counts_the_refs_on_their_way_out() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let base = resolve_base(&repo, None).unwrap();
    let wt = create(&repo, Issue::from(3), "t", &base).unwrap();
    fs::write(wt.path.join("a.txt"), "a").unwrap();
    sh(&wt.path, &["add", "a.txt"]);
    sh(&wt.path, &["commit", "-q", "-m", "a"]);
    let tip = contained::tip(&repo, &format!("refs/heads/{}", wt.branch))
        .unwrap()
        .unwrap();
    let mut except = std::collections::BTreeSet::new();
    except.insert(format!("refs/heads/{}", wt.branch));
    assert_eq!(
        contained::holder(&repo, &tip, Some(&base), &except, &[]).unwrap(),
        None
    );
    assert_eq!(
        contained::holder(&repo, &tip, Some(&base), &except, &[(9, tip.clone())]).unwrap(),
        Some(contained::Holder::MergedPr { number: 9 })
    );
    sh(&repo.root, &["tag", "kept", &tip]);
    assert_eq!(
        contained::holder(&repo, &tip, Some(&base), &except, &[]).unwrap(),
        Some(contained::Holder::Ref {
            name: "refs/tags/kept".into()
        })
    );
    sh(&repo.root, &["merge", "-q", "--ff-only", &wt.branch]);
    assert_eq!(
        contained::holder(&repo, &tip, Some(&base), &except, &[]).unwrap(),
        Some(contained::Holder::Ref {
            name: "refs/heads/main".into()
        }),
        "the base comes first"
    );
}

#[test]
fn find_ignores_the_title() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let base = resolve_base(&repo, None).unwrap();
    let wt = create(&repo, Issue::from(5), "First title", &base).unwrap();
    let found = find(&repo, Issue::from(5)).unwrap();
    assert_eq!(found[0].path.as_deref(), Some(wt.path.as_path()));
    assert!(find(&repo, Issue::from(50)).unwrap().is_empty());
    remove(&repo, &wt.path, &wt.branch, &base.name).unwrap();
    assert!(find(&repo, Issue::from(5)).unwrap().is_empty());
    assert!(!repo.root.join(".worktrees").exists());
}

#[test]
fn a_failed_create_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let before = snapshot(&repo);
    let base = Base {
        name: "main".into(),
        start: "no-such-branch".into(),
    };
    let err = create(&repo, Issue::from(9), "t", &base).unwrap_err();
    assert!(err.what().starts_with("fatal: invalid reference"), "{err}");
    assert!(err.subject().starts_with("git -C "), "{err}");
    assert!(err.subject().contains("worktree add"), "{err}");
    assert_eq!(snapshot(&repo), before);
}

#[test]
fn a_create_failed_by_a_hook_is_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let before = snapshot(&repo);
    let hook = repo.common_dir.join("hooks").join("post-checkout");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(&hook, "#!/bin/sh\necho hook says no >&2\nexit 1\n").unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    let base = resolve_base(&repo, None).unwrap();
    let err = create(&repo, Issue::from(9), "t", &base).unwrap_err();
    assert_eq!(err.what(), "hook says no");
    assert_eq!(snapshot(&repo), before);
    assert!(find(&repo, Issue::from(9)).unwrap().is_empty());
}

#[test]
fn create_refuses_to_clobber_a_foreign_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let base = resolve_base(&repo, None).unwrap();
    let path = worktree_path(&repo, Issue::from(4), "t");
    fs::create_dir_all(&path).unwrap();
    fs::write(path.join("precious"), "data").unwrap();
    assert!(create(&repo, Issue::from(4), "t", &base).is_err());
    assert!(path.join("precious").is_file());
    assert!(!sh(&repo.root, &["branch", "--list"]).contains("issue/4-t"));
}

#[test]
fn never_deletes_the_base_or_the_main_branch() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let base = resolve_base(&repo, None).unwrap();
    let wt = create(&repo, Issue::from(1), "t", &base).unwrap();
    let err = remove(&repo, &wt.path, "main", "main").unwrap_err();
    assert_eq!(err.kind(), Kind::Usage);
    assert!(wt.path.is_dir(), "a refusal must change nothing");

    sh(&repo.root, &["switch", "-q", "-c", "dev"]);
    let err = remove(&repo, &wt.path, "dev", "main").unwrap_err();
    assert_eq!(err.kind(), Kind::Usage);
    assert!(sh(&repo.root, &["branch", "--list"]).contains("dev"));
    assert!(remove(&repo, &repo.root, &wt.branch, "main").is_err());
    remove(&repo, &wt.path, &wt.branch, &base.name).unwrap();
}

#[test]
fn exclude_lines_are_added_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    let info = repo.common_dir.join("info");
    fs::create_dir_all(&info).unwrap();
    fs::write(info.join("exclude"), "# mine\n*.log").unwrap();
    let base = resolve_base(&repo, None).unwrap();
    create(&repo, Issue::from(1), "a", &base).unwrap();
    create(&repo, Issue::from(2), "b", &base).unwrap();
    ensure_excludes(&repo).unwrap();
    assert_eq!(
        exclude_lines(&repo),
        ["# mine", "*.log", ".worktrees/", ".orc-*"]
    );

    // A missing info/ directory is created.
    fs::remove_dir_all(&info).unwrap();
    ensure_excludes(&repo).unwrap();
    assert_eq!(exclude_lines(&repo), [".worktrees/", ".orc-*"]);
}

#[test]
fn base_without_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = init_repo(tmp.path(), "r");
    sh(&repo.root, &["switch", "-q", "-c", "trunk"]);
    let base = resolve_base(&repo, None).unwrap();
    assert_eq!(
        (base.name.as_str(), base.start.as_str()),
        ("trunk", "trunk")
    );
    let main = resolve_base(&repo, Some("main")).unwrap();
    assert_eq!((main.name.as_str(), main.start.as_str()), ("main", "main"));
    for bad in ["-x", "a..b", "@{-1}", ""] {
        let err = resolve_base(&repo, Some(bad)).unwrap_err();
        assert_eq!(err.kind(), Kind::Usage, "{bad}");
    }
    let err = resolve_base(&repo, Some("nope")).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");

    sh(&repo.root, &["switch", "-q", "--detach"]);
    assert!(resolve_base(&repo, None).is_err());
}

#[test]
fn base_with_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = cloned_repo(tmp.path());
    let want = Base {
        name: "main".into(),
        start: "origin/main".into(),
    };
    assert_eq!(resolve_base(&repo, None).unwrap(), want);
    assert_eq!(resolve_base(&repo, Some("main")).unwrap(), want);
    assert_eq!(resolve_base(&repo, Some("origin/main")).unwrap(), want);
    sh(&repo.root, &["remote", "set-head", "origin", "--delete"]);
    assert_eq!(resolve_base(&repo, None).unwrap(), want);

    // A tag with the base's name must not be taken for it.
    sh(
        &repo.root,
        &["commit", "-q", "--allow-empty", "-m", "local"],
    );
    sh(&repo.root, &["tag", "origin/main"]);
    let wt = create(&repo, Issue::from(12), "Remote based", &want).unwrap();
    assert_eq!(commits_beyond(&repo, &wt.branch, &want.start).unwrap(), 0);
    sh(&wt.path, &["commit", "-q", "--allow-empty", "-m", "work"]);
    sh(&wt.path, &["commit", "-q", "--allow-empty", "-m", "more"]);
    assert_eq!(commits_beyond(&repo, &wt.branch, &want.start).unwrap(), 2);
    assert_eq!(commits_beyond(&repo, &wt.branch, "main").unwrap(), 2);
    remove(&repo, &wt.path, &wt.branch, &want.name).unwrap();
    assert!(commits_beyond(&repo, &wt.branch, &want.start).is_err());

    sh(&repo.root, &["remote", "rename", "origin", "upstream"]);
    let local = resolve_base(&repo, None).unwrap();
    assert_eq!(local.start, "main");
}
