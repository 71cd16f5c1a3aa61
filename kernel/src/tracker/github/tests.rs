//! Tests of the GitHub tracker against a fake `gh` script.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use super::*;

/// A fake `gh` in its own directory: it records its argv and working
/// directory, prints canned stdout and stderr, and exits with a set code.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(stdout: &str, stderr: &str, code: i32) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stdout"), stdout).unwrap();
        std::fs::write(dir.path().join("stderr"), stderr).unwrap();
        let script = format!(
            "#!/bin/sh\nd=$(dirname \"$0\")\nprintf '%s\\n' \"$@\" > \"$d/argv\"\n\
             pwd -P > \"$d/cwd\"\nprintf '%s' \"$GH_PROMPT_DISABLED\" > \"$d/prompt\"\n\
             cat \"$d/stdout\"\ncat \"$d/stderr\" >&2\nexit {code}\n"
        );
        install(&dir.path().join("gh"), &script);
        Fake { dir }
    }

    fn ok(stdout: &str) -> Fake {
        Fake::new(stdout, "", 0)
    }

    fn failing(stderr: &str) -> Fake {
        Fake::new("", stderr, 1)
    }

    fn gh(&self, repo: Option<&str>) -> Github {
        Github {
            program: self.dir.path().join("gh"),
            repo: repo.map(str::to_string),
            dir: Some(self.dir.path().to_path_buf()),
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// Write an executable through a child process. Were this process to hold a
/// write descriptor on it, a fork by a test running in parallel could
/// inherit the descriptor and make the exec fail with ETXTBSY.
fn install(path: &Path, text: &str) {
    let mut child = Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

const VIEW: &str = r#"{
  "number": 42,
  "title": "Crash on\nempty config",
  "labels": [{"id": "L1", "name": "bug", "color": "red"}, {"name": "P1"}, {"name": "priority:low"}],
  "body": "Fix it.\r\n\r\nDepends on #3 and #4\r\nblocked by #5, #3",
  "comments": [
    {"author": {"login": "alice"}, "body": "me too", "createdAt": "2026-01-02T03:04:05Z"},
    {"author": null, "body": "gone", "createdAt": "2026-01-03T00:00:00Z"}
  ],
  "state": "OPEN",
  "url": "https://github.com/acme/widgets/issues/42",
  "createdAt": "2026-01-01T00:00:00Z"
}"#;

fn lines(text: &[&str]) -> String {
    text.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn fetch_runs_gh_issue_view_and_parses_it() {
    let fake = Fake::ok(VIEW);
    let issue = fake
        .gh(Some("acme/widgets"))
        .fetch(Issue::from(42))
        .unwrap();
    assert_eq!(
        fake.read("argv"),
        lines(&[
            "issue",
            "view",
            "42",
            "--json",
            VIEW_FIELDS,
            "--repo",
            "acme/widgets"
        ])
    );
    let cwd = fake.dir.path().canonicalize().unwrap();
    assert_eq!(fake.read("cwd").trim_end(), cwd.display().to_string());
    assert_eq!(fake.read("prompt"), "1");

    assert_eq!(issue.number, Issue::from(42));
    assert_eq!(issue.title, "Crash on empty config");
    assert_eq!(issue.labels, ["bug", "P1", "priority:low"]);
    assert_eq!(issue.priority.as_deref(), Some("high"));
    assert_eq!(
        issue.depends_on,
        [Issue::from(3), Issue::from(4), Issue::from(5)]
    );
    assert_eq!(
        issue.body,
        "Fix it.\n\nDepends on #3 and #4\nblocked by #5, #3"
    );
    assert!(issue.open);
    assert_eq!(
        issue.url.as_deref(),
        Some("https://github.com/acme/widgets/issues/42")
    );
    assert_eq!(
        issue.created_at.as_deref(),
        Some("2026-01-01T00:00:00.000Z")
    );
    let comments: Vec<_> = issue
        .comments
        .iter()
        .map(|c| (c.author.as_str(), c.body.as_str(), c.created_at.as_deref()))
        .collect();
    assert_eq!(
        comments,
        [
            ("alice", "me too", Some("2026-01-02T03:04:05.000Z")),
            ("ghost", "gone", Some("2026-01-03T00:00:00.000Z")),
        ]
    );
}

#[test]
fn list_runs_gh_issue_list_and_sorts() {
    let fake = Fake::ok(
        r#"[{"number": 9, "title": "b", "labels": [], "body": "", "state": "OPEN", "url": "", "createdAt": "2026-01-02T00:00:00Z"},
            {"number": 2, "title": "a", "labels": [{"name": "ready"}], "body": "blocked by #9", "state": "OPEN", "url": "u", "createdAt": "2026-01-01T00:00:00Z"}]"#,
    );
    let issues = fake.gh(None).list(Some("ready")).unwrap();
    assert_eq!(
        fake.read("argv"),
        lines(&[
            "issue",
            "list",
            "--state",
            "open",
            "--limit",
            "500",
            "--json",
            LIST_FIELDS,
            "--label",
            "ready"
        ])
    );
    let got: Vec<_> = issues
        .iter()
        .map(|i| (i.number.get(), i.depends_on.clone(), i.url.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (2, vec![Issue::from(9)], Some("u".to_string())),
            (9, vec![], None)
        ]
    );
    let fake = Fake::ok("[]");
    assert!(fake.gh(Some("a/b")).list(None).unwrap().is_empty());
    assert_eq!(fake.read("argv").lines().rev().nth(1), Some("--repo"));
    let err = fake.gh(None).list(Some(" ")).unwrap_err();
    assert_eq!((err.code(), err.what()), (2, "invalid label"));
}

#[test]
fn failures_are_told_apart() {
    let cases: [(&str, Op, &str, &str, u8); 9] = [
        (
            "To get started with GitHub CLI, please run:  gh auth login\n",
            Op::View(Issue::from(7)),
            "gh is not logged in to GitHub",
            "acme/w",
            1,
        ),
        (
            "GraphQL: Could not resolve to an issue or pull request with the number of 7. (repository.issue)\n",
            Op::View(Issue::from(7)),
            "issue 7 not found on GitHub",
            "acme/w#7",
            1,
        ),
        (
            "HTTP 404: Not Found (https://api.github.com/repos/acme/w/issues/7)\n",
            Op::View(Issue::from(7)),
            "issue 7 not found on GitHub",
            "acme/w#7",
            1,
        ),
        (
            "GraphQL: Could not resolve to a Repository with the name 'acme/w'. (repository)\n",
            Op::List,
            "repository not found on GitHub",
            "acme/w",
            1,
        ),
        (
            "GraphQL: API rate limit exceeded for user ID 1.\n",
            Op::List,
            "GitHub API rate limit exceeded",
            "gh issue list",
            75,
        ),
        (
            "failed to determine base repo: no git remotes found\n",
            Op::List,
            "gh cannot tell which repository to use",
            "acme/w",
            1,
        ),
        (
            "\nHTTP 502: Bad Gateway\nsecond line\n",
            Op::View(Issue::from(7)),
            "gh failed: HTTP 502: Bad Gateway",
            "gh issue view",
            1,
        ),
        (
            "something not found\n",
            Op::List,
            "gh failed: something not found",
            "gh issue list",
            1,
        ),
        (
            "no such head\n",
            Op::Prs,
            "gh failed: no such head",
            "gh pr list --head issue/1-x --state merged",
            1,
        ),
    ];
    for (stderr, op, what, subject, code) in cases {
        let fake = Fake::failing(stderr);
        let gh = fake.gh(Some("acme/w"));
        let err = match op {
            Op::View(issue) => gh.fetch(issue),
            Op::List => gh.list(None).map(|_| gh_dummy()),
            Op::Prs => gh.merged_prs("issue/1-x").map(|_| gh_dummy()),
        }
        .unwrap_err();
        assert_eq!((err.what(), err.code()), (what, code), "{stderr:?}");
        assert!(err.subject().starts_with(subject), "{}", err.subject());
    }
}

/// A placeholder so list and fetch results share a type in the table test.
fn gh_dummy() -> IssueData {
    IssueData {
        number: Issue::from(1),
        title: String::new(),
        labels: vec![],
        priority: None,
        depends_on: vec![],
        body: String::new(),
        comments: vec![],
        open: true,
        url: None,
        created_at: None,
    }
}

#[test]
fn hints_point_at_the_fix() {
    let err = Fake::failing("please run: gh auth login")
        .gh(None)
        .fetch(Issue::from(1))
        .unwrap_err();
    assert_eq!(
        err.hint_text(),
        Some("run `gh auth login`, or set GH_TOKEN")
    );
    let err = Fake::failing("Could not resolve to an issue")
        .gh(None)
        .fetch(Issue::from(1))
        .unwrap_err();
    assert_eq!(err.subject(), "#1");
    assert!(err.hint_text().unwrap().contains("--repo OWNER/REPO"));
}

#[test]
fn silent_failures_show_the_status() {
    let fake = Fake::new("", "", 3);
    let err = fake.gh(None).fetch(Issue::from(1)).unwrap_err();
    assert_eq!(err.what(), "gh failed with exit status: 3");
}

#[test]
fn bad_output_is_an_error() {
    let cases = [
        ("not json".to_string(), "cannot parse gh's output: expected"),
        (
            VIEW.replace("\"number\": 42", "\"number\": 43"),
            "cannot parse gh's output: asked for issue 42, got 43",
        ),
        (
            VIEW.replace("\"OPEN\"", "\"MERGED\""),
            "cannot parse gh's output: unknown state \"MERGED\"",
        ),
        (
            VIEW.replace("2026-01-01T00:00:00Z", "yesterday"),
            "cannot parse gh's output: bad time \"yesterday\"",
        ),
        (
            VIEW.replace("\"number\": 42", "\"number\": 0"),
            "cannot parse gh's output: bad issue number 0",
        ),
    ];
    for (stdout, why) in cases {
        let err = Fake::ok(&stdout)
            .gh(None)
            .fetch(Issue::from(42))
            .unwrap_err();
        assert!(err.what().starts_with(why), "{}", err.what());
        assert!(err.subject().starts_with("gh issue view 42"));
        assert_eq!(err.code(), 1);
    }
}

#[test]
fn missing_gh_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = find_gh(Some(tmp.path().as_os_str().to_owned()), tmp.path()).unwrap_err();
    assert_eq!(err.what(), "the GitHub CLI (gh) is not installed");
    assert!(err.hint_text().unwrap().contains("mkdir -p .orc/issues"));

    install(&tmp.path().join("gh"), "#!/bin/sh\nexit 0\n");
    let found = find_gh(Some(tmp.path().as_os_str().to_owned()), tmp.path()).unwrap();
    assert_eq!(found, tmp.path().join("gh"));

    let gh = Github {
        program: tmp.path().join("nosuch-gh"),
        repo: None,
        dir: None,
    };
    let err = gh.fetch(Issue::from(1)).unwrap_err();
    assert_eq!(err.what(), "the GitHub CLI (gh) is not installed");
    assert!(err.subject().ends_with("nosuch-gh"));

    let gh = Github {
        dir: Some(tmp.path().join("gone")),
        ..gh
    };
    let err = gh.fetch(Issue::from(1)).unwrap_err();
    assert_eq!(err.what(), "cannot run gh: no such directory");
}

#[test]
fn repo_slugs_are_checked_before_gh_runs() {
    for good in ["acme/widgets", "a-b/c.d_e", "A1/x"] {
        assert!(check_repo_slug(good).is_ok(), "{good}");
    }
    for bad in [
        "", "acme", "/x", "x/", "a/b/c", "-a/b", "a/-b", "./b", "a/..", "a b/c", "a/b;rm", "a/$(x)",
    ] {
        let err = check_repo_slug(bad).unwrap_err();
        assert_eq!(err.code(), 2, "{bad:?}");
    }
    let fake = Fake::ok(VIEW);
    let err = fake.gh(Some("--web")).fetch(Issue::from(42)).unwrap_err();
    assert_eq!(err.what(), "not a GitHub repository (OWNER/REPO)");
    assert_eq!(fake.read("argv"), "", "gh must not run");
    assert!(Github::new(Some("nope"), None).is_err());
}

#[test]
fn dependencies_come_from_the_body() {
    let deps = |body: &str| -> Vec<u32> {
        depends_on_from_body(body, Issue::from(1))
            .into_iter()
            .map(Issue::get)
            .collect()
    };
    assert_eq!(deps("Depends on #12"), [12]);
    assert_eq!(deps("BLOCKED BY #12, #13"), [12, 13]);
    assert_eq!(deps("- depends on: #2 and #3 or #4"), [2, 3, 4]);
    assert_eq!(deps("**Blocked by:** #5,#6"), [5, 6]);
    assert_eq!(deps("Depends-on: #7\nblocked-by #8"), [7, 8]);
    assert_eq!(
        deps("depends on #9 (and the docs), blocked by #10"),
        [9, 10]
    );
    assert_eq!(deps("depends on #3\ndepends on #3, #1"), [3]);
    assert_eq!(deps("```\ndepends on #4\n```\ndepends on #5"), [5]);
    for none in [
        "",
        "depends on the weather",
        "depends on acme/other#4",
        "depends on #12abc",
        "depends on #",
        "independs on #4",
        "see #4",
        "depends on #0",
        "depends on https://github.com/a/b/issues/4",
    ] {
        assert_eq!(deps(none), [] as [u32; 0], "{none:?}");
    }
}

#[test]
fn priority_comes_from_labels() {
    let prio = |labels: &[&str]| {
        let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
        priority_from_labels(&labels)
    };
    assert_eq!(prio(&[]), None);
    assert_eq!(prio(&["bug"]), None);
    assert_eq!(prio(&["P0"]).as_deref(), Some("critical"));
    assert_eq!(prio(&["p1"]).as_deref(), Some("high"));
    assert_eq!(prio(&["P2"]).as_deref(), Some("normal"));
    assert_eq!(prio(&["P3"]).as_deref(), Some("low"));
    assert_eq!(prio(&["P4", "priority:urgent"]), None);
    assert_eq!(prio(&["Priority: High"]).as_deref(), Some("high"));
    assert_eq!(prio(&["priority:3"]).as_deref(), Some("3"));
    assert_eq!(
        prio(&["P3", "priority:high", "P2"]).as_deref(),
        Some("high")
    );
}
