//! orc-ci wait: the verdict on a PR's checks, from a scripted `gh`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/world.rs"]
mod world;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use world::{World, bin_dir};

const LIMIT: Duration = Duration::from_secs(30);

/// A fake `gh` that answers `pr checks` with the Nth line of `answers`
/// (the last one repeats) and logs its arguments.
fn fake_gh(w: &World, answers: &[&str]) -> String {
    let dir = w.root.join("fakegh");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("answers"), answers.join("\n") + "\n").unwrap();
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> "{d}/calls"
n=$(wc -l < "{d}/calls")
total=$(wc -l < "{d}/answers")
[ "$n" -gt "$total" ] && n=$total
line=$(sed -n "${{n}}p" "{d}/answers")
case $line in
  NOCHECKS) echo "no checks reported on the 'issue/1-x' branch" >&2; exit 1 ;;
  AUTH) echo "To get started with GitHub CLI, please run:  gh auth login" >&2; exit 4 ;;
  *) printf '%s\n' "$line"; exit 8 ;;
esac
"#,
        d = dir.display()
    );
    fs::write(dir.join("gh"), script).unwrap();
    fs::set_permissions(dir.join("gh"), fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), world::SYSTEM_PATH)
}

fn ci(w: &World, path: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin_dir().join("orc-ci"));
    cmd.arg("wait")
        .args(args)
        .current_dir(&w.repo)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &w.home);
    let b = world::run_bounded(cmd, LIMIT);
    assert!(!b.timed_out);
    (b.code, b.stdout, b.stderr)
}

const PENDING: &str = r#"[{"name":"test","bucket":"pending","state":"IN_PROGRESS","link":""}]"#;
const PASSED: &str = r#"[{"name":"test","bucket":"pass","state":"SUCCESS","link":""},{"name":"docs","bucket":"skipping","state":"SKIPPED","link":""}]"#;
const FAILED: &str = r#"[{"name":"test","bucket":"pass","state":"SUCCESS","link":""},{"name":"lint","bucket":"fail","state":"FAILURE","link":"https://x"}]"#;

#[test]
fn waits_through_pending_to_passed() {
    let w = World::new();
    let path = fake_gh(&w, &[PENDING, PENDING, PASSED]);
    let (code, out, err) = ci(&w, &path, &["--interval", "0", "--timeout", "20", "12"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().next(), Some("passed"));
    let calls = fs::read_to_string(w.root.join("fakegh/calls")).unwrap();
    assert_eq!(calls.lines().count(), 3);
    assert!(
        calls.starts_with("pr checks 12 --json name,bucket,state,link"),
        "{calls}"
    );
}

#[test]
fn a_failed_check_is_named() {
    let w = World::new();
    let path = fake_gh(&w, &[FAILED]);
    let (code, out, _) = ci(&w, &path, &["--repo", "acme/widgets", "7"]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "failed\n1 passed, 1 failed: lint\n");
    let calls = fs::read_to_string(w.root.join("fakegh/calls")).unwrap();
    assert!(calls.contains("--repo acme/widgets"), "{calls}");
    let (_, out, _) = ci(&w, &path, &["--json", "7"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "failed");
    assert_eq!(v["checks"][1]["name"], "lint");
}

#[test]
fn still_running_at_the_timeout_is_watching() {
    let w = World::new();
    let path = fake_gh(&w, &[PENDING]);
    let started = Instant::now();
    let (code, out, _) = ci(&w, &path, &["--interval", "1", "--timeout", "2", "3"]);
    assert_eq!(code, Some(124));
    assert_eq!(out.lines().next(), Some("watching"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn no_checks_passes_after_the_grace_only() {
    let w = World::new();
    let path = fake_gh(&w, &["NOCHECKS"]);
    let (code, out, _) = ci(
        &w,
        &path,
        &["--interval", "1", "--timeout", "1", "--grace", "60", "3"],
    );
    assert_eq!(code, Some(124), "{out}");
    assert!(out.contains("no checks reported yet"), "{out}");
    let (code, out, _) = ci(&w, &path, &["--interval", "0", "--grace", "0", "3"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with("passed\nno checks reported"), "{out}");
}

#[test]
fn gh_errors_and_a_missing_gh_are_reported() {
    let w = World::new();
    let path = fake_gh(&w, &["AUTH"]);
    let (code, out, err) = ci(&w, &path, &["3"]);
    assert_eq!(code, Some(1));
    assert_eq!(out, "");
    assert!(
        err.starts_with("orc-ci: error: gh pr checks failed"),
        "{err}"
    );
    assert!(err.contains("gh auth login"), "{err}");
    let (code, _, err) = ci(&w, "/nonexistent", &["3"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("gh is not on PATH"), "{err}");
    let (code, _, _) = ci(&w, &path, &["not-a-number"]);
    assert_eq!(code, Some(2));
}
