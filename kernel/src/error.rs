//! The one error type of the kernel.
//!
//! Every error names what went wrong and the path or value it concerns, may
//! carry a hint, and knows its exit code. Tools print it as
//! `orc-<tool>: error: <what> (<subject>)` followed by `hint: <hint>`.

use std::fmt;
use std::io;
use std::path::Path;

use crate::exit;

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Generic failure (exit 1).
    Failure,
    /// Bad input on the command line or in the environment (exit 2).
    Usage,
    /// A cooperative signal is pending (exit 3).
    SignalPending,
    /// The worker limit is reached (exit 4).
    AtCapacity,
    /// The issue lock is held by someone else (exit 5).
    Locked,
    /// A signal was not applied: a stronger one is pending (exit 6).
    NotApplied,
    /// Work found nowhere else was kept, not deleted (exit 7).
    WorkKept,
    /// Temporary failure, retry later (exit 75).
    TempFail,
    /// A wait ran out of time (exit 124).
    Timeout,
    /// Standard output was closed by the reader: not an error for a Unix tool.
    BrokenPipe,
}

/// An error with its operation, subject and optional hint.
#[derive(Debug, Clone)]
pub struct Error {
    kind: Kind,
    what: String,
    subject: String,
    hint: Option<String>,
    os_error: Option<i32>,
}

/// Result alias used across the kernel.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` about `subject`.
    pub fn new(kind: Kind, what: impl Into<String>, subject: impl Into<String>) -> Self {
        Error {
            kind,
            what: what.into(),
            subject: subject.into(),
            hint: None,
            os_error: None,
        }
    }

    /// A generic failure.
    pub fn failure(what: impl Into<String>, subject: impl Into<String>) -> Self {
        Self::new(Kind::Failure, what, subject)
    }

    /// Bad input from the user.
    pub fn usage(what: impl Into<String>, subject: impl Into<String>) -> Self {
        Self::new(Kind::Usage, what, subject)
    }

    /// An I/O error while doing `op` on `path`.
    pub fn io(op: &str, path: &Path, err: io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            return Self::new(Kind::BrokenPipe, "broken pipe", path.display().to_string());
        }
        // Wrappers (tempfile's, for one) keep the kind but not the number.
        let os_error = err.raw_os_error().or(match err.kind() {
            io::ErrorKind::StorageFull => Some(nix::errno::Errno::ENOSPC as i32),
            io::ErrorKind::QuotaExceeded => Some(nix::errno::Errno::EDQUOT as i32),
            _ => None,
        });
        Error {
            os_error,
            ..Self::failure(format!("cannot {op}: {err}"), path.display().to_string())
        }
    }

    /// The OS error number behind an I/O error, if this is one.
    pub fn os_error(&self) -> Option<i32> {
        self.os_error
    }

    /// Whether this is the file system being full (ENOSPC, EDQUOT): the
    /// same write may succeed once space returns.
    pub fn is_out_of_space(&self) -> bool {
        use nix::errno::Errno;
        matches!(self.os_error, Some(n) if n == Errno::ENOSPC as i32 || n == Errno::EDQUOT as i32)
    }

    /// Attach a hint shown on its own line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// What went wrong.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The path or value concerned.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The hint, if any.
    pub fn hint_text(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The exit code from the table in [`crate::exit`].
    pub fn code(&self) -> u8 {
        match self.kind {
            Kind::Failure => exit::FAILURE,
            Kind::Usage => exit::USAGE,
            Kind::SignalPending => exit::SIGNAL_PENDING,
            Kind::AtCapacity => exit::AT_CAPACITY,
            Kind::Locked => exit::LOCKED,
            Kind::NotApplied => exit::NOT_APPLIED,
            Kind::WorkKept => exit::WORK_KEPT,
            Kind::TempFail => exit::TEMPFAIL,
            Kind::Timeout => exit::TIMEOUT,
            Kind::BrokenPipe => exit::OK,
        }
    }

    /// The error as the tools print it on stderr, without a trailing newline.
    pub fn render(&self, tool: &str) -> String {
        let mut text = format!("{tool}: error: {self}");
        if let Some(hint) = &self.hint {
            text.push_str("\nhint: ");
            text.push_str(hint);
        }
        text
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.subject.is_empty() {
            write!(f, "{}", self.what)
        } else {
            write!(f, "{} ({})", self.what, self.subject)
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_subject_and_hint() {
        let e = Error::usage("not an issue number", "../x").hint("use digits");
        assert_eq!(
            e.render("orc-lock"),
            "orc-lock: error: not an issue number (../x)\nhint: use digits"
        );
        assert_eq!(e.code(), 2);
    }

    #[test]
    fn broken_pipe_exits_zero() {
        let e = Error::io(
            "write",
            Path::new("stdout"),
            io::Error::from(io::ErrorKind::BrokenPipe),
        );
        assert_eq!(e.code(), 0);
    }
}
