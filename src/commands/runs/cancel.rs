//! `drctl cancel RUN`: asks whoever drives the run to cancel it; when nobody does (the
//! run is paused, or its process died), drives it to its end here, so that `finally` runs.

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_core::RunId;
use drctl_engine::{DriveOptions, OperatorCommand};

use super::{actor, drive, engine, open, resolve_row, runtime, stop_signals};
use crate::cli::EngineArgs;
use crate::commands::{eprint, print};
use drctl_server::ops::deliver::{Delivered, WAIT, deliver};

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
            return Ok(ended(&id, row.status.as_str()));
        }
        let engine = engine(store, registry, Some(args), true);
        // Nobody drives it: this process will, so it must be able to before the cancel is
        // stored (else the cancel would wait, unannounced, for whoever drives it next).
        if engine.driver(&id).await?.is_none() {
            engine.check_secrets(&id).await?;
        }
        let command = OperatorCommand::Cancel {
            reason: reason.to_owned(),
        };
        match deliver(&engine, &id, &actor(), &command, &|_| Ok(()), WAIT).await? {
            Delivered::Stored { driver: None } => {
                print(&format!(
                    "Cancelling run {id}; running its `finally` steps here.\n"
                ));
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
            }
            other => Ok(render(&id, other)),
        }
    })
}

/// A cancel of a run that already ended.
pub(crate) fn ended(id: &RunId, status: &str) -> ExitCode {
    eprint(&format!(
        "error: run {id} already ended ({status}): nothing to cancel\n"
    ));
    ExitCode::from(2)
}

/// What `drctl cancel` prints when the cancel reached a driver or was refused, locally
/// and with `--server`.
pub(crate) fn render(id: &RunId, delivered: Delivered) -> ExitCode {
    match delivered {
        Delivered::Applied => {
            print(&format!(
                "Cancelled: the driver of run {id} stops its running steps and runs `finally`.\n"
            ));
            ExitCode::SUCCESS
        }
        Delivered::Refused(why) => {
            eprint(&format!("error: {why}\n"));
            ExitCode::from(2)
        }
        Delivered::Stored {
            driver: Some(owner),
        } => {
            print(&format!(
                "Cancel recorded; {owner} drives run {id} and applies it before anything else.\n"
            ));
            ExitCode::SUCCESS
        }
        Delivered::Stored { driver: None } => {
            print(&format!(
                "Cancel recorded; run {id} is cancelled when it is driven next.\n"
            ));
            ExitCode::SUCCESS
        }
    }
}
