//! Every interaction with an agent CLI: which program, which arguments, which
//! environment, which prompt, and how to read what it printed.
//!
//! The prompt never appears on the process table when a prompt file is
//! given ([`Spec::prompt_file`], the worker's private `prompt`): a headless
//! Claude Code reads it on standard input (`claude -p` with no prompt
//! operand); an interactive Claude, codex, opencode and gemini get one line
//! pointing at the file; a custom agent gets it where `ORC_AGENT_CMD` asks
//! (`{prompt}` the text, `{prompt_file}` the path), else on standard input.
//! Where the prompt is an argument, it is exactly one argument of an argv:
//! never pasted into a shell string nor typed into a terminal.

mod blocked;
mod env;
mod others;
mod prompt;
mod session;
mod words;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};

pub use blocked::{blocked_reason, looks_blocked};
pub use env::{is_scrubbed, scrub};
pub use prompt::{default_prompt, looks_throttled};
pub use session::{is_uuid, new_session_id, parse_background_id};
pub use words::split_words;

/// Which agent CLI runs a worker (`ORC_AGENT`, `--agent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    /// Claude Code (`claude`), the default.
    Claude,
    /// OpenAI Codex CLI (`codex`).
    Codex,
    /// opencode (`opencode`).
    Opencode,
    /// Gemini CLI (`gemini`).
    Gemini,
    /// A command template from `ORC_AGENT_CMD`.
    Custom,
}

impl AgentKind {
    /// Every agent, in display order.
    pub const ALL: [AgentKind; 5] = [
        AgentKind::Claude,
        AgentKind::Codex,
        AgentKind::Opencode,
        AgentKind::Gemini,
        AgentKind::Custom,
    ];

    /// The name used in configuration and records.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Claude => "claude",
            AgentKind::Codex => "codex",
            AgentKind::Opencode => "opencode",
            AgentKind::Gemini => "gemini",
            AgentKind::Custom => "custom",
        }
    }

    /// Parse an agent name; an unknown one is a usage error listing them all.
    pub fn parse(text: &str) -> Result<AgentKind> {
        AgentKind::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = AgentKind::ALL.iter().map(|a| a.as_str()).collect();
                Error::usage("unknown agent", text)
                    .hint(format!("agents are: {}", names.join(", ")))
            })
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        AgentKind::parse(s)
    }
}

/// How the agent is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// No terminal: the agent prints to the worker's log and exits when done.
    Headless,
    /// Attached to a terminal pane (tmux, wezterm) that a human can watch
    /// and type into.
    Interactive,
}

/// What to start an agent for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Worker or reviewer: decides the Claude agent and its tools.
    pub kind: Kind,
    /// The issue worked on.
    pub issue: Issue,
    /// The worker's git worktree (the agent's working directory).
    pub worktree: PathBuf,
    /// The whole prompt.
    pub prompt: String,
    /// A private file (0600) holding the prompt: given, the prompt travels
    /// through it or standard input instead of the argv.
    pub prompt_file: Option<PathBuf>,
    /// The Claude session UUID to create, or to resume when `resume` is set.
    pub session_id: Option<String>,
    /// Continue the session `session_id` instead of starting a new one.
    pub resume: bool,
    /// `ORC_AGENT_CMD`, the template of a custom agent.
    pub custom_template: Option<String>,
    /// Claude: the orc plugin's root, loaded with `--plugin-dir` so that
    /// `--agent orc:worker` resolves even when the orchestrator loaded the
    /// plugin only for its own session (`claude --plugin-dir`). A plugin
    /// given this way replaces an installed plugin of the same name for
    /// that session, so passing it is safe either way.
    pub plugin_dir: Option<PathBuf>,
}

/// A program and its arguments, ready for `Command::new(program).args(args)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program, looked up on PATH unless it contains a slash.
    pub program: String,
    /// The arguments (the prompt among them as exactly one only when no
    /// prompt file was given, or a custom template asks for `{prompt}`).
    pub args: Vec<String>,
    /// The agent reads the prompt on standard input (from the prompt file).
    pub stdin_prompt: bool,
}

impl Launch {
    /// The command as a POSIX shell would read it back, for logs and
    /// `--dry-run` output only: nothing ever runs this text.
    pub fn render(&self) -> String {
        let quote = |w: &str| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
            if plain {
                w.to_string()
            } else {
                crate::profile::quote(w)
            }
        };
        std::iter::once(self.program.as_str())
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The version of `agent`'s CLI that orc's command lines were checked
/// against (tests/agent_clis.rs, pinned by `.ci/run` and the README).
pub fn checked_version(agent: AgentKind) -> Option<&'static str> {
    match agent {
        AgentKind::Claude => Some("2.1.328"),
        AgentKind::Codex => Some("0.171.0"),
        AgentKind::Opencode => Some("1.18.33"),
        AgentKind::Gemini => Some("0.61.0"),
        AgentKind::Custom => None,
    }
}

/// How far orc's adapter for `agent` is checked against the real CLI, in
/// one line (`orc-ctl env`, the README).
pub fn checked(agent: AgentKind) -> String {
    match (agent, checked_version(agent)) {
        (AgentKind::Claude, Some(v)) => format!(
            "checked end to end against Claude Code {v}: real worker turns against a \
             loopback mock of its API"
        ),
        (_, Some(v)) => format!(
            "checked end to end against {} {v}: real worker turns, headless and in \
             tmux, against a loopback mock of its API",
            agent.as_str()
        ),
        _ => "your own command (ORC_AGENT_CMD): orc checks nothing of it".to_string(),
    }
}

/// The Claude Code agent that runs a worker of `kind` (defined by the plugin
/// in `agents/`); also the value of the `{agent}` placeholder.
pub fn agent_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Worker => "orc:worker",
        Kind::Reviewer => "orc:reviewer",
    }
}

/// Tools granted to a Claude worker of `kind`, without asking. Granted
/// explicitly because `--dangerously-skip-permissions` is refused as root
/// (CI containers) and a headless agent has nobody to answer a prompt.
/// Reviewers get no Edit or Write: they read and run checks, never change
/// the worktree.
pub fn claude_tools(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Worker => &["Bash", "Read", "Edit", "Write", "Glob", "Grep"],
        Kind::Reviewer => &["Bash", "Read", "Glob", "Grep"],
    }
}

/// Where the prompt goes in a command line (see agent/others.rs).
#[derive(Clone, Copy)]
enum Prompt {
    /// An operand after the fixed words.
    Operand,
    /// The value of the last fixed word, a flag whose long form is given:
    /// a prompt starting with `-` is passed as `--long=PROMPT`, because the
    /// CLI's parser would otherwise read it as a flag of its own.
    Value(&'static str),
}

/// The program and argv that start `agent` in `mode` for `spec`.
///
/// Errors (usage): a resume without a session id, a session id that is not a
/// UUID, or a custom agent without a usable `ORC_AGENT_CMD`.
pub fn command(agent: AgentKind, mode: Mode, spec: &Spec) -> Result<Launch> {
    if let Some(id) = &spec.session_id
        && !is_uuid(id)
    {
        return Err(Error::usage("session id is not a UUID", id.as_str())
            .hint("a session id looks like 0b9e4c2a-5d1f-4e3a-9c7b-2f6d8e1a4b3c"));
    }
    match agent {
        AgentKind::Claude => claude(mode, spec),
        AgentKind::Custom => custom(mode, spec),
        other => others::command(other, mode, spec),
    }
}

/// The agent for a scheduled prompt, which works on no issue: Claude runs
/// as `orc:orchestrator` (headless, with the read-and-run tools an
/// orchestrator needs); any other agent runs its ordinary headless command
/// in `dir`.
pub fn orchestrator_command(
    agent: AgentKind,
    dir: &std::path::Path,
    prompt: &str,
    custom_template: Option<String>,
    plugin_dir: Option<PathBuf>,
) -> Result<Launch> {
    if agent != AgentKind::Claude {
        let spec = Spec {
            kind: Kind::Worker,
            // A scheduled prompt works on no issue; 0 is never a real one.
            issue: Issue::from(0),
            worktree: dir.to_path_buf(),
            prompt: prompt.to_string(),
            prompt_file: None,
            session_id: None,
            resume: false,
            custom_template,
            plugin_dir: None,
        };
        let mut launch = command(agent, Mode::Headless, &spec)?;
        // A custom template that does not ask for the prompt reads it on
        // standard input, as Claude does.
        if agent == AgentKind::Custom && launch.args.last() == Some(&spec.prompt) {
            launch.args.pop();
            launch.stdin_prompt = true;
        }
        return Ok(launch);
    }
    let mut args: Vec<String> = [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--agent",
        "orc:orchestrator",
    ]
    .map(String::from)
    .to_vec();
    if let Some(dir) = plugin_dir.as_deref().and_then(|d| d.to_str()) {
        args.extend(["--plugin-dir".to_string(), dir.to_string()]);
    }
    args.extend(
        [
            "--allowedTools",
            "Bash,Read,Glob,Grep",
            "--permission-mode",
            "acceptEdits",
        ]
        .map(String::from),
    );
    // `claude -p` without a prompt operand reads the prompt on standard
    // input: the scheduled prompt never reaches the process table.
    Ok(Launch {
        program: "claude".to_string(),
        args,
        stdin_prompt: true,
    })
}

/// What stands for the prompt in an argv: a line pointing at the prompt
/// file when there is one (the text itself stays off the process table),
/// else the prompt.
fn argv_prompt(spec: &Spec) -> String {
    match &spec.prompt_file {
        Some(file) => format!(
            "Your instructions are in the file {}: read it first, then follow it.",
            file.display()
        ),
        None => spec.prompt.clone(),
    }
}

/// The orc plugin's root when it is a Claude Code plugin (a checkout, or
/// an installed copy whose `ORC_ROOT` the SessionStart hook exported).
pub fn claude_plugin_dir() -> Option<PathBuf> {
    crate::paths::plugin_root()
        .filter(|root| root.join(".claude-plugin").join("plugin.json").is_file())
}

/// Append the prompt as one argument, guarded against a leading `-`.
fn push_prompt(args: &mut Vec<String>, at: Prompt, prompt: &str) {
    let dashed = prompt.starts_with('-');
    match at {
        Prompt::Operand => {
            // `--` ends the options in clap, commander and yargs alike, so a
            // prompt such as "- fix the bug" stays an operand.
            if dashed {
                args.push("--".to_string());
            }
            args.push(prompt.to_string());
        }
        Prompt::Value(long) if dashed => {
            args.pop();
            args.push(format!("{long}={prompt}"));
        }
        Prompt::Value(_) => args.push(prompt.to_string()),
    }
}

/// `claude [-p --output-format stream-json --verbose] --agent orc:KIND
/// [--plugin-dir ROOT] --allowedTools LIST --permission-mode acceptEdits
/// [--session-id UUID | --resume UUID] [--] PROMPT`.
///
/// Checked against Claude Code 2.1.328: `--` before a prompt that starts
/// with `-` keeps it an operand, and `--session-id` is honoured with it.
/// Never `--dangerously-skip-permissions` (refused as root) and never `--bg`
/// (it conflicts with `-p`, and the shim must be the agent's parent).
fn claude(mode: Mode, spec: &Spec) -> Result<Launch> {
    let mut args: Vec<String> = Vec::new();
    if mode == Mode::Headless {
        // stream-json under -p is refused without --verbose.
        args.extend(["-p", "--output-format", "stream-json", "--verbose"].map(String::from));
    }
    args.extend(["--agent".to_string(), agent_name(spec.kind).to_string()]);
    if let Some(dir) = &spec.plugin_dir {
        let dir = dir.to_str().ok_or_else(|| {
            Error::usage("plugin directory is not UTF-8", dir.display().to_string())
        })?;
        args.extend(["--plugin-dir".to_string(), dir.to_string()]);
    }
    args.extend([
        // --allowedTools takes any number of values: it must be followed by
        // another flag, never by the prompt, or the prompt becomes a tool.
        "--allowedTools".to_string(),
        claude_tools(spec.kind).join(","),
        "--permission-mode".to_string(),
        "acceptEdits".to_string(),
    ]);
    match (&spec.session_id, spec.resume) {
        (Some(id), true) => args.extend(["--resume".to_string(), id.clone()]),
        (Some(id), false) => args.extend(["--session-id".to_string(), id.clone()]),
        // A bare --resume would take the prompt as the session to resume.
        (None, true) => {
            return Err(Error::usage("cannot resume without a session id", "claude")
                .hint("the worker's record holds the session id of its last attempt"));
        }
        (None, false) => {}
    }
    // Headless, `claude -p` reads the prompt on standard input when no
    // operand is given; interactive, it gets a line pointing at the file.
    let stdin_prompt = mode == Mode::Headless && spec.prompt_file.is_some();
    if !stdin_prompt {
        push_prompt(&mut args, Prompt::Operand, &argv_prompt(spec));
    }
    Ok(Launch {
        program: "claude".to_string(),
        args,
        stdin_prompt,
    })
}

/// The custom agent: `ORC_AGENT_CMD` split into words, placeholders filled.
/// Without `{prompt}` or `{prompt_file}`, a headless agent with a prompt
/// file reads the prompt on standard input; otherwise the prompt (or the
/// line pointing at its file) is the last argument.
fn custom(mode: Mode, spec: &Spec) -> Result<Launch> {
    let template = spec.custom_template.as_deref().unwrap_or("");
    if template.trim().is_empty() {
        return Err(
            Error::usage("no command for the custom agent", "ORC_AGENT_CMD")
                .hint("set ORC_AGENT_CMD, e.g. ORC_AGENT_CMD='my-agent --task {prompt}'"),
        );
    }
    let words = split_words(template)?;
    if words.first().is_none_or(String::is_empty) {
        return Err(Error::usage("ORC_AGENT_CMD names no program", template)
            .hint("the first word of ORC_AGENT_CMD is the program to run"));
    }
    let issue = spec.issue.to_string();
    let worktree = spec.worktree.to_str().ok_or_else(|| {
        Error::usage(
            "worktree path is not UTF-8",
            spec.worktree.display().to_string(),
        )
    })?;
    let prompt_file = match &spec.prompt_file {
        Some(f) => f.to_str().ok_or_else(|| {
            Error::usage("prompt file path is not UTF-8", f.display().to_string())
        })?,
        None => "",
    };
    if prompt_file.is_empty() && template.contains("{prompt_file}") {
        return Err(Error::usage("no prompt file for {prompt_file}", template)
            .hint("{prompt_file} is filled for workers and reviewers; use {prompt} here"));
    }
    let values = words::Values {
        prompt: &spec.prompt,
        prompt_file,
        agent: agent_name(spec.kind),
        issue: &issue,
        worktree,
    };
    let (mut words, used_prompt) = words::fill(&words, &values);
    let stdin_prompt = !used_prompt && mode == Mode::Headless && spec.prompt_file.is_some();
    // A template without a placeholder still gets the task.
    if !used_prompt && !stdin_prompt {
        words.push(argv_prompt(spec));
    }
    let mut words = words.into_iter();
    Ok(Launch {
        program: words.next().unwrap_or_default(),
        args: words.collect(),
        stdin_prompt,
    })
}

#[cfg(test)]
mod tests;
