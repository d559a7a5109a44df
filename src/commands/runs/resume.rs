//! `drctl resume RUN`

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_engine::DriveOptions;

use super::{drive, engine, open, resolve, runtime};
use crate::cli::EngineArgs;
use crate::commands::print;

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    run: &str,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = open(db).await?;
        let id = resolve(&store, run).await?;
        let engine = engine(store, registry, Some(args), true);
        print(&format!("Resuming run {id}\n"));
        drive(
            &engine,
            &id,
            DriveOptions {
                resume: true,
                ..DriveOptions::default()
            },
        )
        .await
    })
}
