//! The local tracker: one markdown file an issue, `.orc/issues/<N>.md`.
//!
//! ```text
//! ---
//! title: Crash when the config is empty
//! labels: [bug, cli]
//! priority: high
//! depends_on:
//!   - 12
//! state: open
//! created: 2026-01-05T09:00:00Z
//! ---
//! The description.
//!
//! ## Comment by alice
//! A comment runs until the next `## Comment` line.
//! ```
//!
//! Only `title` is required. When orc lands an issue it writes `state:
//! closed`, `closed: <time>` and `merged: <commit>` (see `crate::land`). Everything before the first comment heading is
//! the body. Comment headings inside fenced code blocks are text, so an issue
//! can quote this format.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::frontmatter::{self, Value, at};
use super::{Comment, IssueData};
use crate::clock;
use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::record::nice_of;

/// The keys an issue's front matter may have.
pub const KEYS: [&str; 8] = [
    "title",
    "labels",
    "priority",
    "depends_on",
    "state",
    "created",
    "closed",
    "merged",
];

/// `<repo_root>/.orc/issues`.
pub fn issues_dir(repo_root: &Path) -> PathBuf {
    repo_root.join(".orc").join("issues")
}

/// `<repo_root>/.orc/issues/<N>.md`.
pub fn issue_path(repo_root: &Path, issue: Issue) -> PathBuf {
    issues_dir(repo_root).join(format!("{issue}.md"))
}

/// Read issue `issue` from its file.
pub fn fetch(repo_root: &Path, issue: Issue) -> Result<IssueData> {
    let path = issue_path(repo_root, issue);
    match fs::read_to_string(&path) {
        Ok(text) => parse(&text, issue, &path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::failure(
            format!("issue {issue} not found in the local tracker"),
            path.display().to_string(),
        )
        .hint(format!(
            "create .orc/issues/{issue}.md: a '---' line, 'title: ...', a '---' line, then the \
             description; or use --tracker github"
        ))),
        Err(e) => Err(Error::io("read issue", &path, e)),
    }
}

/// Every issue in `.orc/issues/`, open and closed, sorted by number.
///
/// Files whose name is not `<N>.md` with `N` a canonical issue number
/// (`README.md`, `007.md`, `notes.txt`) are not issues and are skipped; a
/// malformed issue file is an error naming it, so a typo never hides an
/// issue from the run queue.
pub fn list(repo_root: &Path) -> Result<Vec<IssueData>> {
    let dir = issues_dir(repo_root);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(
                Error::failure("no local issues directory", dir.display().to_string()).hint(
                    "create it with `mkdir -p .orc/issues` and add <N>.md files, or use \
                     --tracker github",
                ),
            );
        }
        Err(e) => return Err(Error::io("list issues in", &dir, e)),
    };
    let mut issues = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list issues in", &dir, e))?;
        let path = entry.path();
        let Some(issue) = issue_of_file_name(&entry.file_name().to_string_lossy()) else {
            continue;
        };
        if !path.is_file() {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| Error::io("read issue", &path, e))?;
        issues.push(parse(&text, issue, &path)?);
    }
    issues.sort_by_key(|i| i.number);
    Ok(issues)
}

/// The issue a file named `<N>.md` holds, when `N` is written canonically.
fn issue_of_file_name(name: &str) -> Option<Issue> {
    let stem = name.strip_suffix(".md")?;
    Issue::parse(stem)
        .ok()
        .filter(|issue| issue.to_string() == stem)
}

/// Parse the text of issue `issue`'s file `file` (named in errors).
pub fn parse(text: &str, issue: Issue, file: &Path) -> Result<IssueData> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n");
    let doc = frontmatter::parse(&text, file)?;
    let mut data = IssueData {
        number: issue,
        title: String::new(),
        labels: Vec::new(),
        priority: None,
        depends_on: Vec::new(),
        body: String::new(),
        comments: Vec::new(),
        open: true,
        url: None,
        created_at: None,
    };
    let mut has_title = false;
    for entry in doc.entries {
        let here = at(file, entry.line);
        match entry.key.as_str() {
            "title" => {
                let title = single(&entry.key, entry.value, &here)?;
                if title.trim().is_empty() || title.contains(['\n', '\r']) {
                    return Err(Error::usage("title must be one non-empty line", here));
                }
                if let Some((c, why)) = crate::text::first_forbidden(&title) {
                    return Err(Error::usage(
                        format!("title contains {why} (U+{:04X})", u32::from(c)),
                        here,
                    )
                    .hint("a title is one line of plain text: remove the character"));
                }
                data.title = title;
                has_title = true;
            }
            "labels" => {
                for (_, label) in list_of(&entry.key, entry.value, &here)? {
                    if !data.labels.contains(&label) {
                        data.labels.push(label);
                    }
                }
            }
            "priority" => {
                let priority = single(&entry.key, entry.value, &here)?;
                nice_of(&priority).map_err(|_| {
                    Error::usage(format!("unknown priority {priority:?}"), here)
                        .hint("use critical, high, normal, low or a nice value 0-19")
                })?;
                data.priority = Some(priority);
            }
            "depends_on" => {
                for (line, item) in list_of(&entry.key, entry.value, &here)? {
                    let here = at(file, line);
                    let dep = Issue::parse(&item).map_err(|_| {
                        Error::usage(format!("depends_on: not an issue number {item:?}"), &here)
                            .hint("write issue numbers such as [12, 14]")
                    })?;
                    if dep == issue {
                        return Err(Error::usage("an issue cannot depend on itself", here));
                    }
                    if !data.depends_on.contains(&dep) {
                        data.depends_on.push(dep);
                    }
                }
            }
            "state" => {
                data.open = match single(&entry.key, entry.value, &here)?.as_str() {
                    "open" => true,
                    "closed" => false,
                    other => {
                        return Err(Error::usage(format!("unknown state {other:?}"), here)
                            .hint("state is open or closed"));
                    }
                };
            }
            // Written when orc lands the issue: the time, and the commit
            // that put the change on the base branch.
            "closed" | "merged" => {
                single(&entry.key, entry.value, &here)?;
            }
            "created" => {
                let created = single(&entry.key, entry.value, &here)?;
                let time = clock::parse(&created).map_err(|_| {
                    Error::usage(
                        format!("created is not an RFC 3339 time: {created:?}"),
                        here,
                    )
                    .hint("write a time such as 2026-01-05T09:00:00Z")
                })?;
                data.created_at = Some(clock::format(&time));
            }
            other => {
                return Err(Error::usage(format!("unknown key {other:?}"), here)
                    .hint(format!("keys are: {}", KEYS.join(", "))));
            }
        }
    }
    if !has_title {
        return Err(Error::usage("missing title", at(file, 1))
            .hint("add 'title: ...' between the '---' lines"));
    }
    let (body, comments) = split_comments(doc.rest, doc.rest_line, file)?;
    data.body = body;
    data.comments = comments;
    Ok(data)
}

/// The value of a key that takes one scalar.
fn single(key: &str, value: Value, here: &str) -> Result<String> {
    match value {
        Value::Scalar(s) => Ok(s),
        Value::Empty => Err(Error::usage(
            format!("{key} has no value"),
            here.to_string(),
        )),
        Value::List(_) => Err(Error::usage(
            format!("{key} takes one value, not a list"),
            here.to_string(),
        )),
    }
}

/// The items of a key that takes a list (`key:` alone is an empty list).
fn list_of(key: &str, value: Value, here: &str) -> Result<Vec<(usize, String)>> {
    match value {
        Value::List(items) => Ok(items),
        Value::Empty => Ok(Vec::new()),
        Value::Scalar(_) => Err(
            Error::usage(format!("{key} must be a list"), here.to_string()).hint(format!(
                "write {key}: [a, b], or one '- item' a line below '{key}:'"
            )),
        ),
    }
}

/// What a line of the text after the front matter is.
enum Line<'a> {
    /// Body or comment text.
    Text,
    /// `## Comment` (empty name) or `## Comment by NAME`.
    Comment(&'a str),
    /// `## Comment by` with no name: a mistake, not text.
    Nameless,
}

fn classify(line: &str) -> Line<'_> {
    let line = line.trim_end();
    if line == "## Comment" {
        return Line::Comment("");
    }
    match line.strip_prefix("## Comment by") {
        Some("") => Line::Nameless,
        Some(name) if name.starts_with([' ', '\t']) => Line::Comment(name.trim()),
        _ => Line::Text,
    }
}

/// Split the text after the front matter into the body and its comments.
fn split_comments(text: &str, first_line: usize, file: &Path) -> Result<(String, Vec<Comment>)> {
    let mut body: Vec<&str> = Vec::new();
    let mut comments: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_fence = false;
    for (idx, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~");
        in_fence ^= fence;
        let kind = if in_fence || fence {
            Line::Text
        } else {
            classify(line)
        };
        match kind {
            Line::Text => {}
            Line::Comment(name) => {
                comments.push((name.to_string(), Vec::new()));
                continue;
            }
            Line::Nameless => {
                return Err(Error::usage(
                    "comment heading without a name",
                    at(file, first_line + idx),
                )
                .hint("write '## Comment by NAME' or just '## Comment'"));
            }
        }
        match comments.last_mut() {
            Some((_, lines)) => lines.push(line),
            None => body.push(line),
        }
    }
    let comments = comments
        .into_iter()
        .map(|(author, lines)| Comment {
            author,
            body: tidy(&lines),
            created_at: None,
        })
        .collect();
    Ok((tidy(&body), comments))
}

/// Lines joined, without the blank lines that lead and trail them.
fn tidy(lines: &[&str]) -> String {
    let blank = |l: &&str| l.trim().is_empty();
    let start = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
    let end = lines
        .iter()
        .rposition(|l| !blank(l))
        .map_or(start, |i| i + 1);
    lines[start..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "---
title: 'Crash: empty config'
labels: [bug, \"cli\", bug]
priority: high
depends_on:
  - 12
  - 3
state: closed
created: 2026-01-05T10:00:00+01:00
---

The description.

```md
## Comment by nobody
```

## Comment by alice
First.

## Commentary
still alice's

## Comment
Anonymous.
";

    fn parse7(text: &str) -> Result<IssueData> {
        parse(text, Issue::from(7), Path::new("7.md"))
    }

    fn err7(text: &str) -> String {
        parse7(text).unwrap_err().to_string()
    }

    fn with(front: &str) -> String {
        format!("---\ntitle: t\n{front}\n---\n")
    }

    #[test]
    fn reads_every_field() {
        let d = parse7(FULL).unwrap();
        assert_eq!(d.number, Issue::from(7));
        assert_eq!(d.title, "Crash: empty config");
        assert_eq!(d.labels, ["bug", "cli"]);
        assert_eq!(d.priority.as_deref(), Some("high"));
        assert_eq!(d.depends_on, [Issue::from(12), Issue::from(3)]);
        assert!(!d.open);
        assert_eq!(d.created_at.as_deref(), Some("2026-01-05T09:00:00.000Z"));
        assert_eq!(d.url, None);
        assert_eq!(
            d.body,
            "The description.\n\n```md\n## Comment by nobody\n```"
        );
        let comments: Vec<_> = d
            .comments
            .iter()
            .map(|c| (c.author.as_str(), c.body.as_str()))
            .collect();
        assert_eq!(
            comments,
            [
                ("alice", "First.\n\n## Commentary\nstill alice's"),
                ("", "Anonymous.")
            ]
        );
    }

    #[test]
    fn defaults_and_line_ends() {
        let d = parse7("\u{feff}---\r\ntitle: t\r\nlabels:\r\n---\r\nbody\r\n").unwrap();
        assert_eq!((d.title.as_str(), d.body.as_str()), ("t", "body"));
        assert!(d.open && d.labels.is_empty() && d.priority.is_none());
        assert!(d.depends_on.is_empty() && d.comments.is_empty() && d.created_at.is_none());
        assert_eq!(
            parse7(&with("priority: 19")).unwrap().priority.as_deref(),
            Some("19")
        );
        assert_eq!(
            parse7(&with("state: open")).map(|d| d.open).ok(),
            Some(true)
        );
        assert_eq!(parse7("---\ntitle: t\n---").unwrap().body, "");
    }

    #[test]
    fn bad_values_say_where_and_what() {
        let cases = [
            ("---\nlabels: [a]\n---\n", "missing title (7.md:1)"),
            (&with("owner: me"), "unknown key \"owner\" (7.md:3)"),
            (
                "---\ntitle: ''\n---\n",
                "title must be one non-empty line (7.md:2)",
            ),
            (
                "---\ntitle: \"a\\nb\"\n---\n",
                "title must be one non-empty line (7.md:2)",
            ),
            ("---\ntitle:\n---\n", "title has no value (7.md:2)"),
            (
                "---\ntitle: [a]\n---\n",
                "title takes one value, not a list (7.md:2)",
            ),
            (&with("labels: bug"), "labels must be a list (7.md:3)"),
            (
                &with("priority: urgent"),
                "unknown priority \"urgent\" (7.md:3)",
            ),
            (&with("priority: 20"), "unknown priority \"20\" (7.md:3)"),
            (
                &with("depends_on: [1, x]"),
                "depends_on: not an issue number \"x\" (7.md:3)",
            ),
            (
                &with("depends_on:\n - 1\n - '#2'"),
                "depends_on: not an issue number \"#2\" (7.md:5)",
            ),
            (
                &with("depends_on: [7]"),
                "an issue cannot depend on itself (7.md:3)",
            ),
            (&with("state: done"), "unknown state \"done\" (7.md:3)"),
            (
                &with("created: yesterday"),
                "created is not an RFC 3339 time: \"yesterday\" (7.md:3)",
            ),
            (
                "---\ntitle: t\n---\n\n## Comment by\nx\n",
                "comment heading without a name (7.md:5)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err7(text), want, "{text:?}");
        }
        let e = parse7(&with("owner: me")).unwrap_err();
        assert_eq!(
            e.hint_text(),
            Some("keys are: title, labels, priority, depends_on, state, created, closed, merged")
        );
    }

    #[test]
    fn fetch_and_list_read_the_issues_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let err = list(root).unwrap_err();
        assert_eq!(err.what(), "no local issues directory");
        let dir = issues_dir(root);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("10.md"), "---\ntitle: ten\n---\n").unwrap();
        fs::write(dir.join("2.md"), "---\ntitle: two\n---\n").unwrap();
        for skipped in ["README.md", "007.md", "3.txt", "0.md", "-1.md"] {
            fs::write(dir.join(skipped), "not an issue").unwrap();
        }
        fs::create_dir(dir.join("4.md")).unwrap();
        let titles: Vec<_> = list(root).unwrap().into_iter().map(|i| i.title).collect();
        assert_eq!(titles, ["two", "ten"]);
        assert_eq!(fetch(root, Issue::from(10)).unwrap().title, "ten");

        let err = fetch(root, Issue::from(5)).unwrap_err();
        let path = dir.join("5.md");
        assert_eq!(err.subject(), path.display().to_string());
        assert_eq!(err.what(), "issue 5 not found in the local tracker");
        assert!(
            err.hint_text()
                .unwrap()
                .starts_with("create .orc/issues/5.md")
        );

        fs::write(dir.join("11.md"), "---\ntitle: x\nstate: shut\n---\n").unwrap();
        let err = list(root).unwrap_err();
        assert_eq!(err.subject(), format!("{}:3", dir.join("11.md").display()));
    }
}
