//! The crontab backend: one line per schedule in the user's crontab,
//! tagged with a trailing `# orc:<id>` (a shell comment to cron's `sh -c`).
//!
//! The crontab is read with `crontab -l` and replaced with `crontab -`;
//! every line that is not orc's own comes back byte for byte. A missing
//! crontab reads as empty. Callers hold the registry lock, so two orc edits
//! never interleave.

use std::path::Path;

use super::{complaint, program};
use crate::error::{Error, Result};
use crate::profile::quote;
use crate::schedule::cron::CronExpr;
use crate::schedule::registry::{Schedule, Timing};

/// The tag that ends every line orc writes for schedule `id`.
pub fn tag(id: &str) -> String {
    format!(" # orc:{id}")
}

/// The crontab line of schedule `id`: the expression in numbers, the runner
/// path quoted, the tag. Refuses paths cron would misread (`%` is a newline
/// to cron, and a newline would end the line).
pub fn line(id: &str, expr: &str, runner: &Path) -> Result<String> {
    let expr = CronExpr::parse(expr)?;
    let path = runner.to_str().unwrap_or_default();
    if path.is_empty() || path.contains(['%', '\n', '\r']) {
        return Err(Error::usage(
            "the runner path cannot be written in a crontab line",
            runner.display().to_string(),
        )
        .hint("choose an ORC_STATE_DIR whose path is UTF-8 without '%' or newlines"));
    }
    Ok(format!("{} {}{}", expr.canonical(), quote(path), tag(id)))
}

/// The user's crontab (`crontab -l`); none at all reads as empty.
pub fn read() -> Result<String> {
    let out = program("crontab", &["-l"], None)?;
    if out.status.success() {
        return String::from_utf8(out.stdout)
            .map_err(|_| Error::failure("the crontab is not UTF-8", "crontab -l"));
    }
    let why = complaint(&out);
    if why.to_ascii_lowercase().contains("no crontab for") {
        return Ok(String::new());
    }
    Err(Error::failure(
        format!("cannot read the crontab: {why}"),
        "crontab -l",
    ))
}

/// Install `content` as the user's crontab. Empty content removes the
/// crontab, which cron treats the same as an empty one.
pub fn write(content: &str) -> Result<()> {
    let out = if content.is_empty() {
        program("crontab", &["-r"], None)?
    } else {
        program("crontab", &["-"], Some(content.as_bytes()))?
    };
    let why = complaint(&out);
    if out.status.success() || (content.is_empty() && why.contains("no crontab for")) {
        return Ok(());
    }
    Err(Error::failure(
        format!("cannot install the crontab: {why}"),
        "crontab -",
    ))
}

/// Whether `content` holds exactly `line`.
pub fn has_line(content: &str, line: &str) -> bool {
    content.lines().any(|l| l == line)
}

/// `content` without the lines of schedule `id`, and whether any went.
pub fn without(content: &str, id: &str) -> (String, bool) {
    let tag = tag(id);
    let mut out = String::with_capacity(content.len());
    let mut removed = false;
    for piece in content.split_inclusive('\n') {
        let bare = piece.trim_end_matches(['\n', '\r']);
        if bare.ends_with(&tag) {
            removed = true;
        } else {
            out.push_str(piece);
        }
    }
    (out, removed)
}

/// `content` with `line` as schedule `id`'s only line, at the end.
pub fn with(content: &str, id: &str, line: &str) -> String {
    let (mut out, _) = without(content, id);
    // cron ignores a last line without its newline: give it one.
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// The user's crontab is one file for every orc state directory of that
/// user: its read-modify-write is serialised by a per-user lock outside any
/// state directory, or two of them could each drop the other's new line.
/// The lock lives in a directory only the user can write to, never under a
/// shared `/tmp` where another user could pre-create and hold it:
/// `$XDG_RUNTIME_DIR` when it is the user's own (0700, as systemd makes it),
/// else `${XDG_STATE_HOME:-~/.local/state}/orc-user/`. The wait is bounded
/// ([`crate::lock::patience`]) and its error names the holder.
fn user_lock() -> Result<crate::lock::FileLock> {
    crate::lock::FileLock::exclusive(&user_lock_dir()?.join("orc-crontab.lock"))
}

/// Where per-user locks (not per state directory) live.
pub fn user_lock_dir() -> Result<std::path::PathBuf> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.is_absolute())
        .filter(|d| {
            std::fs::symlink_metadata(d).is_ok_and(|m| crate::fsutil::check_private(d, &m).is_ok())
        });
    if let Some(dir) = runtime {
        return Ok(dir);
    }
    let dir = crate::paths::state_home()?.join("orc-user");
    crate::fsutil::ensure_private_dir(&dir)?;
    Ok(dir)
}

/// Add (or replace) the line of `schedule`.
pub fn install(schedule: &Schedule) -> Result<()> {
    let Timing::Cron { schedule: expr } = &schedule.timing else {
        return Err(Error::usage(
            "crontab runs recurring schedules only",
            schedule.id.clone(),
        ));
    };
    let line = line(&schedule.id, expr, &schedule.runner)?;
    let _guard = user_lock()?;
    write(&with(&read()?, &schedule.id, &line))
}

/// Remove the lines of schedule `id`; none is success, and then the
/// crontab is not rewritten at all.
pub fn remove(id: &str) -> Result<()> {
    let _guard = user_lock()?;
    let (content, removed) = without(&read()?, id);
    if removed { write(&content) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_lines_survive_byte_for_byte() {
        let user =
            "# my jobs\r\nMAILTO=me\n*/5 * * * * backup # orc:x-not-ours\n  \n0 1 * * * last";
        let added = with(user, "nightly", "0 9 * * 1-5 '/r/nightly.sh' # orc:nightly");
        assert!(added.starts_with("# my jobs\r\nMAILTO=me\n*/5 * * * * backup # orc:x-not-ours\n"));
        assert!(added.ends_with("0 1 * * * last\n0 9 * * 1-5 '/r/nightly.sh' # orc:nightly\n"));
        let (back, removed) = without(&added, "nightly");
        assert!(removed);
        assert_eq!(back, format!("{user}\n"));
        let (same, removed) = without(user, "not-ours");
        assert!(!removed);
        assert_eq!(same, user);
    }

    #[test]
    fn adding_twice_keeps_one_line() {
        let once = with("", "a", "* * * * * '/r/a.sh' # orc:a");
        let twice = with(&once, "a", "0 * * * * '/r/a.sh' # orc:a");
        assert_eq!(twice, "0 * * * * '/r/a.sh' # orc:a\n");
    }

    #[test]
    fn lines_are_canonical_and_quoted() {
        let l = line("d", "0 9 * jan-mar mon-fri", Path::new("/s t/it's.sh"));
        assert_eq!(
            l.ok().as_deref(),
            Some("0 9 * 1-3 1-5 '/s t/it'\\''s.sh' # orc:d")
        );
        assert!(line("d", "0 9 * * *", Path::new("/a%b/r.sh")).is_err());
    }
}
