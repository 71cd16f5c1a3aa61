//! How the agent CLIs other than Claude Code are started: a table of
//! their command lines in both modes, and what they need beyond it.

use std::path::Path;

use super::{AgentKind, Launch, Mode, Prompt, Spec, argv_prompt, push_prompt};
use crate::error::{Error, Result};

/// The words before the prompt in one mode, and where the prompt goes.
type Form = (&'static [&'static str], Prompt);

/// How the agent CLIs other than Claude take a prompt, one row each:
/// (agent, program, headless form, interactive form). Correct them here.
///
/// Each form lets a worker work unattended in its worktree, as Claude's
/// pre-granted tools do (checked by a real worker turn of each CLI in
/// tests/e2e_agents.rs; without these flags none of them gets there):
///
/// - codex: `--sandbox danger-full-access`, because its default sandbox is
///   read-only (no file in the worktree could be written), and the
///   workspace-write one keeps the repository's `.git`, where a worktree's
///   commits go, read-only, leaves orc's state directory (`orc-state`,
///   `orc-notify`) unwritable unless it lies under `/tmp`, cuts the network
///   (`git push`, `gh`) and needs user namespaces or Landlock, which
///   containers often lack; `--config allow_login_shell=false`, because its
///   shell tool otherwise runs `bash -lc`, whose `/etc/profile` (Debian,
///   Ubuntu) resets `PATH` and loses the orc tools the worker's `PATH`
///   starts with. Interactive, it also trusts the worktree for that session
///   ([`codex_trust`]): codex otherwise opens on "Trust this folder?" in
///   every new worktree.
/// - opencode: `--auto`, because `opencode run` rejects every permission
///   it would ask for, reading the prompt file outside the worktree
///   (orc's state directory) among them.
/// - gemini: `--skip-trust`, because it refuses to run headless in a
///   folder not yet trusted, and every worktree is new; `--approval-mode
///   yolo`, because headless it otherwise offers the model no shell tool.
const OTHERS: &[(AgentKind, &str, Form, Form)] = &[
    (
        AgentKind::Codex,
        "codex",
        (
            &[
                "exec",
                "--sandbox",
                "danger-full-access",
                "--config",
                "allow_login_shell=false",
            ],
            Prompt::Operand,
        ),
        (
            &[
                "--sandbox",
                "danger-full-access",
                "--config",
                "allow_login_shell=false",
            ],
            Prompt::Operand,
        ),
    ),
    (
        AgentKind::Opencode,
        "opencode",
        (&["run", "--auto"], Prompt::Operand),
        (&["--auto", "--prompt"], Prompt::Value("--prompt")),
    ),
    (
        AgentKind::Gemini,
        "gemini",
        (
            &["--skip-trust", "--approval-mode", "yolo", "-p"],
            Prompt::Value("--prompt"),
        ),
        (
            &["--skip-trust", "--approval-mode", "yolo", "-i"],
            Prompt::Value("--prompt-interactive"),
        ),
    ),
];

/// The program and argv that start `agent` (codex, opencode or gemini) in
/// `mode` for `spec`.
pub(super) fn command(agent: AgentKind, mode: Mode, spec: &Spec) -> Result<Launch> {
    let Some((_, program, headless, interactive)) = OTHERS.iter().find(|row| row.0 == agent) else {
        return Err(Error::failure(
            "no command line known for agent",
            agent.as_str(),
        ));
    };
    let (words, at) = match mode {
        Mode::Headless => headless,
        Mode::Interactive => interactive,
    };
    let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    if agent == AgentKind::Codex && mode == Mode::Interactive {
        // Before the prompt: a `Prompt::Value` form must end in its flag.
        args.extend(["--config".to_string(), codex_trust(&spec.worktree)?]);
    }
    push_prompt(&mut args, *at, &argv_prompt(spec));
    Ok(Launch {
        program: program.to_string(),
        args,
        stdin_prompt: false,
    })
}

/// The `--config` value that trusts `worktree` in codex for one session
/// (`projects."<dir>".trust_level`, as an inline TOML table; nothing is
/// written to the user's `config.toml`).
///
/// Errors (usage): a worktree path that is not UTF-8.
fn codex_trust(worktree: &Path) -> Result<String> {
    let dir = worktree.to_str().ok_or_else(|| {
        Error::usage("worktree path is not UTF-8", worktree.display().to_string())
    })?;
    // A TOML basic string: backslash, quote and control characters escaped.
    let mut key = String::with_capacity(dir.len() + 2);
    for c in dir.chars() {
        match c {
            '\\' => key.push_str("\\\\"),
            '"' => key.push_str("\\\""),
            c if c.is_control() => key.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => key.push(c),
        }
    }
    Ok(format!(
        "projects={{\"{key}\"={{trust_level=\"trusted\"}}}}"
    ))
}
