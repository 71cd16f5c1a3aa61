//! Telling that an agent waits on a person: a permission prompt, or tools
//! refused for want of permission.

/// Whether the agent's last output shows it waiting for a permission
/// decision: an interactive prompt on screen, or (headless Claude) a tool
/// call refused for lack of permission as the last thing that happened.
/// Only the last lines count, and the model's own text never does, so a
/// worker whose task talks about permissions is not taken for blocked.
pub fn looks_blocked(output_tail: &str) -> bool {
    blocked_reason(output_tail).is_some()
}

/// Why the agent is blocked, naming the refused tool where the output
/// says it (`permission denied: Bash`), or the prompt on screen; `None`
/// when it is not blocked. One line of at most 200 characters.
pub fn blocked_reason(output_tail: &str) -> Option<String> {
    let lines: Vec<&str> = super::prompt::agent_lines(output_tail).collect();
    let reason = lines.iter().rev().take(5).find_map(|line| {
        if line.starts_with('{') {
            return json_blocked(line, &lines);
        }
        let lower = line.to_lowercase();
        PROMPTS
            .iter()
            .any(|p| lower.contains(p))
            .then(|| format!("waiting on a permission prompt: {line}"))
    })?;
    let one_line: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Some(one_line)
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

fn json_blocked(line: &str, all: &[&str]) -> Option<String> {
    let event = serde_json::from_str::<serde_json::Value>(line).ok()?;
    match event.get("type").and_then(|t| t.as_str()) {
        // A headless turn that ended with tools refused for permission.
        Some("result") => {
            let denials = event.get("permission_denials")?.as_array()?;
            if denials.is_empty() {
                return None;
            }
            let mut tools: Vec<&str> = denials
                .iter()
                .map(|d| d["tool_name"].as_str().unwrap_or("a tool"))
                .collect();
            tools.dedup();
            Some(format!("permission denied: {}", tools.join(", ")))
        }
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
            let refused = text.contains("\"is_error\":true")
                && (rejected
                    || text.contains("requires approval")
                    || text.contains("needs approval")
                    || (text.contains("permission") && text.contains("requested permissions")));
            if !refused {
                return None;
            }
            let id = event["message"]["content"]
                .as_array()
                .and_then(|c| c.iter().find_map(|x| x["tool_use_id"].as_str()));
            let tool = id.and_then(|id| tool_of(id, all)).unwrap_or("a tool");
            Some(format!("permission denied: {tool}"))
        }
        _ => None,
    }
}

/// The tool an earlier `tool_use` with `id` called, if the output has it.
fn tool_of<'a>(id: &str, all: &[&'a str]) -> Option<&'a str> {
    all.iter().rev().find_map(|line| {
        if !line.contains(id) {
            return None;
        }
        let start = line.find(&format!("\"id\":\"{id}\""))?;
        let rest = &line[start..];
        let name_at = rest.find("\"name\":\"")? + 8;
        let name = &rest[name_at..];
        name.split('"').next().filter(|n| !n.is_empty())
    })
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

    #[test]
    fn the_reason_names_the_refused_tool() {
        assert_eq!(
            blocked_reason(
                r#"{"type":"result","permission_denials":[{"tool_name":"Bash"},{"tool_name":"Write"}]}"#
            )
            .as_deref(),
            Some("permission denied: Bash, Write")
        );
        let turn = concat!(
            r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"toolu_9","name":"Bash","input":{}}]}}"#,
            "\n",
            r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"This command requires approval","is_error":true,"tool_use_id":"toolu_9"}]}}"#
        );
        assert_eq!(
            blocked_reason(turn).as_deref(),
            Some("permission denied: Bash")
        );
        assert_eq!(
            blocked_reason("Do you want to proceed?\n").as_deref(),
            Some("waiting on a permission prompt: Do you want to proceed?")
        );
        assert_eq!(blocked_reason("done\n"), None);
    }
}
