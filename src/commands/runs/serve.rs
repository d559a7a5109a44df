//! `drctl serve`: hosts runs until SIGTERM or Ctrl-C (see `drctl_server`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use drctl_connectors::Registry;
use drctl_core::Clock as _;
use drctl_engine::RunEnd;
use drctl_engine::clock::SystemClock;
use drctl_run::Outcome;
use drctl_server::{Activity, Supervisor};
use tokio_util::sync::CancellationToken;

use super::{engine, open_creating, runtime};
use crate::cli::EngineArgs;
use crate::commands::print;

pub(crate) fn run(
    registry: &Registry,
    db: Option<&Path>,
    args: &EngineArgs,
) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let stop = stop_on_signal()?;
        let store = open_creating(db).await?;
        let clock = Arc::new(SystemClock::new());
        let limits = crate::config::get().serve.clone();
        print(&format!(
            "drctl serve: driving runs that need a driver, at most {} at once; SIGTERM or Ctrl-C hands them back.\n",
            limits.max_runs
        ));
        let supervisor = Supervisor::new(
            engine(store.clone(), registry, Some(args), false),
            store,
            clock.clone(),
            limits,
            move |activity| print(&format!("{} {}\n", clock.now(), describe(&activity))),
        );
        supervisor.run(stop).await;
        print("drctl serve: stopped; every run it drove was handed back.\n");
        Ok(ExitCode::SUCCESS)
    })
}

/// One line per thing the supervisor did.
fn describe(activity: &Activity) -> String {
    match activity {
        Activity::Driving { run, why } => format!("{run}: driving ({why})"),
        Activity::Ended { run, end } => match end {
            RunEnd::Finished { outcome, .. } => match outcome {
                Outcome::Succeeded => format!("{run}: succeeded"),
                Outcome::Failed { reason } => format!("{run}: failed: {reason}"),
                Outcome::Cancelled => format!("{run}: cancelled"),
            },
            RunEnd::Paused(reason) => format!(
                "{run}: paused: {}; `drctl resume {run}` continues it",
                drctl_engine::projection::describe_pause(reason)
            ),
            RunEnd::Released => format!("{run}: handed back"),
            RunEnd::LockHeld { lock, holder } => {
                format!("{run}: lock `{lock}` is held by {holder}")
            }
        },
        Activity::Failed {
            run,
            error,
            retry_in,
        } => format!(
            "{run}: cannot drive it: {error} (trying again in {})",
            drctl_core::format_duration(*retry_in)
        ),
        Activity::ScanFailed(why) => format!("cannot look for runs: {why}"),
    }
}

/// The first SIGTERM or Ctrl-C stops the server gracefully; a second quits at once (the
/// runs' programs go too, and the next start settles what they did).
fn stop_on_signal() -> anyhow::Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let stop = CancellationToken::new();
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let token = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        print(
            "drctl serve: stopping: running steps get their grace period (signal again to quit now).\n",
        );
        token.cancel();
        let code = tokio::select! {
            _ = interrupt.recv() => 130,
            _ = terminate.recv() => 143,
        };
        drctl_connectors::kill_running_programs();
        std::process::exit(code);
    });
    Ok(stop)
}
