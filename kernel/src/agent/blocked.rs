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
        // A tool result that says the permission was not granted.
        Some("user") => {
            let text = event.to_string().to_lowercase();
            text.contains("\"is_error\":true")
                && text.contains("permission")
                && text.contains("requested permissions")
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
    }
}
