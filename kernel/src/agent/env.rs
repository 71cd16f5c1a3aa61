//! The environment a nested agent must not inherit.
//!
//! orc is usually started from inside a Claude Code session, whose markers
//! would leak into every worker: an inherited `CLAUDE_CODE_CHILD_SESSION`
//! hides an interactive child from `--resume`, history and `claude agents`,
//! and the caller's plugin root, project dir or env file would point the
//! worker at the orchestrator's session. The list follows
//! `CLAUDE-CODE-FACTS.md` §8 (Claude Code 2.1.328), like the CLI's own
//! daemon launcher. User settings (`ANTHROPIC_*`, `CLAUDE_CODE_USE_BEDROCK`,
//! proxies, `PATH`, `HOME`) are kept: only session markers go.

/// Variables removed by exact name.
const NAMES: &[&str] = &[
    // Session markers the CLI's daemon launcher removes.
    "CLAUDECODE",
    "CLAUDE_CODE_SESSION_ID",
    "CLAUDE_CODE_LAUNCHED_BY_SESSION_IDS",
    "CLAUDE_CODE_CHILD_NOTES_DIR",
    "CLAUDE_CODE_CHILD_SESSION",
    "CLAUDE_CODE_SESSION_ATTENDED",
    "CLAUDE_CODE_CHROME_MCP_ORG_DENIED",
    "CLAUDE_CODE_EVAL_INTERVIEW_SESSION",
    "CLAUDE_CODE_BRIDGE_SESSION_ID",
    "CLAUDE_CODE_HOST_WORKTREE",
    "CLAUDE_CODE_HOST_WORKTREE_FENCE",
    "CLAUDE_CODE_PLUGIN_DIRS",
    "CLAUDE_CODE_ATTRIBUTION_PROJECT",
    "CLAUDE_CODE_SKIP_PLUGIN_LOCAL_MCP_SERVERS",
    "CLAUDE_CODE_SKIP_PLUGIN_MCP_BUNDLES",
    "CLAUDE_CODE_PLUGIN_REMOTE_MCP_REACHABLE_HOSTS_HINT",
    // Present in hook and Bash-tool environments.
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_CODE_EXECPATH",
    "CLAUDE_PID",
    "CLAUDE_EFFORT",
    "AI_AGENT",
    "TRACEPARENT",
    "CLAUDE_ENV_FILE",
    "CLAUDE_PLUGIN_ROOT",
    "CLAUDE_PLUGIN_DATA",
    "CLAUDE_PROJECT_DIR",
    "CLAUDE_JOB_DIR",
    "CLAUDE_CODE_SESSION_ACCESS_TOKEN",
    // orc's own per-session variables: the caller sets them for the worker.
    // A cold-started background supervisor would otherwise hand the first
    // caller's values to every later session.
    "ORC_SESSION",
    "ORC_ISSUE",
    "ORC_KIND",
    "ORC_STATE_DIR",
    "ORC_ENV",
];

/// Variables removed by prefix (whole families of markers).
const PREFIXES: &[&str] = &["CLAUDE_BG_", "CLAUDE_CODE_MESSAGING_"];

/// Whether `name` is removed from a worker's environment.
pub fn is_scrubbed(name: &str) -> bool {
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The environment `vars` without the scrubbed variables, order kept.
pub fn scrub(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.into_iter()
        .filter(|(name, _)| !is_scrubbed(name))
        .collect()
}
