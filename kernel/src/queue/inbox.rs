//! The control inbox: orders for a running dispatcher (`orc-queue retry
//! 12`), and its replies.
//!
//! An order is a file `<id>.order` in `<session>/queue.inbox/`, written
//! atomically; the sender then rings the dispatcher's doorbell
//! (`<session>/dispatch.wake`), so the order is taken at the dispatcher's
//! next step instead of its next poll. The dispatcher applies orders in
//! the order they were posted, writes `<id>.reply` and removes the order;
//! the sender reads the reply and removes it. An order left by a sender
//! that gave up waiting is still applied, and its reply is left behind for
//! `orc-gc`-style cleanup by the next sender (replies older than an hour go).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{ensure_private_dir, read_json, write_atomic};
use crate::ids::Issue;
use crate::session::Session;

/// What a person asks of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "kebab-case")]
pub enum Order {
    /// Try again now, with the attempt count reset.
    Retry,
    /// Leave the issue out.
    Skip,
    /// Put an issue that gave up, is unverified or escalated back in the queue.
    Requeue,
    /// Run at this priority (a name or a nice value).
    Prio {
        /// `critical`, `high`, `normal`, `low` or `0`-`19`.
        level: String,
    },
    /// Do not start the issue until released.
    Hold,
    /// Undo a hold.
    Release,
}

impl Order {
    /// The order's name, as `orc-queue` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Order::Retry => "retry",
            Order::Skip => "skip",
            Order::Requeue => "requeue",
            Order::Prio { .. } => "prio",
            Order::Hold => "hold",
            Order::Release => "release",
        }
    }
}

/// One order on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Its id (the file's name without `.order`).
    pub id: String,
    /// The issue.
    pub issue: Issue,
    /// The order.
    #[serde(flatten)]
    pub order: Order,
    /// When it was posted.
    pub at: String,
    /// Who posted it.
    pub pid: u32,
}

/// The dispatcher's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Whether the order was applied.
    pub ok: bool,
    /// What was done, or why not.
    pub detail: String,
}

/// The inbox directory of `session`.
pub fn dir(session: &Session) -> PathBuf {
    session.dir().join("queue.inbox")
}

/// The dispatcher's doorbell: a FIFO it listens on while it waits.
pub fn wake_path(session: &Session) -> PathBuf {
    session.dir().join("dispatch.wake")
}

/// The pid file of the dispatcher that holds the session's dispatch lock.
pub fn pid_path(session: &Session) -> PathBuf {
    session.dir().join("dispatch.pid")
}

/// Post `order` about `issue`; returns the request (its id names the reply).
pub fn post(session: &Session, issue: Issue, order: Order) -> Result<Request> {
    let inbox = dir(session);
    ensure_private_dir(&inbox)?;
    let at = crate::clock::now_rfc3339()?;
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let id = format!("{nanos:024}-{}", std::process::id());
    let req = Request {
        id: id.clone(),
        issue,
        order,
        at,
        pid: std::process::id(),
    };
    let bytes = serde_json::to_vec(&req)
        .map_err(|e| Error::failure(format!("cannot encode the order: {e}"), id.clone()))?;
    write_atomic(&inbox.join(format!("{id}.order")), &bytes, 0o600)?;
    // The doorbell only makes the dispatcher faster; its poll finds the
    // order anyway.
    let _ = crate::wake::ring(&wake_path(session), "order");
    Ok(req)
}

/// The orders waiting, oldest first. An unreadable one is answered with an
/// error and removed, so it cannot block the ones behind it.
pub fn pending(session: &Session) -> Result<Vec<Request>> {
    let inbox = dir(session);
    let Ok(entries) = std::fs::read_dir(&inbox) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".order"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let path = inbox.join(&name);
        let id = name.trim_end_matches(".order").to_string();
        match read_json::<Request>(&path, "order") {
            Ok(Some(req)) => out.push(req),
            Ok(None) => {}
            Err(e) => {
                let reply = Reply {
                    ok: false,
                    detail: format!("unreadable order: {}", e.what()),
                };
                write_reply(&inbox, &id, &reply)?;
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(out)
}

/// Answer `req` and take it out of the inbox.
pub fn answer(session: &Session, req: &Request, reply: &Reply) -> Result<()> {
    let inbox = dir(session);
    write_reply(&inbox, &req.id, reply)?;
    let path = inbox.join(format!("{}.order", req.id));
    std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))
}

fn write_reply(inbox: &Path, id: &str, reply: &Reply) -> Result<()> {
    let bytes = serde_json::to_vec(reply)
        .map_err(|e| Error::failure(format!("cannot encode a reply: {e}"), id.to_string()))?;
    write_atomic(&inbox.join(format!("{id}.reply")), &bytes, 0o600)
}

/// Wait up to `patience` for the reply to `req`; `None` when none came.
/// The reply is removed once read, and replies older than an hour that
/// nobody read are cleared.
pub fn wait_reply(session: &Session, req: &Request, patience: Duration) -> Result<Option<Reply>> {
    let inbox = dir(session);
    let path = inbox.join(format!("{}.reply", req.id));
    let deadline = Instant::now() + patience;
    loop {
        if let Some(reply) = read_json::<Reply>(&path, "reply")? {
            let _ = std::fs::remove_file(&path);
            clear_old_replies(&inbox);
            return Ok(Some(reply));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn clear_old_replies(inbox: &Path) {
    let hour = Duration::from_secs(3600);
    for entry in std::fs::read_dir(inbox).into_iter().flatten().flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > hour);
        if old && entry.file_name().to_string_lossy().ends_with(".reply") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_flat_json() {
        let req = Request {
            id: "1-2".into(),
            issue: Issue::from(12),
            order: Order::Prio {
                level: "high".into(),
            },
            at: "t".into(),
            pid: 2,
        };
        let text = serde_json::to_string(&req).unwrap_or_default();
        assert!(text.contains(r#""order":"prio","level":"high""#), "{text}");
        let back: Option<Request> = serde_json::from_str(&text).ok();
        assert_eq!(back, Some(req));
    }
}
