//! The step screen: its inputs as rendered (secrets were masked before they were
//! stored), each attempt with its timing and result, the output, and the tail of an
//! `exec` step's stdout and stderr: at its end, or so far while it runs (the store's
//! live output, which the loader reads every second while this screen is open).

use drctl_core::StepId;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use serde_json::Value;

use super::{empty, took};
use crate::state::App;

/// How many lines of a stream the tail shows.
const TAIL: usize = 12;

pub(super) fn draw(f: &mut Frame<'_>, area: Rect, app: &App, step: &StepId) {
    let Some(m) = &app.run else {
        empty(f, area, "Loading the run…");
        return;
    };
    let t = app.theme;
    let status = app.step_status(m, step);
    let gone = app.interrupted(&m.state.id);
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} {step}", t.symbol(status)), t.status(status)),
        Span::raw(format!(
            "  {status}  {}",
            m.state
                .definition(step.as_str())
                .map(drctl_runbook::model::Step::kind_label)
                .unwrap_or_default()
        )),
    ])];
    let attempts = m.attempts(step);
    if attempts.is_empty() {
        lines.push(Line::from("not started"));
    }
    for a in attempts {
        let item = a.item.map(|i| format!(" item {i}")).unwrap_or_default();
        let result = match a.result.as_deref() {
            Some(r) => r,
            None if gone => "interrupted",
            None => "running",
        };
        // An interrupted attempt's end is not known: no clock for it.
        let time = match a.finished {
            None if gone => "-".to_owned(),
            end => took(end.unwrap_or(app.now).since(a.started)),
        };
        lines.push(Line::from(Span::styled(
            format!(
                "{} attempt {}{item} ({})  {}  {time}  {result}",
                t.symbol(if a.result.is_none() {
                    result
                } else if result == "ok" {
                    "succeeded"
                } else {
                    "failed"
                }),
                a.attempt,
                a.phase,
                a.started.to_rfc3339(),
            ),
            t.strong(),
        )));
        lines.push(Line::from(format!("  input:  {}", a.input)));
        if let Some(out) = &a.output {
            lines.extend(output(out));
        }
        // Only while somebody drives the run: after a crash the program is gone, and
        // its last output would read as if it still ran.
        if a.result.is_none()
            && !gone
            && let Some(live) = app
                .live
                .iter()
                .find(|l| l.item == a.item && l.attempt == a.attempt)
        {
            lines.extend(stream("stdout", &live.stdout, " so far"));
            lines.extend(stream("stderr", &live.stderr, " so far"));
        }
    }
    // j/k (PageUp/PageDown) scroll: a `for_each` step's items go on below.
    let scroll = u16::try_from(app.scroll).unwrap_or(u16::MAX);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

/// An output: as JSON, and an `exec` step's streams as their last lines.
fn output(out: &Value) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let streams = ["stdout", "stderr"];
    let rest: serde_json::Map<String, Value> = out
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !streams.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    if out.is_object() {
        lines.push(Line::from(format!("  output: {}", Value::Object(rest))));
    } else {
        lines.push(Line::from(format!("  output: {out}")));
    }
    for name in streams {
        if let Some(text) = out.get(name).and_then(Value::as_str) {
            lines.extend(stream(name, text, ""));
        }
    }
    lines
}

/// A stream's last lines, escaped (a program's output may hold terminal escapes).
fn stream(name: &str, text: &str, when: &str) -> Vec<Line<'static>> {
    if text.is_empty() {
        return Vec::new();
    }
    let all: Vec<&str> = text.lines().collect();
    let mut lines = vec![Line::from(format!("  {name}{when} (last {TAIL} lines):"))];
    for l in &all[all.len().saturating_sub(TAIL)..] {
        // A progress bar redraws its line with `\r`: what shows is its latest state.
        let l = l
            .rsplit('\r')
            .find(|part| !part.is_empty())
            .unwrap_or_default();
        lines.push(Line::from(format!(
            "    {}",
            drctl_runbook::params::shown_within(l, 500)
        )));
    }
    lines
}
