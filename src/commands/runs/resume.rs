//! `drctl resume RUN`

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_engine::DriveOptions;
use drctl_store::RunReader;

use super::{drive, engine, open, resolve, runtime, stop_signals};
use crate::cli::EngineArgs;
use crate::commands::print;

/// A run this command created (a schedule fired now, a proposal confirmed), driven here
/// in the foreground as `drctl run` would; nothing to drive is success.
pub(crate) fn foreground(
    registry: &Registry,
    db: Option<&Path>,
    run: Option<drctl_core::RunId>,
) -> anyhow::Result<ExitCode> {
    match run {
        Some(run) => drive_here(
            registry,
            db,
            run.as_str(),
            (&crate::cli::EngineArgs { max_parallel: 8 }, "Driving"),
        ),
        None => Ok(ExitCode::SUCCESS),
    }
}

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    run: &str,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    drive_here(registry, db, run, (args, "Resuming"))
}

/// Drives the run here until it ends or pauses; `verb` says so first.
fn drive_here(
    registry: &Registry,
    db: Option<&Path>,
    run: &str,
    (args, verb): (&EngineArgs, &str),
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let id = resolve(&store, run).await?;
        if let Some(row) = store.run(&id).await?
            && row.is_finished()
        {
            // Nothing to drive; the exit code still says how it ended.
            print(&format!("Run {id} already ended: {}.\n", row.status));
            let code = if row.status == drctl_store::RunStatus::Succeeded {
                0
            } else {
                1
            };
            return Ok(ExitCode::from(code));
        }
        let engine = engine(store, registry, Some(args), true);
        print(&format!("{verb} run {id}\n"));
        let pause = stop_signals()?;
        drive(
            &engine,
            &id,
            DriveOptions {
                pause,
                ..DriveOptions::resuming()
            },
        )
        .await
    })
}
