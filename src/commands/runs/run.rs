//! `drctl run FILE -p k=v`

use std::path::Path;
use std::process::ExitCode;

use drctl_connectors::Registry;
use drctl_engine::secrets::read_all;
use drctl_engine::{DriveOptions, EnvAndFiles, NewRunRequest};
use drctl_runbook::compile;
use drctl_runbook::fs::{FsCalls, callee_sources};
use drctl_runbook::params::{parse_assignments, resolve_text};

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

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    file: &Path,
    params: &[String],
    flags: Flags,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    let (source, runbook) = match load_valid(registry, file)? {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    // A call this build cannot make (e.g. AWS in a build without the `aws` feature) is
    // refused before a run exists, not discovered when its step starts.
    let missing: String = runbook
        .action_calls()
        .filter(|(_, call)| !registry.is_implemented(call.action.as_str()))
        .map(|(step, call)| {
            format!(
                "{}:{}:{}: error: step `{}` calls `{}`, which this build of drctl cannot run{}\n",
                source.name,
                call.span.line,
                call.span.col,
                step.id,
                call.action,
                if call.action.as_str().starts_with("aws.") {
                    " (it was built without the `aws` feature)"
                } else {
                    ""
                }
            )
        })
        .collect();
    if !missing.is_empty() {
        eprint(&missing);
        return Ok(ExitCode::from(2));
    }
    let resolved =
        match parse_assignments(params).and_then(|given| resolve_text(&runbook.params, &given)) {
            Ok(r) => r,
            Err(errors) => {
                let text: String = errors
                    .iter()
                    .map(|e| format!("{}: error: {e}\n", source.name))
                    .collect();
                eprint(&text);
                return Ok(ExitCode::from(2));
            }
        };
    let callees = callee_sources(&runbook, &source.name, registry)?;
    // Every secret this runbook and the ones it calls declare must be readable and long
    // enough to mask before a run exists (each driver reads its own again when it starts).
    if let Err(why) = read_all(&EnvAndFiles, &runbook.secrets) {
        eprint(&format!("{}: error: {why}\n", source.name));
        return Ok(ExitCode::from(2));
    }
    for (path, callee) in &callees {
        let compiled = compile(callee, registry, &FsCalls::new(registry)).runbook;
        if let Some(Err(why)) = compiled.map(|rb| read_all(&EnvAndFiles, &rb.secrets)) {
            eprint(&format!(
                "{path}: error: {why} (a runbook that {} calls)\n",
                source.name
            ));
            return Ok(ExitCode::from(2));
        }
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
                trigger: "manual".into(),
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
