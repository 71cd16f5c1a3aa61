//! The git repository a command runs in, and its main root.
//!
//! Sessions and issue locks are keyed by the *main* repository root, which
//! must come out the same from the main checkout and from any of its linked
//! worktrees. Discovery reads `.git` files directly (no `git` process on the
//! hot path of `orc-notify` and `orc-state`) and falls back to
//! `git rev-parse` for layouts it does not recognise.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// A git repository seen from some directory inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The main worktree's root (canonical): the key of sessions and locks.
    pub root: PathBuf,
    /// The shared git directory (`<root>/.git` for ordinary repositories).
    pub common_dir: PathBuf,
    /// The root of the worktree the search started in (may equal `root`).
    pub worktree: PathBuf,
}

impl Repo {
    /// Find the repository containing `start`, or `None` outside any.
    pub fn discover(start: &Path) -> Result<Option<Repo>> {
        let start = start
            .canonicalize()
            .map_err(|e| Error::io("resolve directory", start, e))?;
        if std::env::var_os("GIT_DIR").is_some() {
            return Self::discover_with_git(&start);
        }
        for dir in start.ancestors() {
            let dot_git = dir.join(".git");
            if dot_git.is_dir() {
                return Ok(Some(Repo {
                    root: dir.to_path_buf(),
                    common_dir: dot_git,
                    worktree: dir.to_path_buf(),
                }));
            }
            if dot_git.is_file() {
                return match Self::from_gitfile(dir, &dot_git) {
                    Some(repo) => Ok(Some(repo)),
                    None => Self::discover_with_git(&start),
                };
            }
        }
        Ok(None)
    }

    /// The repository containing `path`, or a clear error when there is none.
    pub fn at(path: &Path) -> Result<Repo> {
        Self::discover(path)?.ok_or_else(|| {
            Error::usage("not inside a git repository", path.display().to_string())
                .hint("run from a repository or pass --repo PATH")
        })
    }

    /// The repository containing the current directory, if any.
    pub fn current() -> Result<Option<Repo>> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", Path::new("."), e))?;
        Self::discover(&cwd)
    }

    /// A linked worktree: `.git` is a file `gitdir: <dir>`, and `<dir>/commondir`
    /// points at the shared git directory whose parent is the main root.
    fn from_gitfile(worktree: &Path, gitfile: &Path) -> Option<Repo> {
        let text = std::fs::read_to_string(gitfile).ok()?;
        let gitdir = text.trim().strip_prefix("gitdir:")?.trim();
        let gitdir = worktree.join(gitdir).canonicalize().ok()?;
        let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
        let common_dir = gitdir.join(common.trim()).canonicalize().ok()?;
        if common_dir.file_name()? != ".git" {
            return None;
        }
        Some(Repo {
            root: common_dir.parent()?.to_path_buf(),
            common_dir,
            worktree: worktree.to_path_buf(),
        })
    }

    fn discover_with_git(start: &Path) -> Result<Option<Repo>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(start)
            .args([
                "rev-parse",
                "--path-format=absolute",
                "--git-common-dir",
                "--show-toplevel",
            ])
            .output()
            .map_err(|e| Error::io("run git rev-parse in", start, e))?;
        if !out.status.success() {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some(common), Some(top)) = (lines.next(), lines.next()) else {
            return Ok(None);
        };
        let common_dir = PathBuf::from(common);
        let root = match common_dir.file_name() {
            Some(name) if name == ".git" => common_dir.parent().map(Path::to_path_buf),
            _ => None,
        }
        .unwrap_or_else(|| PathBuf::from(top));
        Ok(Some(Repo {
            root,
            common_dir,
            worktree: PathBuf::from(top),
        }))
    }

    /// The repository's directory name, used in the default session name.
    pub fn name(&self) -> String {
        let raw = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let cleaned: String = raw
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let cleaned = cleaned.trim_start_matches(['.', '-']);
        let short: String = cleaned.chars().take(40).collect();
        if short.is_empty() {
            "repo".to_string()
        } else {
            short
        }
    }

    /// 16 hex digits identifying the main root: the lock directory's name.
    pub fn hash(&self) -> String {
        hash_of(&self.root)
    }

    /// The default session for this repository: `<name>-<8 hex>`.
    pub fn default_session(&self) -> String {
        format!("{}-{}", self.name(), &self.hash()[..8])
    }

    /// `owner/repo` from the `origin` remote's URL, when it has one.
    pub fn slug(&self) -> Option<String> {
        let config = std::fs::read_to_string(self.common_dir.join("config")).ok()?;
        let mut in_origin = false;
        for line in config.lines().map(str::trim) {
            if line.starts_with('[') {
                in_origin = line == "[remote \"origin\"]";
            } else if let Some(url) = line.strip_prefix("url").filter(|_| in_origin) {
                return slug_from_url(url.trim().trim_start_matches('=').trim());
            }
        }
        None
    }
}

/// The variables that would point a git command at another repository,
/// index or worktree than the one it is given with `-C`.
const REDIRECTING: [&str; 4] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
];

/// Keep an inherited `GIT_DIR` (say, from a git hook) and its kin from
/// pointing `cmd` elsewhere than the repository it names. Only variables
/// that are set are removed: a command whose environment is left as is
/// starts without the copy of the whole environment an edit costs, which
/// matters to a dispatcher that runs git dozens of times an issue.
pub fn scrub_git_env(cmd: &mut Command) -> &mut Command {
    for var in REDIRECTING {
        if std::env::var_os(var).is_some() {
            cmd.env_remove(var);
        }
    }
    cmd
}

/// 16 hex digits identifying a main repository root (see [`Repo::hash`]).
pub fn hash_of(root: &Path) -> String {
    format!("{:016x}", fnv1a(root.as_os_str().as_encoded_bytes()))
}

/// `owner/repo` from a GitHub-style remote URL (https, ssh or scp form).
pub fn slug_from_url(url: &str) -> Option<String> {
    let path = url.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = path.rsplit(['/', ':']);
    let repo = parts.next().filter(|s| !s.is_empty())?;
    let owner = parts.next().filter(|s| !s.is_empty() && !s.contains('@'))?;
    Some(format!("{owner}/{repo}"))
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms, which
/// `std`'s hasher does not promise, and the session name depends on it.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_remote_urls() {
        for url in [
            "https://github.com/acme/widgets.git",
            "git@github.com:acme/widgets.git",
            "ssh://git@github.com/acme/widgets",
        ] {
            assert_eq!(slug_from_url(url).as_deref(), Some("acme/widgets"), "{url}");
        }
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
