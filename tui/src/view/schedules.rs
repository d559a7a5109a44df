//! The schedules screen: each schedule's next firing, its last, and for a drill its
//! obligation (ok, due, overdue, failed, waived, stale), with why.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{empty, fit, took};
use crate::state::App;

pub(super) fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let list = &app.schedules;
    if list.schedules.is_empty() && list.problems.is_empty() {
        empty(
            f,
            area,
            "No schedules (none declared, or no runbooks folder).",
        );
        return;
    }
    let t = app.theme;
    let width = usize::from(area.width);
    let mut lines = Vec::new();
    for s in &list.schedules {
        let (status, why) = s
            .obligation
            .as_ref()
            .map_or(("", String::new()), |o| (o.status.as_str(), o.why.clone()));
        let next = s.next.map_or_else(
            || "never".to_owned(),
            |n| {
                format!(
                    "{} (in {})",
                    s.next_local.clone().unwrap_or_default(),
                    took(n.since(app.now))
                )
            },
        );
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} {:<10}", t.symbol(status), status),
                t.status(status),
            ),
            Span::raw(fit(
                &format!(
                    " {}{}  next {next}",
                    s.id(),
                    if s.drill { " (drill)" } else { "" }
                ),
                width.saturating_sub(12),
            )),
        ]));
        if !why.is_empty() {
            lines.push(Line::from(fit(&format!("    {why}"), width)));
        }
        if let Some(p) = &s.paused {
            lines.push(Line::from(fit(
                &format!("    paused by {}: {}", p.by, p.reason),
                width,
            )));
        }
    }
    for p in &list.problems {
        lines.push(Line::from(Span::styled(
            fit(&format!("not loaded: {p}"), width),
            t.status("failed"),
        )));
    }
    f.render_widget(Paragraph::new(lines), area);
}
