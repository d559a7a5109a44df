//! `drctl ls`

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use drctl_server::ops::runs::{RunQuery, list};
use drctl_server::views::RunView;

use super::{open, runtime};
use crate::commands::print;

pub(crate) fn run(db: Option<&Path>, query: &RunQuery) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let now = drctl_core::Clock::now(&drctl_engine::clock::SystemClock::new());
        let runs = list(store.as_ref(), query, now).await?;
        print(&render(&runs));
        Ok(ExitCode::SUCCESS)
    })
}

/// The table `drctl ls` prints, locally and with `--server`.
pub(crate) fn render(runs: &[RunView]) -> String {
    // The runbook column fits the longest name shown, so columns stay aligned.
    let width = runs
        .iter()
        .map(|r| r.runbook.len())
        .max()
        .unwrap_or(0)
        .max(7);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<30}  {:<width$}  {:<10}  {:<19}  {:>9}  BY",
        "RUN", "RUNBOOK", "STATUS", "CREATED (UTC)", "TOOK"
    );
    for r in runs {
        let took = r
            .finished_at
            .map(|f| super::show::took(f.since(r.created_at)))
            .unwrap_or_default();
        let created = r.created_at.to_rfc3339();
        let _ = writeln!(
            out,
            "{:<30}  {:<width$}  {:<10}  {:<19}  {:>9}  {}",
            r.id,
            r.runbook,
            r.status,
            created.get(..19).unwrap_or(&created).replace('T', " "),
            took,
            r.actor
        );
    }
    if runs.is_empty() {
        out.push_str("(no runs)\n");
    }
    out
}
