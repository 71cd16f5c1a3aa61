//! A worker's end that the disk has no room for.
//!
//! The kernel ends a worker (the shim's `crashed`, `timeout`, `killed`) by
//! writing its record. When the file system is full that write fails, and
//! the end must not be lost: it is announced on the doorbell, which needs
//! no disk space, with `"unwritten"` saying why, so a waiting `orc-watch`
//! reports the end it observed; and the write is tried again every
//! `retry` until space returns, announcing again each time for a watcher
//! that started later. The record is then written exactly as it would have
//! been (and the lock, the doorbell and the event log follow as usual).

use std::time::Duration;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::procdir::Proc;
use crate::record::{Outcome, Record};
use crate::wake;
use crate::worker;

/// The key of a doorbell message whose end is not written yet.
pub const UNWRITTEN: &str = "unwritten";

/// One end to write: what [`worker::end`] takes.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    /// The result.
    pub outcome: Outcome,
    /// The record's detail.
    pub detail: &'a str,
    /// Who ends it (`orc-shim`, `orc-watch`), for the log.
    pub who: &'a str,
    /// The agent's exit code, when it was seen.
    pub exit: Option<i32>,
}

/// The doorbell message announcing `end` before it is written.
pub fn announcement(proc: &Proc, end: &End, why: &Error) -> String {
    serde_json::json!({
        "issue": proc.issue(), "kind": proc.kind(), "state": end.outcome.state(),
        "result": end.outcome, "detail": end.detail, UNWRITTEN: why.to_string(),
    })
    .to_string()
}

/// [`worker::end`], retried every `retry` while the file system is full,
/// announcing the end on the doorbell each time. `give_up` is asked after
/// every failed try; when it says so, the last error is returned (the end
/// was announced, and `orc-watch` or `orc-ctl gc` will record `crashed`
/// once the shim is gone and space is back).
pub fn end_until_written(
    ctx: &Context,
    proc: &Proc,
    end: End,
    retry: Duration,
    mut give_up: impl FnMut() -> bool,
) -> Result<Option<Record>> {
    let mut warned = false;
    loop {
        match worker::end(ctx, proc, end.outcome, end.detail, end.who, end.exit) {
            Err(e) if e.is_out_of_space() => {
                let _ = wake::ring(&proc.wake_path(), &announcement(proc, &end, &e));
                if !warned {
                    let e = e.clone().hint(format!(
                        "the {} is announced to orc-watch and written once space returns",
                        end.outcome
                    ));
                    crate::cli::warn(end.who, &e);
                    warned = true;
                }
                if give_up() {
                    return Err(e);
                }
                std::thread::sleep(retry);
            }
            other => return other,
        }
    }
}

/// Read an announcement: the result and detail of an end that is not
/// written yet, with why. `None` for any other doorbell message.
pub fn parse_announcement(message: &str) -> Option<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(message).ok()?;
    let why = v.get(UNWRITTEN)?.as_str()?.to_string();
    let result = v.get("result")?.as_str()?.to_string();
    let detail = v.get("detail")?.as_str().unwrap_or_default().to_string();
    Some((result, detail, why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Issue, Kind};
    use crate::paths::StateDir;
    use crate::session::Session;

    #[test]
    fn an_announcement_reads_back() -> Result<()> {
        let state = StateDir::at("/nonexistent");
        let proc = Proc::new(&Session::open(&state, "s")?, Kind::Worker, Issue::from(4));
        let end = End {
            outcome: Outcome::Crashed,
            detail: "agent exited with code 3 without a result",
            who: "orc-shim",
            exit: Some(3),
        };
        let why = Error::failure("cannot write: No space left on device", "state.json");
        let message = announcement(&proc, &end, &why);
        let (result, detail, unwritten) = parse_announcement(&message).unwrap_or_default();
        assert_eq!(result, "crashed");
        assert_eq!(detail, end.detail);
        assert!(unwritten.contains("No space left"));
        assert!(parse_announcement(r#"{"issue":4,"result":"merged"}"#).is_none());
        Ok(())
    }
}
