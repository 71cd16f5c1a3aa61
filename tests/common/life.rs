//! Lifecycle helpers: local issues, the scripted fake agent, spawning.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use super::{TestEnv, path_var};

/// `tests/bin`, where the scripted fake agent lives.
pub fn fake_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("bin")
}

/// Write `.orc/issues/<n>.md` with `title` and a body that picks the fake
/// agent's behaviour (`fake-mode: MODE`).
pub fn add_issue(env: &TestEnv, n: u32, title: &str, mode: &str) {
    let dir = env.repo.join(".orc").join("issues");
    std::fs::create_dir_all(&dir).expect("create .orc/issues");
    let text = format!("---\ntitle: {title}\n---\nIssue {n} of the tests.\n\nfake-mode: {mode}\n");
    std::fs::write(dir.join(format!("{n}.md")), text).expect("write issue");
}

/// A tool command whose workers run the fake agent.
pub fn with_fake_agent(env: &TestEnv, name: &str) -> Command {
    let mut cmd = env.cmd(name);
    let mut path = fake_bin().into_os_string();
    path.push(":");
    path.push(path_var());
    cmd.env("PATH", path)
        .env("ORC_AGENT", "custom")
        .env("ORC_AGENT_CMD", "fake-agent {issue}")
        .env("ORC_TRACKER", "local");
    cmd
}
