//! Names of an issue's branch and worktree, derived from its number and
//! title.

use std::path::PathBuf;

use crate::ids::Issue;
use crate::repo::Repo;

/// The longest slug [`slug`] returns.
pub const MAX_SLUG: usize = 40;

/// A title as a branch-name component: lowercase ASCII letters and digits
/// joined by single `-`, at most [`MAX_SLUG`] characters. A title with no
/// ASCII letter or digit (`修复登录`, `!!!`) becomes `t-<8 hex>` of its
/// FNV-1a hash: stable, and different for different titles.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
        if out.len() > MAX_SLUG {
            break;
        }
    }
    if out.len() > MAX_SLUG {
        // Prefer ending on a word boundary unless that loses half the slug.
        let cut = match out[..=MAX_SLUG].rfind('-') {
            Some(dash) if dash >= MAX_SLUG / 2 => dash,
            _ => MAX_SLUG,
        };
        out.truncate(cut);
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        format!("t-{:08x}", crate::repo::fnv1a(title.as_bytes()) as u32)
    } else {
        out.to_string()
    }
}

/// The issue's branch: `issue/<N>-<slug>`.
pub fn branch_name(issue: Issue, title: &str) -> String {
    format!("issue/{issue}-{}", slug(title))
}

/// The issue's worktree: `<root>/.worktrees/issue/<N>-<slug>`.
pub fn worktree_path(repo: &Repo, issue: Issue, title: &str) -> PathBuf {
    issues_dir(repo).join(format!("{issue}-{}", slug(title)))
}

/// `<root>/.worktrees/issue`: the parent of every issue worktree.
pub(super) fn issues_dir(repo: &Repo) -> PathBuf {
    repo.root.join(".worktrees").join("issue")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Fix the login bug!"), "fix-the-login-bug");
        assert_eq!(slug("  --Hello,   World--  "), "hello-world");
        assert_eq!(slug("v2.0: ÜBER fast"), "v2-0-ber-fast");
        assert_eq!(slug("修复 login 问题"), "login");
        let a = slug("修复登录");
        assert!(a.starts_with("t-") && a.len() == 10, "{a}");
        assert_eq!(a, slug("修复登录"));
        assert_ne!(a, slug("修复注册"));
        assert_ne!(slug("!!!"), slug("???"));
        assert!(slug("").starts_with("t-"));
        assert_eq!(slug(&"a".repeat(60)), "a".repeat(40));
        let long = slug("implement the frobnicator for every widget in the shop");
        assert_eq!(long, "implement-the-frobnicator-for-every");
        for title in ["x ".repeat(30), "ab-".repeat(30), "abc ".repeat(13)] {
            let s = slug(&title);
            assert!(s.len() <= MAX_SLUG && !s.ends_with('-') && !s.starts_with('-'));
            assert!(!s.contains("--"), "{s}");
        }
        assert_eq!(branch_name(Issue::from(42), "Fix it"), "issue/42-fix-it");
    }
}
