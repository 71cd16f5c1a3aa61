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

/// The shortest time between two writes of `queue.json` while it changes.
pub(super) const PUBLISH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// A person's order: do not start it (`orc-queue hold`).
    pub hold: bool,
    /// A person's order: leave it out (`orc-queue skip`).
    pub skip: bool,
    /// A person's order: this priority instead of the tracker's.
    pub prio: Option<String>,
}

impl Item {
    /// The issue's number.
    pub fn issue(&self) -> Issue {
        self.data.number
    }

    /// A new item for `data`, queued, with no orders.
    pub fn new(data: IssueData) -> Item {
        Item {
            deps: super::queue::deps(&data),
            data,
            j: Journal::new(),
            held: None,
            attempts: 0,
            hold: false,
            skip: false,
            prio: None,
        }
    }

    /// Its priority: a person's, else the tracker's, else `normal`.
    pub fn priority(&self) -> String {
        self.prio
            .clone()
            .or_else(|| self.data.priority.clone())
            .unwrap_or_else(|| "normal".into())
    }

    /// The nice value of [`Self::priority`] (lower runs first).
    pub fn nice(&self) -> i32 {
        crate::record::nice_of(&self.priority()).unwrap_or(10)
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
    /// The longest wait for a pull request's checks (`ORC_CI_WAIT`).
    pub ci_wait: u64,
    /// Seconds between looks at checks that still run (`ORC_CI_POLL`).
    pub ci_poll: u64,
    /// Reviewers at once (`ORC_MAX_REVIEWERS`, at most `max`).
    pub max_reviewers: usize,
    /// No progress for this long is a stall (`ORC_STALL_TIMEOUT`; zero: off).
    pub stall: Duration,
    /// How often `--follow` asks the tracker again (`ORC_TRACKER_POLL`).
    pub tracker_poll: Duration,
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
            ci_wait: config.number("ORC_CI_WAIT")?,
            ci_poll: config.number("ORC_CI_POLL")?.max(1),
            max_reviewers: match config.number("ORC_MAX_REVIEWERS")? {
                0 => usize::try_from(max).unwrap_or(usize::MAX),
                n => usize::try_from(n.min(max)).unwrap_or(usize::MAX),
            },
            stall: Duration::from_secs(config.number("ORC_STALL_TIMEOUT")?),
            tracker_poll: Duration::from_secs(config.number("ORC_TRACKER_POLL")?.max(1)),
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
    /// The open issues of the queue's label or query, and when they were
    /// read (GitHub: one batched list serves the starts of a poll interval).
    pub open: Option<(Instant, std::collections::HashSet<Issue>)>,
    /// The pull requests GitHub reported in this turn (one batched call).
    pub prs: Option<super::verify::Snapshot>,
    /// Something started since the records were last read: a worker that
    /// ended before its doorbell was opened rang nobody, so look again
    /// before waiting.
    pub fresh: bool,
    /// Something changed since `queue.json` was last written.
    pub dirty: bool,
    /// SIGTERM or SIGINT came: finish this step and stop.
    pub stop: bool,
    /// When the run started.
    pub started_at: String,
    /// The last progress seen of each running worker, for stalls.
    pub progress: HashMap<Issue, super::progress::Progress>,
    /// When `--follow` next asks the tracker.
    pub next_poll: Instant,
    /// When workers were last checked for stalls.
    pub stall_checked: Option<Instant>,
    /// When `queue.json` was last written.
    pub published: Option<Instant>,
    /// Tells a person about results that need one.
    pub alerts: crate::alert::Notifier,
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
        ctx.config.set("ORC_MAX_WORKERS", &set.max.to_string())?;
        if let Some(slug) = &opts.repo_slug {
            crate::tracker::github::check_repo_slug(slug)?;
        }
        let clock = Clock::from_env()?;
        let github = (tracker == TrackerKind::Github).then(|| crate::alert::Github {
            slug: opts.repo_slug.clone(),
            root: repo.root.clone(),
        });
        let alerts = crate::alert::Notifier::new(&ctx.config, &ctx.session, github, opts.dry_run)?;
        Ok(Dispatcher {
            gh: Gh::new(opts.repo_slug.as_deref(), &repo.root),
            tracker,
            started_at: clock.stamp(),
            clock,
            bells: Bells::default(),
            dirty: true,
            stop: false,
            progress: HashMap::new(),
            next_poll: Instant::now(),
            stall_checked: None,
            published: None,
            alerts,
            items: Vec::new(),
            outside: HashMap::new(),
            prs: None,
            open: None,
            fresh: false,
            set,
            opts,
            ctx,
            emit,
        })
    }

    /// The run's pull requests with their checks: one `gh pr list` for
    /// every worker verified in the same turn of the loop.
    pub fn pr_snapshot(&mut self) -> super::verify::Snapshot {
        if let Some(snap) = &self.prs {
            return snap.clone();
        }
        let snap = self.gh.pr_list(None).map_err(|e| e.to_string());
        self.prs = Some(snap.clone());
        snap
    }

    /// Stream one step.
    pub fn emit(&mut self, step: Step) -> Result<()> {
        self.dirty = true;
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
        self.dirty = true;
        self.items[i].j.phase = phase;
        let proc = self.worker(self.items[i].issue());
        journal::save(&proc, &self.items[i].j)
    }

    /// End item `i`'s run: write it down and say so.
    pub fn end(&mut self, i: usize, end: End, detail: String) -> Result<()> {
        self.items[i].j.detail = detail.clone();
        self.set_phase(i, Phase::Done { end })?;
        let issue = self.items[i].issue();
        self.emit(Step::Ended {
            issue,
            end,
            detail: detail.clone(),
        })?;
        self.tell_a_person(issue, end.as_str(), &detail)
    }

    /// Workers and reviewers of this run that hold a slot.
    pub fn running(&self) -> usize {
        self.items
            .iter()
            .filter(|it| matches!(it.j.phase, Phase::Running { .. } | Phase::Stopping { .. }))
            .count()
    }

    /// Reviewers of this run that hold a slot.
    pub fn reviewers(&self) -> usize {
        self.items
            .iter()
            .filter(|it| match it.j.phase {
                Phase::Running { kind } | Phase::Stopping { kind, .. } => kind == Kind::Reviewer,
                _ => false,
            })
            .count()
    }

    /// Run the loop until every issue is settled (or one pass, `--once`;
    /// or, with `--follow`, until SIGTERM or SIGINT).
    pub fn drive(&mut self) -> Result<()> {
        loop {
            self.fresh = false;
            self.stop |= self.bells.stop_requested();
            if self.stop {
                let running = self.running();
                self.emit(Step::Stopping { running })?;
                return Ok(());
            }
            self.take_orders()?;
            if self.opts.follow {
                self.follow_tracker()?;
            }
            self.settle_stops()?;
            // What GitHub said in the last turn is old news in this one.
            self.prs = None;
            self.collect()?;
            self.fire_timers()?;
            self.check_stalls()?;
            self.judge_holds()?;
            self.start_ready()?;
            self.publish(true, false)?;
            if self.opts.once || (!self.opts.follow && self.settled()) {
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
                            Then::Merge => Phase::Merging,
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
        if self.opts.follow {
            wait = wait.min(self.next_poll.saturating_duration_since(Instant::now()));
        }
        if self.dirty
            && let Some(t) = self.published
        {
            let due = t + PUBLISH_EVERY;
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
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
            let hopeless = blockers.iter().any(|(_, hope)| !hope);
            // A follower's held issues may still be freed by issues to come.
            if matches!(it.j.phase, Phase::Queued) && hopeless && !self.opts.follow {
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
        if !self.opts.dry_run {
            self.publish(false, true)?;
        }
        self.alerts.flush(std::time::Duration::from_secs(15));
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
                Then::Merge => "merge",
            }
        ),
        Phase::Verify { until } => format!("verifying (next look at {until})"),
        Phase::Retry => "retry".into(),
        Phase::Resume => "resume after review".into(),
        Phase::Review => "review".into(),
        Phase::Merging => "merging".into(),
        Phase::Stopping { kind, why } => format!(
            "stopping the {kind} ({})",
            match why {
                super::journal::Stop::Stall => "stalled",
                super::journal::Stop::Cancel => "cancelled",
            }
        ),
        Phase::Done { end } => end.as_str().into(),
    }
}
