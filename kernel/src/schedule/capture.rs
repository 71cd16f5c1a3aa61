//! The settings a schedule's runs depend on, captured when it is added.
//!
//! cron and atd start a runner with next to no environment (cron gives
//! `HOME`, `LOGNAME`, `SHELL` and a minimal `PATH`; atd whatever it saved),
//! so a run that read its settings then would not run what `add` checked: a
//! schedule validated with one agent would run another. `add` therefore
//! records the resolved configuration (every `ORC_*` value with its
//! profile's layers applied: agent and its command, tracker, backend,
//! limits, the profile's name), the plugin root and the binaries' directory,
//! `HOME`, `PATH`, and the few non-secret variables that choose the agent's
//! provider; every run gets exactly these and nothing of the scheduler's.
//! Secrets are not copied: a run finds its credentials where the agent CLI
//! keeps them under `HOME` (Claude Code's login, `gh auth`).

use std::collections::BTreeMap;

use crate::profile::{Config, mask};

/// Variables copied when set, besides the `ORC_*` configuration.
const PASSED: &[&str] = &[
    "HOME",
    "PATH",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_STATE_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    // Which model provider the agent CLI talks to (no credentials).
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "AWS_PROFILE",
    "AWS_REGION",
    "CLOUD_ML_REGION",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "GH_HOST",
];

/// `ORC_*` variables that describe one call, never a schedule: a worker's
/// identity, the test clock, the schedule's own id and state directory
/// (the runner sets those).
const PER_CALL: &[&str] = &[
    "ORC_ISSUE",
    "ORC_KIND",
    "ORC_NOW",
    "ORC_SCHEDULE_ID",
    "ORC_STATE_DIR",
];

/// What a schedule's runs get as their whole environment: `config`
/// resolved now, `vars` (the caller's environment) filtered to what a run
/// needs, and where orc's plugin and binaries are.
pub fn capture(
    config: &Config,
    vars: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = vars
        .into_iter()
        .filter(|(k, v)| PASSED.contains(&k.as_str()) && !v.is_empty())
        .collect();
    env.entry("PATH".to_string())
        .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".to_string());
    for (name, value, _) in config.entries() {
        if PER_CALL.contains(&name) || value.is_empty() || mask(name, value) != value {
            continue;
        }
        env.insert(name.to_string(), value.to_string());
    }
    env.insert("ORC_ENV".to_string(), config.profile().to_string());
    if let Some(root) = crate::paths::plugin_root().and_then(|r| r.to_str().map(String::from)) {
        env.insert("ORC_ROOT".to_string(), root);
    }
    if let Some(bin) = crate::paths::bin_dir().and_then(|d| d.to_str().map(String::from)) {
        env.insert("ORC_BIN_DIR".to_string(), bin);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Layers;

    #[test]
    fn resolved_settings_and_the_runs_essentials_are_captured() -> crate::error::Result<()> {
        let env = vec![
            ("ORC_AGENT".to_string(), "codex".to_string()),
            ("ORC_ISSUE".to_string(), "7".to_string()),
            ("ORC_NOW".to_string(), "2026-01-01T00:00:00Z".to_string()),
        ];
        let config = Config::resolve(&env, &Layers::default())?;
        let vars = vec![
            ("HOME".to_string(), "/home/u".to_string()),
            ("PATH".to_string(), "/opt/bin:/usr/bin".to_string()),
            ("ANTHROPIC_API_KEY".to_string(), "sk-secret".to_string()),
            ("CLAUDECODE".to_string(), "1".to_string()),
            ("ANTHROPIC_BASE_URL".to_string(), "http://x".to_string()),
        ];
        let got = capture(&config, vars);
        assert_eq!(got["ORC_AGENT"], "codex");
        assert_eq!(got["ORC_ENV"], "default");
        assert_eq!(got["ORC_MAX_WORKERS"], "5", "defaults are resolved too");
        assert_eq!(got["HOME"], "/home/u");
        assert_eq!(got["PATH"], "/opt/bin:/usr/bin");
        assert_eq!(got["ANTHROPIC_BASE_URL"], "http://x");
        for gone in ["ORC_ISSUE", "ORC_NOW", "ANTHROPIC_API_KEY", "CLAUDECODE"] {
            assert!(!got.contains_key(gone), "{gone} was captured");
        }
        assert!(got.contains_key("ORC_BIN_DIR"));
        Ok(())
    }
}
