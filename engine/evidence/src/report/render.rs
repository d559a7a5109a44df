//! One run's report as Markdown or HTML (JSON is the model itself).

use std::fmt::Write as _;

use drctl_runbook::params::shown_within;

use super::model::RunReport;

/// Milliseconds as seconds, for people.
pub(crate) fn secs(ms: u64) -> String {
    format!("{:.2} s", ms as f64 / 1000.0)
}

fn summary_rows(r: &RunReport) -> Vec<[String; 2]> {
    vec![
        ["Run".into(), r.run.clone()],
        [
            "Status".into(),
            match &r.detail {
                Some(d) => format!("{}: {d}", r.status),
                None => r.status.clone(),
            },
        ],
        [
            "Kind".into(),
            format!(
                "{} (trigger: {})",
                if r.drill { "drill" } else { "run" },
                r.trigger
            ),
        ],
        ["Started by".into(), started_by(r)],
        ["Created".into(), r.created_at.clone()],
        [
            "Took".into(),
            r.took_ms.map_or_else(|| "not finished".into(), secs),
        ],
    ]
}

/// Who started it; for a webhook, the delivery (the alert) that did.
fn started_by(r: &RunReport) -> String {
    match &r.delivery {
        Some(d) => format!(
            "webhook `{}`: delivery {} from {} at {}{}{}{}",
            d.hook,
            shown_within(d.id.as_deref().unwrap_or("(no id)"), 200),
            d.peer,
            d.at,
            // The payload's: escaped, so that it cannot rewrite the report's lines.
            d.key
                .as_deref()
                .map_or_else(String::new, |k| format!(", key {}", shown_within(k, 200))),
            match d.attached {
                0 => String::new(),
                n => format!("; {n} later deliveries attached"),
            },
            d.confirmed
                .as_deref()
                .map_or_else(String::new, |c| format!("; proposed, then {c}"))
        ),
        None => r.started_by.to_string(),
    }
}

fn breakdown(r: &RunReport) -> Option<String> {
    let b = r.rto_breakdown.as_ref()?;
    Some(format!(
        "Of the {} RTO window: {} in actions, {} in deliberate waits (approvals, backoff, verify soaks), \
         {} in drctl itself ({:.2}%).",
        secs(b.window_ms),
        secs(b.actions_ms),
        secs(b.waits_ms),
        secs(b.drctl_ms),
        b.drctl_percent
    ))
}

fn step_name(depth: usize, runbook: &str, step: &str, item: Option<u32>) -> String {
    let item = item.map_or_else(String::new, |i| format!("[{i}]"));
    if depth == 0 {
        format!("{step}{item}")
    } else {
        format!("{}↳ {runbook} / {step}{item}", "  ".repeat(depth - 1))
    }
}

/// A titled table of the report.
struct Section {
    title: &'static str,
    head: &'static [&'static str],
    rows: Vec<Vec<String>>,
    /// Said instead of an empty table.
    empty: &'static str,
    /// A line after the table.
    note: Option<String>,
}

fn sections(r: &RunReport) -> Vec<Section> {
    vec![
        Section {
            title: "Objectives",
            head: &["", "measured", "objective", "result"],
            rows: r
                .objective_rows
                .iter()
                .map(|o| {
                    vec![
                        o.what.clone(),
                        o.measured.clone(),
                        o.objective.clone(),
                        o.result.clone(),
                    ]
                })
                .collect(),
            empty: "The runbook sets no objectives and marks no steps to measure (rto_start, rto_end, rpo).",
            note: breakdown(r),
        },
        Section {
            title: "Parameters",
            head: &["name", "value"],
            rows: r
                .params
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    vec![
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                    ]
                })
                .collect(),
            empty: "None.",
            note: None,
        },
        Section {
            title: "Timeline",
            head: &["step", "status", "start", "took", "attempts"],
            rows: r
                .timeline
                .iter()
                .map(|t| {
                    vec![
                        step_name(t.depth, &t.runbook, &t.step, t.item),
                        t.status.clone(),
                        t.start_ms
                            .map_or_else(|| "–".into(), |s| format!("+{}", secs(s))),
                        t.duration_ms.map_or_else(|| "–".into(), secs),
                        t.attempts.to_string(),
                    ]
                })
                .collect(),
            empty: "No steps.",
            note: None,
        },
        Section {
            title: "Approvals",
            head: &["runbook", "step", "decision", "by", "for", "at", "comment"],
            rows: r
                .approvals
                .iter()
                .map(|a| {
                    vec![
                        a.runbook.clone(),
                        a.step.clone(),
                        a.verdict.clone(),
                        a.by.to_string(),
                        drctl_run::approval::join(&a.on_behalf_of),
                        a.at.clone(),
                        a.comment.clone(),
                    ]
                })
                .collect(),
            empty: "None.",
            note: None,
        },
        Section {
            title: "Compensations",
            head: &["runbook", "step", "attempt", "result", "message"],
            rows: r
                .compensations
                .iter()
                .map(|c| {
                    vec![
                        c.runbook.clone(),
                        step_name(0, "", &c.step, c.item),
                        c.attempt.to_string(),
                        c.result.clone(),
                        c.message.clone(),
                    ]
                })
                .collect(),
            empty: "None ran.",
            note: None,
        },
        Section {
            title: "Errors",
            head: &["runbook", "step", "attempt", "kind", "message"],
            rows: r
                .errors
                .iter()
                .map(|e| {
                    vec![
                        e.runbook.clone(),
                        step_name(0, "", &e.step, e.item),
                        e.attempt.to_string(),
                        e.class.clone(),
                        e.message.clone(),
                    ]
                })
                .collect(),
            empty: "None.",
            note: None,
        },
    ]
}

pub(crate) fn md_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| c.replace('|', "\\|").replace('\n', " "))
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

pub(crate) fn markdown(r: &RunReport) -> String {
    let mut out = format!("# Report: {} {}\n\n", r.runbook, r.run);
    let summary: Vec<Vec<String>> = summary_rows(r).into_iter().map(Vec::from).collect();
    md_table(&mut out, &["", ""], &summary);
    for s in sections(r) {
        let _ = writeln!(out, "## {}\n", s.title);
        if s.rows.is_empty() {
            let _ = writeln!(out, "{}\n", s.empty);
        } else {
            md_table(&mut out, s.head, &s.rows);
        }
        if let Some(note) = s.note {
            let _ = writeln!(out, "{note}\n");
        }
    }
    out
}

/// Text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(crate) fn html_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let class = match c.as_str() {
                "PASS" | "succeeded" => " class=\"ok\"",
                "FAIL" | "failed" => " class=\"bad\"",
                _ => "",
            };
            let _ = write!(out, "<td{class}>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

pub(crate) const STYLE: &str = "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
.ok{color:#070}.bad{color:#b00;font-weight:bold}</style>";

/// The page around a body.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title>{STYLE}</head><body>\n<h1>{t}</h1>\n{body}</body></html>\n",
        t = esc(title)
    )
}

pub(crate) fn html(r: &RunReport) -> String {
    let mut body = String::new();
    let summary: Vec<Vec<String>> = summary_rows(r).into_iter().map(Vec::from).collect();
    html_table(&mut body, &["", ""], &summary);
    for s in sections(r) {
        let _ = writeln!(body, "<h2>{}</h2>", s.title);
        if s.rows.is_empty() {
            let _ = writeln!(body, "<p>{}</p>", esc(s.empty));
        } else {
            html_table(&mut body, s.head, &s.rows);
        }
        if let Some(note) = s.note {
            let _ = writeln!(body, "<p>{}</p>", esc(&note));
        }
    }
    page(&format!("Report: {} {}", r.runbook, r.run), &body)
}
