//! `drctl show RUN`

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use drctl_core::format_duration;
use drctl_engine::liveness::INTERRUPTED;
use drctl_server::ops::runs::detail;
use drctl_server::views::RunDetail;

use super::{open, resolve_row, runtime};
use crate::cli::DiagFormat;
use crate::commands::print;

pub(crate) fn run(db: Option<&Path>, run: &str, format: DiagFormat) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let (id, _) = resolve_row(&store, run).await?;
        let now = drctl_core::Clock::now(&drctl_engine::clock::SystemClock::new());
        let detail = detail(store.as_ref(), &id, now)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no run {id}"))?;
        print(&render(&detail, format)?);
        Ok(ExitCode::SUCCESS)
    })
}

/// What `drctl show` prints, locally and with `--server`.
pub(crate) fn render(detail: &RunDetail, format: DiagFormat) -> anyhow::Result<String> {
    if format == DiagFormat::Json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(detail)?));
    }
    let (row, steps, children) = (&detail.run, &detail.steps, &detail.children);
    let mut out = String::new();
    let _ = writeln!(out, "Run      {}", row.id);
    let _ = writeln!(
        out,
        "Runbook  {} ({}, {})",
        row.runbook,
        row.file,
        row.digest.get(..19).unwrap_or(&row.digest)
    );
    let stalled = row.interrupted.is_some();
    match &row.interrupted {
        Some(why) => {
            let _ = writeln!(
                out,
                "Status   {INTERRUPTED}: {why}; continue with `drctl resume {}`",
                row.id
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Status   {}{}",
                row.status,
                row.detail
                    .as_ref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
        }
    }
    let _ = writeln!(out, "By       {}", row.actor);
    let _ = writeln!(out, "Created  {}", row.created_at);
    if let Some(f) = row.finished_at {
        let _ = writeln!(
            out,
            "Finished {} (took {})",
            f,
            took(f.since(row.created_at))
        );
    }
    if let Some(p) = &row.parent {
        let _ = writeln!(
            out,
            "Parent   {p} (step `{}`)",
            row.parent_step.as_deref().unwrap_or("?")
        );
    }
    let _ = writeln!(
        out,
        "\n{:<24} {:<12} {:>8} {:>9}  OUTPUT / ERROR",
        "STEP", "STATUS", "ATTEMPTS", "TOOK"
    );
    for s in steps {
        let name = match s.item {
            Some(i) => format!("{}[{i}]", s.step),
            None => s.step.clone(),
        };
        let took = match (s.started_at, s.finished_at) {
            (Some(a), Some(b)) => took(b.since(a)),
            _ => String::new(),
        };
        let detail = match (&s.error, &s.output) {
            (Some(e), _) => e.clone(),
            (None, Some(o)) => o.to_string(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<12} {:>8} {:>9}  {}",
            name,
            // A step left running by a driver that is gone runs no more.
            if stalled && s.status == "running" {
                INTERRUPTED
            } else {
                s.status.as_str()
            },
            s.attempts,
            took,
            cut(&detail, 100)
        );
    }
    for c in children {
        let _ = writeln!(
            out,
            "\nSub-run {} ({}) of step `{}`: {}",
            c.id,
            c.runbook,
            c.parent_step.as_deref().unwrap_or("?"),
            c.status
        );
    }
    Ok(out)
}

pub(crate) fn took(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format_duration(d)
    }
}

fn cut(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max).collect();
        s.push('…');
        s
    }
}
