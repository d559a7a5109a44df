//! `drctl report RUN` and `drctl report --runbook NAME --last N`.
//!
//! - `model`: what a run report says, gathered from the store (sub-runs included).
//! - `overhead`: how the RTO window was spent: actions, deliberate waits, drctl itself.
//! - `render`: Markdown and HTML of one run (JSON is the model).
//! - `trend`: the objectives across a runbook's last runs (sparkline, SVG chart).

mod model;
mod overhead;
mod render;
mod trend;

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;

use crate::cli::ReportFormat;
use crate::commands::runs::{engine, open, resolve_row, runtime};
use crate::commands::{eprint, print};

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    run: Option<&str>,
    runbook: Option<&str>,
    last: usize,
    format: ReportFormat,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let engine = engine(store.clone(), registry, None, false);
        let text = match (run, runbook) {
            (Some(run), None) => {
                let (_, row) = resolve_row(&store, run).await?;
                let report = model::build(&engine, &row).await?;
                match format {
                    ReportFormat::Md => render::markdown(&report),
                    ReportFormat::Html => render::html(&report),
                    ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report)?),
                }
            }
            (None, Some(name)) => {
                let runs = model::last_runs(store.as_ref(), name, last.max(1)).await?;
                if runs.is_empty() {
                    eprint(&format!("error: no finished run of runbook `{name}`\n"));
                    return Ok(ExitCode::from(2));
                }
                let rows = trend::rows(&engine, &runs).await?;
                match format {
                    ReportFormat::Md => trend::markdown(name, &rows),
                    ReportFormat::Html => trend::html(name, &rows),
                    ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&rows)?),
                }
            }
            _ => {
                eprint("error: give a run, or --runbook NAME (with --last N)\n");
                return Ok(ExitCode::from(2));
            }
        };
        print(&text);
        Ok(ExitCode::SUCCESS)
    })
}
