//! A loopback mock of the Anthropic Messages API, for driving the real
//! `claude` CLI offline (`ANTHROPIC_BASE_URL=http://127.0.0.1:<port>`), and
//! `opencode` through its Anthropic provider (`options.baseURL`).
//!
//! The model's replies are scripted: a test gives a function from the
//! request body (system prompt, conversation, tools) to the next [`Reply`],
//! a final text or one tool call. Requests with `"stream": true` get the
//! server-sent events of the streaming Messages API; others get one JSON
//! message. The server binds 127.0.0.1 on an ephemeral port, answers at
//! most `max_requests` requests and nothing after its deadline, closes every
//! connection after one response, and records every request so a test can
//! assert on what the CLI sent (and print what no script step matched).
//! [`Reply::Bash`] calls the request's shell tool: `Bash` (Claude Code) or
//! `bash` (opencode). The server itself is mock_http.rs.

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

/// A running mock of the Messages API; stopped on drop. The server's
/// methods (`base_url`, `requests`, `unmatched`, `transcript`, `stop`) are
/// reached through it.
pub struct MockApi(Server);

impl MockApi {
    /// Start serving on 127.0.0.1 with an ephemeral port.
    pub fn start(
        script: impl Fn(&Value) -> Option<Reply> + Send + Sync + 'static,
        max_requests: usize,
        lifetime: Duration,
    ) -> MockApi {
        let handler =
            move |method: &str, path: &str, body: &Value| answer(&script, method, path, body);
        MockApi(Server::start(
            "mock-anthropic",
            handler,
            last_user_text,
            max_requests,
            lifetime,
        ))
    }
}

impl Deref for MockApi {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

impl DerefMut for MockApi {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.0
    }
}

fn answer(script: &Script, method: &str, path: &str, body: &Value) -> Answer {
    if method != "POST" {
        // HEAD /api/hello and other probes: an empty success.
        return Answer {
            status: "200 OK",
            content_type: "application/json",
            body: Vec::new(),
            kept: Kept::No,
        };
    }
    if path.starts_with("/v1/messages/count_tokens") {
        return Answer::json(
            &json!({"input_tokens": 1}),
            Kept::Answered(Reply::Text(String::new())),
        );
    }
    if !path.starts_with("/v1/messages") {
        eprintln!("mock-anthropic: unmatched {method} {path}");
        return Answer::not_found(
            &json!({"type":"error","error":{"type":"not_found_error","message":"mock: no such endpoint"}}),
        );
    }
    let reply = script(body);
    if reply.is_none() {
        eprintln!(
            "mock-anthropic: no script step for a request (last user text: {:?})",
            last_user_text(body).chars().take(300).collect::<String>()
        );
    }
    let kept = reply.clone().map_or(Kept::Unmatched, Kept::Answered);
    let reply =
        reply.unwrap_or_else(|| Reply::Text("mock: nothing scripted for this request".into()));
    let reply = match reply {
        Reply::Bash(command) => Reply::Tool {
            name: shell_tool(body).to_string(),
            input: json!({"command": command, "description": "scripted step"}),
        },
        other => other,
    };
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-mock");
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        Answer::events(sse(&reply, model), kept)
    } else {
        Answer::json(&message(&reply, model), kept)
    }
}

static TOOL_IDS: AtomicUsize = AtomicUsize::new(1);

/// The content block and stop reason of a reply.
fn block(reply: &Reply) -> (Value, &'static str) {
    match reply {
        Reply::Text(text) => (json!({"type":"text","text":text}), "end_turn"),
        Reply::Bash(command) => block(&Reply::Tool {
            name: "Bash".into(),
            input: json!({"command": command, "description": "scripted step"}),
        }),
        Reply::Tool { name, input } => {
            let id = format!("toolu_mock_{:04}", TOOL_IDS.fetch_add(1, Ordering::SeqCst));
            (
                json!({"type":"tool_use","id":id,"name":name,"input":input}),
                "tool_use",
            )
        }
    }
}

/// A whole (non-streaming) message.
fn message(reply: &Reply, model: &str) -> Value {
    let (content, stop) = block(reply);
    json!({
        "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
        "content": [content], "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 10, "output_tokens": 5}
    })
}

/// The streaming events of one message: message_start, one content block
/// (text deltas or one input_json_delta), message_delta, message_stop.
fn sse(reply: &Reply, model: &str) -> String {
    let (content, stop) = block(reply);
    let delta = if content["type"] == "tool_use" {
        json!({"type":"input_json_delta","partial_json":content["input"].to_string()})
    } else {
        json!({"type":"text_delta","text":content["text"]})
    };
    let start = if content["type"] == "tool_use" {
        json!({"type":"tool_use","id":content["id"],"name":content["name"],"input":{}})
    } else {
        json!({"type":"text","text":""})
    };
    http::sse(&[
        (
            "message_start",
            json!({"type":"message_start","message":{
                "id":"msg_mock","type":"message","role":"assistant","model":model,"content":[],
                "stop_reason":null,"stop_sequence":null,
                "usage":{"input_tokens":10,"output_tokens":1}}}),
        ),
        (
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":start}),
        ),
        (
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":delta}),
        ),
        (
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ),
        (
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":stop,"stop_sequence":null},
                   "usage":{"output_tokens":5}}),
        ),
        ("message_stop", json!({"type":"message_stop"})),
    ])
}

// ---- Reading a request, for scripts ----

/// The name of the request's shell tool: `Bash` unless only `bash` is offered.
fn shell_tool(body: &Value) -> &'static str {
    let offered = |name: &str| {
        body["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == name))
    };
    if !offered("Bash") && offered("bash") {
        "bash"
    } else {
        "Bash"
    }
}

/// The text of a message's content (a string, or the text of its blocks;
/// tool results included).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b["text"].as_str().unwrap_or("").to_string(),
                Some("tool_result") => content_text(&b["content"]),
                _ => String::new(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The system prompt as one string.
pub fn system_text(body: &Value) -> String {
    content_text(&body["system"])
}

/// Every message of the conversation with its role.
pub fn messages(body: &Value) -> Vec<(String, Value)> {
    body["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| {
                    (
                        m["role"].as_str().unwrap_or("").to_string(),
                        m["content"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The whole conversation as text (system prompt and every message).
pub fn conversation_text(body: &Value) -> String {
    let mut text = system_text(body);
    for (_, content) in messages(body) {
        text.push('\n');
        text.push_str(&content_text(&content));
    }
    text
}

/// The text of the last user message.
pub fn last_user_text(body: &Value) -> String {
    messages(body)
        .into_iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, c)| content_text(&c))
        .unwrap_or_default()
}

/// The text of every tool result so far, in order.
pub fn tool_outputs(body: &Value) -> Vec<String> {
    messages(body)
        .into_iter()
        .filter_map(|(_, c)| c.as_array().cloned())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| content_text(&b["content"]))
        .collect()
}

/// The shell commands (`Bash` or `bash` tool) the assistant has called so
/// far, in order.
pub fn bash_calls(body: &Value) -> Vec<String> {
    messages(body)
        .into_iter()
        .filter(|(role, _)| role == "assistant")
        .filter_map(|(_, c)| c.as_array().cloned())
        .flatten()
        .filter(|b| b["type"] == "tool_use" && (b["name"] == "Bash" || b["name"] == "bash"))
        .map(|b| b["input"]["command"].as_str().unwrap_or("").to_string())
        .collect()
}
