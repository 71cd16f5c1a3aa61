//! The task file `.orc-task.md`: the spawn→worker contract.
//!
//! A worker reads it to learn what to do, so it carries everything the
//! tracker said about the issue in a fixed layout: a heading, one fact a
//! line, the description, then the comments in order. The output depends on
//! its arguments alone (no clock, no environment), so the same issue renders
//! to the same bytes and a respawn can compare or rewrite the file freely.

use std::fmt::Write;

use super::IssueData;

/// Render the task file of `issue` for a worktree of `repo` (a slug or a
/// path) branched from `base`.
pub fn render_task(issue: &IssueData, repo: &str, base: &str) -> String {
    let or_none = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let labels = or_none(issue.labels.iter().map(|l| one_line(l)).collect());
    let depends = or_none(issue.depends_on.iter().map(|d| format!("#{d}")).collect());
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "# Issue {}: {}\n",
        issue.number,
        one_line(&issue.title)
    );
    let facts = [
        ("Issue", issue.number.to_string()),
        ("Repository", one_line(repo)),
        ("Base branch", one_line(base)),
        ("Title", one_line(&issue.title)),
        (
            "State",
            (if issue.open { "open" } else { "closed" }).to_string(),
        ),
        ("Labels", labels),
        (
            "Priority",
            one_line(issue.priority.as_deref().unwrap_or("none")),
        ),
        ("Depends on", depends),
        ("URL", one_line(issue.url.as_deref().unwrap_or("none"))),
        (
            "Created",
            one_line(issue.created_at.as_deref().unwrap_or("unknown")),
        ),
    ];
    for (name, value) in facts {
        let _ = writeln!(out, "- {name}: {value}");
    }
    let body = issue.body.trim_end();
    out.push_str("\n## Description\n\n");
    out.push_str(if body.trim().is_empty() {
        "_No description._"
    } else {
        body
    });
    out.push_str("\n\n## Comments\n");
    if issue.comments.is_empty() {
        out.push_str("\nNone.\n");
    }
    for (n, comment) in issue.comments.iter().enumerate() {
        let _ = write!(out, "\n### Comment {}", n + 1);
        if !comment.author.is_empty() {
            let _ = write!(out, " by {}", one_line(&comment.author));
        }
        if let Some(at) = &comment.created_at {
            let _ = write!(out, " ({})", one_line(at));
        }
        let body = comment.body.trim_end();
        let body = if body.trim().is_empty() {
            "_Empty._"
        } else {
            body
        };
        let _ = writeln!(out, "\n\n{body}");
    }
    out
}

/// `text` with control characters (newlines above all) made spaces, so a
/// value cannot break the one-fact-a-line layout.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::Comment;
    use super::*;
    use crate::ids::Issue;

    fn issue() -> IssueData {
        IssueData {
            number: Issue::from(42),
            title: "Crash on empty config".into(),
            labels: vec!["bug".into(), "cli".into()],
            priority: Some("high".into()),
            depends_on: vec![Issue::from(3), Issue::from(4)],
            body: "Steps:\n\n1. run it\n\n".into(),
            comments: vec![
                Comment {
                    author: "alice".into(),
                    body: "me too".into(),
                    created_at: Some("2026-01-02T03:04:05.000Z".into()),
                },
                Comment {
                    author: String::new(),
                    body: "\n".into(),
                    created_at: None,
                },
            ],
            open: true,
            url: Some("https://github.com/acme/widgets/issues/42".into()),
            created_at: Some("2026-01-01T00:00:00.000Z".into()),
        }
    }

    #[test]
    fn renders_every_field_in_a_fixed_layout() {
        let want = "\
# Issue 42: Crash on empty config

- Issue: 42
- Repository: acme/widgets
- Base branch: main
- Title: Crash on empty config
- State: open
- Labels: bug, cli
- Priority: high
- Depends on: #3, #4
- URL: https://github.com/acme/widgets/issues/42
- Created: 2026-01-01T00:00:00.000Z

## Description

Steps:

1. run it

## Comments

### Comment 1 by alice (2026-01-02T03:04:05.000Z)

me too

### Comment 2

_Empty._
";
        assert_eq!(render_task(&issue(), "acme/widgets", "main"), want);
        assert_eq!(render_task(&issue(), "acme/widgets", "main"), want);
    }

    #[test]
    fn renders_what_is_missing_plainly() {
        let bare = IssueData {
            number: Issue::from(7),
            title: "two\nlines".into(),
            labels: vec![],
            priority: None,
            depends_on: vec![],
            body: "  \n".into(),
            comments: vec![],
            open: false,
            url: None,
            created_at: None,
        };
        let want = "\
# Issue 7: two lines

- Issue: 7
- Repository: /src/app
- Base branch: dev
- Title: two lines
- State: closed
- Labels: none
- Priority: none
- Depends on: none
- URL: none
- Created: unknown

## Description

_No description._

## Comments

None.
";
        assert_eq!(render_task(&bare, "/src/app", "dev"), want);
    }
}
