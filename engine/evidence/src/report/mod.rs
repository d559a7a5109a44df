//! Run reports: what a run did against its objectives, as Markdown, JSON or HTML, for
//! `drctl report`, the API and the console alike.
//!
//! - `model`: what a run report says, gathered from the store (sub-runs included).
//! - `overhead`: how the RTO window was spent: actions, deliberate waits, drctl itself.
//! - `render`: Markdown and HTML of one run (JSON is the model).
//! - `trend`: the objectives across a runbook's last runs (sparkline, SVG chart).

mod model;
mod overhead;
mod render;
mod trend;

use drctl_core::{RunId, Timestamp};
use drctl_engine::{Engine, EngineError};
use drctl_store::StoreError;

pub use model::{ApprovalRow, CompensationRow, ErrorRow, ObjectiveRow, RunReport, TimelineRow};
pub use overhead::Overhead;
pub use trend::TrendRow;

/// What a report is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Md,
    Json,
    Html,
}

impl Format {
    /// Its name: `md`, `json`, `html` (the CLI's `--format`, the API's `format`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Json => "json",
            Format::Html => "html",
        }
    }

    /// The media type of a report in this format.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Md => "text/markdown; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("no run {0}")]
    NoRun(RunId),
    #[error("no finished run of runbook `{0}`")]
    NoFinishedRun(String),
}

/// One run's report, as of `now` (a run nobody drives shows as interrupted).
pub async fn run_report(
    engine: &Engine,
    run: &RunId,
    format: Format,
    now: Timestamp,
) -> Result<String, ReportError> {
    let row = engine
        .store()
        .run(run)
        .await?
        .ok_or_else(|| ReportError::NoRun(run.clone()))?;
    let report = model::build(engine, &row, now).await?;
    Ok(match format {
        Format::Md => render::markdown(&report),
        Format::Html => render::html(&report),
        Format::Json => json(&report),
    })
}

/// The trend of a runbook's last `last` finished runs (at least one).
pub async fn trend(
    engine: &Engine,
    runbook: &str,
    last: usize,
    format: Format,
    now: Timestamp,
) -> Result<String, ReportError> {
    let store = engine.store();
    let runs = model::last_runs(store.as_ref(), runbook, last.max(1)).await?;
    if runs.is_empty() {
        return Err(ReportError::NoFinishedRun(runbook.to_owned()));
    }
    let rows = trend::rows(engine, &runs, now).await?;
    Ok(match format {
        Format::Md => trend::markdown(runbook, &rows),
        Format::Html => trend::html(runbook, &rows),
        Format::Json => json(&rows),
    })
}

fn json(value: &impl serde::Serialize) -> String {
    // Plain data of strings and numbers: it always serializes.
    serde_json::to_string_pretty(value)
        .map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |t| t + "\n")
}
