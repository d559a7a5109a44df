//! The runs screen: the newest runs, filtered, with the RTO clock of each against its
//! objective when the run has one (kept on the run's row, so the list reads no events).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::{empty, fit, rto_short, took};
use crate::state::App;

pub(super) fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let shown = app.shown_runs();
    if app.runs.is_empty() {
        empty(f, area, "No runs yet. Start one with `drctl run FILE`.");
        return;
    }
    let t = app.theme;
    let wide = area.width >= 120;
    let header = if wide {
        Row::new([
            "", "RUN", "RUNBOOK", "STATUS", "BY", "STARTED", "TOOK", "RTO",
        ])
    } else {
        Row::new(["", "RUN", "RUNBOOK", "STATUS", "TOOK", "RTO"])
    }
    .style(t.strong());
    let rows = shown.iter().enumerate().map(|(i, r)| {
        let status = r.status.as_str();
        let end = r.finished_at.unwrap_or(app.now);
        let duration = took(end.since(r.created_at));
        let id = if wide {
            r.id.to_string()
        } else {
            fit(r.id.as_str(), 14)
        };
        let runbook = format!("{}{}", r.runbook, if r.drill { " (drill)" } else { "" });
        let mut cells = vec![
            Cell::from(Span::styled(t.symbol(status), t.status(status))),
            Cell::from(id),
            Cell::from(runbook),
            Cell::from(Span::styled(status.to_owned(), t.status(status))),
        ];
        if wide {
            let by = if r.trigger == "manual" || r.trigger == "api" {
                r.actor.to_string()
            } else {
                r.trigger.clone()
            };
            cells.push(Cell::from(by));
            cells.push(Cell::from(r.created_at.to_rfc3339()));
        }
        cells.push(Cell::from(duration));
        cells.push(match &r.rto {
            Some(rto) => {
                let (text, tone) = rto_short(rto, app.now);
                Cell::from(Span::styled(text, t.tone(tone)))
            }
            None => Cell::from("-"),
        });
        let row = Row::new(cells);
        if i == app.run_sel {
            row.style(t.selected())
        } else {
            row
        }
    });
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(1),
            Constraint::Length(30),
            Constraint::Min(16),
            Constraint::Length(12),
            Constraint::Length(22),
            Constraint::Length(24),
            Constraint::Length(8),
            Constraint::Length(16),
        ]
    } else {
        vec![
            Constraint::Length(1),
            Constraint::Length(14),
            Constraint::Min(12),
            Constraint::Length(12),
            Constraint::Length(8),
            Constraint::Length(14),
        ]
    };
    let mut lines = area;
    if !app.filter.is_empty() || app.filtering {
        // The end of a long filter, where the typing is.
        let count = format!("  ({} of {})", shown.len(), app.runs.len());
        let room = usize::from(area.width).saturating_sub(count.chars().count() + 10);
        let typed: Vec<char> = app.filter.chars().collect();
        let text: String = if typed.len() > room {
            std::iter::once('…')
                .chain(
                    typed[typed.len() - room.saturating_sub(1)..]
                        .iter()
                        .copied(),
                )
                .collect()
        } else {
            app.filter.clone()
        };
        let filter = Line::from(format!(
            "filter: {text}{}{count}",
            if app.filtering { "▏" } else { "" },
        ));
        f.render_widget(filter, Rect { height: 1, ..area });
        lines.y += 1;
        lines.height = lines.height.saturating_sub(1);
    }
    // Keep the selection in view.
    let visible = usize::from(lines.height.saturating_sub(1));
    let skip = app.run_sel.saturating_sub(visible.saturating_sub(1));
    let rows: Vec<Row<'_>> = rows.skip(skip).collect();
    f.render_widget(Table::new(rows, widths).header(header), lines);
}
