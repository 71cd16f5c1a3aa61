//! Control across sessions (`orc-ctl`): suspend, resume, term, kill, nice,
//! recover, logs and env. Each verb checks the worker's state first and
//! says plainly why it refuses.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::clock;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::liveness::Liveness;
use crate::procdir::Proc;
use crate::record::{Outcome, Record, State, nice_of};
use crate::signal::{Pending, Signal as OrcSignal};
use crate::spawn::{self, Request, Spawned};
use crate::target::Target;
use crate::worker;

fn load(target: &Target) -> Result<Record> {
    target.proc.load()
}

fn refuse(record: &Record, verb: &str, why: &str) -> Error {
    Error::failure(
        format!("cannot {verb} {} {}: {why}", record.kind, record.issue),
        format!("state {} {}", record.state, record.result_name()),
    )
}

/// Ask a running worker to checkpoint and stop (cooperative SUSPEND).
pub fn suspend(target: &Target) -> Result<Pending> {
    let record = load(target)?;
    if !matches!(record.state, State::Ready | State::Running | State::Waiting) {
        return Err(refuse(
            &record,
            "suspend",
            "only a READY, RUNNING or WAITING worker can be suspended",
        ));
    }
    worker::send_signal(&target.context()?, &target.proc, OrcSignal::Suspend)
}

/// Ask a running worker to stop (cooperative TERM, escalated by the shim).
pub fn term(target: &Target) -> Result<Pending> {
    let record = load(target)?;
    if !record.state.is_active() {
        return Err(refuse(&record, "term", "it is not running"));
    }
    worker::send_signal(&target.context()?, &target.proc, OrcSignal::Term)
}

/// Stop a worker now. A worker that already ended keeps its record (and
/// `None` says so).
pub fn kill(target: &Target) -> Result<Option<Pending>> {
    let record = load(target)?;
    if !record.state.is_active() {
        return Ok(None);
    }
    worker::send_signal(&target.context()?, &target.proc, OrcSignal::Kill).map(Some)
}

/// Start a new attempt of a suspended or ended worker (not a merged one).
pub fn resume(target: &Target, prompt: Option<String>) -> Result<Spawned> {
    let record = load(target)?;
    if record.state.is_active() {
        return Err(refuse(&record, "resume", "it is still running"));
    }
    if record.result == Some(Outcome::Merged) {
        return Err(refuse(&record, "resume", "its work is merged"));
    }
    let ctx = target.context()?;
    let req = Request {
        issue: Some(record.issue),
        kind: Some(record.kind),
        resume: true,
        prompt,
        agent: record.agent.clone(),
        ..Request::default()
    };
    spawn::spawn(&ctx, &req)
}

/// Change a running worker's priority: the agent's whole process group
/// and the record.
pub fn nice(target: &Target, level: &str) -> Result<Record> {
    let value = nice_of(level)?;
    let record = load(target)?;
    if !record.state.is_active() {
        return Err(refuse(&record, "renice", "it is not running"));
    }
    let agent = target
        .proc
        .shim()?
        .and_then(|ids| ids.agent)
        .filter(|a| a.liveness() == Liveness::Alive)
        .ok_or_else(|| refuse(&record, "renice", "its agent process is not running"))?;
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let rc = unsafe {
        nix::libc::setpriority(nix::libc::PRIO_PGRP, agent.pid as nix::libc::id_t, value)
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(Error::failure(
            format!(
                "cannot set nice {value} on process group {}: {err}",
                agent.pid
            ),
            level.to_string(),
        )
        .hint("lowering a nice value (raising priority) needs privileges"));
    }
    target.proc.update(|r| {
        r.priority = level.to_string();
        r.updated_at = clock::now_rfc3339()?;
        Ok(())
    })
}

/// Mark a RUNNING or WAITING worker whose shim is verifiably dead as
/// `crashed`. Refuses when it lives or when that cannot be told.
pub fn recover(target: &Target) -> Result<Record> {
    let record = load(target)?;
    if !matches!(record.state, State::Running | State::Waiting) {
        return Err(refuse(
            &record,
            "recover",
            "only a RUNNING or WAITING worker can be recovered",
        ));
    }
    let ids = target.proc.shim()?.ok_or_else(|| {
        refuse(
            &record,
            "recover",
            "it has no shim identity, so whether it lives cannot be told",
        )
    })?;
    match target.proc.supervisor_liveness(&ids) {
        Liveness::Alive if ids.shim.liveness() != Liveness::Alive => {
            let job = target.proc.slurm_job().unwrap_or_default();
            return Err(refuse(
                &record,
                "recover",
                &format!("its shim is gone but its slurm job {job} still runs"),
            ));
        }
        Liveness::Alive => {
            return Err(refuse(
                &record,
                "recover",
                &format!("its shim (pid {}) is alive", ids.shim.pid),
            ));
        }
        Liveness::Unknown => {
            return Err(refuse(
                &record,
                "recover",
                "whether its shim lives cannot be told",
            ));
        }
        Liveness::Dead => {}
    }
    if let Some(agent) = ids.agent.filter(|a| a.liveness() == Liveness::Alive) {
        let _ = killpg(Pid::from_raw(agent.pid), Signal::SIGKILL);
    }
    let detail = format!("recovered: the shim (pid {}) is gone", ids.shim.pid);
    let ctx = target.context()?;
    match worker::end(
        &ctx,
        &target.proc,
        Outcome::Crashed,
        &detail,
        "orc-ctl",
        None,
    )? {
        Some(r) => Ok(r),
        None => load(target),
    }
}

/// Print the worker's log; with `follow`, keep printing what is appended
/// until the worker ends and its shim is gone: the agent's last output and
/// the shim's last lines come after the record has ended.
pub fn logs(proc: &Proc, follow: bool, mut out: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    let path = proc.log_path();
    let mut offset = 0u64;
    loop {
        // Judged before reading, so the read after the last writer is gone
        // is the last one and gets everything.
        let writing = follow
            && (proc
                .read()
                .ok()
                .flatten()
                .is_some_and(|r| r.state.is_active())
                || proc.shim_liveness() == Liveness::Alive);
        if let Ok(mut file) = crate::fsutil::open_read(&path) {
            let _ = file.seek(SeekFrom::Start(offset));
            let mut buf = Vec::new();
            let n = file
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("read", &path, e))?;
            offset += n as u64;
            if n > 0 {
                // Credentials the agent printed are masked on the way out;
                // bytes that are not text pass as they are.
                match std::str::from_utf8(&buf) {
                    Ok(text) => out(crate::secret::redact(text).as_bytes())?,
                    Err(_) => out(&buf)?,
                }
            }
        }
        if !writing {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The resolved configuration: name, value (secrets masked by name and by
/// value), origin. Every catalogued variable is listed; the session and the
/// state directory show what they resolve to when nothing sets them
/// (`derived`), every other variable `unset`.
pub fn env(ctx: &Context) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = ctx
        .config
        .entries()
        .map(|(k, v, o)| (k.to_string(), crate::profile::mask(k, v), o.to_string()))
        .collect();
    for var in crate::profile::CATALOGUE {
        if rows.iter().any(|(k, _, _)| k == var.name) {
            continue;
        }
        let (value, origin) = match var.name {
            "ORC_SESSION" => (
                ctx.session.name().to_string(),
                match &ctx.repo {
                    Some(repo) => format!("derived from the repository {}", repo.root.display()),
                    None => "derived: outside any repository".to_string(),
                },
            ),
            "ORC_STATE_DIR" => (
                ctx.state.root().display().to_string(),
                "derived from ${XDG_STATE_HOME:-$HOME/.local/state}/orc".to_string(),
            ),
            _ => (String::new(), "unset".to_string()),
        };
        rows.push((
            var.name.to_string(),
            crate::secret::redact(&value).into_owned(),
            origin,
        ));
    }
    rows.sort();
    rows
}

/// How far the configured agent's adapter is checked (`ORC_AGENT`; an
/// unknown name says so).
pub fn agent_checked(ctx: &Context) -> String {
    let name = ctx.config.get("ORC_AGENT").unwrap_or("claude");
    match crate::agent::AgentKind::parse(name) {
        Ok(kind) => format!("{name}: {}", crate::agent::checked(kind)),
        Err(e) => format!("{name}: {e}"),
    }
}
