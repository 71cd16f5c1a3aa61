//! Claude Code's workspace trust for a worker's worktree.
//!
//! Claude Code asks before it works in a directory it has not seen, and a
//! background or headless worker has nobody to answer. Trust is
//! `projects[<abs dir>].hasTrustDialogAccepted: true` in `~/.claude.json`,
//! a file Claude Code itself rewrites often and the user cares about: every
//! edit here happens under the named lock `claude-json`, keeps every other
//! key in meaning and order, is written atomically with the file's mode, and
//! a file that does not parse is reported and never overwritten.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::lock;
use crate::paths::StateDir;

/// The file's name in the home directory.
pub const FILE: &str = ".claude.json";

/// The named lock that serialises orc's edits of the file.
pub const LOCK: &str = "claude-json";

const TRUSTED: &str = "hasTrustDialogAccepted";

/// Mark `dir` as trusted in `<home>/.claude.json`, creating the file, the
/// `projects` object or the entry as needed and keeping the entry's other
/// keys.
pub fn grant(state: &StateDir, home: &Path, dir: &Path) -> Result<()> {
    let key = project_key(dir)?;
    let _guard = lock::named(state, LOCK, true)?;
    let file = config_file(home);
    let (mut doc, mode, newline) = match read(&file)? {
        Some(found) => (found.doc, found.mode, found.newline),
        None => (Map::new(), 0o600, true),
    };
    let projects = object_at(&mut doc, "projects", &file)?;
    let entry = object_at(projects, &key, &file)?;
    if entry.get(TRUSTED) == Some(&Value::Bool(true)) {
        return Ok(());
    }
    entry.insert(TRUSTED.to_string(), Value::Bool(true));
    write(&file, &doc, mode, newline)
}

/// Remove `projects[<dir>]` from `<home>/.claude.json`: nothing else, and
/// nothing at all when the entry or the file is missing.
pub fn revoke(state: &StateDir, home: &Path, dir: &Path) -> Result<()> {
    let key = project_key(dir)?;
    let _guard = lock::named(state, LOCK, true)?;
    let file = config_file(home);
    let Some(mut found) = read(&file)? else {
        return Ok(());
    };
    let removed = match found.doc.get_mut("projects") {
        // `shift_remove` keeps the order of the remaining projects.
        Some(Value::Object(projects)) => projects.shift_remove(&key).is_some(),
        _ => false,
    };
    if removed {
        write(&file, &found.doc, found.mode, found.newline)
    } else {
        Ok(())
    }
}

/// Whether `<home>/.claude.json` marks `dir` as trusted, itself or through
/// a directory above it: Claude Code (2.1.328) asks nothing in a
/// subdirectory of a trusted directory (`claude --bg` starts in `p/child`
/// when only `p` is trusted, and refuses in an untrusted sibling). A
/// worktree under a repository its user already trusted needs no entry of
/// its own, and `~/.claude.json`, which Claude Code rewrites all the time,
/// is then not written for it at all. A missing file trusts nothing; a
/// file that does not parse is an error.
pub fn is_trusted(home: &Path, dir: &Path) -> Result<bool> {
    let key = project_key(dir)?;
    let Some(found) = read(&config_file(home))? else {
        return Ok(false);
    };
    let Some(projects) = found.doc.get("projects") else {
        return Ok(false);
    };
    let trusted = Path::new(&key).ancestors().any(|at| {
        at.to_str()
            .and_then(|at| projects.get(at))
            .and_then(|e| e.get(TRUSTED))
            == Some(&Value::Bool(true))
    });
    Ok(trusted)
}

/// `<home>/.claude.json`, or the file it links to, so that a symlinked
/// config (a dotfile manager's) is edited in place, not replaced.
fn config_file(home: &Path) -> PathBuf {
    let path = home.join(FILE);
    fs::canonicalize(&path).unwrap_or(path)
}

/// The key Claude Code files a directory under: its absolute, resolved
/// path. A directory that is already gone (revoking after removal) keeps
/// its resolved parent, so the key matches the one granted.
fn project_key(dir: &Path) -> Result<String> {
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", Path::new("."), e))?
            .join(dir)
    };
    let resolved = match (fs::canonicalize(&abs), abs.parent(), abs.file_name()) {
        (Ok(real), _, _) => real,
        (Err(_), Some(parent), Some(name)) => match fs::canonicalize(parent) {
            Ok(real) => real.join(name),
            Err(_) => abs.clone(),
        },
        _ => abs.clone(),
    };
    resolved.to_str().map(str::to_string).ok_or_else(|| {
        Error::usage("directory path is not UTF-8", abs.display().to_string())
            .hint("Claude Code keys projects by their path as text")
    })
}

/// A parsed `~/.claude.json` and how to write it back.
struct Found {
    doc: Map<String, Value>,
    mode: u32,
    newline: bool,
}

fn read(file: &Path) -> Result<Option<Found>> {
    let bytes = match fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", file, e)),
    };
    let mode = fs::metadata(file)
        .map_err(|e| Error::io("inspect", file, e))?
        .permissions()
        .mode()
        & 0o7777;
    let doc = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(doc)) => doc,
        Ok(_) => return Err(corrupt(file, "the top level is not a JSON object")),
        Err(e) => return Err(corrupt(file, &format!("invalid JSON: {e}"))),
    };
    Ok(Some(Found {
        doc,
        mode,
        newline: bytes.ends_with(b"\n"),
    }))
}

/// The object under `key` in `map`, created when missing. Anything else
/// there is the user's or Claude Code's, and not ours to replace.
fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
    file: &Path,
) -> Result<&'a mut Map<String, Value>> {
    match map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(obj) => Ok(obj),
        _ => Err(corrupt(file, &format!("{key:?} is not a JSON object"))),
    }
}

fn write(file: &Path, doc: &Map<String, Value>, mode: u32, newline: bool) -> Result<()> {
    // Two-space indentation, as Claude Code writes the file itself.
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| {
        Error::failure(
            format!("cannot encode JSON: {e}"),
            file.display().to_string(),
        )
    })?;
    if newline {
        bytes.push(b'\n');
    }
    write_atomic(file, &bytes, mode)
}

fn corrupt(file: &Path, why: &str) -> Error {
    Error::failure(
        format!("unexpected content in Claude Code's config: {why}"),
        file.display().to_string(),
    )
    .hint("fix or move the file; orc never overwrites a file it cannot read")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Env {
        _tmp: tempfile::TempDir,
        state: StateDir,
        home: PathBuf,
        work: PathBuf,
    }

    fn env() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let home = root.join("home");
        let work = root.join("work");
        fs::create_dir(&home).unwrap();
        fs::create_dir(&work).unwrap();
        Env {
            state: StateDir::at(root.join("state")),
            home,
            work,
            _tmp: tmp,
        }
    }

    impl Env {
        fn dir(&self, name: &str) -> PathBuf {
            let dir = self.work.join(name);
            fs::create_dir_all(&dir).unwrap();
            dir
        }

        fn file(&self) -> PathBuf {
            self.home.join(FILE)
        }

        fn doc(&self) -> Value {
            serde_json::from_slice(&fs::read(self.file()).unwrap()).unwrap()
        }

        fn mode(&self) -> u32 {
            fs::metadata(self.file()).unwrap().permissions().mode() & 0o777
        }
    }

    fn key(dir: &Path) -> String {
        dir.to_str().unwrap().to_string()
    }

    fn keys(v: &Value) -> Vec<&str> {
        v.as_object().unwrap().keys().map(String::as_str).collect()
    }

    #[test]
    fn grant_creates_a_private_file() {
        let env = env();
        let dir = env.dir("wt");
        assert!(!is_trusted(&env.home, &dir).unwrap());
        grant(&env.state, &env.home, &dir).unwrap();
        assert!(is_trusted(&env.home, &dir).unwrap());
        assert!(!is_trusted(&env.home, &env.dir("other")).unwrap());
        assert_eq!(env.mode(), 0o600);
        assert_eq!(
            env.doc(),
            serde_json::json!({"projects": {key(&dir): {"hasTrustDialogAccepted": true}}})
        );
    }

    #[test]
    fn a_trusted_directory_trusts_what_is_below_it_and_nothing_beside_it() {
        let env = env();
        let repo = env.dir("repo");
        let wt = env.dir("repo/.worktrees/issue/7-x");
        let sibling = env.dir("repo-other");
        grant(&env.state, &env.home, &repo).unwrap();
        assert!(is_trusted(&env.home, &wt).unwrap());
        assert!(is_trusted(&env.home, &repo).unwrap());
        // `repo-other` only shares a prefix of its name with `repo`.
        assert!(!is_trusted(&env.home, &sibling).unwrap());
        assert!(!is_trusted(&env.home, &env.work).unwrap());
        // Refused trust above does not count.
        let doc = serde_json::json!({"projects": {key(&repo): {"hasTrustDialogAccepted": false}}});
        fs::write(env.file(), doc.to_string()).unwrap();
        assert!(!is_trusted(&env.home, &wt).unwrap());
    }

    #[test]
    fn grant_and_revoke_keep_everything_else() {
        let env = env();
        let dir = env.dir("wt");
        let original = format!(
            r#"{{"numStartups": 5, "zeta": {{"b": 1, "a": 2}},
  "projects": {{"/other": {{"allowedTools": ["x"], "hasTrustDialogAccepted": false}},
    "{}": {{"allowedTools": [], "mcpServers": {{}}}}, "/last": {{}}}},
  "alpha": [1, 2.5, "s", null, true, 18446744073709551615]}}"#,
            key(&dir)
        );
        fs::write(env.file(), &original).unwrap();
        fs::set_permissions(env.file(), fs::Permissions::from_mode(0o640)).unwrap();
        let before: Value = serde_json::from_str(&original).unwrap();

        grant(&env.state, &env.home, &dir).unwrap();
        let after = env.doc();
        assert_eq!(env.mode(), 0o640);
        assert_eq!(keys(&after), ["numStartups", "zeta", "projects", "alpha"]);
        assert_eq!(keys(&after["zeta"]), ["b", "a"]);
        assert_eq!(
            keys(&after["projects"]),
            ["/other", key(&dir).as_str(), "/last"]
        );
        assert_eq!(
            after["projects"][key(&dir)],
            serde_json::json!({"allowedTools": [], "mcpServers": {}, "hasTrustDialogAccepted": true})
        );
        let mut expected = before.clone();
        expected["projects"][key(&dir)]["hasTrustDialogAccepted"] = Value::Bool(true);
        assert_eq!(after, expected);

        revoke(&env.state, &env.home, &dir).unwrap();
        let revoked = env.doc();
        assert_eq!(keys(&revoked["projects"]), ["/other", "/last"]);
        let mut expected = before;
        expected["projects"]
            .as_object_mut()
            .unwrap()
            .shift_remove(&key(&dir));
        assert_eq!(revoked, expected);
        assert_eq!(env.mode(), 0o640);
    }

    #[test]
    fn revoke_without_an_entry_changes_nothing() {
        let env = env();
        let dir = env.dir("wt");
        revoke(&env.state, &env.home, &dir).unwrap();
        assert!(!env.file().exists(), "revoke must not create the file");
        let text = "{\"projects\":{\"/x\":{}},\"k\":1}";
        fs::write(env.file(), text).unwrap();
        revoke(&env.state, &env.home, &dir).unwrap();
        assert_eq!(fs::read_to_string(env.file()).unwrap(), text);
    }

    #[test]
    fn revoke_after_the_directory_is_gone() {
        let env = env();
        let dir = env.dir("wt");
        grant(&env.state, &env.home, &dir).unwrap();
        fs::remove_dir(&dir).unwrap();
        revoke(&env.state, &env.home, &dir).unwrap();
        assert_eq!(env.doc(), serde_json::json!({"projects": {}}));
    }

    #[test]
    fn a_corrupt_file_is_never_overwritten() {
        let env = env();
        let dir = env.dir("wt");
        for text in ["{\"projects\": {", "[1, 2]", "", "{\"projects\": 3}"] {
            fs::write(env.file(), text).unwrap();
            let err = grant(&env.state, &env.home, &dir).unwrap_err();
            assert_eq!(err.subject(), key(&env.file()), "{text:?}");
            assert!(err.hint_text().is_some());
            if text != "{\"projects\": 3}" {
                assert!(revoke(&env.state, &env.home, &dir).is_err(), "{text:?}");
                assert!(is_trusted(&env.home, &dir).is_err(), "{text:?}");
            }
            assert_eq!(fs::read_to_string(env.file()).unwrap(), text);
        }
        let names: Vec<_> = fs::read_dir(&env.home).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_symlinked_file_stays_a_symlink() {
        let env = env();
        let dir = env.dir("wt");
        let real = env.home.join("dotfiles-claude.json");
        fs::write(&real, "{\"theme\":\"dark\"}").unwrap();
        std::os::unix::fs::symlink(&real, env.file()).unwrap();
        grant(&env.state, &env.home, &dir).unwrap();
        assert!(
            fs::symlink_metadata(env.file())
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(keys(&env.doc()), ["theme", "projects"]);
        assert!(is_trusted(&env.home, &dir).unwrap());
    }

    #[test]
    fn concurrent_grants_all_land() {
        let env = env();
        fs::write(env.file(), "{\"keep\": true}").unwrap();
        let dirs: Vec<PathBuf> = (0..20).map(|i| env.dir(&format!("wt-{i}"))).collect();
        std::thread::scope(|s| {
            for dir in &dirs {
                let (state, home) = (&env.state, &env.home);
                s.spawn(move || grant(state, home, dir).unwrap());
            }
        });
        for dir in &dirs {
            assert!(is_trusted(&env.home, dir).unwrap(), "{}", dir.display());
        }
        let doc = env.doc();
        assert_eq!(doc["keep"], Value::Bool(true));
        assert_eq!(doc["projects"].as_object().unwrap().len(), 20);
    }
}
