//! The agent CLIs other than Claude Code, checked against the real thing:
//! for `codex`, `opencode` and `gemini` (installed from npm by `.ci/run`,
//! at the versions the README names), every subcommand and flag orc puts
//! on their command lines (kernel/src/agent/others.rs, in both modes, with
//! a prompt that starts with `-` too) exists in that version's `--help`,
//! every value orc gives such a flag is among the choices the help lists
//! (`--sandbox danger-full-access`, `--approval-mode yolo`), codex accepts
//! every `--config` key orc passes under `--strict-config`, and the
//! installed version is the one `agent::checked` and the README name.
//!
//! A real worker turn of each, against a loopback mock of its API, is
//! tests/e2e_agents.rs. Skipped with one line per CLI that is missing,
//! except under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/world.rs"]
mod world;

use std::path::{Path, PathBuf};
use std::process::Command;

use orc_kernel::agent::{self, AgentKind, Mode, Spec};
use orc_kernel::ids::{Issue, Kind};

/// `program args --help`, stdout and stderr together.
fn help(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn version(program: &Path) -> String {
    let out = Command::new(program)
        .arg("--version")
        .env("HOME", std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `text` names `flag` as a whole word.
fn names(text: &str, flag: &str) -> bool {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, ',' | '[' | ']' | '=' | '|' | '<' | '>' | '"')
    })
    .any(|w| w == flag)
}

/// Every command line orc builds for `kind`: both modes, a plain prompt
/// and one that starts with `-`.
fn lines(kind: AgentKind) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for mode in [Mode::Headless, Mode::Interactive] {
        for prompt in ["fix the bug", "- fix the bug"] {
            let spec = Spec {
                kind: Kind::Worker,
                issue: Issue::from(7),
                worktree: PathBuf::from("/tmp"),
                prompt: prompt.to_string(),
                prompt_file: None,
                session_id: None,
                resume: false,
                custom_template: None,
                plugin_dir: None,
            };
            let launch = agent::command(kind, mode, &spec).unwrap();
            // The prompt itself is not a flag (`--long=PROMPT` keeps its flag).
            let words: Vec<String> = launch.args.into_iter().filter(|w| w != prompt).collect();
            out.push(words);
        }
    }
    out
}

fn check(kind: AgentKind, program: &str, package: &str) {
    let Some(path) = world::npm_cli(program, package) else {
        return;
    };
    let installed = version(&path);
    let pinned = agent::checked_version(kind).unwrap();
    assert!(
        installed.contains(pinned),
        "{program} --version says {installed:?}; orc was checked against {pinned} \
         (update agent::checked_version, the README and .ci/run together)"
    );
    let top = help(&path, &[]);
    for words in lines(kind) {
        // Leading words that are not flags are subcommands.
        let subcommands: Vec<&str> = words
            .iter()
            .take_while(|w| !w.starts_with('-'))
            .map(String::as_str)
            .collect();
        for sub in &subcommands {
            assert!(
                names(&top, sub),
                "{program} {installed} has no subcommand {sub}:\n{top}"
            );
        }
        let text = if subcommands.is_empty() {
            top.clone()
        } else {
            help(&path, &subcommands)
        };
        for word in words.iter().filter(|w| w.starts_with('-') && *w != "--") {
            let flag = word.split('=').next().unwrap();
            assert!(
                names(&text, flag),
                "{program} {installed}: orc passes {flag}, which `{program} {} --help` lacks:\n{text}",
                subcommands.join(" ")
            );
        }
        // A flag's value is one of the choices its help lists (codex's
        // `--config` pairs are checked by `codex_knows_every_config_key`).
        for pair in words[subcommands.len()..].windows(2) {
            let (flag, value) = (&pair[0], &pair[1]);
            if flag.starts_with('-') && !value.starts_with('-') && flag != "--config" {
                assert!(
                    names(&text, value),
                    "{program} {installed}: orc passes {flag} {value}, a value \
                     `{program} {} --help` does not list:\n{text}",
                    subcommands.join(" ")
                );
            }
        }
    }
}

#[test]
fn codex_has_every_flag_orc_passes() {
    check(AgentKind::Codex, "codex", "@openai/codex");
}

#[test]
fn opencode_has_every_flag_orc_passes() {
    check(AgentKind::Opencode, "opencode", "opencode-ai");
}

#[test]
fn gemini_has_every_flag_orc_passes() {
    check(AgentKind::Gemini, "gemini", "@google/gemini-cli");
}

/// Every `--config key=value` orc gives codex parses, and names a key
/// codex knows: under `--strict-config` an unknown key fails before
/// anything else, and a provider that does not exist fails after the
/// configuration loaded (offline, in a `CODEX_HOME` of its own).
#[test]
fn codex_knows_every_config_key_orc_passes() {
    let Some(path) = world::npm_cli("codex", "@openai/codex") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let mut pairs: Vec<String> = Vec::new();
    for words in lines(AgentKind::Codex) {
        for pair in words.windows(2).filter(|p| p[0] == "--config") {
            if !pairs.contains(&pair[1]) {
                pairs.push(pair[1].clone());
            }
        }
    }
    assert!(
        pairs.iter().any(|p| p.starts_with("projects=")),
        "{pairs:?}"
    );
    for pair in &pairs {
        let out = Command::new(&path)
            .args(["exec", "--strict-config", "--config", pair])
            .args(["--config", "model_provider=\"orc-check-none\"", "x"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("CODEX_HOME", home.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Model provider `orc-check-none` not found"),
            "codex refused --config {pair}:\n{text}"
        );
    }
}
