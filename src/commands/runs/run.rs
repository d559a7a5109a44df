//! `drctl run FILE -p k=v`

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_engine::{DriveOptions, NewRunRequest};
use drctl_runbook::fs::callee_sources;
use drctl_runbook::params::{ResolvedParams, parse_assignments, resolve_text};
use drctl_runbook::{Runbook, Source};
use drctl_server::ops::start;

use super::{actor, drive, engine, open_creating, runtime, stop_signals};
use crate::cli::EngineArgs;
use crate::commands::{eprint, load_valid, print};

/// How `drctl run` was asked to start the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flags {
    /// Fail at once when the lock is held.
    pub(crate) no_wait: bool,
    /// A drill, not a real incident.
    pub(crate) drill: bool,
    /// Record it for `drctl serve` and exit.
    pub(crate) detach: bool,
}

/// What every start checks first, locally and with `--server`: the runbook is valid, this
/// build can run its actions, the params fit. `Err` holds the exit code, the problems
/// printed.
pub(crate) fn prepare(
    registry: &Registry,
    file: &Path,
    params: &[String],
) -> anyhow::Result<Result<(Source, Runbook, ResolvedParams), ExitCode>> {
    let (source, runbook) = match load_valid(registry, file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(Err(code)),
    };
    let missing = start::unimplemented(&runbook, registry);
    if !missing.is_empty() {
        let text: String = missing
            .iter()
            .map(|m| m.message(&source.name) + "\n")
            .collect();
        eprint(&text);
        return Ok(Err(ExitCode::from(2)));
    }
    match parse_assignments(params).and_then(|given| resolve_text(&runbook.params, &given)) {
        Ok(resolved) => Ok(Ok((source, runbook, resolved))),
        Err(errors) => {
            let text: String = errors
                .iter()
                .map(|e| format!("{}: error: {e}\n", source.name))
                .collect();
            eprint(&text);
            Ok(Err(ExitCode::from(2)))
        }
    }
}

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    file: &Path,
    params: &[String],
    flags: Flags,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    let (source, runbook, resolved) = match prepare(registry, file, params)? {
        Ok(ready) => ready,
        Err(code) => return Ok(code),
    };
    let callees = callee_sources(&runbook, &source.name, registry)?;
    if let Err(why) = start::check_secrets(&source.name, &runbook, &callees, registry) {
        eprint(&format!("{why}\n"));
        return Ok(ExitCode::from(2));
    }
    runtime()?.block_on(async {
        // Before the run exists: a signal from now on pauses it, never leaves it `created`.
        let pause = if flags.detach {
            tokio_util::sync::CancellationToken::new()
        } else {
            stop_signals()?
        };
        let store = open_creating(db).await?;
        let engine = engine(store, registry, Some(args), true);
        let run = engine
            .create_run(NewRunRequest {
                source,
                callees,
                params: resolved.to_map(),
                actor: actor(),
                trigger: drctl_core::Trigger::Manual,
                drill: flags.drill,
                parent: None,
            })
            .await?;
        print(&format!("Run {run} of {}\n", runbook.name));
        if flags.detach {
            print(&format!(
                "Recorded for `drctl serve` to drive; follow it with `drctl logs -f {run}`.\n"
            ));
            return Ok(ExitCode::SUCCESS);
        }
        drive(
            &engine,
            &run,
            DriveOptions {
                no_wait: flags.no_wait,
                pause,
                ..DriveOptions::default()
            },
        )
        .await
    })
}
