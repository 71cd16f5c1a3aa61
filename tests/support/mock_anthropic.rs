//! A loopback mock of the Anthropic Messages API, for driving the real
//! `claude` CLI offline (`ANTHROPIC_BASE_URL=http://127.0.0.1:<port>`).
//!
//! The model's replies are scripted: a test gives a function from the
//! request body (system prompt, conversation, tools) to the next [`Reply`],
//! a final text or one tool call. Requests with `"stream": true` get the
//! server-sent events of the streaming Messages API; others get one JSON
//! message. The server binds 127.0.0.1 on an ephemeral port, answers at
//! most `max_requests` requests and nothing after its deadline, closes every
//! connection after one response, and records every request so a test can
//! assert on what the CLI sent (and print what no script step matched).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the scripted model answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// End the turn with this text.
    Text(String),
    /// Call the Bash tool with this command.
    Bash(String),
    /// Call any tool with this input.
    Tool {
        /// The tool's name.
        name: String,
        /// Its input object.
        input: Value,
    },
}

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Request line method and path, e.g. `POST /v1/messages?beta=true`.
    pub line: String,
    /// The JSON body (Null when there was none or it did not parse).
    pub body: Value,
    /// What was answered; `None` when no script step matched.
    pub reply: Option<Reply>,
}

/// The script: the next reply for a request, or `None` when it has none.
pub type Script = dyn Fn(&Value) -> Option<Reply> + Send + Sync;

/// A running mock server; stopped on drop.
pub struct MockApi {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<JoinHandle<()>>,
}

impl MockApi {
    /// Start serving on 127.0.0.1 with an ephemeral port.
    pub fn start(
        script: impl Fn(&Value) -> Option<Reply> + Send + Sync + 'static,
        max_requests: usize,
        lifetime: Duration,
    ) -> MockApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let (s, v) = (stop.clone(), seen.clone());
        let thread =
            std::thread::spawn(move || serve(listener, script, s, v, max_requests, lifetime));
        MockApi {
            addr,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, for `ANTHROPIC_BASE_URL`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The Messages requests no script step matched.
    pub fn unmatched(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|s| s.reply.is_none())
            .collect()
    }

    /// A one-line-per-request account, for failure messages.
    pub fn transcript(&self) -> String {
        self.requests()
            .iter()
            .map(|s| {
                let last = last_user_text(&s.body);
                let last: String = last.chars().take(160).collect();
                format!("{} -> {:?} (last user: {last:?})", s.line, s.reply)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop accepting and wait for the server thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    listener: TcpListener,
    script: Arc<Script>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    max_requests: usize,
    lifetime: Duration,
) {
    let deadline = Instant::now() + lifetime;
    let served = Arc::new(AtomicUsize::new(0));
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                if served.fetch_add(1, Ordering::SeqCst) >= max_requests {
                    eprintln!("mock-anthropic: request limit {max_requests} reached; refusing");
                    drop(stream);
                    continue;
                }
                let (script, seen) = (script.clone(), seen.clone());
                handlers.push(std::thread::spawn(move || {
                    if let Err(e) = handle(stream, &*script, &seen) {
                        eprintln!("mock-anthropic: connection error: {e}");
                    }
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("mock-anthropic: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// Read one HTTP/1.1 request: request line, headers, body (by
/// Content-Length or chunked).
fn read_request(stream: &TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            if name == "content-length" {
                length = value.parse().unwrap_or(0);
            } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                let mut end = String::new();
                let _ = reader.read_line(&mut end);
                break;
            }
            let mut chunk = vec![0u8; size];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok((line, body))
}

fn handle(mut stream: TcpStream, script: &Script, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    let (line, raw) = read_request(&stream)?;
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let record = |reply: Option<Reply>| {
        if let Ok(mut v) = seen.lock() {
            v.push(Seen {
                line: format!("{method} {path}"),
                body: body.clone(),
                reply,
            });
        }
    };
    if method != "POST" {
        // HEAD /api/hello and other probes: an empty success.
        return respond(&mut stream, "200 OK", "application/json", b"");
    }
    if path.starts_with("/v1/messages/count_tokens") {
        record(Some(Reply::Text(String::new())));
        return respond(
            &mut stream,
            "200 OK",
            "application/json",
            br#"{"input_tokens":1}"#,
        );
    }
    if !path.starts_with("/v1/messages") {
        record(None);
        eprintln!("mock-anthropic: unmatched {method} {path}");
        let err = json!({"type":"error","error":{"type":"not_found_error","message":"mock: no such endpoint"}});
        return respond(
            &mut stream,
            "404 Not Found",
            "application/json",
            err.to_string().as_bytes(),
        );
    }
    let reply = script(&body);
    if reply.is_none() {
        eprintln!(
            "mock-anthropic: no script step for a request (last user text: {:?})",
            last_user_text(&body).chars().take(300).collect::<String>()
        );
    }
    record(reply.clone());
    let reply =
        reply.unwrap_or_else(|| Reply::Text("mock: nothing scripted for this request".into()));
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("claude-mock");
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        let sse = sse(&reply, model);
        respond(&mut stream, "200 OK", "text/event-stream", sse.as_bytes())
    } else {
        let msg = message(&reply, model);
        respond(
            &mut stream,
            "200 OK",
            "application/json",
            msg.to_string().as_bytes(),
        )
    }
}

fn respond(stream: &mut TcpStream, status: &str, ctype: &str, body: &[u8]) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nrequest-id: req_mock\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
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
    let mut out = String::new();
    let mut event = |name: &str, data: Value| {
        out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    };
    event(
        "message_start",
        json!({"type":"message_start","message":{
            "id":"msg_mock","type":"message","role":"assistant","model":model,"content":[],
            "stop_reason":null,"stop_sequence":null,
            "usage":{"input_tokens":10,"output_tokens":1}}}),
    );
    if content["type"] == "tool_use" {
        let start = json!({"type":"tool_use","id":content["id"],"name":content["name"],"input":{}});
        event(
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":start}),
        );
        event(
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,
                   "delta":{"type":"input_json_delta","partial_json":content["input"].to_string()}}),
        );
    } else {
        event(
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        );
        event(
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,
                   "delta":{"type":"text_delta","text":content["text"]}}),
        );
    }
    event(
        "content_block_stop",
        json!({"type":"content_block_stop","index":0}),
    );
    event(
        "message_delta",
        json!({"type":"message_delta","delta":{"stop_reason":stop,"stop_sequence":null},
               "usage":{"output_tokens":5}}),
    );
    event("message_stop", json!({"type":"message_stop"}));
    out
}

// ---- Reading a request, for scripts ----

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

/// The Bash commands the assistant has called so far, in order.
pub fn bash_calls(body: &Value) -> Vec<String> {
    messages(body)
        .into_iter()
        .filter(|(role, _)| role == "assistant")
        .filter_map(|(_, c)| c.as_array().cloned())
        .flatten()
        .filter(|b| b["type"] == "tool_use" && b["name"] == "Bash")
        .map(|b| b["input"]["command"].as_str().unwrap_or("").to_string())
        .collect()
}
