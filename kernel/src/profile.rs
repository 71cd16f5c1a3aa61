//! Configuration: `ORC_*` variables resolved through five layers.
//!
//! Lowest first: built-in default < plugin profile `envs/<name>.env` <
//! project `.orc/envs/<name>.env` < user `~/.config/orc/envs/<name>.env` <
//! the explicit environment. The profile name is `ORC_ENV` (default
//! `default`). Profile files are data, never shell: `KEY=VALUE` lines, `#`
//! comments, optional single or double quotes, no expansion.
//!
//! An empty value means unset in every layer: `ORC_MAX_WORKERS=` (exported
//! empty, or an empty line in a profile) falls back to the layer below, then
//! the default. Every resolved value is checked against its [`rules::Rule`]
//! here, so a bad setting stops any tool before it creates anything.

pub mod rules;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ids::check_name;

/// One documented variable: name, built-in default, description.
pub struct Var {
    /// The variable's name.
    pub name: &'static str,
    /// Built-in default (empty: none, or computed at run time).
    pub default: &'static str,
    /// One line on what it does.
    pub about: &'static str,
}

/// The catalogue of every `ORC_*` variable (mirrored in `envs/README.md`).
pub const CATALOGUE: &[Var] = &[
    Var {
        name: "ORC_ENV",
        default: "default",
        about: "profile name: envs/<name>.env in each layer",
    },
    Var {
        name: "ORC_STATE_DIR",
        default: "",
        about: "state directory (absolute); default ${XDG_STATE_HOME:-~/.local/state}/orc",
    },
    Var {
        name: "ORC_SESSION",
        default: "",
        about: "session name; default <repo-name>-<8 hex of the main root>",
    },
    Var {
        name: "ORC_ISSUE",
        default: "",
        about: "worker side: the issue this worker works on",
    },
    Var {
        name: "ORC_KIND",
        default: "",
        about: "worker side: worker or reviewer",
    },
    Var {
        name: "ORC_MAX_WORKERS",
        default: "5",
        about: "most non-terminal workers in one session",
    },
    Var {
        name: "ORC_WORKER_TIMEOUT",
        default: "3600",
        about: "seconds an agent may run before TERM",
    },
    Var {
        name: "ORC_TERM_GRACE",
        default: "120",
        about: "seconds between TERM and KILL of the agent's process group",
    },
    Var {
        name: "ORC_LOCK_TIMEOUT",
        default: "60",
        about: "seconds any tool waits for a lock before it names the holder and fails",
    },
    Var {
        name: "ORC_CONTAIN",
        default: "auto",
        about: "containment of a worker's processes: auto, cgroup or group",
    },
    Var {
        name: "ORC_BLOCKED_AFTER",
        default: "600",
        about: "seconds a running worker may wait on a permission prompt before orc-watch reports it blocked",
    },
    Var {
        name: "ORC_POLL_INTERVAL",
        default: "1",
        about: "seconds between liveness checks in orc-watch",
    },
    Var {
        name: "ORC_WATCH_CHECKS",
        default: "60",
        about: "checks orc-watch makes of a worker whose fate it cannot tell before reporting it as error",
    },
    Var {
        name: "ORC_TRACKER",
        default: "",
        about: "issue tracker: local or github; default local when .orc/issues/ exists",
    },
    Var {
        name: "ORC_AGENT",
        default: "claude",
        about: "agent CLI: claude, codex, opencode, gemini or custom",
    },
    Var {
        name: "ORC_AGENT_CMD",
        default: "",
        about: "custom agent command template ({prompt} {prompt_file} {agent} {issue} {worktree})",
    },
    Var {
        name: "ORC_BACKEND",
        default: "headless",
        about: "where workers run: headless, tmux, wezterm or slurm",
    },
    Var {
        name: "ORC_SLURM_ARGS",
        default: "",
        about: "slurm backend: srun options, one word each (quotes for blanks), e.g. --partition=debug --mem=2G",
    },
    Var {
        name: "ORC_TMUX_SOCKET",
        default: "",
        about: "tmux backend: server socket name (tmux -L), or path (tmux -S) with a slash",
    },
    Var {
        name: "ORC_BASE",
        default: "",
        about: "base branch of new worktrees; default the repository's default branch",
    },
    Var {
        name: "ORC_RETRY_MAX",
        default: "2",
        about: "orc-dispatch: retries of a failed or crashed worker",
    },
    Var {
        name: "ORC_RETRY_BACKOFF",
        default: "30",
        about: "orc-dispatch: first retry delay in seconds, doubled each time",
    },
    Var {
        name: "ORC_THROTTLE_COOLDOWN",
        default: "300",
        about: "orc-dispatch: seconds before a throttled worker runs again, when no reset time is given",
    },
    Var {
        name: "ORC_MAX_REVIEWERS",
        default: "0",
        about: "orc-dispatch: most reviewers at once, within --max (0: no limit of their own)",
    },
    Var {
        name: "ORC_STALL_TIMEOUT",
        default: "900",
        about: "orc-dispatch: seconds without progress (record, log, commits) before a worker is stopped and retried as stalled (0: off)",
    },
    Var {
        name: "ORC_TRACKER_POLL",
        default: "60",
        about: "orc-dispatch --follow: seconds between looks at the tracker (local issues are also watched for changes)",
    },
    Var {
        name: "ORC_NOTIFY_WEBHOOK",
        default: "",
        about: "an http(s) URL that gets a Slack-compatible JSON POST when a result needs a person",
    },
    Var {
        name: "ORC_NOTIFY_DESKTOP",
        default: "true",
        about: "a desktop notification (notify-send, osascript) when a result needs a person",
    },
    Var {
        name: "ORC_REVIEW_MAX_ROUNDS",
        default: "2",
        about: "review rounds before escalation",
    },
    Var {
        name: "ORC_AUTO_MERGE",
        default: "false",
        about: "orc-dispatch: merge verified, approved work (locally or the PR)",
    },
    Var {
        name: "ORC_MERGE_METHOD",
        default: "merge",
        about: "how work is merged: ff, merge or squash (on GitHub ff is --rebase)",
    },
    Var {
        name: "ORC_MERGE",
        default: "",
        about: "where work is merged: local (by orc) or github (the PR); default by tracker",
    },
    Var {
        name: "ORC_CHECK_CMD",
        default: "",
        about: "the project's check (e.g. make test), run by orc on a branch tip before it merges",
    },
    Var {
        name: "ORC_CHECK_TIMEOUT",
        default: "1800",
        about: "seconds the check command may run",
    },
    Var {
        name: "ORC_SETUP_CMD",
        default: "",
        about: "run (sh -c) in each new worktree before its agent starts; else .orc/setup",
    },
    Var {
        name: "ORC_SETUP_TIMEOUT",
        default: "600",
        about: "seconds the setup may run before the launch fails",
    },
    Var {
        name: "ORC_REVIEW",
        default: "true",
        about: "orc-dispatch: a reviewer looks at verified work before it is merged",
    },
    Var {
        name: "ORC_CI_WAIT",
        default: "3600",
        about: "orc-dispatch: the longest wait for a pull request's running checks",
    },
    Var {
        name: "ORC_CI_POLL",
        default: "30",
        about: "orc-dispatch: seconds between looks at a pull request's running checks",
    },
    Var {
        name: "ORC_DELETE_BRANCH",
        default: "true",
        about: "delete a merged pull request's remote branch",
    },
    Var {
        name: "ORC_SCHED_BACKEND",
        default: "",
        about: "scheduler: crontab, atd or launchd; default by platform",
    },
    Var {
        name: "ORC_SCHEDULE_ID",
        default: "",
        about: "set for the command a schedule runs: the schedule's id",
    },
    Var {
        name: "ORC_DISABLE_STOP_GUARD",
        default: "",
        about: "1 turns the Stop hook guard off",
    },
    Var {
        name: "ORC_ROOT",
        default: "",
        about: "the plugin root; default found from the executable's path",
    },
    Var {
        name: "ORC_NOW",
        default: "",
        about: "RFC 3339 time that replaces the clock (tests only)",
    },
];

/// `ORC_LOCK_TIMEOUT` as last resolved (0: not resolved yet).
static LOCK_TIMEOUT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `ORC_LOCK_TIMEOUT` in seconds as this process last resolved it, if it did.
pub fn lock_timeout() -> Option<u64> {
    Some(LOCK_TIMEOUT.load(std::sync::atomic::Ordering::Relaxed)).filter(|&s| s > 0)
}

/// Where a resolved value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A profile file (plugin, project or user layer).
    Profile(PathBuf),
    /// The process environment.
    Environment,
    /// A worker's `.orc-env`, which filled what the environment left unset.
    EnvFile(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Profile(path) => write!(f, "{}", path.display()),
            Origin::Environment => f.write_str("environment"),
            Origin::EnvFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The resolved configuration: every known variable with its origin.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: BTreeMap<String, (String, Origin)>,
    profile: String,
}

/// Where the three profile layers live.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    /// The plugin root (holds `envs/`), if known.
    pub plugin: Option<PathBuf>,
    /// The project's repository root (holds `.orc/envs/`), if any.
    pub project: Option<PathBuf>,
    /// The user's config dir (holds `orc/envs/`), if any.
    pub user: Option<PathBuf>,
}

impl Layers {
    /// The usual layers: plugin root from `ORC_ROOT` or the executable's
    /// path, the given project, and `${XDG_CONFIG_HOME:-~/.config}`.
    pub fn standard(project: Option<&Path>) -> Layers {
        Layers {
            plugin: crate::places::plugin_root(),
            project: project.map(Path::to_path_buf),
            user: crate::places::config_home(),
        }
    }

    fn files(&self, profile: &str) -> Vec<PathBuf> {
        let file = format!("{profile}.env");
        let mut out = Vec::new();
        if let Some(p) = &self.plugin {
            out.push(p.join("envs").join(&file));
        }
        if let Some(p) = &self.project {
            out.push(p.join(".orc").join("envs").join(&file));
        }
        if let Some(p) = &self.user {
            out.push(p.join("orc").join("envs").join(&file));
        }
        out
    }
}

impl Config {
    /// Resolve from the process environment and the standard layers.
    pub fn load(project: Option<&Path>) -> Result<Config> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("ORC_"))
            .collect();
        Self::resolve(&env, &Layers::standard(project))
    }

    /// Resolve from an explicit environment and layers (for tests).
    pub fn resolve(env: &[(String, String)], layers: &Layers) -> Result<Config> {
        Self::resolve_with_file(env, None, layers)
    }

    /// Resolve as [`Config::resolve`], with a worker's `.orc-env` (its path
    /// and its `ORC_*` entries) filling what the environment leaves unset:
    /// a bad value from it is named with the file, not "the environment".
    pub fn resolve_with_file(
        env: &[(String, String)],
        file: Option<(&Path, &[(String, String)])>,
        layers: &Layers,
    ) -> Result<Config> {
        let explicit: BTreeMap<&str, &str> = env
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let filled: BTreeMap<&str, &str> = file
            .map(|(_, entries)| entries)
            .unwrap_or_default()
            .iter()
            .filter(|(k, v)| !v.is_empty() && !explicit.contains_key(k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let profile = explicit
            .get("ORC_ENV")
            .or_else(|| filled.get("ORC_ENV"))
            .copied()
            .unwrap_or("default");
        if check_name("profile name", profile).is_err() {
            rules::check("ORC_ENV", profile, &Origin::Environment)?;
        }

        let mut values: BTreeMap<String, (String, Origin)> = CATALOGUE
            .iter()
            .filter(|v| !v.default.is_empty())
            .map(|v| (v.name.to_string(), (v.default.to_string(), Origin::Default)))
            .collect();
        let mut found = false;
        for file in layers.files(profile) {
            let text = match std::fs::read_to_string(&file) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read profile", &file, e)),
            };
            found = true;
            for (key, value) in parse_profile(&text, &file)? {
                if !value.is_empty() {
                    values.insert(key, (value, Origin::Profile(file.clone())));
                }
            }
        }
        if !found && profile != "default" {
            return Err(Error::usage("unknown profile", profile).hint(
                "profiles are envs/<name>.env in the plugin, .orc/envs/ or ~/.config/orc/envs/",
            ));
        }
        if let Some((path, _)) = file {
            for (key, value) in filled {
                let origin = Origin::EnvFile(path.to_path_buf());
                values.insert(key.to_string(), (value.to_string(), origin));
            }
        }
        for (key, value) in explicit {
            values.insert(key.to_string(), (value.to_string(), Origin::Environment));
        }
        for (key, (value, origin)) in &values {
            if CATALOGUE.iter().any(|v| v.name == key) {
                rules::check(key, value, origin)?;
            }
        }
        // Lock waits happen deep below any Config: they read it from here.
        if let Some(secs) = values
            .get("ORC_LOCK_TIMEOUT")
            .and_then(|(v, _)| rules::parse_number(v))
        {
            LOCK_TIMEOUT.store(secs, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Config {
            values,
            profile: profile.to_string(),
        })
    }

    /// The value of `name`, if set anywhere (empty counts as unset).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Set `name` for this process as the environment would: a flag that
    /// stands for a variable (`orc-dispatch --max N` for `ORC_MAX_WORKERS`)
    /// must reach the kernel calls it makes in-process.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        rules::check(name, value, &Origin::Environment)?;
        self.values
            .insert(name.to_string(), (value.to_string(), Origin::Environment));
        Ok(())
    }

    /// Where `name`'s value came from.
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.values.get(name).map(|(_, o)| o)
    }

    /// The profile in use.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// A whole number of seconds or a count (0 when unset). The value was
    /// checked against its rule when the configuration was resolved; the
    /// error here is for a variable outside the catalogue.
    pub fn number(&self, name: &str) -> Result<u64> {
        let raw = self.get(name).unwrap_or("0");
        match rules::parse_number(raw) {
            Some(n) => Ok(n),
            None => Err(
                rules::check(name, raw, self.origin(name).unwrap_or(&Origin::Default))
                    .err()
                    .unwrap_or_else(|| Error::usage(format!("invalid {name}"), raw)),
            ),
        }
    }

    /// A timeout in seconds where 0 means "no timeout": `None` then.
    pub fn timeout(&self, name: &str) -> Result<Option<std::time::Duration>> {
        let secs = self.number(name)?;
        Ok((secs > 0).then(|| std::time::Duration::from_secs(secs)))
    }

    /// A boolean (`1`, `true`, `yes`, `on` in any case are true).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            ["1", "true", "yes", "on"]
                .iter()
                .any(|w| w.eq_ignore_ascii_case(v))
        })
    }

    /// Every resolved variable with its origin, sorted by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &Origin)> {
        self.values
            .iter()
            .map(|(k, (v, o))| (k.as_str(), v.as_str(), o))
    }
}

/// Mask secrets for display: the whole value of a name containing TOKEN,
/// KEY, SECRET or PASSWORD, and in any other value every token that looks
/// like a credential ([`crate::secret::redact`]).
pub fn mask(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    let secret = ["TOKEN", "KEY", "SECRET", "PASSWORD", "WEBHOOK"]
        .iter()
        .any(|s| upper.contains(s));
    if secret && !value.is_empty() {
        "****".to_string()
    } else {
        crate::secret::redact(value).into_owned()
    }
}

/// Parse `KEY=VALUE` lines. Only catalogued `ORC_*` names are accepted, so a
/// typo is an error at `file:line` instead of a setting silently ignored.
pub fn parse_profile(text: &str, file: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = format!("{}:{}", file.display(), n + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(Error::usage("expected KEY=VALUE", at));
        };
        let key = key.trim();
        if !CATALOGUE.iter().any(|v| v.name == key) {
            return Err(Error::usage(format!("unknown variable {key:?}"), at)
                .hint("profiles set only the ORC_* variables listed in envs/README.md"));
        }
        let value = unquote(value.trim()).ok_or_else(|| Error::usage("unbalanced quotes", at))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// Strip one level of quotes: `'…'` (with the shell's `'\''` for a quote),
/// `"…"`, or a bare word. `None` when quotes do not balance.
pub fn unquote(value: &str) -> Option<String> {
    if let Some(inner) = value.strip_prefix('"') {
        return inner.strip_suffix('"').map(str::to_string);
    }
    if value.starts_with('\'') {
        let mut out = String::new();
        let mut rest = value;
        loop {
            let body = rest.strip_prefix('\'')?;
            let end = body.find('\'')?;
            out.push_str(&body[..end]);
            rest = &body[end + 1..];
            if rest.is_empty() {
                return Some(out);
            }
            rest = rest.strip_prefix("\\'")?;
            out.push('\'');
            if rest.is_empty() {
                return Some(out);
            }
        }
    }
    Some(value.to_string())
}

/// Quote a value so that `unquote` and a POSIX shell both read it back as is.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(dir));
        let _ = std::fs::write(path, text);
    }

    #[test]
    fn layers_apply_lowest_first() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let (plugin, project, user) = (
            tmp.path().join("p"),
            tmp.path().join("r"),
            tmp.path().join("u"),
        );
        write(
            &plugin,
            "envs/ci.env",
            "ORC_MAX_WORKERS=2\nORC_TERM_GRACE=5\nORC_BACKEND=tmux\n",
        );
        write(
            &project,
            ".orc/envs/ci.env",
            "# project\nORC_TERM_GRACE='7'\n",
        );
        write(
            &user,
            "orc/envs/ci.env",
            "export ORC_BACKEND=\"headless\"\n",
        );
        let layers = Layers {
            plugin: Some(plugin),
            project: Some(project.clone()),
            user: Some(user),
        };
        let env = vec![
            ("ORC_ENV".into(), "ci".into()),
            ("ORC_MAX_WORKERS".into(), "9".into()),
        ];
        let cfg = Config::resolve(&env, &layers)?;
        assert_eq!(cfg.get("ORC_MAX_WORKERS"), Some("9"));
        assert_eq!(cfg.origin("ORC_MAX_WORKERS"), Some(&Origin::Environment));
        assert_eq!(cfg.get("ORC_TERM_GRACE"), Some("7"));
        assert_eq!(
            cfg.origin("ORC_TERM_GRACE"),
            Some(&Origin::Profile(project.join(".orc/envs/ci.env")))
        );
        assert_eq!(cfg.get("ORC_BACKEND"), Some("headless"));
        assert_eq!(cfg.get("ORC_WORKER_TIMEOUT"), Some("3600"));
        assert_eq!(cfg.origin("ORC_WORKER_TIMEOUT"), Some(&Origin::Default));
        Ok(())
    }

    #[test]
    fn a_workers_env_file_fills_what_the_environment_leaves_and_is_named() {
        let layers = Layers {
            plugin: None,
            project: None,
            user: None,
        };
        let file = Path::new("/w/.orc-env");
        let entries = vec![
            ("ORC_MAX_WORKERS".to_string(), "4".to_string()),
            ("ORC_TERM_GRACE".to_string(), "6".to_string()),
        ];
        let env = vec![
            ("ORC_MAX_WORKERS".to_string(), "9".to_string()),
            ("ORC_TERM_GRACE".to_string(), String::new()),
        ];
        let cfg = Config::resolve_with_file(&env, Some((file, &entries)), &layers);
        let cfg = cfg.unwrap_or_default();
        assert_eq!(cfg.get("ORC_MAX_WORKERS"), Some("9"));
        assert_eq!(cfg.origin("ORC_MAX_WORKERS"), Some(&Origin::Environment));
        assert_eq!(cfg.get("ORC_TERM_GRACE"), Some("6"), "empty is unset");
        assert_eq!(
            cfg.origin("ORC_TERM_GRACE"),
            Some(&Origin::EnvFile(file.to_path_buf()))
        );
        let bad = vec![("ORC_MAX_WORKERS".to_string(), "04".to_string())];
        let err = Config::resolve_with_file(&[], Some((file, &bad)), &layers)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("invalid ORC_MAX_WORKERS=\"04\" set in /w/.orc-env"),
            "{err}"
        );
    }

    #[test]
    fn bad_profiles_say_where() {
        let f = Path::new("x.env");
        let err = parse_profile("ORC_MAX_WORKERS=1\nORC_TYPO=2\n", f)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown variable \"ORC_TYPO\" (x.env:2)")
        );
        assert!(parse_profile("just words", f).is_err());
        assert!(parse_profile("ORC_SESSION='abc", f).is_err());
    }

    #[test]
    fn unknown_profile_is_an_error() {
        let env = vec![("ORC_ENV".into(), "nosuch".into())];
        assert!(Config::resolve(&env, &Layers::default()).is_err());
    }

    #[test]
    fn quoting_round_trips() {
        for v in ["plain", "it's", "$(rm -rf /)", "a b\tc", "''", ""] {
            assert_eq!(unquote(&quote(v)).as_deref(), Some(v));
        }
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(mask("GH_TOKEN", "abc"), "****");
        assert_eq!(mask("ORC_BACKEND", "tmux"), "tmux");
    }
}

#[cfg(test)]
mod catalogue_tests {
    use super::CATALOGUE;

    #[test]
    fn every_variable_is_documented_in_envs_readme() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../envs/README.md"))
                .expect("envs/README.md");
        for var in CATALOGUE {
            assert!(
                readme.contains(&format!("| `{}` |", var.name)),
                "{} is missing from envs/README.md",
                var.name
            );
        }
    }

    #[test]
    fn shipped_profiles_parse() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../envs");
        for name in ["default", "headless", "tmux", "ci"] {
            let path = std::path::PathBuf::from(dir).join(format!("{name}.env"));
            let text = std::fs::read_to_string(&path).expect("profile");
            assert!(super::parse_profile(&text, &path).is_ok(), "{name}.env");
        }
    }
}
