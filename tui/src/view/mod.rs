//! Rendering: each screen from the state alone, on any frame size (80x24 and up; a
//! smaller one gets what fits).
//!
//! - [`runs`], [`run`], [`step`], [`approvals`], [`schedules`], [`help`]: the screens.
//! - [`popup`]: the decision and confirmation boxes, and the command line.

mod approvals;
mod help;
mod popup;
mod run;
mod runs;
mod schedules;
mod step;

use std::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::{App, Screen};
use crate::theme::Tone;

/// Draws the whole console.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let [head, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let mode = if app.read_only { "  [read-only]" } else { "" };
    let title = format!(" drctl · {} · {}{mode}", app.screen().title(), app.who);
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(title, app.theme.strong()))),
        head,
    );
    match app.screen() {
        Screen::Runs => runs::draw(f, body, app),
        Screen::Run(_) => run::draw(f, body, app),
        Screen::Step(_, step) => step::draw(f, body, app, step),
        Screen::Approvals => approvals::draw(f, body, app),
        Screen::Schedules => schedules::draw(f, body, app),
        Screen::Help => help::draw(f, body, app),
    }
    popup::foot(f, foot, app);
    popup::draw(f, app);
    if app.theme.ascii {
        ascii_only(f.buffer_mut());
    }
}

/// Every cell in plain ASCII (`--ascii`), whatever drew it: borders, bars, marks, and
/// text from runbooks or payloads. The theme's symbols already are; the rest is mapped
/// here, in one place, so that nothing escapes it.
fn ascii_only(buf: &mut ratatui::buffer::Buffer) {
    for cell in &mut buf.content {
        let sym = cell.symbol();
        if sym.is_ascii() {
            continue;
        }
        let plain = match sym {
            "─" | "━" | "═" => "-",
            "│" | "┃" | "║" | "▏" => "|",
            "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" | "╭" | "╮" | "╰" | "╯" => {
                "+"
            }
            "›" | "▶" => ">",
            "·" => ".",
            "…" => "~",
            "█" => "#",
            "░" => "-",
            "✓" => "+",
            "✗" => "x",
            "⏸" => "=",
            "↷" => "~",
            _ => "?",
        };
        cell.set_symbol(plain);
    }
}

/// A duration as people read it: `850ms`, `42s`, `3m07s`, `2h05m`, `3d04h`.
pub fn took(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A run's RTO clock against its objective, short: `4m12s/15m`, `17m03s/15m !` when
/// breached (the `!` says it without colour), `2s/15m ?` when the run ended without a
/// step marked `rto_end` succeeding (nothing was measured), with the tone to paint it.
fn rto_short(rto: &drctl_core::RtoSpan, now: drctl_core::Timestamp) -> (String, Tone) {
    let elapsed = took(rto.elapsed(now));
    let objective = rto
        .objective()
        .map(|o| format!("/{}", took(o)))
        .unwrap_or_default();
    if rto.unmeasured() {
        return (format!("{elapsed}{objective} ?"), Tone::Waiting);
    }
    match rto.objective() {
        None => (elapsed, Tone::Muted),
        Some(o) if rto.breached(now) => (format!("{elapsed}/{} !", took(o)), Tone::Bad),
        Some(o) => (format!("{elapsed}/{}", took(o)), Tone::Good),
    }
}

/// `text` cut to `width` columns (by characters), with `…` when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A line of empty-state text, centred in `area`'s first rows.
fn empty(f: &mut Frame<'_>, area: Rect, text: &str) {
    f.render_widget(
        Paragraph::new(text.to_owned()).alignment(ratatui::layout::Alignment::Center),
        area,
    );
}
