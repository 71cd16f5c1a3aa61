//! The orc commands that only look — `orc-ps`, `orc-watch`, `orc-ctl logs`,
//! `orc-ctl env`, `orc-queue` (its table) — allowed by orc's PreToolUse hook
//! in any turn of a session.
//!
//! Why a hook: a skill's `allowed-tools` hold for the turn that invoked it
//! only. `/orc:dispatch` starts `orc-dispatch` in the background and is
//! called back in a later turn, where its `orc-ps --health` and
//! `orc-ctl logs N` were refused. Only commands that change nothing are
//! allowed here, written plainly: one command, no shell syntax at all (no
//! pipes, redirections, substitutions, globs, quotes or `;`), named bare
//! (found on PATH, as the plugin's `bin/` puts them) or by the plugin's own
//! `bin/` path. Anything else gets no opinion: Claude Code asks as usual.

use serde::Deserialize;

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    hook_event_name: String,
    #[serde(default)]
    tool_name: String,
    #[serde(default)]
    tool_input: ToolInput,
}

#[derive(Deserialize, Default)]
struct ToolInput {
    #[serde(default)]
    command: String,
}

/// The hook's stdout for a PreToolUse event: an allow decision for a
/// read-only orc command, else `None` (print nothing, exit 0).
pub fn pre_tool_use(stdin: &[u8], plugin_root: Option<&str>) -> Option<String> {
    let input: Input = serde_json::from_slice(stdin).ok()?;
    if input.hook_event_name != "PreToolUse" || input.tool_name != "Bash" {
        return None;
    }
    read_only(&input.tool_input.command, plugin_root).then(|| {
        serde_json::json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": "orc: a read-only orc command",
        }})
        .to_string()
    })
}

/// Whether `command` is one read-only orc command, plainly written.
pub fn read_only(command: &str, plugin_root: Option<&str>) -> bool {
    let plain = |c: char| c.is_ascii_alphanumeric() || " ._/=:,-".contains(c);
    if command.trim().is_empty() || !command.chars().all(plain) {
        return false;
    }
    let words: Vec<&str> = command.split(' ').filter(|w| !w.is_empty()).collect();
    let Some(tool) = words.first().and_then(|w| tool_name(w, plugin_root)) else {
        return false;
    };
    let rest = &words[1..];
    match tool {
        "orc-ps" | "orc-watch" => true,
        "orc-ctl" => matches!(rest.first(), Some(&"logs" | &"env")),
        "orc-queue" => rest.iter().all(|w| w.starts_with('-')),
        _ => false,
    }
}

/// `orc-ps` for `orc-ps` or `<plugin root>/bin/orc-ps`; `None` for any
/// other path (an `orc-ps` elsewhere is not orc's).
fn tool_name<'a>(word: &'a str, plugin_root: Option<&str>) -> Option<&'a str> {
    if !word.contains('/') {
        return Some(word);
    }
    let root = plugin_root?.trim_end_matches('/');
    let name = word.strip_prefix(root)?.strip_prefix("/bin/")?;
    (!name.contains('/')).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_read_only_orc_commands_are_allowed() {
        for ok in [
            "orc-ps",
            "orc-ps --health",
            "orc-ps --all --json",
            "orc-watch --any --timeout 540 1 2",
            "orc-ctl logs 12",
            "orc-ctl env",
            "orc-queue",
            "orc-queue --json",
            "/p/orc/bin/orc-ps --health",
        ] {
            assert!(read_only(ok, Some("/p/orc")), "{ok}");
        }
        for no in [
            "",
            "orc-ctl kill 12",
            "orc-ctl resume 12",
            "orc-spawn 12",
            "orc-dispatch land 12",
            "orc-queue skip 3",
            "orc-ps; rm -rf ~",
            "orc-ps && rm x",
            "orc-ps | sh",
            "orc-ps > /etc/passwd",
            "orc-ctl logs $(rm x)",
            "orc-ctl logs `id`",
            "orc-ps\nrm x",
            "orc-ctl logs \"12\"",
            "/tmp/bin/orc-ps",
            "/p/orc/bin/../../tmp/orc-ps",
            "orc-ps *",
        ] {
            assert!(!read_only(no, Some("/p/orc")), "{no:?}");
        }
    }

    #[test]
    fn the_hook_answers_allow_for_bash_only() {
        let event = |tool: &str, cmd: &str| {
            serde_json::json!({"hook_event_name": "PreToolUse", "tool_name": tool,
                               "tool_input": {"command": cmd}})
            .to_string()
        };
        let out =
            pre_tool_use(event("Bash", "orc-ps --health").as_bytes(), None).unwrap_or_default();
        assert!(out.contains("\"permissionDecision\":\"allow\""), "{out}");
        assert_eq!(
            pre_tool_use(event("Bash", "orc-spawn 1").as_bytes(), None),
            None
        );
        assert_eq!(
            pre_tool_use(event("Write", "orc-ps").as_bytes(), None),
            None
        );
        assert_eq!(pre_tool_use(b"not json", None), None);
    }
}
