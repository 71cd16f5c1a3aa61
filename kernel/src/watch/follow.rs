//! `orc-watch --follow`: the session's event log, line by line as it grows.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Ending;
use crate::context::Context;
use crate::error::{Error, Result};

/// Follow the session's event log: print each new line as it is appended
/// until `stop` says so or the timeout passes.
pub fn follow(
    ctx: &Context,
    timeout: Option<Duration>,
    mut line: impl FnMut(&str) -> Result<()>,
    mut stop: impl FnMut() -> bool,
) -> Result<Ending> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use std::io::{BufRead, Seek, SeekFrom};
    crate::fsutil::ensure_private_dir(ctx.session.dir())?;
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| Error::failure(format!("inotify failed: {e}"), "events.jsonl"))?;
    inotify
        .add_watch(
            ctx.session.dir(),
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE,
        )
        .map_err(|e| {
            Error::failure(
                format!("inotify failed: {e}"),
                ctx.session.dir().display().to_string(),
            )
        })?;
    let path = ctx.session.events_path();
    let mut offset = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        if let Ok(mut file) = crate::fsutil::open_read(&path)
            && file.seek(SeekFrom::Start(offset)).is_ok()
        {
            let mut reader = std::io::BufReader::new(file);
            let mut buf = String::new();
            while reader.read_line(&mut buf).unwrap_or(0) > 0 && buf.ends_with('\n') {
                offset += buf.len() as u64;
                line(buf.trim_end())?;
                buf.clear();
            }
        }
        if stop() {
            return Ok(Ending::Done);
        }
        let mut wait = Duration::from_millis(500);
        if let Some(d) = deadline {
            let now = Instant::now();
            if now >= d {
                return Ok(Ending::TimedOut);
            }
            wait = wait.min(d - now);
        }
        let ms = i32::try_from(wait.as_millis()).unwrap_or(500).max(1);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let _ = poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        let _ = inotify.read_events();
    }
}
