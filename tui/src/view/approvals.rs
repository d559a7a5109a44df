//! The approvals screen: every gate waiting across runs, who may decide it, the time
//! left, and whether this console's identity may (and if not, why).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{empty, fit, took};
use crate::state::App;
use crate::theme::Tone;

pub(super) fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    if app.gates.is_empty() {
        empty(f, area, "No gate is waiting for a decision.");
        return;
    }
    let t = app.theme;
    let width = usize::from(area.width);
    let mut lines = Vec::new();
    for (i, g) in app.gates.iter().enumerate() {
        let left = g.deadline.map_or_else(
            || "no deadline".to_owned(),
            |d| {
                if d > app.now {
                    format!("{} left", took(d.since(app.now)))
                } else {
                    "deadline passed".to_owned()
                }
            },
        );
        let who: Vec<String> = g.approvers.iter().map(ToString::to_string).collect();
        let head = format!(
            "{} {} › {}  ({})  {}/{} given  {left}",
            t.symbol("awaiting approval"),
            g.run,
            g.step,
            g.runbook,
            g.given,
            g.min
        );
        let mut style = t.status("awaiting approval");
        if i == app.gate_sel {
            style = style.patch(t.selected());
        }
        lines.push(Line::from(Span::styled(fit(&head, width), style)));
        lines.push(Line::from(fit(
            &format!("    may decide: {}", who.join(", ")),
            width,
        )));
        let (mine, tone) = if app.read_only {
            (
                "    read-only console: nothing is decided here".to_owned(),
                Tone::Muted,
            )
        } else if g.may_decide {
            (
                "    you may decide it (a approve, x reject)".to_owned(),
                Tone::Good,
            )
        } else {
            (
                format!(
                    "    not you: {}",
                    g.why_not.as_deref().unwrap_or("not entitled")
                ),
                Tone::Muted,
            )
        };
        lines.push(Line::from(Span::styled(fit(&mine, width), t.tone(tone))));
    }
    let visible = usize::from(area.height);
    let skip = (app.gate_sel * 3).saturating_sub(visible.saturating_sub(3));
    let lines: Vec<Line<'_>> = lines.into_iter().skip(skip).collect();
    f.render_widget(Paragraph::new(lines), area);
}
