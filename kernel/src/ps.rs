//! The process table: one row per worker, read from the records.

use serde::Serialize;

use crate::clock;
use crate::error::Result;
use crate::ids::{Issue, Kind};
use crate::liveness::Liveness;
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::record::Record;
use crate::session::Session;

/// One worker as `orc-ps` shows it. As JSON each key appears once: the
/// row's issue, kind and session, then the record's other fields, then the
/// row's own (strict parsers reject a key given twice).
#[derive(Debug, Clone)]
pub struct Row {
    /// The issue.
    pub issue: Issue,
    /// worker or reviewer.
    pub kind: Kind,
    /// The session.
    pub session: String,
    /// The record, or `None` when it is missing or unreadable.
    pub record: Option<Record>,
    /// Whether the worker's shim lives: yes, no, unknown; `-` once ended.
    pub alive: String,
    /// Seconds since the attempt started (to the end, once ended).
    pub uptime_s: u64,
    /// Memory in use by the running worker's processes, in KiB: its
    /// cgroup's `memory.current` where the memory controller is there, else
    /// the resident memory of every process of the worker but the shim.
    pub memory_kib: Option<u64>,
    /// The health verdict, when asked for.
    pub health: Option<crate::health::Verdict>,
    /// Why the record could not be read, if it could not.
    pub error: Option<String>,
}

impl Serialize for Row {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("issue", &self.issue)?;
        map.serialize_entry("kind", &self.kind)?;
        map.serialize_entry("session", &self.session)?;
        if let Some(record) = &self.record {
            let fields = match serde_json::to_value(record).map_err(S::Error::custom)? {
                serde_json::Value::Object(fields) => fields,
                _ => return Err(S::Error::custom("a record is a JSON object")),
            };
            for (key, value) in &fields {
                if !matches!(key.as_str(), "issue" | "kind" | "session") {
                    map.serialize_entry(key, value)?;
                }
            }
        }
        map.serialize_entry("alive", &self.alive)?;
        map.serialize_entry("uptime_s", &self.uptime_s)?;
        if let Some(kib) = &self.memory_kib {
            map.serialize_entry("memory_kib", kib)?;
        }
        if let Some(health) = &self.health {
            map.serialize_entry("health", health)?;
        }
        if let Some(error) = &self.error {
            map.serialize_entry("error", error)?;
        }
        map.end()
    }
}

/// The rows of `session`, or of every session when `session` is `None`.
pub fn rows(state: &StateDir, session: Option<&Session>, health: bool) -> Result<Vec<Row>> {
    let sessions = match session {
        Some(s) => vec![s.clone()],
        None => Session::list(state)?,
    };
    let now = clock::now()?;
    let mut out = Vec::new();
    // Read once, and only when some worker runs.
    let mut table: Option<crate::contain::Table> = None;
    for session in &sessions {
        for proc in Proc::list(session)? {
            let mut row = row(session, &proc, &now);
            if row.alive == Liveness::Alive.as_str()
                && let Ok(Some(ids)) = proc.shim()
            {
                let table = table.get_or_insert_with(crate::contain::Table::read);
                row.memory_kib = crate::contain::memory_kib(&proc, &ids, table);
            }
            if health {
                row.health = Some(crate::health::verdict(&proc, row.record.as_ref()));
            }
            out.push(row);
        }
    }
    Ok(out)
}

fn row(session: &Session, proc: &Proc, now: &chrono::DateTime<chrono::Utc>) -> Row {
    let (record, error) = match proc.read() {
        Ok(Some(r)) => (Some(r), None),
        Ok(None) => (None, Some("no state.json".to_string())),
        Err(e) => (None, Some(e.to_string())),
    };
    let alive = match &record {
        Some(r) if !r.state.is_active() => "-".to_string(),
        _ => liveness(proc).to_string(),
    };
    let uptime_s = record.as_ref().map_or(0, |r| {
        if r.state.is_active() {
            clock::seconds_since(&r.started_at, now)
        } else {
            clock::parse(&r.updated_at).map_or(0, |end| clock::seconds_since(&r.started_at, &end))
        }
    });
    Row {
        issue: proc.issue(),
        kind: proc.kind(),
        session: session.name().to_string(),
        record,
        alive,
        uptime_s,
        memory_kib: None,
        health: None,
        error,
    }
}

/// The shim's liveness; a worker that has no shim yet is `unknown`.
pub fn liveness(proc: &Proc) -> Liveness {
    proc.shim_liveness()
}

impl Row {
    /// The row's cells for the human table.
    pub fn cells(&self) -> Vec<String> {
        let mut cells = self.base_cells();
        if let Some(h) = self.health {
            cells.insert(8, h.to_string());
        }
        cells
    }

    fn base_cells(&self) -> Vec<String> {
        let dash = || "-".to_string();
        match &self.record {
            Some(r) => vec![
                self.issue.to_string(),
                self.kind.to_string(),
                r.state.to_string(),
                match r.result {
                    Some(result) if r.detail.is_empty() => result.to_string(),
                    Some(result) => format!("{result}: {}", r.detail),
                    None => r.detail.clone(),
                },
                r.priority.clone(),
                clock::human_duration(self.uptime_s),
                r.pid.map_or_else(dash, |p| p.to_string()),
                self.alive.clone(),
                r.worktree.clone().unwrap_or_else(dash),
                self.session.clone(),
            ],
            None => vec![
                self.issue.to_string(),
                self.kind.to_string(),
                "?".to_string(),
                self.error.clone().unwrap_or_default(),
                dash(),
                dash(),
                dash(),
                self.alive.clone(),
                dash(),
                self.session.clone(),
            ],
        }
    }
}

/// The table's header, with the HEALTH column when asked for.
pub fn header(health: bool) -> Vec<&'static str> {
    let mut h = vec![
        "ISSUE", "KIND", "STATE", "DETAIL", "PRIORITY", "UPTIME", "PID", "ALIVE", "WORKTREE",
        "SESSION",
    ];
    if health {
        h.insert(8, "HEALTH");
    }
    h
}
