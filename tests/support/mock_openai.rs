//! A loopback mock of the OpenAI Responses API, for driving the real
//! `codex` CLI offline: a custom provider in `$CODEX_HOME/config.toml`
//! (`[model_providers.<id>]` with `base_url = "http://127.0.0.1:<port>/v1"`
//! and `wire_api = "responses"`), see [`codex_config`].
//!
//! Every `POST …/responses` gets the server-sent events of one streamed
//! response: `response.created`, one `response.output_item.done` (an
//! assistant message, or a function call) and `response.completed`. The
//! model's replies are scripted as in mock_anthropic.rs: [`Reply::Bash`] is
//! a call of codex's `exec_command` tool (`{"cmd": …}`). The server (bound
//! to 127.0.0.1, bounded in requests and time, recording every request) is
//! mock_http.rs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

#[path = "mock_http.rs"]
mod http;

use http::{Answer, Kept, Server};
// Each test crate uses only some of these.
#[allow(unused_imports)]
pub use http::{Reply, Script, Seen};

/// codex's shell tool.
pub const SHELL_TOOL: &str = "exec_command";

/// A running mock of the Responses API; stopped on drop.
pub struct MockOpenAi(Server);

impl MockOpenAi {
    /// Start serving on 127.0.0.1 with an ephemeral port.
    pub fn start(
        script: impl Fn(&Value) -> Option<Reply> + Send + Sync + 'static,
        max_requests: usize,
        lifetime: Duration,
    ) -> MockOpenAi {
        let handler =
            move |method: &str, path: &str, body: &Value| answer(&script, method, path, body);
        MockOpenAi(Server::start(
            "mock-openai",
            handler,
            last_user_text,
            max_requests,
            lifetime,
        ))
    }

    /// The API's base URL, `http://127.0.0.1:<port>/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/v1", self.base_url())
    }
}

impl Deref for MockOpenAi {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl DerefMut for MockOpenAi {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.0
    }
}

/// A `config.toml` for `$CODEX_HOME` that sends model `model` to the mock
/// at `api_url` (the key in environment variable `key_var`), with update
/// checks and analytics off.
pub fn codex_config(api_url: &str, model: &str, key_var: &str) -> String {
    format!(
        "model = \"{model}\"\nmodel_provider = \"mock\"\ncheck_for_update_on_startup = false\n\n\
         [analytics]\nenabled = false\n\n\
         [model_providers.mock]\nname = \"mock\"\nbase_url = \"{api_url}\"\n\
         wire_api = \"responses\"\nenv_key = \"{key_var}\"\n"
    )
}

fn answer(script: &Script, method: &str, path: &str, body: &Value) -> Answer {
    let endpoint = path.split('?').next().unwrap_or("");
    if method != "POST" || !endpoint.ends_with("/responses") {
        eprintln!("mock-openai: unmatched {method} {path}");
        return Answer::not_found(
            &json!({"error":{"type":"invalid_request_error","message":"mock: no such endpoint"}}),
        );
    }
    let reply = script(body);
    if reply.is_none() {
        eprintln!(
            "mock-openai: no script step for a request (last user text: {:?})",
            last_user_text(body).chars().take(300).collect::<String>()
        );
    }
    let kept = reply.clone().map_or(Kept::Unmatched, Kept::Answered);
    let reply =
        reply.unwrap_or_else(|| Reply::Text("mock: nothing scripted for this request".into()));
    Answer::events(events(&reply), kept)
}

static IDS: AtomicUsize = AtomicUsize::new(1);

/// The output item of a reply: an assistant message or a function call.
fn item(reply: &Reply, n: usize) -> Value {
    match reply {
        Reply::Text(text) => json!({
            "type": "message", "role": "assistant", "id": format!("msg_mock_{n:04}"),
            "content": [{"type": "output_text", "text": text}]
        }),
        Reply::Bash(command) => item(
            &Reply::Tool {
                name: SHELL_TOOL.into(),
                input: json!({"cmd": command}),
            },
            n,
        ),
        Reply::Tool { name, input } => json!({
            "type": "function_call", "id": format!("fc_mock_{n:04}"),
            "call_id": format!("call_mock_{n:04}"), "name": name,
            "arguments": input.to_string()
        }),
    }
}

/// The events of one streamed response.
fn events(reply: &Reply) -> String {
    let n = IDS.fetch_add(1, Ordering::SeqCst);
    let id = format!("resp_mock_{n:04}");
    let usage = json!({
        "input_tokens": 10, "input_tokens_details": null,
        "output_tokens": 5, "output_tokens_details": null, "total_tokens": 15
    });
    http::sse(&[
        (
            "response.created",
            json!({"type": "response.created", "response": {"id": id}}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": item(reply, n)}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed", "response": {"id": id, "usage": usage}}),
        ),
    ])
}

// ---- Reading a request, for scripts ----

/// The text of an input item: a message's text parts, or a function
/// call's output.
fn item_text(item: &Value) -> String {
    match item["type"].as_str() {
        Some("message") => match &item["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        },
        Some("function_call_output") => match &item["output"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        _ => String::new(),
    }
}

/// The request's input items.
pub fn items(body: &Value) -> Vec<Value> {
    body["input"].as_array().cloned().unwrap_or_default()
}

/// The whole request as text: instructions, every message and every
/// function call output.
pub fn conversation_text(body: &Value) -> String {
    let mut text = body["instructions"].as_str().unwrap_or("").to_string();
    for item in items(body) {
        text.push('\n');
        text.push_str(&item_text(&item));
    }
    text
}

/// The text of the last user message.
pub fn last_user_text(body: &Value) -> String {
    items(body)
        .iter()
        .rev()
        .find(|i| i["type"] == "message" && i["role"] == "user")
        .map(item_text)
        .unwrap_or_default()
}

/// The shell commands (`exec_command` calls) the model has made so far, in
/// order.
pub fn shell_calls(body: &Value) -> Vec<String> {
    items(body)
        .iter()
        .filter(|i| i["type"] == "function_call" && i["name"] == SHELL_TOOL)
        .filter_map(|i| serde_json::from_str::<Value>(i["arguments"].as_str()?).ok())
        .map(|a| a["cmd"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The outputs of the function calls so far, in order.
pub fn tool_outputs(body: &Value) -> Vec<String> {
    items(body)
        .iter()
        .filter(|i| i["type"] == "function_call_output")
        .map(item_text)
        .collect()
}

/// The names of the tools the request offers.
pub fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}
