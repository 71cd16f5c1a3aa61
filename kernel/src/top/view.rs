//! The worker list as a person moves through it: sorted one of a few
//! ways, ended workers shown or hidden, a selection that stays on the same
//! worker when the rows re-sort under it (a key pressed acts on the worker
//! the person saw), and a window of visible rows that follows it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Range;

use super::model::{Key, WorkerRow};
use crate::record::nice_of;

/// The orders of the worker list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// What needs a person first, then what runs, then suspended, then
    /// ended; by issue within each.
    Attention,
    /// By issue, then kind.
    Issue,
    /// Longest running first.
    Age,
    /// Most urgent priority first.
    Priority,
}

impl Sort {
    /// The next order (the sort key cycles through them).
    pub fn next(self) -> Sort {
        match self {
            Sort::Attention => Sort::Issue,
            Sort::Issue => Sort::Age,
            Sort::Age => Sort::Priority,
            Sort::Priority => Sort::Attention,
        }
    }

    /// The name shown in the header.
    pub fn name(self) -> &'static str {
        match self {
            Sort::Attention => "attention",
            Sort::Issue => "issue",
            Sort::Age => "age",
            Sort::Priority => "priority",
        }
    }

    fn compare(self, a: &WorkerRow, b: &WorkerRow) -> Ordering {
        let by_key = || a.key.cmp(&b.key);
        match self {
            Sort::Attention => rank(a).cmp(&rank(b)).then_with(|| issue_first(a, b)),
            Sort::Issue => issue_first(a, b),
            Sort::Age => a
                .started
                .unwrap_or(i64::MAX)
                .cmp(&b.started.unwrap_or(i64::MAX))
                .then_with(by_key),
            Sort::Priority => nice(a)
                .cmp(&nice(b))
                .then_with(|| rank(a).cmp(&rank(b)))
                .then_with(|| issue_first(a, b)),
        }
    }
}

fn issue_first(a: &WorkerRow, b: &WorkerRow) -> Ordering {
    (a.key.issue, a.key.kind, &a.key.session).cmp(&(b.key.issue, b.key.kind, &b.key.session))
}

fn rank(r: &WorkerRow) -> u8 {
    match r.state {
        _ if r.needs_person() => 0,
        Some(s) if s.is_active() => 1,
        Some(crate::record::State::Suspended) => 2,
        _ => 3,
    }
}

fn nice(r: &WorkerRow) -> i32 {
    nice_of(&r.priority).unwrap_or(10)
}

/// The list's order, selection and scroll position.
#[derive(Debug, Clone)]
pub struct View {
    /// The order.
    pub sort: Sort,
    /// Whether ended (TERMINATED) workers are hidden.
    pub hide_ended: bool,
    order: Vec<Key>,
    selected: Option<Key>,
    index: usize,
    offset: usize,
}

impl Default for View {
    fn default() -> Self {
        View::new()
    }
}

impl View {
    /// An empty view, sorted by attention.
    pub fn new() -> View {
        View {
            sort: Sort::Attention,
            hide_ended: false,
            order: Vec::new(),
            selected: None,
            index: 0,
            offset: 0,
        }
    }

    /// Re-sort after `rows` changed. The selection stays on its worker;
    /// when that worker is gone (cleaned up, hidden), on the row that took
    /// its place.
    pub fn rebuild(&mut self, rows: &BTreeMap<Key, WorkerRow>) {
        let mut shown: Vec<&WorkerRow> = rows
            .values()
            .filter(|r| !(self.hide_ended && r.state == Some(crate::record::State::Terminated)))
            .collect();
        let sort = self.sort;
        shown.sort_by(|a, b| sort.compare(a, b));
        self.order = shown.into_iter().map(|r| r.key.clone()).collect();
        let found = self
            .selected
            .as_ref()
            .and_then(|k| self.order.iter().position(|o| o == k));
        self.index = match found {
            Some(i) => i,
            None => self.index.min(self.order.len().saturating_sub(1)),
        };
        self.selected = self.order.get(self.index).cloned();
    }

    /// The rows in order.
    pub fn order(&self) -> &[Key] {
        &self.order
    }

    /// The selected worker.
    pub fn selected(&self) -> Option<&Key> {
        self.selected.as_ref()
    }

    /// The selected row's place in the order.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Move the selection by `delta` rows, stopping at the ends.
    pub fn move_by(&mut self, delta: isize) {
        if self.order.is_empty() {
            return;
        }
        let last = self.order.len() - 1;
        self.index = self.index.saturating_add_signed(delta).min(last);
        self.selected = self.order.get(self.index).cloned();
    }

    /// Select the first row matching `pred`; whether one did.
    pub fn select_where(&mut self, pred: impl Fn(&Key) -> bool) -> bool {
        match self.order.iter().position(pred) {
            Some(i) => {
                self.index = i;
                self.selected = self.order.get(i).cloned();
                true
            }
            None => false,
        }
    }

    /// The rows to draw in a window of `height` rows, scrolled so the
    /// selection is in view: only these are read in full and drawn.
    pub fn visible(&mut self, height: usize) -> Range<usize> {
        if height == 0 || self.order.is_empty() {
            return 0..0;
        }
        if self.index < self.offset {
            self.offset = self.index;
        } else if self.index >= self.offset + height {
            self.offset = self.index + 1 - height;
        }
        let max_offset = self.order.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
        self.offset..(self.offset + height).min(self.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::Verdict;
    use crate::record::{Outcome, State};
    use crate::top::model::tests::row;

    fn rows(list: Vec<WorkerRow>) -> BTreeMap<Key, WorkerRow> {
        list.into_iter().map(|r| (r.key.clone(), r)).collect()
    }

    fn issues(v: &View) -> Vec<u32> {
        v.order().iter().map(|k| k.issue.get()).collect()
    }

    #[test]
    fn attention_puts_what_needs_a_person_first_and_ended_last() {
        let mut blocked = row(9, State::Running, None);
        blocked.health = Some(Verdict::Blocked);
        let all = rows(vec![
            row(1, State::Terminated, Some(Outcome::Merged)),
            row(2, State::Suspended, Some(Outcome::Suspended)),
            row(3, State::Running, None),
            blocked,
            row(5, State::Waiting, None),
        ]);
        let mut v = View::new();
        v.rebuild(&all);
        assert_eq!(issues(&v), [9, 3, 5, 2, 1]);
        v.hide_ended = true;
        v.rebuild(&all);
        assert_eq!(issues(&v), [9, 3, 5, 2]);
        v.sort = Sort::Issue;
        v.rebuild(&all);
        assert_eq!(issues(&v), [2, 3, 5, 9]);
    }

    #[test]
    fn age_and_priority_orders() {
        let mut old = row(1, State::Running, None);
        old.started = Some(10);
        let mut urgent = row(2, State::Running, None);
        urgent.priority = "critical".into();
        let mut low = row(3, State::Running, None);
        low.priority = "low".into();
        low.started = Some(5);
        let all = rows(vec![old, urgent, low]);
        let mut v = View::new();
        v.sort = Sort::Age;
        v.rebuild(&all);
        assert_eq!(issues(&v), [3, 1, 2]);
        v.sort = v.sort.next();
        v.rebuild(&all);
        assert_eq!((v.sort, issues(&v)), (Sort::Priority, vec![2, 1, 3]));
    }

    #[test]
    fn the_selection_stays_on_its_worker_when_rows_resort() {
        let mut all = rows(vec![
            row(1, State::Running, None),
            row(2, State::Running, None),
            row(3, State::Running, None),
        ]);
        let mut v = View::new();
        v.rebuild(&all);
        v.move_by(1);
        assert_eq!(v.selected().map(|k| k.issue.get()), Some(2));
        // Worker 1 ends: it sorts last, and the selection stays on 2.
        if let Some(r) = all.values_mut().next() {
            r.state = Some(State::Terminated);
            r.result = Some(Outcome::Failed);
        }
        v.rebuild(&all);
        assert_eq!(issues(&v), [2, 3, 1]);
        assert_eq!(
            (v.index(), v.selected().map(|k| k.issue.get())),
            (0, Some(2))
        );
        // Worker 2 is cleaned up: the row that took its place is selected.
        all.retain(|k, _| k.issue.get() != 2);
        v.rebuild(&all);
        assert_eq!(v.selected().map(|k| k.issue.get()), Some(3));
        assert!(v.select_where(|k| k.issue.get() == 1));
        assert_eq!(v.index(), 1);
        v.move_by(-5);
        assert_eq!(v.index(), 0);
        v.move_by(5);
        assert_eq!(v.index(), 1);
    }

    #[test]
    fn only_a_window_of_rows_is_visible_and_it_follows_the_selection() {
        let all = rows((1..=1000).map(|i| row(i, State::Running, None)).collect());
        let mut v = View::new();
        v.rebuild(&all);
        assert_eq!(v.visible(10), 0..10);
        v.move_by(15);
        assert_eq!(v.visible(10), 6..16);
        v.move_by(-10);
        assert_eq!(v.visible(10), 5..15);
        v.move_by(10_000);
        assert_eq!(v.visible(10), 990..1000);
        assert_eq!(v.visible(0), 0..0);
        let mut empty = View::new();
        empty.rebuild(&BTreeMap::new());
        assert_eq!((empty.visible(5), empty.selected()), (0..0, None));
    }
}
