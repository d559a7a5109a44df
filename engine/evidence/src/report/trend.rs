//! `drctl report --runbook NAME --last N`: the objectives measured by a runbook's recent
//! runs, as a table with a sparkline (text) or an SVG chart (HTML).

use std::fmt::Write as _;

use drctl_engine::Engine;
use drctl_store::RunRow;
use serde::Serialize;

use super::model::{objectives, recorded};
use super::render::{esc, html_table, md_table, page, secs};

#[derive(Debug, Serialize)]
pub struct TrendRow {
    pub run: String,
    pub created_at: String,
    pub status: String,
    pub drill: bool,
    /// As in a run report's `objectives`.
    pub objectives: serde_json::Value,
}

pub(crate) async fn rows(
    engine: &Engine,
    runs: &[RunRow],
    now: drctl_core::Timestamp,
) -> Result<Vec<TrendRow>, super::ReportError> {
    let mut out = Vec::new();
    for row in runs {
        let events = engine.events(&row.id).await?;
        let drill = matches!(
            events.first().map(|e| &e.kind),
            Some(drctl_run::EventKind::RunCreated(c)) if c.drill
        );
        out.push(TrendRow {
            run: row.id.to_string(),
            created_at: row.created_at.to_rfc3339(),
            status: drctl_engine::liveness::shown_status(row, now).to_owned(),
            drill,
            objectives: objectives(recorded(&events).as_ref()),
        });
    }
    Ok(out)
}

fn rto(r: &TrendRow) -> Option<u64> {
    r.objectives["rto_ms"].as_u64()
}

/// One character per run, its height the RTO between the smallest and largest; a run
/// that measured no RTO is a space.
pub(crate) fn sparkline(values: &[Option<u64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let known: Vec<u64> = values.iter().flatten().copied().collect();
    let (Some(&lo), Some(&hi)) = (known.iter().min(), known.iter().max()) else {
        return " ".repeat(values.len());
    };
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(v) if hi == lo => BARS[3],
            Some(v) => BARS[((v - lo) * 7 / (hi - lo)) as usize],
        })
        .collect()
}

fn table(rows: &[TrendRow]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| {
            let o = &r.objectives;
            let met = |k: &str| match o[k].as_bool() {
                Some(true) => "PASS".to_owned(),
                Some(false) => "FAIL".to_owned(),
                None => "–".to_owned(),
            };
            vec![
                r.run.clone(),
                r.created_at.clone(),
                r.status.clone(),
                rto(r).map_or_else(|| "–".into(), secs),
                met("rto_met"),
                o["healthy_ms"].as_u64().map_or_else(|| "–".into(), secs),
                o["lost_writes"].as_u64().map_or_else(
                    || "–".into(),
                    |n| format!("{n} ({:.3} s)", o["lost_seconds"].as_f64().unwrap_or(0.0)),
                ),
                met("rpo_met"),
            ]
        })
        .collect()
}

const HEAD: &[&str] = &[
    "run",
    "created",
    "status",
    "RTO",
    "",
    "healthy after",
    "writes lost",
    "",
];

pub(crate) fn markdown(runbook: &str, rows: &[TrendRow]) -> String {
    let mut out = format!("# Trend: {runbook}, last {} runs\n\n", rows.len());
    md_table(&mut out, HEAD, &table(rows));
    let values: Vec<Option<u64>> = rows.iter().map(rto).collect();
    let known: Vec<u64> = values.iter().flatten().copied().collect();
    if let (Some(lo), Some(hi)) = (known.iter().min(), known.iter().max()) {
        let _ = writeln!(
            out,
            "RTO  {}  (oldest to newest; {} to {})",
            sparkline(&values),
            secs(*lo),
            secs(*hi)
        );
    }
    out
}

/// An SVG line of the RTOs, with the objective as a dashed line.
fn chart(rows: &[TrendRow]) -> String {
    let (w, h, pad) = (600.0, 200.0, 30.0);
    let objective = rows
        .iter()
        .find_map(|r| r.objectives["rto_objective_ms"].as_u64());
    let top = rows
        .iter()
        .filter_map(rto)
        .chain(objective)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (rows.len().max(2) - 1) as f64;
    let y = |v: u64| h - pad - (h - 2.0 * pad) * v as f64 / top;
    let points: Vec<String> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some(format!("{:.1},{:.1}", x(i), y(rto(r)?))))
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"RTO per run\">\n\
         <line x1=\"{pad}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\n",
        b = h - pad,
        r = w - pad
    );
    if let Some(o) = objective {
        let _ = writeln!(
            svg,
            "<line x1=\"{pad}\" y1=\"{yo:.1}\" x2=\"{r}\" y2=\"{yo:.1}\" stroke=\"#b00\" stroke-dasharray=\"4\"/>\
             <text x=\"{pad}\" y=\"{t:.1}\" font-size=\"11\">objective {}</text>",
            esc(&secs(o)),
            yo = y(o),
            t = y(o) - 4.0,
            r = w - pad
        );
    }
    let _ = writeln!(
        svg,
        "<polyline fill=\"none\" stroke=\"#06c\" stroke-width=\"2\" points=\"{}\"/>",
        points.join(" ")
    );
    for (i, r) in rows.iter().enumerate() {
        if let Some(v) = rto(r) {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#06c\"><title>{} {}</title></circle>",
                x(i),
                y(v),
                esc(&r.run),
                esc(&secs(v))
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

pub(crate) fn html(runbook: &str, rows: &[TrendRow]) -> String {
    let mut body = String::from("<h2>RTO per run</h2>\n");
    body.push_str(&chart(rows));
    html_table(&mut body, HEAD, &table(rows));
    page(
        &format!("Trend: {runbook}, last {} runs", rows.len()),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sparkline_spans_the_range_and_leaves_gaps() {
        // 20 is a seventh of the way from 10 to 80: one bar up.
        assert_eq!(sparkline(&[Some(10), Some(20), None, Some(80)]), "▁▂ █");
        assert_eq!(sparkline(&[Some(5), Some(5)]), "▄▄");
        assert_eq!(sparkline(&[None]), " ");
    }
}
