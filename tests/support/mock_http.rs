//! The plumbing the loopback model-API mocks share (mock_anthropic.rs,
//! mock_openai.rs, mock_gemini.rs): a server on 127.0.0.1 with an
//! ephemeral port that reads one HTTP/1.1 request a connection, lets the
//! API's handler answer it, records it, and closes the connection. It
//! answers at most `max_requests` requests and nothing after its deadline.
//!
//! What the scripted model answers ([`Reply`]) is the same for every API;
//! each mock turns it into its own wire format.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// What the scripted model answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// End the turn with this text.
    Text(String),
    /// Run this shell command with the CLI's shell tool.
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

/// How a request is kept in the record.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Not recorded (probes such as `HEAD /`).
    No,
    /// Recorded as answered with this reply.
    Answered(Reply),
    /// Recorded as unmatched: no endpoint or no script step for it.
    Unmatched,
}

/// The handler's answer to one request.
pub struct Answer {
    /// Status line text, e.g. `200 OK`.
    pub status: &'static str,
    /// The content type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// How the request is recorded.
    pub kept: Kept,
}

impl Answer {
    /// `200 OK` with a JSON body.
    pub fn json(body: &Value, kept: Kept) -> Answer {
        Answer {
            status: "200 OK",
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            kept,
        }
    }

    /// `200 OK` with a stream of server-sent events.
    pub fn events(text: String, kept: Kept) -> Answer {
        Answer {
            status: "200 OK",
            content_type: "text/event-stream",
            body: text.into_bytes(),
            kept,
        }
    }

    /// `404 Not Found` with a JSON error body, recorded as unmatched.
    pub fn not_found(body: &Value) -> Answer {
        Answer {
            status: "404 Not Found",
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            kept: Kept::Unmatched,
        }
    }
}

/// What a handler gets: method, path (with its query) and the JSON body.
pub type Handler = dyn Fn(&str, &str, &Value) -> Answer + Send + Sync;

/// A running mock server; stopped on drop.
pub struct Server {
    name: &'static str,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    describe: fn(&Value) -> String,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Start serving on 127.0.0.1 with an ephemeral port. `name` prefixes
    /// the server's own lines on stderr; `describe` sums a request body up
    /// in the transcript.
    pub fn start(
        name: &'static str,
        handler: impl Fn(&str, &str, &Value) -> Answer + Send + Sync + 'static,
        describe: fn(&Value) -> String,
        max_requests: usize,
        lifetime: Duration,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let limits = Limits {
            name,
            max_requests,
            deadline: Instant::now() + lifetime,
        };
        let (s, v) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || serve(listener, handler, s, v, limits));
        Server {
            name,
            addr,
            stop,
            seen,
            describe,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// The requests no endpoint or script step matched.
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
                let what: String = (self.describe)(&s.body).chars().take(160).collect();
                format!("{} -> {:?} ({what:?})", s.line, s.reply)
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

    /// The name the server prints its lines under.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Limits {
    name: &'static str,
    max_requests: usize,
    deadline: Instant,
}

fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    limits: Limits,
) {
    let name = limits.name;
    let served = AtomicUsize::new(0);
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) && Instant::now() < limits.deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                if served.fetch_add(1, Ordering::SeqCst) >= limits.max_requests {
                    eprintln!(
                        "{name}: request limit {} reached; refusing",
                        limits.max_requests
                    );
                    drop(stream);
                    continue;
                }
                let (handler, seen) = (handler.clone(), seen.clone());
                handlers.push(std::thread::spawn(move || {
                    if let Err(e) = handle(stream, &*handler, &seen) {
                        eprintln!("{name}: connection error: {e}");
                    }
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("{name}: accept failed: {e}");
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

fn handle(
    mut stream: TcpStream,
    handler: &Handler,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    let (line, raw) = read_request(&stream)?;
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let answer = handler(method, path, &body);
    let reply = match &answer.kept {
        Kept::No => None,
        Kept::Answered(reply) => Some(Some(reply.clone())),
        Kept::Unmatched => Some(None),
    };
    if let Some(reply) = reply
        && let Ok(mut v) = seen.lock()
    {
        v.push(Seen {
            line: format!("{method} {path}"),
            body,
            reply,
        });
    }
    let head = format!(
        "HTTP/1.1 {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nrequest-id: req_mock\r\nconnection: close\r\n\r\n",
        answer.status,
        answer.content_type,
        answer.body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&answer.body)?;
    stream.flush()
}

/// `event: NAME` / `data: JSON` blocks, one per event, as SSE text.
pub fn sse(events: &[(&str, Value)]) -> String {
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}
