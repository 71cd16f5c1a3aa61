//! Telling that an agent waits on a person: a permission prompt.

/// Whether the agent's last output shows it waiting for a permission
/// decision: an interactive prompt on screen, or (headless Claude) a tool
/// call refused for lack of permission as the last thing that happened.
/// Only the last lines count, and the model's own text never does, so a
/// worker whose task talks about permissions is not taken for blocked.
pub fn looks_blocked(output_tail: &str) -> bool {
    output_tail
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(5)
        .any(|line| {
            if line.starts_with('{') {
                return json_blocked(line);
            }
            let lower = line.to_lowercase();
            PROMPTS.iter().any(|p| lower.contains(p))
        })
}

/// What interactive agent CLIs print when they stop for a decision.
const PROMPTS: &[&str] = &[
    "do you want to proceed?",
    "do you want to make this edit",
    "do you want to create",
    "waiting for permission",
    "requires approval",
    "allow this action?",
    "approve this command?",
];

fn json_blocked(line: &str) -> bool {
    let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    match event.get("type").and_then(|t| t.as_str()) {
        // A headless turn that ended with tools refused for permission.
        Some("result") => event
            .get("permission_denials")
            .and_then(|d| d.as_array())
            .is_some_and(|d| !d.is_empty()),
        // A tool result refused for want of permission. Claude Code 2.1.328
        // marks it in `tool_result_meta[].permission_decision` and words it
        // "This command requires approval" or "<command> in '<path>' needs
        // approval. …" (both observed); earlier versions said "requested
        // permissions … haven't granted it yet".
        Some("user") => {
            let rejected = event["tool_result_meta"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|x| x["permission_decision"]["decision"] == "reject")
            });
            let text = event.to_string().to_lowercase();
            text.contains("\"is_error\":true")
                && (rejected
                    || text.contains("requires approval")
                    || text.contains("needs approval")
                    || (text.contains("permission") && text.contains("requested permissions")))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_and_denials_are_blocked() {
        assert!(looks_blocked(
            "working...\nDo you want to proceed?\n❯ 1. Yes\n  2. No\n"
        ));
        assert!(looks_blocked(
            r#"{"type":"result","subtype":"success","permission_denials":[{"tool_name":"Bash"}]}"#
        ));
        assert!(!looks_blocked(
            r#"{"type":"result","subtype":"success","permission_denials":[]}"#
        ));
        assert!(!looks_blocked(
            r#"{"type":"assistant","message":{"content":"Do you want to proceed?"}}"#
        ));
        assert!(!looks_blocked(
            "Do you want to proceed?\n1\n2\n3\n4\n5\n6\n"
        ));
        assert!(!looks_blocked(""));
        // Recorded from Claude Code 2.1.328.
        assert!(looks_blocked(
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"This command requires approval","is_error":true,"tool_use_id":"toolu_1"}]},"tool_result_meta":[{"id":"toolu_1","non_execution_kind":"user-rejected","permission_decision":{"decision":"reject","source":"config"}}]}"#
        ));
        assert!(looks_blocked(
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"touch in '/tmp/x' needs approval. The path is outside the working directories for this session ('/repo'). Allowing runs the command as written.","is_error":true,"tool_use_id":"toolu_1"}]}}"#
        ));
    }
}
