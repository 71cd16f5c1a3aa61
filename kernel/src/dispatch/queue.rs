//! The queue: which issues, in which order, waiting for what.
//!
//! Issues come from the tracker (a label, a query, or numbers given by
//! hand), most urgent first: by priority, then by age (the creation time
//! when the tracker knows it, else the issue number), then by number. An
//! issue waits for the issues it depends on: its `depends_on`, and the
//! "depends on #N" / "blocked by #N" lines of its body.

use std::cmp::Ordering;
use std::path::Path;

use crate::error::{Error, Result};
use crate::ids::Issue;
use crate::record::nice_of;
use crate::tracker::{self, Github, IssueData, TrackerKind};

/// Where the queue's issues come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The open issues carrying a label.
    Label(String),
    /// The open issues a search matches: GitHub's search syntax with the
    /// github tracker, words found in the title or body with the local one.
    Query(String),
    /// These issues.
    Issues(Vec<Issue>),
}

/// The issues of `source`, open and closed alike (the caller skips closed
/// ones and says so), without repeats, in queue order.
pub fn load(
    kind: TrackerKind,
    root: &Path,
    slug: Option<&str>,
    source: &Source,
) -> Result<Vec<IssueData>> {
    let mut issues = match source {
        Source::Label(label) => tracker::list(kind, root, slug, Some(label))?,
        Source::Query(query) => search(kind, root, slug, query)?,
        Source::Issues(numbers) => {
            let mut seen = Vec::new();
            let mut out = Vec::new();
            for &n in numbers {
                if !seen.contains(&n) {
                    seen.push(n);
                    out.push(tracker::fetch(kind, root, slug, n)?);
                }
            }
            out
        }
    };
    order(&mut issues);
    Ok(issues)
}

fn search(
    kind: TrackerKind,
    root: &Path,
    slug: Option<&str>,
    query: &str,
) -> Result<Vec<IssueData>> {
    if query.trim().is_empty() {
        return Err(Error::usage("empty query", "--query"));
    }
    match kind {
        TrackerKind::Github => Github::new(slug, Some(root))?.list_matching(None, Some(query)),
        TrackerKind::Local => {
            let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
            let mut issues = tracker::local::list(root)?;
            issues.retain(|i| {
                let text = format!("{}\n{}", i.title, i.body).to_lowercase();
                i.open && words.iter().all(|w| text.contains(w.as_str()))
            });
            Ok(issues)
        }
    }
}

/// The nice value of an issue's priority (`normal` when it has none or an
/// unreadable one): lower runs first.
pub fn nice(issue: &IssueData) -> i32 {
    issue
        .priority
        .as_deref()
        .and_then(|p| nice_of(p).ok())
        .unwrap_or(10)
}

/// Sort by priority, then age, then number.
pub fn order(issues: &mut [IssueData]) {
    issues.sort_by(|a, b| {
        nice(a)
            .cmp(&nice(b))
            .then_with(|| by_age(a, b))
            .then(a.number.cmp(&b.number))
    });
}

/// Older first. Creation times compare as times; an issue without one is
/// taken to be newer than any with one (its number orders it after).
pub fn by_age(a: &IssueData, b: &IssueData) -> Ordering {
    let time = |i: &IssueData| {
        i.created_at
            .as_deref()
            .and_then(|t| crate::clock::parse(t).ok())
    };
    match (time(a), time(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// What `issue` waits for: `depends_on` and the body's "blocked by #N".
pub fn deps(issue: &IssueData) -> Vec<Issue> {
    let mut out = issue.depends_on.clone();
    for n in tracker::github::depends_on_from_body(&issue.body, issue.number) {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(n: u32, priority: Option<&str>, created: Option<&str>, body: &str) -> IssueData {
        IssueData {
            number: Issue::from(n),
            title: format!("issue {n}"),
            labels: Vec::new(),
            priority: priority.map(str::to_string),
            depends_on: Vec::new(),
            body: body.to_string(),
            comments: Vec::new(),
            open: true,
            url: None,
            created_at: created.map(str::to_string),
        }
    }

    #[test]
    fn priority_then_age_then_number() {
        let mut q = vec![
            issue(1, None, None, ""),
            issue(2, Some("low"), Some("2026-01-01T00:00:00Z"), ""),
            issue(3, Some("high"), Some("2026-03-01T00:00:00Z"), ""),
            issue(4, Some("high"), Some("2026-02-01T00:00:00Z"), ""),
            issue(5, Some("critical"), None, ""),
            issue(6, None, Some("2025-12-31T23:00:00-02:00"), ""),
            issue(7, Some("10"), Some("2026-01-01T00:00:00Z"), ""),
        ];
        order(&mut q);
        let numbers: Vec<u32> = q.iter().map(|i| i.number.get()).collect();
        assert_eq!(numbers, [5, 4, 3, 7, 6, 1, 2]);
    }

    #[test]
    fn dependencies_come_from_front_matter_and_body() {
        let mut i = issue(
            9,
            None,
            None,
            "Blocked by #3 and #4.\n```\ndepends on #5\n```",
        );
        i.depends_on = vec![Issue::from(4), Issue::from(2)];
        let got: Vec<u32> = deps(&i).iter().map(|n| n.get()).collect();
        assert_eq!(got, [4, 2, 3]);
    }
}
