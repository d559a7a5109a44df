//! What sits over the screens: the decision and confirmation boxes; and the bottom
//! line (the command line while it is open, else the last message and the keys).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::fit;
use crate::state::{App, Popup};
use crate::theme::Tone;
use drctl_run::event::Verdict;

pub(super) fn foot(f: &mut Frame<'_>, area: Rect, app: &App) {
    let line = match &app.command {
        Some(c) => format!(":{c}▏"),
        None if !app.status.is_empty() => app.status.clone(),
        None => "? keys · : command · Esc back · q quit".to_owned(),
    };
    f.render_widget(Paragraph::new(fit(&line, usize::from(area.width))), area);
}

pub(super) fn draw(f: &mut Frame<'_>, app: &App) {
    let Some(popup) = &app.popup else { return };
    let t = app.theme;
    let area = f.area();
    let width = area.width.saturating_sub(4).min(76);
    let (title, lines) = match popup {
        Popup::Decide {
            run,
            step,
            verdict,
            comment,
            refused,
        } => {
            let verb = match verdict {
                Verdict::Approve => "Approve",
                Verdict::Reject => "Reject",
            };
            let mut lines = vec![
                Line::from(format!("{verb} {step} of run {run}?")),
                Line::from(format!("comment: {comment}▏")),
            ];
            match refused {
                Some(why) => lines.push(Line::from(Span::styled(
                    format!("refused: {why}"),
                    t.tone(Tone::Bad),
                ))),
                None => lines.push(Line::from("Enter sends · Esc cancels")),
            }
            (verb, lines)
        }
        Popup::Output {
            step,
            json,
            invalid,
            ..
        } => {
            let mut lines = vec![
                Line::from(format!(
                    "The output {step} gives the steps after it (JSON):"
                )),
                Line::from(format!("{json}▏")),
            ];
            match invalid {
                Some(why) => lines.push(Line::from(Span::styled(why.clone(), t.tone(Tone::Bad)))),
                None => lines.push(Line::from("Enter goes on to confirm · Esc cancels")),
            }
            ("Skip with output", lines)
        }
        Popup::Confirm { says, typed, .. } => {
            let mut lines = vec![Line::from(says.clone())];
            match typed {
                Some((want, got)) => {
                    lines.push(Line::from(format!("type `{want}` to confirm: {got}▏")));
                    lines.push(Line::from("Enter sends once it matches · Esc cancels"));
                }
                None => lines.push(Line::from("y sends · n or Esc cancels")),
            }
            ("Confirm", lines)
        }
    };
    // Each line as wrapped in the box (borders take two columns), so that a long comment
    // or reason is shown whole instead of cut by the box's bottom; two rows spare, as
    // words wrap a little earlier than characters would.
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner).max(1)).sum();
    let height = u16::try_from(rows + 4).unwrap_or(u16::MAX);
    let rect = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + area.height.saturating_sub(height) / 2,
        width,
        height: height.min(area.height),
    };
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(title)),
        rect,
    );
}
