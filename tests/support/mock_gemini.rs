//! A loopback mock of the Gemini API (`generativelanguage`), for driving
//! the real `gemini` CLI offline: `GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:<port>`
//! with the API-key auth (`GEMINI_API_KEY`, and `security.auth.selectedType
//! = "gemini-api-key"` in its settings, see [`gemini_settings`]).
//!
//! `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` gets one
//! server-sent `data:` chunk holding the whole candidate;
//! `:generateContent` gets the same candidate as one JSON response and
//! `:countTokens` a count. The model's replies are scripted as in
//! mock_anthropic.rs: [`Reply::Bash`] is a call of gemini's
//! `run_shell_command` tool (`{"command": …}`). The server (bound to
//! 127.0.0.1, bounded in requests and time, recording every request) is
//! mock_http.rs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "mock_http.rs"]
mod http;

use http::{Answer, Kept, Server};
// Each test crate uses only some of these.
#[allow(unused_imports)]
pub use http::{Reply, Script, Seen};

/// gemini's shell tool.
pub const SHELL_TOOL: &str = "run_shell_command";

/// A running mock of the Gemini API; stopped on drop.
pub struct MockGemini(Server);

impl MockGemini {
    /// Start serving on 127.0.0.1 with an ephemeral port.
    pub fn start(
        script: impl Fn(&Value) -> Option<Reply> + Send + Sync + 'static,
        max_requests: usize,
        lifetime: Duration,
    ) -> MockGemini {
        let handler =
            move |method: &str, path: &str, body: &Value| answer(&script, method, path, body);
        MockGemini(Server::start(
            "mock-gemini",
            handler,
            last_user_text,
            max_requests,
            lifetime,
        ))
    }
}

impl Deref for MockGemini {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl DerefMut for MockGemini {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.0
    }
}

/// A `~/.gemini/settings.json` that authenticates with the API key, names
/// the model (so no routing classifier request is made) and turns usage
/// statistics and update checks off.
pub fn gemini_settings(model: &str) -> Value {
    json!({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "model": {"name": model},
        "privacy": {"usageStatisticsEnabled": false},
        "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false}
    })
}

fn answer(script: &Script, method: &str, path: &str, body: &Value) -> Answer {
    let endpoint = path.split('?').next().unwrap_or("");
    let action = endpoint.rsplit_once(':').map_or("", |(_, a)| a);
    if method != "POST" || !endpoint.contains("/models/") {
        eprintln!("mock-gemini: unmatched {method} {path}");
        return Answer::not_found(
            &json!({"error":{"code":404,"message":"mock: no such endpoint"}}),
        );
    }
    if action == "countTokens" {
        return Answer::json(
            &json!({"totalTokens": 1}),
            Kept::Answered(Reply::Text(String::new())),
        );
    }
    if action != "streamGenerateContent" && action != "generateContent" {
        eprintln!("mock-gemini: unmatched {method} {path}");
        return Answer::not_found(&json!({"error":{"code":404,"message":"mock: no such method"}}));
    }
    let reply = script(body);
    if reply.is_none() {
        eprintln!(
            "mock-gemini: no script step for a request (last user text: {:?})",
            last_user_text(body).chars().take(300).collect::<String>()
        );
    }
    let kept = reply.clone().map_or(Kept::Unmatched, Kept::Answered);
    let reply =
        reply.unwrap_or_else(|| Reply::Text("mock: nothing scripted for this request".into()));
    let chunk = response(&reply);
    if action == "streamGenerateContent" {
        Answer::events(format!("data: {chunk}\n\n"), kept)
    } else {
        Answer::json(&chunk, kept)
    }
}

/// One `GenerateContentResponse` holding the whole reply.
fn response(reply: &Reply) -> Value {
    let part = match reply {
        Reply::Text(text) => json!({"text": text}),
        Reply::Bash(command) => {
            json!({"functionCall": {"name": SHELL_TOOL, "args": {"command": command}}})
        }
        Reply::Tool { name, input } => json!({"functionCall": {"name": name, "args": input}}),
    };
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": [part]},
            "finishReason": "STOP", "index": 0
        }],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
        "modelVersion": "mock"
    })
}

// ---- Reading a request, for scripts ----

/// The text of one part: its text, or a function response's output.
fn part_text(part: &Value) -> String {
    if let Some(text) = part["text"].as_str() {
        return text.to_string();
    }
    let response = &part["functionResponse"]["response"];
    match response.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None if response.is_null() => String::new(),
        None => response.to_string(),
    }
}

/// Every content of the conversation with its role (`user` or `model`).
pub fn contents(body: &Value) -> Vec<(String, Vec<Value>)> {
    body["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["role"].as_str().unwrap_or("").to_string(),
                c["parts"].as_array().cloned().unwrap_or_default(),
            )
        })
        .collect()
}

/// The system instruction as one string.
pub fn system_text(body: &Value) -> String {
    body["systemInstruction"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(part_text)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole conversation as text (system instruction, every part).
pub fn conversation_text(body: &Value) -> String {
    let mut text = system_text(body);
    for (_, parts) in contents(body) {
        for part in parts {
            text.push('\n');
            text.push_str(&part_text(&part));
        }
    }
    text
}

/// The text of the last user content.
pub fn last_user_text(body: &Value) -> String {
    contents(body)
        .into_iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, parts)| parts.iter().map(part_text).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

/// The shell commands (`run_shell_command` calls) the model has made so
/// far, in order.
pub fn shell_calls(body: &Value) -> Vec<String> {
    contents(body)
        .into_iter()
        .filter(|(role, _)| role == "model")
        .flat_map(|(_, parts)| parts)
        .filter(|p| p["functionCall"]["name"] == SHELL_TOOL)
        .map(|p| {
            p["functionCall"]["args"]["command"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The outputs of the function calls so far, in order.
pub fn tool_outputs(body: &Value) -> Vec<String> {
    contents(body)
        .into_iter()
        .flat_map(|(_, parts)| parts)
        .filter(|p| p.get("functionResponse").is_some())
        .map(|p| part_text(&p))
        .collect()
}

/// The names of the functions the request declares.
pub fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["functionDeclarations"].as_array())
        .flatten()
        .filter_map(|f| f["name"].as_str().map(str::to_string))
        .collect()
}
