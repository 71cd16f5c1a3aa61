//! Drawing: the model's rows and cells put on the screen. Colour says the
//! state at a glance; every state is also written as a word, so nothing is
//! lost without colour (`NO_COLOR`). Only the visible rows are drawn.

use std::time::Duration;

use orc_kernel::top::layout::{self, Col};
use orc_kernel::top::model::Tone;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::app::App;
use crate::keys::{HELP, Mode};

/// How long an action's message stays in the footer.
pub const MESSAGE_FOR: Duration = Duration::from_secs(6);

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    let queue_len = app.queue_rows().len();
    let p = layout::panels(area.height, queue_len, app.schedules.len());
    let [header, table, detail, queue, sched, events, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(p.table),
        Constraint::Length(2),
        Constraint::Length(p.queue),
        Constraint::Length(p.schedules),
        Constraint::Length(p.events),
        Constraint::Length(1),
    ])
    .areas(area);
    let now_t = orc_kernel::clock::now().ok();
    let now = now_t.map_or(0, |t| t.timestamp());
    let clock = now_t
        .map(|t| t.format("%H:%MZ").to_string())
        .unwrap_or_default();
    f.render_widget(Paragraph::new(header_line(app, clock)), header);
    draw_table(f, app, table, now);
    f.render_widget(Paragraph::new(detail_lines(app)), detail);
    if p.queue > 0 {
        draw_queue(f, app, queue);
    }
    if p.schedules > 0 {
        f.render_widget(Paragraph::new(schedule_lines(app, p.schedules)), sched);
    }
    if p.events > 0 {
        f.render_widget(Paragraph::new(event_lines(app, p.events)), events);
    }
    f.render_widget(Paragraph::new(footer_line(app)), footer);
    if app.mode == Mode::Help {
        draw_help(f, area);
    }
}

fn tone_style(app: &App, tone: Tone) -> Style {
    let base = Style::default();
    let styled = match tone {
        Tone::Alert => base.add_modifier(Modifier::BOLD),
        _ => base,
    };
    if !app.colour {
        return styled;
    }
    styled.fg(match tone {
        Tone::Alert => Color::Red,
        Tone::Active => Color::Green,
        Tone::Waiting => Color::Yellow,
        Tone::Paused => Color::Cyan,
        Tone::Good => Color::Blue,
        Tone::Bad => Color::Magenta,
    })
}

fn title_style() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// `text` cut or padded to exactly `width` characters.
fn fit(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count > width {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        if width > 0 {
            cut.push('…');
        }
        cut
    } else {
        format!("{text}{}", " ".repeat(width - count))
    }
}

fn header_line(app: &App, clock: String) -> Line<'static> {
    let c = app.counts();
    let scope = match app.fleet.scope() {
        orc_kernel::top::fleet::Scope::One(s) => s.name().to_string(),
        orc_kernel::top::fleet::Scope::All => "all sessions".to_string(),
    };
    let running = match c.capacity {
        Some(cap) => format!("running {}/{cap}", c.running),
        None => format!("running {}", c.running),
    };
    let alert = if c.needs_person > 0 {
        tone_style(app, Tone::Alert)
    } else {
        Style::default()
    };
    let live = if app.live { "" } else { " (polling)" };
    Line::from(vec![
        Span::styled("orc-top", title_style()),
        Span::raw(format!(" {scope}  {running}  waiting {}  ", c.waiting)),
        Span::styled(format!("needs a person {}", c.needs_person), alert),
        Span::raw(format!("  {clock}{live}")),
    ])
}

fn draw_table(f: &mut Frame, app: &mut App, area: Rect, now: i64) {
    if area.height == 0 {
        return;
    }
    let sessions = matches!(app.fleet.scope(), orc_kernel::top::fleet::Scope::All);
    let cols = layout::columns(area.width.saturating_sub(2), sessions);
    let heading: Vec<String> = cols
        .iter()
        .map(|(c, w)| fit(c.heading(), usize::from(*w)))
        .collect();
    let mut lines = vec![Line::styled(
        fit(&format!("  {}", heading.join(" ")), usize::from(area.width)),
        Style::default().add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
    )];
    let height = usize::from(area.height - 1);
    app.page = height;
    let range = app.view.visible(height);
    let selected = app.view.index();
    for i in range {
        let Some(row) = app.view.order().get(i).and_then(|k| app.fleet.rows.get(k)) else {
            continue;
        };
        let is_selected = i == selected && !app.queue_focus;
        let tone = tone_style(app, row.tone());
        let mut spans = vec![Span::raw(if is_selected { "> " } else { "  " })];
        for (n, (col, w)) in cols.iter().enumerate() {
            let text = fit(&col.cell(row, now), usize::from(*w));
            let style = match col {
                Col::State | Col::Health | Col::Phase => tone,
                _ => Style::default(),
            };
            spans.push(Span::styled(text, style));
            if n + 1 < cols.len() {
                spans.push(Span::raw(" "));
            }
        }
        let mut line = Line::from(spans);
        if is_selected {
            line = line.patch_style(Style::default().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    if app.fleet.rows.is_empty() {
        lines.push(Line::raw(
            "  no workers in this session (orc-spawn N, orc-dispatch)",
        ));
    }
    f.render_widget(Paragraph::new(lines), area);
}

fn detail_lines(app: &App) -> Vec<Line<'static>> {
    if app.queue_focus {
        let rows = app.queue_rows();
        let Some((session, q)) = rows.get(app.queue_index) else {
            return vec![];
        };
        return vec![
            Line::raw(format!("queue #{} [{session}] {}", q.issue, q.title)),
            Line::raw(format!("{}: {}", q.state_text(), q.reason)),
        ];
    }
    let Some(row) = app.view.selected().and_then(|k| app.fleet.rows.get(k)) else {
        return vec![];
    };
    let title = if row.title.is_empty() {
        "(no title)"
    } else {
        row.title.as_str()
    };
    vec![
        Line::from(vec![
            Span::styled(
                format!("#{} {}", row.key.issue, row.key.kind),
                title_style(),
            ),
            Span::raw(format!(
                " [{}] {title} | attempt {} | {}",
                row.key.session,
                row.attempt,
                row.phase_text()
            )),
        ]),
        Line::raw(format!("log: {}", row.last_log)),
    ]
}

fn draw_queue(f: &mut Frame, app: &App, area: Rect) {
    let rows = app.queue_rows();
    let words: Vec<String> = app
        .queues
        .iter()
        .filter(|(_, q)| !q.dispatcher.is_empty())
        .map(|(s, q)| format!("{s}: {}", q.dispatcher))
        .collect();
    let mut lines = vec![Line::styled(
        format!(
            "QUEUE ({}) | Tab selects | {}",
            rows.len(),
            words.join("; ")
        ),
        title_style(),
    )];
    let height = usize::from(area.height.saturating_sub(1));
    let offset = app.queue_index.saturating_sub(height.saturating_sub(1));
    for (i, (_, q)) in rows.iter().enumerate().skip(offset).take(height) {
        let selected = app.queue_focus && i == app.queue_index;
        let pos = q
            .position
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        let text = format!(
            "{}{:>3} #{:<6} {:<8} {} {}",
            if selected { "> " } else { "  " },
            pos,
            q.issue.to_string(),
            q.priority,
            fit(&q.state_text(), 28),
            if q.reason.is_empty() {
                &q.title
            } else {
                &q.reason
            }
        );
        let mut line = Line::styled(text, tone_style(app, q.tone()));
        if selected {
            line = line.patch_style(Style::default().add_modifier(Modifier::REVERSED));
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines), area);
}

fn schedule_lines(app: &App, height: u16) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        format!("SCHEDULES ({})", app.schedules.len()),
        title_style(),
    )];
    for s in app
        .schedules
        .iter()
        .take(usize::from(height.saturating_sub(1)))
    {
        lines.push(Line::raw(format!(
            "  {} {} next {} last {} {}",
            fit(&s.id, 14),
            fit(&s.when, 14),
            fit(s.next.as_deref().unwrap_or("-"), 25),
            fit(&s.last, 11),
            s.what
        )));
    }
    lines
}

fn event_lines(app: &App, height: u16) -> Vec<Line<'static>> {
    let mut all: Vec<&orc_kernel::top::model::EventLine> =
        app.tails.values().flat_map(|t| t.lines()).collect();
    all.sort_by(|a, b| a.ts.cmp(&b.ts));
    let n = usize::from(height.saturating_sub(1));
    let mut lines = vec![Line::styled("EVENTS", title_style())];
    for e in all.iter().skip(all.len().saturating_sub(n)) {
        lines.push(Line::raw(format!("  {}", e.text)));
    }
    lines
}

fn footer_line(app: &App) -> Line<'static> {
    match &app.mode {
        Mode::Find(text) => return Line::raw(format!("jump to issue: {text}_")),
        Mode::Confirm { action, key } => {
            return Line::styled(action.question(key), tone_style(app, Tone::Alert));
        }
        Mode::ConfirmQueue {
            action,
            session,
            issue,
        } => {
            return Line::styled(
                action.question(session, *issue),
                tone_style(app, Tone::Alert),
            );
        }
        _ => {}
    }
    if let Some((text, at)) = &app.message
        && at.elapsed() < MESSAGE_FOR
    {
        return Line::raw(text.clone());
    }
    Line::styled(
        "? keys  s suspend  r resume  t term  K kill  p prio  l log  a attach  q quit",
        Style::default().add_modifier(Modifier::DIM),
    )
}

fn draw_help(f: &mut Frame, area: Rect) {
    let width = area.width.min(72);
    let height = area.height.min(u16::try_from(HELP.len()).unwrap_or(20) + 3);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| Line::raw(format!(" {} {what}", fit(k, 9))))
        .collect();
    lines.push(Line::raw(" any key closes this list"));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" orc-top keys "),
        ),
        rect,
    );
}
