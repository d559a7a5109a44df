//! `drctl cancel RUN`: asks whoever drives the run to cancel it; when nobody does (the
//! run is paused, or its process died), drives it to its end here, so that `finally` runs.

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_engine::{DriveOptions, OperatorCommand};

use super::{actor, drive, driver_of, engine, open, resolve_row, runtime};
use crate::cli::EngineArgs;
use crate::commands::print;

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    run: &str,
    reason: &str,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let (id, row) = resolve_row(&store, run).await?;
        if row.is_finished() {
            print(&format!("Run {id} already ended: {}.\n", row.status));
            return Ok(ExitCode::SUCCESS);
        }
        let engine = engine(store, registry, Some(args), true);
        engine
            .send(
                &id,
                &actor(),
                &OperatorCommand::Cancel {
                    reason: reason.to_owned(),
                },
            )
            .await?;
        if let Some(owner) = driver_of(&row) {
            print(&format!(
                "Cancel requested; {owner} drives run {id} and will stop it.\n"
            ));
            return Ok(ExitCode::SUCCESS);
        }
        print(&format!(
            "Cancelling run {id}; running its `finally` steps here.\n"
        ));
        drive(&engine, &id, DriveOptions::resuming()).await
    })
}
