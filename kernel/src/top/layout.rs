//! How the screen is divided: which columns of the worker table fit a
//! width (the least needed go first on a narrow terminal), what each cell
//! says, and how many lines each panel gets of a height. Down to 80×24
//! everything essential stays: issue, kind, state, health, age and phase in
//! the table, the selected worker's title and last log line below it.

use super::model::WorkerRow;

/// A column of the worker table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// `#N`.
    Issue,
    /// `wkr` or `rev`.
    Kind,
    /// The record's state.
    State,
    /// The health verdict.
    Health,
    /// Time since the attempt started.
    Age,
    /// The attempt number.
    Attempt,
    /// The priority.
    Prio,
    /// Resident memory.
    Mem,
    /// The session (with `--all`).
    Session,
    /// The phase, or how it ended.
    Phase,
    /// The issue's title.
    Title,
    /// The last line of the log.
    Log,
}

impl Col {
    /// The column's heading.
    pub fn heading(self) -> &'static str {
        match self {
            Col::Issue => "ISSUE",
            Col::Kind => "KND",
            Col::State => "STATE",
            Col::Health => "HEALTH",
            Col::Age => "AGE",
            Col::Attempt => "AT",
            Col::Prio => "PRIO",
            Col::Mem => "MEM",
            Col::Session => "SESSION",
            Col::Phase => "PHASE",
            Col::Title => "TITLE",
            Col::Log => "LAST LOG LINE",
        }
    }

    /// The fixed width, or the least width of a flexible column.
    fn min_width(self) -> u16 {
        match self {
            Col::Issue => 6,
            Col::Kind => 3,
            Col::State => 10,
            Col::Health => 7,
            Col::Age => 6,
            Col::Attempt => 2,
            Col::Prio => 8,
            Col::Mem => 5,
            Col::Session => 18,
            Col::Phase => 14,
            Col::Title => 14,
            Col::Log => 16,
        }
    }

    /// Widths beyond the least go to flexible columns, up to this much.
    fn max_width(self) -> u16 {
        match self {
            Col::Phase => 30,
            Col::Title => 40,
            Col::Log => u16::MAX,
            other => other.min_width(),
        }
    }

    /// What the cell of `row` says, at `now` (seconds since the epoch).
    pub fn cell(self, row: &WorkerRow, now: i64) -> String {
        let dash = || "-".to_string();
        match self {
            Col::Issue => format!("#{}", row.key.issue),
            Col::Kind => match row.key.kind {
                crate::ids::Kind::Worker => "wkr".into(),
                crate::ids::Kind::Reviewer => "rev".into(),
            },
            Col::State => row.state_text().to_string(),
            Col::Health => row.health.map_or_else(dash, |h| h.to_string()),
            Col::Age => row.age(now).map_or_else(dash, crate::clock::human_duration),
            Col::Attempt => match row.attempt {
                0 => dash(),
                n => n.to_string(),
            },
            Col::Prio if row.priority.is_empty() => dash(),
            Col::Prio => row.priority.clone(),
            Col::Mem => row.memory_kb.map_or_else(dash, human_kb),
            Col::Session => row.key.session.clone(),
            Col::Phase => row.phase_text(),
            Col::Title => row.title.clone(),
            Col::Log => row.last_log.clone(),
        }
    }
}

/// Kilobytes as `512K`, `87M`, `1.2G`.
pub fn human_kb(kb: u64) -> String {
    match kb {
        k if k < 1024 => format!("{k}K"),
        k if k < 1024 * 1024 => format!("{}M", k / 1024),
        k => format!("{:.1}G", k as f64 / (1024.0 * 1024.0)),
    }
}

/// The columns that fit `width` (one space between columns), with their
/// widths; `sessions` adds the session column (`--all`).
pub fn columns(width: u16, sessions: bool) -> Vec<(Col, u16)> {
    let mut cols = vec![
        Col::Issue,
        Col::Kind,
        Col::State,
        Col::Health,
        Col::Age,
        Col::Attempt,
        Col::Prio,
        Col::Mem,
    ];
    if sessions {
        cols.push(Col::Session);
    }
    cols.extend([Col::Phase, Col::Title, Col::Log]);
    // Dropped in this order until the rest fits.
    let expendable = [
        Col::Log,
        Col::Mem,
        Col::Attempt,
        Col::Title,
        Col::Prio,
        Col::Session,
        Col::Kind,
        Col::Age,
        Col::Health,
    ];
    let need = |cols: &[Col]| -> u32 {
        cols.iter().map(|c| u32::from(c.min_width())).sum::<u32>() + cols.len() as u32 - 1
    };
    for drop in expendable {
        if need(&cols) <= u32::from(width) {
            break;
        }
        cols.retain(|c| *c != drop);
    }
    let mut spare = u32::from(width).saturating_sub(need(&cols));
    let mut out: Vec<(Col, u16)> = cols.iter().map(|c| (*c, c.min_width())).collect();
    // Two rounds: first every flexible column up to a fair share, then
    // up to its most, so the title is not starved by the phase.
    for fair in [true, false] {
        for (col, w) in out.iter_mut() {
            let most = if fair {
                col.max_width().min(col.min_width() + 10)
            } else {
                col.max_width()
            };
            let room = u32::from(most.saturating_sub(*w)).min(spare);
            *w += u16::try_from(room).unwrap_or(0);
            spare -= room;
        }
    }
    out
}

/// The heights of the panels below the worker table, for a screen of
/// `height` lines with `queue` queue entries and `schedules` schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panels {
    /// The worker table, its heading included.
    pub table: u16,
    /// The queue panel, its title included (0: not shown).
    pub queue: u16,
    /// The schedules panel, its title included (0: not shown).
    pub schedules: u16,
    /// The event tail, its title included.
    pub events: u16,
}

/// Lines of the header, the selected worker's detail and the footer.
pub const FIXED_LINES: u16 = 1 + 2 + 1;

/// Divide `height`: the table keeps at least 6 lines (a heading and five
/// workers); the queue, the schedules and the events get up to 6, 4 and 5
/// lines when there is room, fewer when there is not.
pub fn panels(height: u16, queue: usize, schedules: usize) -> Panels {
    let body = height.saturating_sub(FIXED_LINES);
    let want = |n: usize, most: u16| -> u16 {
        if n == 0 {
            0
        } else {
            u16::try_from(n + 1).unwrap_or(most).min(most)
        }
    };
    let mut p = Panels {
        table: 0,
        queue: want(queue, 6),
        schedules: want(schedules, 4),
        events: 5,
    };
    let min_table = 6;
    // Shrink the panels, the events first, until the table has its least.
    while p.queue + p.schedules + p.events + min_table > body {
        if p.events > 2 {
            p.events -= 1;
        } else if p.schedules > 2 {
            p.schedules -= 1;
        } else if p.queue > 2 {
            p.queue -= 1;
        } else if p.events > 0 {
            p.events -= 1;
        } else if p.schedules > 0 {
            p.schedules = 0;
        } else if p.queue > 0 {
            p.queue = 0;
        } else {
            break;
        }
    }
    p.table = body.saturating_sub(p.queue + p.schedules + p.events);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(cols: &[(Col, u16)]) -> u32 {
        cols.iter().map(|(_, w)| u32::from(*w)).sum::<u32>() + cols.len() as u32 - 1
    }

    #[test]
    fn eighty_columns_keep_the_essentials_and_fill_the_width() {
        let cols = columns(80, false);
        let names: Vec<Col> = cols.iter().map(|(c, _)| *c).collect();
        for essential in [Col::Issue, Col::State, Col::Health, Col::Age, Col::Phase] {
            assert!(names.contains(&essential), "{essential:?} in {names:?}");
        }
        assert_eq!(total(&cols), 80);
        let wide = columns(200, true);
        assert_eq!(wide.len(), 12);
        assert!(total(&wide) <= 200);
        let narrow = columns(40, true);
        assert!(total(&narrow) <= 40, "{narrow:?}");
        assert!(narrow.iter().any(|(c, _)| *c == Col::Issue));
    }

    #[test]
    fn panels_fit_a_small_screen_and_grow_on_a_large_one() {
        let p = panels(24, 10, 3);
        assert_eq!(p.table + p.queue + p.schedules + p.events + FIXED_LINES, 24);
        assert!(p.table >= 6 && p.queue >= 2 && p.events >= 2, "{p:?}");
        let none = panels(24, 0, 0);
        assert_eq!((none.queue, none.schedules, none.events), (0, 0, 5));
        assert_eq!(none.table, 15);
        let big = panels(60, 10, 3);
        assert_eq!((big.queue, big.schedules, big.events), (6, 4, 5));
        let tiny = panels(8, 10, 3);
        assert!(tiny.table + tiny.queue + tiny.schedules + tiny.events <= 4);
    }

    #[test]
    fn memory_reads_in_human_units() {
        assert_eq!(human_kb(512), "512K");
        assert_eq!(human_kb(90_000), "87M");
        assert_eq!(human_kb(1_300_000), "1.2G");
    }
}
