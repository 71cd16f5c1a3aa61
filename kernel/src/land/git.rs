//! git for landing: argv only, run in one directory (the main root, a
//! scratch worktree, or the worktree where the base is checked out), with
//! an inherited `GIT_DIR` and friends removed so the directory decides.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Error, Result};

/// git in one directory.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
}

impl Git {
    /// git run with `-C dir`.
    pub fn at(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
        }
    }

    /// Run git; the caller judges the exit status.
    pub fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_with_index(args, None)
    }

    /// [`Git::run`] with `index` as git's index file (a scratch index of
    /// orc's own), or the repository's when `None`.
    pub fn run_with_index<I, S>(&self, args: I, index: Option<&Path>) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).args(&args);
        crate::repo::scrub_git_env(&mut cmd);
        // A merge or a commit never opens an editor for its message. (Only
        // these may: no other command orc lands with edits anything, and
        // each edit of the environment costs a copy of all of it.) The
        // command is the first word after any `-c NAME=VALUE` pairs.
        let mut words = args.iter().map(|a| a.as_ref().to_str());
        let command = loop {
            match words.next() {
                Some(Some("-c")) => {
                    words.next();
                }
                other => break other.flatten(),
            }
        };
        if matches!(command, Some("merge" | "commit")) {
            cmd.env("GIT_EDITOR", "true")
                .env("GIT_MERGE_AUTOEDIT", "no");
        }
        if let Some(index) = index {
            cmd.env("GIT_INDEX_FILE", index);
        }
        cmd.output()
            .map_err(|e| Error::io("run git in", &self.dir, e))
    }

    /// Run git and return its trimmed stdout, or an error with git's reason
    /// and the command.
    pub fn ok<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S> + Clone,
        S: AsRef<OsStr>,
    {
        let out = self.run(args.clone())?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        let mut command = format!("git -C {}", self.dir.display());
        for a in args {
            command.push(' ');
            command.push_str(&a.as_ref().to_string_lossy());
        }
        Err(Error::failure(reason(&out), command))
    }

    /// Whether git exits 0.
    pub fn succeeds<I, S>(&self, args: I) -> Result<bool>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Ok(self.run(args)?.status.success())
    }

    /// The commit `rev` names (`None` when it names none).
    pub fn commit_of(&self, rev: &str) -> Result<Option<String>> {
        let spec = format!("{rev}^{{commit}}");
        let out = self.run([
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &spec,
        ])?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
    }

    /// Whether `ancestor` is reachable from `descendant`.
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool> {
        self.succeeds(["merge-base", "--is-ancestor", ancestor, descendant])
    }

    /// Tracked changes (staged or not) in this worktree, as `git status`
    /// lists them; untracked files are not changes a merge could overwrite
    /// without git refusing first.
    pub fn tracked_changes(&self) -> Result<Vec<String>> {
        let out = self.ok(["status", "--porcelain", "--untracked-files=no"])?;
        Ok(out.lines().map(str::to_string).collect())
    }
}

/// git's own reason: the `fatal:`/`error:`/`CONFLICT` line, else the first.
pub fn reason(out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:") || l.starts_with("CONFLICT"))
        .or(lines.first())
        .map_or_else(
            || format!("git exited with {}", out.status),
            |l| l.to_string(),
        )
}
