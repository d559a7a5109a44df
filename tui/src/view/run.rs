//! The run screen: its DAG layer by layer with each step's state, attempts and time; a
//! progress bar; the RTO clock against the objective (red once breached); the lock it
//! holds, the gates waiting, the last error.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{empty, fit, took};
use crate::runmodel::RunModel;
use crate::state::App;
use crate::theme::Tone;

pub(super) fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let Some(m) = &app.run else {
        empty(f, area, "Loading the run…");
        return;
    };
    let t = app.theme;
    let mut head: Vec<Line<'_>> = Vec::new();
    // Its log says running; the runs list knows whether anybody still drives it.
    let status = if app.interrupted(&m.state.id) {
        "interrupted"
    } else {
        m.state.status.as_str()
    };
    head.push(Line::from(vec![
        Span::styled(format!("{} {status}", t.symbol(status)), t.status(status)),
        Span::raw(format!(
            "  {}{}  started by {} ({})",
            m.state.runbook.name,
            if m.state.created.drill {
                " (drill)"
            } else {
                ""
            },
            m.state.created_by,
            m.state.created.trigger
        )),
    ]));
    let (done, total) = m.progress();
    head.push(progress(app, area.width, done, total));
    if let Some(rto) = m.rto().filter(|r| r.unmeasured()) {
        head.push(Line::from(Span::styled(
            format!(
                "RTO not measured: the run ended after {} without a step marked rto_end succeeding",
                took(rto.elapsed(app.now))
            ),
            t.tone(Tone::Waiting),
        )));
    } else if let Some(rto) = m.rto() {
        let objective = rto.objective().map_or_else(
            || "no objective".to_owned(),
            |o| format!("objective {}", took(o)),
        );
        let breached = rto.breached(app.now);
        let tone = if breached { Tone::Bad } else { Tone::Good };
        let what = if breached { "BREACHED" } else { "within" };
        head.push(Line::from(vec![
            Span::raw("RTO "),
            Span::styled(
                format!("{} {what}", took(rto.elapsed(app.now))),
                t.tone(tone),
            ),
            Span::raw(format!(
                " ({objective}{})",
                if rto.stopped() { ", stopped" } else { "" }
            )),
        ]));
    }
    let gates = m.gates_waiting();
    let locks = m.locks();
    if !gates.is_empty() || !locks.is_empty() {
        let gates: Vec<String> = gates.iter().map(ToString::to_string).collect();
        head.push(Line::from(format!(
            "{}{}",
            if gates.is_empty() {
                String::new()
            } else {
                format!("waiting for a decision: {}  ", gates.join(", "))
            },
            if locks.is_empty() {
                String::new()
            } else {
                format!("lock: {}", locks.join(", "))
            }
        )));
    }
    if let Some(e) = m.last_error() {
        head.push(Line::from(Span::styled(
            fit(&format!("last error: {e}"), usize::from(area.width)),
            t.tone(Tone::Bad),
        )));
    }
    let [top, rest] = Layout::vertical([
        Constraint::Length(u16::try_from(head.len()).unwrap_or(1)),
        Constraint::Min(1),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(head), top);
    steps(f, rest, app, m);
}

fn progress(app: &App, width: u16, done: usize, total: usize) -> Line<'static> {
    let (full, blank) = app.theme.bar();
    let bar = usize::from(width.saturating_sub(24)).min(40);
    let filled = (done * bar).checked_div(total).unwrap_or(0);
    Line::from(format!(
        "{}{} {done}/{total} steps",
        full.repeat(filled),
        blank.repeat(bar - filled)
    ))
}

/// One line per step, layer by layer; only the rows in view are made, the selection
/// kept among them.
fn steps(f: &mut Frame<'_>, area: Rect, app: &App, m: &RunModel) {
    let t = app.theme;
    let visible = usize::from(area.height);
    let skip = app.step_sel.saturating_sub(visible.saturating_sub(1));
    let width = usize::from(area.width);
    let lines: Vec<Line<'_>> = m
        .order()
        .iter()
        .enumerate()
        .skip(skip)
        .take(visible)
        .map(|(n, (layer, block, id))| {
            let status = app.step_status(m, id);
            let attempts = m.attempts(id);
            // An interrupted attempt's end is not known: no clock for it.
            let time = attempts
                .last()
                .filter(|a| a.finished.is_some() || status != "interrupted")
                .map_or_else(String::new, |a| {
                    took(a.finished.unwrap_or(app.now).since(a.started))
                });
            // The highest attempt of any item: a `for_each` step's items each count
            // from 1.
            let tries = match attempts.iter().map(|a| a.attempt).max() {
                None | Some(1) => String::new(),
                Some(k) => format!("  attempt {k}"),
            };
            let items = match m.state.steps.get(id).map(|s| s.items.len()) {
                Some(n) if n > 1 => format!("  {n} items"),
                _ => String::new(),
            };
            // The main block goes unnamed; `on_failure` and `finally` say so.
            let block = if *block == "steps" { "" } else { block };
            let label = format!(
                "{layer:>3} {block:<10} {} {:<28} {status:<18}{tries}{items}  {time}",
                t.symbol(status),
                fit(id.as_str(), 28),
            );
            let mut style = t.status(status);
            if n == app.step_sel {
                style = style.patch(t.selected());
            }
            Line::from(Span::styled(fit(&label, width), style))
        })
        .collect();
    f.render_widget(Paragraph::new(lines), area);
}
