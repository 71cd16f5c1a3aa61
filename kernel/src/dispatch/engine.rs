//! The dispatcher: the issues of one run, the settings it runs with, and
//! the loop that drives every issue through its phases.
//!
//! Each turn of the loop: act on the workers that ended, wake the timers
//! that are due, re-judge the held issues, start what fits in the free
//! slots, then wait for a doorbell, a timer or the poll interval. Every
//! decision is written to the issue's journal before the next one, so a
//! dispatcher killed between two turns loses nothing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::ids::{Issue, Kind};
use crate::procdir::Proc;
use crate::tracker::{IssueData, TrackerKind};

use super::Options;
use super::gh::Gh;
use super::journal::{self, End, Journal, Phase, Then};
use super::step::{Line, Outcome, Step, Summary};
use super::waiter::{Bells, Clock};

/// One issue of the run.
#[derive(Debug, Clone)]
pub(super) struct Item {
    /// What the tracker says.
    pub data: IssueData,
    /// What it waits for.
    pub deps: Vec<Issue>,
    /// Where it stands, and its counters.
    pub j: Journal,
    /// The reason it was last reported held, while it is.
    pub held: Option<String>,
    /// The worker's attempt number, once it has one.
    pub attempts: u32,
}

impl Item {
    /// The issue's number.
    pub fn issue(&self) -> Issue {
        self.data.number
    }
}

/// The settings of a run, resolved once.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    /// Workers and reviewers at once (`--max`, `ORC_MAX_WORKERS`).
    pub max: usize,
    /// Retries of a failed worker (`--retries`, `ORC_RETRY_MAX`).
    pub retry_max: u32,
    /// The first retry's delay in seconds (`ORC_RETRY_BACKOFF`).
    pub backoff: u64,
    /// A throttled worker's wait without a reset time (`ORC_THROTTLE_COOLDOWN`).
    pub cooldown: u64,
    /// Merge approved pull requests (`ORC_AUTO_MERGE`).
    pub auto_merge: bool,
    /// Where and how verified work is checked and merged.
    pub land: crate::land::Settings,
    /// The longest wait between looks at the records (`ORC_POLL_INTERVAL`).
    pub poll: Duration,
    /// `ORC_REVIEW_MAX_ROUNDS`, for messages (the kernel's review log counts).
    pub review_max: u64,
}

impl Settings {
    fn resolve(ctx: &Context, opts: &Options, tracker: TrackerKind) -> Result<Settings> {
        let config = &ctx.config;
        let max = match opts.max {
            Some(n) => n,
            None => config.number("ORC_MAX_WORKERS")?,
        };
        if max == 0 {
            return Err(Error::usage("the worker limit must be at least 1", "0")
                .hint("pass --max N with N >= 1, or set ORC_MAX_WORKERS"));
        }
        let retry_max = match opts.retries {
            Some(n) => n,
            None => config.number("ORC_RETRY_MAX")?,
        };
        Ok(Settings {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            retry_max: u32::try_from(retry_max).unwrap_or(u32::MAX),
            backoff: config.number("ORC_RETRY_BACKOFF")?,
            cooldown: config.number("ORC_THROTTLE_COOLDOWN")?,
            auto_merge: config.flag("ORC_AUTO_MERGE"),
            land: crate::land::Settings::resolve(config, tracker)?,
            poll: Duration::from_secs(config.number("ORC_POLL_INTERVAL")?.max(1)),
            review_max: config.number("ORC_REVIEW_MAX_ROUNDS")?,
        })
    }
}

/// The state of one run.
pub(super) struct Dispatcher<'a, E> {
    /// The caller's context, with `ORC_MAX_WORKERS` set to the run's limit.
    pub ctx: Context,
    /// What was asked.
    pub opts: &'a Options,
    /// The settings, resolved once.
    pub set: Settings,
    /// Where the issues come from.
    pub tracker: TrackerKind,
    /// Pull requests and comments.
    pub gh: Gh,
    /// Real, or virtual under `ORC_NOW`.
    pub clock: Clock,
    /// The doorbells of what runs.
    pub bells: Bells,
    /// The issues, in queue order.
    pub items: Vec<Item>,
    /// Dependencies outside the queue: whether each is satisfied, and why not.
    pub outside: HashMap<Issue, Result<(), String>>,
    /// Something started since the records were last read: a worker that
    /// ended before its doorbell was opened rang nobody, so look again
    /// before waiting.
    pub fresh: bool,
    emit: E,
}

impl<'a, E: FnMut(&Line) -> Result<()>> Dispatcher<'a, E> {
    /// A dispatcher for `opts` (nothing is read from the tracker yet).
    pub fn new(ctx: &Context, opts: &'a Options, emit: E) -> Result<Self> {
        let mut ctx = ctx.clone();
        let repo = ctx.repo()?.clone();
        let tracker = TrackerKind::select(ctx.config.get("ORC_TRACKER"), &repo.root)?;
        let set = Settings::resolve(&ctx, opts, tracker)?;
        // In-process spawns check capacity against ORC_MAX_WORKERS: make it
        // the limit of this run.
        ctx.config.set("ORC_MAX_WORKERS", &set.max.to_string());
        if let Some(slug) = &opts.repo_slug {
            crate::tracker::github::check_repo_slug(slug)?;
        }
        Ok(Dispatcher {
            gh: Gh::new(opts.repo_slug.as_deref(), &repo.root),
            tracker,
            clock: Clock::from_env()?,
            bells: Bells::default(),
            items: Vec::new(),
            outside: HashMap::new(),
            fresh: false,
            set,
            opts,
            ctx,
            emit,
        })
    }

    /// Stream one step.
    pub fn emit(&mut self, step: Step) -> Result<()> {
        let line = Line {
            ts: self.clock.stamp(),
            step: &step,
        };
        (self.emit)(&line)
    }

    /// The worker's proc directory of `issue`.
    pub fn worker(&self, issue: Issue) -> Proc {
        Proc::new(&self.ctx.session, Kind::Worker, issue)
    }

    /// Change item `i`'s phase and write its journal.
    pub fn set_phase(&mut self, i: usize, phase: Phase) -> Result<()> {
        self.items[i].j.phase = phase;
        let proc = self.worker(self.items[i].issue());
        journal::save(&proc, &self.items[i].j)
    }

    /// End item `i`'s run: write it down and say so.
    pub fn end(&mut self, i: usize, end: End, detail: String) -> Result<()> {
        self.items[i].j.detail = detail.clone();
        self.set_phase(i, Phase::Done { end })?;
        let issue = self.items[i].issue();
        self.emit(Step::Ended { issue, end, detail })
    }

    /// Workers and reviewers of this run that hold a slot.
    pub fn running(&self) -> usize {
        self.items
            .iter()
            .filter(|it| matches!(it.j.phase, Phase::Running { .. }))
            .count()
    }

    /// Run the loop until every issue is settled (or one pass, `--once`).
    pub fn drive(&mut self) -> Result<()> {
        loop {
            self.fresh = false;
            self.collect()?;
            self.fire_timers()?;
            self.judge_holds()?;
            self.start_ready()?;
            if self.opts.once || self.settled() {
                return Ok(());
            }
            if !self.fresh {
                self.wait()?;
            }
        }
    }

    /// Due timers: the wait is over, the next step is ready.
    fn fire_timers(&mut self) -> Result<()> {
        let now = self.clock.now();
        for i in 0..self.items.len() {
            match &self.items[i].j.phase {
                Phase::Wait { until, then } => {
                    let due = crate::clock::parse(until).map_or(true, |t| t <= now);
                    if due {
                        let next = match then {
                            Then::Retry => Phase::Retry,
                            Then::Review => Phase::Review,
                        };
                        self.set_phase(i, next)?;
                    }
                }
                Phase::Verify { until }
                    if crate::clock::parse(until).map_or(true, |t| t <= now) =>
                {
                    self.verify_again(i)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The earliest pending timer.
    fn next_timer(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.items
            .iter()
            .filter_map(|it| match &it.j.phase {
                Phase::Wait { until, .. } | Phase::Verify { until } => {
                    crate::clock::parse(until).ok()
                }
                _ => None,
            })
            .min()
    }

    /// Wait for something to happen: a doorbell, the poll interval, or the
    /// next timer (which a virtual clock reaches at once).
    fn wait(&mut self) -> Result<()> {
        let timer = self.next_timer();
        if self.clock.is_virtual()
            && let Some(t) = timer
        {
            self.clock.advance_to(t);
            return Ok(());
        }
        let mut wait = self.set.poll;
        if let Some(t) = timer {
            wait = wait.min(self.clock.until(t)).max(Duration::from_millis(1));
        }
        self.bells.wait(wait)
    }

    /// Whether nothing can change any more: every issue has ended, or waits
    /// for a dependency that will not be merged in this run.
    fn settled(&self) -> bool {
        self.items.iter().all(|it| match it.j.phase {
            Phase::Done { .. } => true,
            Phase::Queued => self.blockers(it).iter().any(|(_, hope)| !hope),
            _ => false,
        })
    }

    /// The summary: held issues whose wait is hopeless are ended as held,
    /// and (after `--once`) the rest as pending.
    pub fn finish(&mut self, started: Instant) -> Result<Summary> {
        for i in 0..self.items.len() {
            let it = &self.items[i];
            if matches!(it.j.phase, Phase::Done { .. }) {
                continue;
            }
            let blockers = self.blockers(it);
            if matches!(it.j.phase, Phase::Queued) && blockers.iter().any(|(_, hope)| !hope) {
                let why = self.held_reason(&blockers);
                self.items[i].j.phase = Phase::Done { end: End::Held };
                self.items[i].j.detail = why.clone();
                let issue = self.items[i].issue();
                if !self.opts.dry_run {
                    self.emit(Step::Ended {
                        issue,
                        end: End::Held,
                        detail: why,
                    })?;
                }
            }
        }
        let outcomes = self
            .items
            .iter()
            .map(|it| {
                let (end, detail) = match &it.j.phase {
                    Phase::Done { end } => (*end, it.j.detail.clone()),
                    phase => (End::Pending, phase_name(phase)),
                };
                Outcome {
                    issue: it.issue(),
                    end,
                    attempts: it.attempts,
                    detail,
                }
            })
            .collect();
        let summary = Summary::of(outcomes, self.opts.dry_run, started.elapsed().as_secs_f64());
        self.emit(Step::Summary(summary.clone()))?;
        Ok(summary)
    }
}

/// A phase's name, for events and the summary.
pub(super) fn phase_name(phase: &Phase) -> String {
    match phase {
        Phase::Queued => "queued".into(),
        Phase::Running { kind } => format!("running ({kind})"),
        Phase::Wait { until, then } => format!(
            "waiting until {until} to {}",
            match then {
                Then::Retry => "retry",
                Then::Review => "review",
            }
        ),
        Phase::Verify { until } => format!("verifying (next look at {until})"),
        Phase::Retry => "retry".into(),
        Phase::Resume => "resume after review".into(),
        Phase::Review => "review".into(),
        Phase::Merging => "merging".into(),
        Phase::Done { end } => end.as_str().into(),
    }
}
