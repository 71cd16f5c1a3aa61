//! Telling a person, once: results that need someone (an issue escalated,
//! given up, blocked or unverified, a stall retried twice, a schedule that
//! failed) go to a desktop notification where one is available, to
//! `ORC_NOTIFY_WEBHOOK` (a Slack-compatible JSON POST), and as a comment
//! on the GitHub issue.
//!
//! De-duplicated: an issue is told about a reason once, until its reason
//! changes (or a person's order puts it back in the queue); the ledger,
//! `notified.json` in the session, survives restarts. Delivery runs on a
//! thread of its own with timeouts and retries: it never blocks the queue.
//! A delivery that fails in the end is written to the session's event log
//! (`notify-failed`).

mod webhook;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::fsutil::{read_json, write_atomic};
use crate::ids::Issue;
use crate::profile::Config;
use crate::session::Session;

pub use webhook::{body as webhook_body, post as webhook_post};

/// Where GitHub issue comments go.
#[derive(Debug, Clone)]
pub struct Github {
    /// `OWNER/REPO`, when not the repository's own.
    pub slug: Option<String>,
    /// The repository `gh` runs in.
    pub root: PathBuf,
}

/// Something a person must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The issue, when one is concerned.
    pub issue: Option<Issue>,
    /// The ledger key when no issue is concerned (a schedule's id).
    pub subject: String,
    /// Why: `escalated`, `gave-up`, `blocked`, `unverified`, `stalled`,
    /// `schedule-failed`.
    pub reason: String,
    /// What happened, in words.
    pub detail: String,
}

impl Alert {
    /// The one line people read.
    pub fn text(&self, session: &str) -> String {
        let what = match self.issue {
            Some(n) => format!("#{n} {}", self.reason),
            None => format!("{} {}", self.subject, self.reason),
        };
        format!("orc: {what}: {} (session {session})", self.detail)
    }

    fn key(&self) -> String {
        match self.issue {
            Some(n) => n.to_string(),
            None => self.subject.clone(),
        }
    }
}

/// The notifier of one dispatcher (or one schedule run).
#[derive(Debug)]
pub struct Notifier {
    webhook: Option<String>,
    desktop: bool,
    github: Option<Github>,
    session: Session,
    sent: BTreeMap<String, String>,
    off: bool,
    pending: Vec<JoinHandle<()>>,
}

impl Notifier {
    /// A notifier from the configuration (`ORC_NOTIFY_WEBHOOK`,
    /// `ORC_NOTIFY_DESKTOP`); `off` for a plan, which tells nobody.
    pub fn new(
        config: &Config,
        session: &Session,
        github: Option<Github>,
        off: bool,
    ) -> Result<Notifier> {
        let webhook = config
            .get("ORC_NOTIFY_WEBHOOK")
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        if let Some(url) = &webhook {
            webhook::check_url(url)?;
        }
        let sent = if off {
            BTreeMap::new()
        } else {
            read_json(&ledger(session), "notification ledger")?.unwrap_or_default()
        };
        Ok(Notifier {
            webhook,
            desktop: config.flag("ORC_NOTIFY_DESKTOP"),
            github,
            session: session.clone(),
            sent,
            off,
            pending: Vec::new(),
        })
    }

    /// Tell a person about `alert` unless they were told about it already;
    /// the channels it goes to (empty when it is not news).
    pub fn tell(&mut self, alert: &Alert) -> Result<Vec<String>> {
        if self.off || self.sent.get(&alert.key()) == Some(&alert.reason) {
            return Ok(Vec::new());
        }
        self.sent.insert(alert.key(), alert.reason.clone());
        self.save()?;
        let mut channels = Vec::new();
        if self.desktop && crate::desktop::command("orc", "").is_some() {
            channels.push("desktop".to_string());
        }
        if self.webhook.is_some() {
            channels.push("webhook".to_string());
        }
        // An escalation comments on the issue itself (with what to do).
        let comment = match (&self.github, alert.issue) {
            (Some(gh), Some(n)) if alert.reason != "escalated" => Some((gh.clone(), n)),
            _ => None,
        };
        if comment.is_some() {
            channels.push("github".to_string());
        }
        let (desktop, webhook) = (self.desktop, self.webhook.clone());
        let (alert, session) = (alert.clone(), self.session.clone());
        self.pending.retain(|h| !h.is_finished());
        self.pending.push(std::thread::spawn(move || {
            deliver(&alert, &session, desktop, webhook.as_deref(), comment);
        }));
        Ok(channels)
    }

    /// Forget what `issue` was told about: its next need is news again.
    pub fn forget(&mut self, issue: Issue) {
        if self.sent.remove(&issue.to_string()).is_some() {
            let _ = self.save();
        }
    }

    /// Wait up to `patience` for deliveries still under way (before exit).
    pub fn flush(&mut self, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.pending.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pending.retain(|h| !h.is_finished());
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.sent).map_err(|e| {
            Error::failure(format!("cannot encode the ledger: {e}"), "notified.json")
        })?;
        crate::fsutil::ensure_private_dir(self.session.dir())?;
        write_atomic(&ledger(&self.session), &bytes, 0o600)
    }
}

/// Forget what `issue` of `session` was told about, without a notifier
/// (`orc-queue retry` while no dispatcher runs).
pub fn forget(session: &Session, issue: Issue) -> Result<()> {
    let mut sent: BTreeMap<String, String> =
        read_json(&ledger(session), "notification ledger")?.unwrap_or_default();
    if sent.remove(&issue.to_string()).is_some() {
        let bytes = serde_json::to_vec_pretty(&sent).map_err(|e| {
            Error::failure(format!("cannot encode the ledger: {e}"), "notified.json")
        })?;
        write_atomic(&ledger(session), &bytes, 0o600)?;
    }
    Ok(())
}

/// The ledger of what was told: `{"<issue or subject>": "<reason>"}`.
fn ledger(session: &Session) -> PathBuf {
    session.dir().join("notified.json")
}

/// Send `alert` everywhere it goes; failures go to the event log.
fn deliver(
    alert: &Alert,
    session: &Session,
    desktop: bool,
    webhook: Option<&str>,
    comment: Option<(Github, Issue)>,
) {
    let text = alert.text(session.name());
    if desktop {
        crate::desktop::notify("orc needs a person", &text);
    }
    let mut failures = Vec::new();
    if let Some(url) = webhook
        && let Err(e) = webhook::post(url, &webhook::body(alert, session.name()))
    {
        failures.push(format!("webhook: {e}"));
    }
    if let Some((gh, n)) = comment
        && let Err(e) = comment_on(&gh, n, &text)
    {
        failures.push(format!("github comment: {e}"));
    }
    for detail in failures {
        let event = Event {
            ts: crate::clock::now_rfc3339().unwrap_or_default(),
            event: "notify-failed".into(),
            issue: alert.issue,
            kind: None,
            state: None,
            result: Some(alert.reason.clone()),
            detail,
            discarded: None,
            pid: std::process::id(),
        };
        let _ = events::append(session, &event);
    }
}

/// `gh issue comment N --body TEXT`, given a minute at most.
fn comment_on(gh: &Github, issue: Issue, text: &str) -> std::result::Result<(), String> {
    let mut cmd = Command::new("gh");
    cmd.args(["issue", "comment", &issue.to_string(), "--body", text]);
    if let Some(slug) = &gh.slug {
        cmd.args(["--repo", slug]);
    }
    let mut child = cmd
        .current_dir(&gh.root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run gh: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("gh exited with {status}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("gh took more than 60s".into());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Tell a person, now and without a dispatcher, that a schedule failed
/// (`orc-cron run` and `orc-at run`; the runner shows its own desktop
/// notification): a webhook POST, once per schedule until it succeeds
/// again ([`schedule_ok`]). The ledger is `notified-schedules.json` in the
/// state directory.
pub fn schedule_failed(
    config: &Config,
    state_root: &std::path::Path,
    id: &str,
    detail: &str,
) -> Result<()> {
    let Some(url) = config.get("ORC_NOTIFY_WEBHOOK").filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    webhook::check_url(url)?;
    let path = state_root.join("notified-schedules.json");
    let mut sent: BTreeMap<String, String> =
        read_json(&path, "notification ledger")?.unwrap_or_default();
    if sent.contains_key(id) {
        return Ok(());
    }
    sent.insert(id.to_string(), "schedule-failed".into());
    save_ledger(&path, &sent)?;
    let alert = Alert {
        issue: None,
        subject: format!("schedule {id}"),
        reason: "schedule-failed".into(),
        detail: detail.to_string(),
    };
    webhook::post(url, &webhook::body(&alert, "-"))
        .map_err(|e| Error::failure(format!("could not tell a person: {e}"), url.to_string()))
}

/// A schedule ran well: its next failure is news again.
pub fn schedule_ok(state_root: &std::path::Path, id: &str) -> Result<()> {
    let path = state_root.join("notified-schedules.json");
    let mut sent: BTreeMap<String, String> =
        read_json(&path, "notification ledger")?.unwrap_or_default();
    if sent.remove(id).is_some() {
        save_ledger(&path, &sent)?;
    }
    Ok(())
}

fn save_ledger(path: &std::path::Path, sent: &BTreeMap<String, String>) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(sent).map_err(|e| {
        Error::failure(
            format!("cannot encode the ledger: {e}"),
            path.display().to_string(),
        )
    })?;
    write_atomic(path, &bytes, 0o600)
}
