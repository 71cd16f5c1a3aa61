//! The tail of a session's event log: the last lines, kept up to date by
//! reading only what was appended since the last look.

use std::collections::VecDeque;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::model::EventLine;
use crate::events::Event;

/// How much of the end of the log is read at the start.
const START_BYTES: u64 = 64 * 1024;

/// The last lines of one event log.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    session: Option<String>,
    offset: u64,
    cap: usize,
    lines: VecDeque<EventLine>,
}

impl Tail {
    /// The last `cap` events of the log at `path`; `session` names the
    /// session on each line (with `--all`).
    pub fn new(path: PathBuf, session: Option<String>, cap: usize) -> Tail {
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut tail = Tail {
            path,
            session,
            offset: len.saturating_sub(START_BYTES),
            cap,
            lines: VecDeque::new(),
        };
        // Started mid-file: the first, partial line is not an event.
        let skip_first = tail.offset > 0;
        tail.read(skip_first);
        tail
    }

    /// Read what was appended; whether there was anything.
    pub fn update(&mut self) -> bool {
        let len = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Replaced or truncated: start over.
            self.offset = 0;
            self.lines.clear();
        }
        if len == self.offset {
            return false;
        }
        self.read(false)
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> impl DoubleEndedIterator<Item = &EventLine> {
        self.lines.iter()
    }

    fn read(&mut self, skip_first: bool) -> bool {
        let Ok(mut file) = crate::fsutil::open_read(&self.path) else {
            return false;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut buf = Vec::new();
        if file.read_to_end(&mut buf).is_err() {
            return false;
        }
        // Only whole lines: a line being written is read next time.
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            return false;
        };
        self.offset += end as u64 + 1;
        let text = String::from_utf8_lossy(&buf[..end]);
        let mut any = false;
        for (i, line) in text.lines().enumerate() {
            if (skip_first && i == 0) || line.trim().is_empty() {
                continue;
            }
            self.lines
                .push_back(format_line(line, self.session.as_deref()));
            any = true;
        }
        while self.lines.len() > self.cap {
            self.lines.pop_front();
        }
        any
    }
}

/// One event as shown: `17:02:03 notify #12 worker TERMINATED ci-passed PR #7`.
pub fn format_line(line: &str, session: Option<&str>) -> EventLine {
    let Ok(e) = serde_json::from_str::<Event>(line) else {
        return EventLine {
            ts: String::new(),
            text: super::fleet::clean(line),
        };
    };
    let mut words = vec![e.ts.get(11..19).unwrap_or(&e.ts).to_string()];
    if let Some(s) = session {
        words.push(format!("[{s}]"));
    }
    words.push(e.event.clone());
    if let Some(i) = e.issue {
        words.push(format!("#{i}"));
    }
    if let Some(k) = e.kind {
        words.push(k.to_string());
    }
    words.extend(e.state.clone());
    words.extend(e.result.clone());
    if !e.detail.is_empty() {
        words.push(super::fleet::clean(&e.detail));
    }
    EventLine {
        ts: e.ts,
        text: words.join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follows_appends_whole_lines_only() -> crate::Result<()> {
        let dir = tempfile::tempdir()
            .map_err(|e| crate::Error::io("tempdir", std::path::Path::new("."), e))?;
        let path = dir.path().join("events.jsonl");
        let ev = r#"{"ts":"2026-12-04T17:02:03.000Z","event":"notify","issue":12,"kind":"worker","state":"TERMINATED","result":"ci-passed","detail":"PR #7","pid":1}"#;
        let mut tail = Tail::new(path.clone(), None, 2);
        assert!(!tail.update());
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| crate::Error::io("open", &path, e))?;
        let w = |f: &mut std::fs::File, s: &str| {
            f.write_all(s.as_bytes())
                .map_err(|e| crate::Error::io("write", std::path::Path::new("log"), e))
        };
        w(&mut f, &format!("{ev}\nnot json\n{{\"ts\":"))?;
        assert!(tail.update());
        let texts: Vec<&str> = tail.lines().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "17:02:03 notify #12 worker TERMINATED ci-passed PR #7",
                "not json"
            ]
        );
        w(&mut f, "\"x\",\"event\":\"gc\",\"pid\":1}\n")?;
        assert!(tail.update());
        let texts: Vec<&str> = tail.lines().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["not json", "x gc"]);
        let again = Tail::new(path, Some("s1".into()), 5);
        assert_eq!(again.lines().count(), 3);
        assert!(
            again
                .lines()
                .next()
                .is_some_and(|l| l.text.contains("[s1] notify"))
        );
        Ok(())
    }
}
