//! `drctl ls`

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use drctl_engine::liveness::shown_status;
use drctl_store::{RunFilter, RunReader};

use super::{open, runtime};
use crate::cli::StatusArg;
use crate::commands::print;

pub(crate) fn run(
    db: Option<&Path>,
    status: Option<StatusArg>,
    runbook: Option<&str>,
    all: bool,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let now = drctl_core::Clock::now(&drctl_engine::clock::SystemClock::new());
        // `interrupted` is not stored: it is a `running` or `waiting` row that nobody
        // drives, so those are read whole and filtered here.
        let stored: &[Option<&str>] = match status {
            None => &[None],
            Some(StatusArg::Interrupted) => &[Some("running"), Some("waiting")],
            Some(s) => &[Some(s.as_str())],
        };
        let live = matches!(
            status,
            Some(StatusArg::Running | StatusArg::Waiting | StatusArg::Interrupted)
        );
        let mut rows = Vec::new();
        for s in stored {
            rows.extend(
                store
                    .list_runs(&RunFilter {
                        status: s.map(str::to_owned),
                        runbook: runbook.map(str::to_owned),
                        top_level: !all,
                        limit: if live { usize::MAX >> 1 } else { limit },
                    })
                    .await?,
            );
        }
        if let Some(want) = status {
            rows.retain(|r| shown_status(r, now) == want.as_str());
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        rows.truncate(limit);
        // The runbook column fits the longest name shown, so columns stay aligned.
        let width = rows
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
        for r in &rows {
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
                shown_status(r, now),
                created.get(..19).unwrap_or(&created).replace('T', " "),
                took,
                r.actor
            );
        }
        if rows.is_empty() {
            out.push_str("(no runs)\n");
        }
        print(&out);
        Ok(ExitCode::SUCCESS)
    })
}
