//! The schedules of `orc-cron` and `orc-at` as `orc-top` shows them: the
//! registry, each with its next fire time and how its last run went. The
//! OS scheduler is not asked (that is `orc-cron list`'s drift check): a
//! live view reads only files.

use super::model::SchedRow;
use crate::paths::StateDir;
use crate::schedule::ops::{Listed, next_fire};
use crate::schedule::{Registry, Timing, local_now};

/// Every schedule, recurring ones first, then by next fire time.
pub fn load(state: &StateDir) -> crate::Result<Vec<SchedRow>> {
    let now = local_now()?;
    let registry = Registry::load(state)?;
    let mut rows: Vec<(bool, SchedRow)> = registry
        .schedules
        .into_iter()
        .map(|schedule| {
            let next = next_fire(&schedule.timing, &now);
            let (recurring, when) = match &schedule.timing {
                Timing::Cron { schedule } => (true, schedule.clone()),
                Timing::At { at } => (false, format!("at {at}")),
            };
            let listed = Listed {
                schedule,
                next,
                state: "",
                problem: None,
            };
            let row = SchedRow {
                id: listed.schedule.id.clone(),
                when,
                last: listed.last().to_string(),
                last_run_at: listed.schedule.last_run_at.clone(),
                what: listed.schedule.action.summary(),
                next: listed.next,
            };
            (recurring, row)
        })
        .collect();
    rows.sort_by(|(ra, a), (rb, b)| {
        rb.cmp(ra)
            .then_with(|| a.next.is_none().cmp(&b.next.is_none()))
            .then_with(|| a.next.cmp(&b.next))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}
