//! Naming a worker from anywhere: `N`, `owner/repo:N`, or a session and `N`.
//! Control tools act across sessions, so a target that matches more than one
//! worker is an error that lists the candidates, never a guess.

use std::path::Path;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::paths::StateDir;
use crate::procdir::Proc;
use crate::session::{Meta, Session};

/// A resolved worker.
#[derive(Debug, Clone)]
pub struct Target {
    /// The session it belongs to.
    pub session: Session,
    /// The session's meta, if it has one.
    pub meta: Option<Meta>,
    /// Its proc directory.
    pub proc: Proc,
}

impl Target {
    /// A context for acting on this worker: the configuration of its
    /// repository, its session.
    pub fn context(&self) -> Result<Context> {
        let root = self
            .meta
            .as_ref()
            .and_then(|m| m.repo_root.clone())
            .filter(|r| r.is_dir());
        Context::for_session(root.as_deref(), self.session.name())
    }
}

/// Resolve `spec` (`N` or `owner/repo:N`), optionally within `session`.
pub fn resolve(state: &StateDir, spec: &str, session: Option<&str>, kind: Kind) -> Result<Target> {
    let (slug, number) = match spec.rsplit_once(':') {
        Some((slug, n)) => (Some(slug), n),
        None => (None, spec),
    };
    if let Some(slug) = slug {
        crate::tracker::github::check_repo_slug(slug)?;
    }
    let issue = Issue::parse(number)?;
    let sessions = match session {
        Some(name) => {
            let s = Session::open(state, name)?;
            if !s.dir().is_dir() {
                return Err(
                    Error::usage("no such session", name).hint("orc-ps --all lists the sessions")
                );
            }
            vec![s]
        }
        None => Session::list(state)?,
    };
    let mut found = Vec::new();
    for s in sessions {
        let proc = Proc::new(&s, kind, issue);
        if !proc.exists() {
            continue;
        }
        let meta = s.meta().ok().flatten();
        if let Some(slug) = slug
            && meta.as_ref().and_then(|m| m.repo_slug.as_deref()) != Some(slug)
        {
            continue;
        }
        found.push(Target {
            session: s,
            meta,
            proc,
        });
    }
    match found.len() {
        0 => Err(Error::failure(
            format!("no {kind} for issue {issue} in any session"),
            spec.to_string(),
        )
        .hint("orc-ps --all lists the workers of every session")),
        1 => Ok(found.remove(0)),
        _ => {
            let list: Vec<String> = found
                .iter()
                .map(|t| {
                    let repo = t.meta.as_ref().and_then(|m| m.repo_root.clone());
                    format!(
                        "--session {} {issue} ({})",
                        t.session.name(),
                        repo.as_deref()
                            .map_or("?".into(), |p: &Path| p.display().to_string())
                    )
                })
                .collect();
            Err(Error::usage(
                format!("{spec} matches {} workers", found.len()),
                spec.to_string(),
            )
            .hint(format!("name one: {}", list.join("; "))))
        }
    }
}
