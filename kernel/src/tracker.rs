//! Where issues come from: the tracker that supplies an issue's title,
//! labels, priority, dependencies, body and comments.
//!
//! Two trackers: `local` (markdown files with front matter in
//! `.orc/issues/<N>.md`, see [`local`]) and `github` (through the `gh` CLI,
//! see [`github`]). Both produce the same [`IssueData`], which
//! [`render_task`] turns into the task file a worker reads.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::Issue;

mod frontmatter;
pub mod github;
pub mod local;
mod task;

pub use github::Github;
pub use task::render_task;

/// One issue as a tracker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueData {
    /// The issue number.
    pub number: Issue,
    /// One-line title.
    pub title: String,
    /// Labels, in the tracker's order.
    pub labels: Vec<String>,
    /// A priority name (`critical`, `high`, `normal`, `low`) or nice value
    /// (`0`-`19`), when the issue has one.
    pub priority: Option<String>,
    /// Issues that must be closed before this one can start.
    pub depends_on: Vec<Issue>,
    /// The description (markdown), without comments.
    pub body: String,
    /// Comments, oldest first.
    pub comments: Vec<Comment>,
    /// Whether the issue is open.
    pub open: bool,
    /// Web address, when the tracker has one.
    pub url: Option<String>,
    /// Creation time in UTC RFC 3339, when known.
    pub created_at: Option<String>,
}

/// One comment on an issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Who wrote it; empty when the tracker does not say.
    pub author: String,
    /// The comment's text (markdown).
    pub body: String,
    /// When it was written (UTC RFC 3339), when known.
    pub created_at: Option<String>,
}

/// The kinds of tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    /// Markdown files in `.orc/issues/`.
    Local,
    /// GitHub issues through the `gh` CLI.
    Github,
}

impl TrackerKind {
    /// Every tracker, in display order.
    pub const ALL: [TrackerKind; 2] = [TrackerKind::Local, TrackerKind::Github];

    /// The name used in `--tracker` and `ORC_TRACKER`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackerKind::Local => "local",
            TrackerKind::Github => "github",
        }
    }

    /// Parse `local` or `github`.
    pub fn parse(text: &str) -> Result<TrackerKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                Error::usage("unknown tracker", text).hint("trackers are: local, github")
            })
    }

    /// The tracker to use: `explicit` (from `--tracker` or `ORC_TRACKER`)
    /// when given and not empty, otherwise `local` when
    /// `<repo_root>/.orc/issues/` exists, else `github`.
    pub fn select(explicit: Option<&str>, repo_root: &Path) -> Result<TrackerKind> {
        match explicit.filter(|s| !s.is_empty()) {
            Some(name) => Self::parse(name),
            None if local::issues_dir(repo_root).is_dir() => Ok(TrackerKind::Local),
            None => Ok(TrackerKind::Github),
        }
    }
}

impl fmt::Display for TrackerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrackerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TrackerKind::parse(s)
    }
}

/// Fetch one issue from the tracker `kind`.
///
/// `repo_root` is the main repository root: the local tracker reads its
/// `.orc/issues/`, and `gh` runs there so that, without `repo_slug`, it picks
/// the repository from the checkout's remotes as it would for the user.
pub fn fetch(
    kind: TrackerKind,
    repo_root: &Path,
    repo_slug: Option<&str>,
    issue: Issue,
) -> Result<IssueData> {
    match kind {
        TrackerKind::Local => local::fetch(repo_root, issue),
        TrackerKind::Github => Github::new(repo_slug, Some(repo_root))?.fetch(issue),
    }
}

/// The open issues of the tracker `kind`, carrying `label` when one is
/// given, sorted by number. GitHub's list has no comments (fetch an issue
/// for them) and holds at most 500 issues.
pub fn list(
    kind: TrackerKind,
    repo_root: &Path,
    repo_slug: Option<&str>,
    label: Option<&str>,
) -> Result<Vec<IssueData>> {
    match kind {
        TrackerKind::Local => {
            let mut issues = local::list(repo_root)?;
            issues.retain(|i| i.open && label.is_none_or(|l| i.labels.iter().any(|x| x == l)));
            Ok(issues)
        }
        TrackerKind::Github => Github::new(repo_slug, Some(repo_root))?.list(label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_strictly() {
        assert_eq!(TrackerKind::parse("local").unwrap(), TrackerKind::Local);
        assert_eq!(TrackerKind::parse("github").unwrap(), TrackerKind::Github);
        for bad in ["", "GitHub", "jira", " local"] {
            let err = TrackerKind::parse(bad).unwrap_err();
            assert_eq!(err.code(), 2, "{bad:?}");
            assert_eq!(err.hint_text(), Some("trackers are: local, github"));
        }
        assert_eq!(TrackerKind::Github.to_string(), "github");
    }

    #[test]
    fn selection_prefers_explicit_then_local_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        assert_eq!(
            TrackerKind::select(None, root).unwrap(),
            TrackerKind::Github
        );
        assert_eq!(
            TrackerKind::select(Some(""), root).unwrap(),
            TrackerKind::Github
        );
        std::fs::create_dir_all(root.join(".orc/issues")).unwrap();
        assert_eq!(TrackerKind::select(None, root).unwrap(), TrackerKind::Local);
        assert_eq!(
            TrackerKind::select(Some("github"), root).unwrap(),
            TrackerKind::Github
        );
        let err = TrackerKind::select(Some("gitlab"), root).unwrap_err();
        assert_eq!(err.to_string(), "unknown tracker (gitlab)");
    }

    #[test]
    fn front_door_lists_open_issues_with_the_label() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".orc/issues");
        std::fs::create_dir_all(&dir).unwrap();
        let issue = |labels: &str, state: &str| {
            format!("---\ntitle: t\nlabels: [{labels}]\nstate: {state}\n---\n")
        };
        std::fs::write(dir.join("1.md"), issue("bug", "open")).unwrap();
        std::fs::write(dir.join("2.md"), issue("bug", "closed")).unwrap();
        std::fs::write(dir.join("3.md"), issue("ui", "open")).unwrap();
        let numbers = |label| {
            list(TrackerKind::Local, tmp.path(), None, label)
                .unwrap()
                .iter()
                .map(|i| i.number.get())
                .collect::<Vec<_>>()
        };
        assert_eq!(numbers(None), [1, 3]);
        assert_eq!(numbers(Some("bug")), [1]);
        let one = fetch(TrackerKind::Local, tmp.path(), None, Issue::from(2)).unwrap();
        assert!(!one.open);
    }
}
