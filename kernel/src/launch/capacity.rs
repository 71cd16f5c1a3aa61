//! The session's capacity: `ORC_MAX_WORKERS` running workers at most. The
//! count and the claim of a slot happen under the session's named `spawn`
//! lock, so two launches never both take the last slot.

use crate::context::Context;
use crate::error::{Error, Kind as ErrorKind, Result};
use crate::liveness::Liveness;
use crate::lock::{self, FileLock};
use crate::procdir::Proc;
use crate::session::Session;

/// Hold the session's spawn slot lock.
pub(crate) fn slot(ctx: &Context) -> Result<Option<FileLock>> {
    lock::named(&ctx.state, &format!("spawn-{}", ctx.session.name()), true)
}

/// Fail with exit 4 when the session already runs `ORC_MAX_WORKERS`.
pub(crate) fn check(ctx: &Context) -> Result<()> {
    check_capacity(&ctx.session, ctx.config.number("ORC_MAX_WORKERS")?)
}

/// Fail with exit 4 when the session already runs `max` workers. A worker
/// whose shim is verifiably dead holds no slot; one whose shim is not known
/// yet (being spawned) does, and so does one whose record cannot be read.
pub(crate) fn check_capacity(session: &Session, max: u64) -> Result<()> {
    let procs = Proc::list(session)?;
    // Fewer workers than slots, whatever their records say: none need be
    // read (a dispatcher at --max 50 asks before every start).
    if (procs.len() as u64) < max {
        return Ok(());
    }
    let mut running = 0u64;
    for proc in procs {
        // A record that cannot be read holds its slot: never freed on doubt.
        let active = match proc.read() {
            Ok(record) => record.is_some_and(|r| r.state.is_active()),
            Err(_) => true,
        };
        if active && proc.shim_liveness() != Liveness::Dead {
            running += 1;
        }
    }
    if running >= max {
        return Err(Error::new(
            ErrorKind::AtCapacity,
            format!(
                "session {} already runs {running} of ORC_MAX_WORKERS={max} workers",
                session.name()
            ),
            session.dir().display().to_string(),
        )
        .hint("wait with orc-watch --any, or raise ORC_MAX_WORKERS"));
    }
    Ok(())
}
