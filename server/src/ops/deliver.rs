//! Sending an operator's command and saying honestly what became of it: applied by the
//! run's driver, refused (with why), or stored for whoever drives the run next.

use std::time::Duration;

use drctl_core::RunId;
use drctl_engine::{Engine, EngineError, OperatorCommand, Submitted};
use drctl_run::RunState;
use drctl_store::CommandOutcome;

/// How long to wait for a live driver to take a command: it looks at least every
/// half-second, at once when it records anything.
pub const WAIT: Duration = Duration::from_secs(5);

/// What became of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Recorded by the run's driver.
    Applied,
    /// Refused: by the checks here, or by the driver when it took it.
    Refused(String),
    /// Stored; nobody drives the run now (or its driver did not answer in time): the
    /// driver applies it before anything else it records.
    Stored { driver: Option<String> },
}

/// Checks `command` against the run (with `check` and the run's own rules), stores it for
/// the run's driver, and waits up to `wait` for a live driver to settle it.
pub async fn deliver(
    engine: &Engine,
    run: &RunId,
    actor: &drctl_core::Actor,
    command: &OperatorCommand,
    check: &(dyn Fn(&RunState) -> Result<(), String> + Send + Sync),
    wait: Duration,
) -> Result<Delivered, EngineError> {
    let id = match engine.submit(run, actor, command, check).await? {
        Submitted::Accepted { command } => command,
        Submitted::Refused(why) => return Ok(Delivered::Refused(why)),
    };
    Ok(match engine.await_outcome(run, id, wait).await? {
        Some(CommandOutcome::Applied { .. }) => Delivered::Applied,
        Some(CommandOutcome::Refused { reason, .. }) => Delivered::Refused(reason),
        None => Delivered::Stored {
            driver: engine.driver(run).await?,
        },
    })
}
