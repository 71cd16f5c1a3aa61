//! The worker's environment, and `.orc-env`, the file in its worktree that
//! tells orc's tools run there who the worker is.

use std::path::Path;

use crate::agent;
use crate::context::Context;
use crate::ids::{Issue, Kind};
use crate::paths;
use crate::profile::quote;

/// The environment of the shim and agent: the caller's, scrubbed of Claude
/// Code session markers and orc's per-session variables, then the worker's
/// own set explicitly, with the orc binaries first on PATH.
pub fn worker_env(ctx: &Context, kind: Kind, issue: Issue) -> Vec<(String, String)> {
    let mut env = agent::scrub(std::env::vars());
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_string());
    let path = match paths::bin_dir() {
        Some(bin) if !path.split(':').any(|p| Path::new(p) == bin) => {
            format!("{}:{path}", bin.display())
        }
        _ => path,
    };
    env.retain(|(k, _)| k != "PATH");
    env.extend([
        ("PATH".to_string(), path),
        ("ORC_SESSION".to_string(), ctx.session.name().to_string()),
        (
            "ORC_STATE_DIR".to_string(),
            ctx.state.root().display().to_string(),
        ),
        ("ORC_ENV".to_string(), ctx.config.profile().to_string()),
        ("ORC_ISSUE".to_string(), issue.to_string()),
        ("ORC_KIND".to_string(), kind.to_string()),
    ]);
    env
}

/// The text of `.orc-env`: the `ORC_*` variables and PATH of `env`.
pub(crate) fn env_file(env: &[(String, String)]) -> String {
    let mut text =
        String::from("# Written by orc-spawn: who this worker is. Data, never evaluated by orc.\n");
    for (k, v) in env
        .iter()
        .filter(|(k, _)| k.starts_with("ORC_") || k == "PATH")
    {
        text.push_str(&format!("{k}={}\n", quote(v)));
    }
    text
}
