//! `drctl report RUN` and `drctl report --runbook NAME --last N` (see
//! `drctl_evidence::report`).

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::Clock as _;
use drctl_engine::clock::SystemClock;
use drctl_evidence::report::{self, Format, ReportError};

use crate::cli::ReportFormat;
use crate::commands::runs::{engine, open, resolve, runtime};
use crate::commands::{eprint, print};

impl From<ReportFormat> for Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Md => Format::Md,
            ReportFormat::Json => Format::Json,
            ReportFormat::Html => Format::Html,
        }
    }
}

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
        let now = SystemClock::new().now();
        let text = match (run, runbook) {
            (Some(run), None) => {
                let id = resolve(&store, run).await?;
                report::run_report(&engine, &id, format.into(), now).await?
            }
            (None, Some(name)) => {
                match report::trend(&engine, name, last, format.into(), now).await {
                    Err(e @ ReportError::NoFinishedRun(_)) => {
                        eprint(&format!("error: {e}\n"));
                        return Ok(ExitCode::from(2));
                    }
                    other => other?,
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
