//! Before every start of a worker, the issue is looked at again: one that
//! was closed, or lost its label, or no longer matches the query since the
//! queue was read is not worked on (a worktree it has is kept). With the
//! local tracker the file is read again; with GitHub one batched list of
//! the queue's issues serves every start within a poll interval (numbers
//! given by hand are read one by one).

use std::collections::HashSet;
use std::time::Instant;

use crate::error::Result;
use crate::ids::Issue;
use crate::tracker::{self, IssueData, TrackerKind};

use super::engine::Dispatcher;
use super::queue::{self, Source};
use super::step::Line;

impl<E: FnMut(&Line) -> Result<()>> Dispatcher<'_, E> {
    /// Why item `i` must not start now (closed, unlabelled, no longer
    /// matching), or `None`. When the tracker cannot be asked, the start
    /// goes ahead: spawn reads the issue itself, and fails if it is gone.
    pub(super) fn not_wanted(&mut self, i: usize) -> Result<Option<String>> {
        let issue = self.items[i].issue();
        let root = self.ctx.repo()?.root.clone();
        let slug = self.opts.repo_slug.clone();
        let batched =
            self.tracker == TrackerKind::Github && !matches!(self.opts.source, Source::Issues(_));
        if batched {
            let open = match self.open_now() {
                Ok(open) => open,
                Err(_) => return Ok(None),
            };
            return Ok((!open.contains(&issue)).then(|| self.why_not(None)));
        }
        let data = match tracker::fetch(self.tracker, &root, slug.as_deref(), issue) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        };
        Ok((!self.matches(&data)).then(|| self.why_not(Some(&data))))
    }

    /// The open issues of the queue's label or query, read at most once a
    /// poll interval.
    fn open_now(&mut self) -> Result<HashSet<Issue>> {
        if let Some((at, set)) = &self.open
            && at.elapsed() < self.set.poll
        {
            return Ok(set.clone());
        }
        let root = self.ctx.repo()?.root.clone();
        let found = queue::load(
            self.tracker,
            &root,
            self.opts.repo_slug.as_deref(),
            &self.opts.source,
        )?;
        let set: HashSet<Issue> = found.iter().filter(|d| d.open).map(|d| d.number).collect();
        self.open = Some((Instant::now(), set.clone()));
        Ok(set)
    }

    /// Whether `data` is open and still belongs to the queue.
    fn matches(&self, data: &IssueData) -> bool {
        if !data.open {
            return false;
        }
        match &self.opts.source {
            Source::Issues(_) => true,
            Source::Label(label) => data.labels.iter().any(|l| l == label),
            Source::Query(query) => {
                let text = format!("{}\n{}", data.title, data.body).to_lowercase();
                query
                    .split_whitespace()
                    .all(|w| text.contains(&w.to_lowercase()))
            }
        }
    }

    fn why_not(&self, data: Option<&IssueData>) -> String {
        if data.is_some_and(|d| !d.open) {
            return "closed in the tracker since the queue was read".into();
        }
        match &self.opts.source {
            Source::Label(l) => {
                format!("closed, or no longer labelled {l}, since the queue was read")
            }
            Source::Query(q) => {
                format!("closed, or no longer matching {q:?}, since the queue was read")
            }
            Source::Issues(_) => "closed in the tracker since the queue was read".into(),
        }
    }
}
