//! The operator's side of the inbox: commands checked against the run and left for its
//! driver, and what became of them.
//!
//! A command is checked against the run's state at some version and accepted by the store
//! only while the run is still at that version; if the run moved meanwhile, the state is
//! brought up to date and the check is made again. The driver applies every waiting
//! command before it records anything else (see the driver's `store_batch`), so an
//! accepted command meets the very state it was checked against, plus only what the world
//! reported in between (an attempt's result), never a decision made without it: a skip
//! of a step that has not started is carried out however soon the step becomes ready.

use std::time::Duration;

use drctl_core::RunId;
use drctl_run::{Event, RunState};
use drctl_store::{Checked, Command, CommandOutcome, StoreError};

use crate::{Engine, EngineError, OperatorCommand, decode_events, worker};

/// How many times a check is repeated for a run that keeps moving before giving up.
const TRIES: usize = 100;

/// The answer to [`Engine::submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Stored for the run's driver, which applies it to the state it was checked against.
    Accepted { command: u64 },
    /// It does not apply to the run as it is: why.
    Refused(String),
}

impl Engine {
    /// Leaves `command` for the run, after `check` (the caller's own rules: entitlement,
    /// four-eyes) and the run's state machine accept it on the run's current state.
    pub async fn submit(
        &self,
        run: &RunId,
        actor: &drctl_core::Actor,
        command: &OperatorCommand,
        check: &(dyn Fn(&RunState) -> Result<(), String> + Send + Sync),
    ) -> Result<Submitted, EngineError> {
        if let Err(why) = command.check_text() {
            return Ok(Submitted::Refused(why));
        }
        let body =
            serde_json::to_value(command).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let mut state = self.state(run).await?;
        for _ in 0..TRIES {
            // The run as the driver will see it: with the commands already waiting
            // applied first, as it will apply them.
            let waiting = self.store.waiting_commands(run).await?;
            let view = self.after_waiting(&state, &waiting);
            if let Err(why) = check(&view) {
                return Ok(Submitted::Refused(why));
            }
            let probe = Event {
                at: self.clock.now(),
                actor: actor.clone(),
                kind: command.event(),
            };
            if let Err(e) = view.clone().apply(&probe) {
                return Ok(Submitted::Refused(e.reason()));
            }
            let checked = Checked {
                version: state.version,
                newest_waiting: waiting.iter().map(|c| c.id).max().unwrap_or(0),
            };
            let pushed = self
                .store
                .push_command(run, self.clock.now(), actor, &body, Some(checked))
                .await;
            match pushed {
                Ok(id) => {
                    // A driver in this process hears of it at once; one elsewhere at
                    // its next poll of the store.
                    self.wake(run);
                    return Ok(Submitted::Accepted { command: id });
                }
                Err(StoreError::VersionConflict { .. }) => {
                    // The run moved: catch up with what it recorded, and check again.
                    let newer = self.store.events(run, state.version).await?;
                    for event in decode_events(&newer)? {
                        state.apply(&event)?;
                    }
                }
                Err(StoreError::Finished(_)) => {
                    return Ok(Submitted::Refused("the run has ended".into()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(EngineError::Invalid(format!(
            "run {run} kept changing while the command was checked; try again"
        )))
    }

    /// `state` with the waiting commands that apply to it applied, in order.
    fn after_waiting(&self, state: &RunState, waiting: &[Command]) -> RunState {
        let mut view = state.clone();
        for cmd in waiting {
            let Ok(command) = serde_json::from_value::<OperatorCommand>(cmd.body.clone()) else {
                continue;
            };
            let event = Event {
                at: self.clock.now(),
                actor: cmd.actor.clone(),
                kind: command.event(),
            };
            // One that will be refused changes nothing.
            let mut next = view.clone();
            if next.apply(&event).is_ok() {
                view = next;
            }
        }
        view
    }

    /// What became of a command: `None` while it waits.
    pub async fn command_outcome(&self, id: u64) -> Result<Option<CommandOutcome>, EngineError> {
        Ok(self.store.command_outcome(id).await?)
    }

    /// Waits up to `limit` for the run's driver to settle a command. Returns `None` at
    /// once when nobody drives the run (it waits for whoever drives it next), or when
    /// `limit` passed.
    pub async fn await_outcome(
        &self,
        run: &RunId,
        id: u64,
        limit: Duration,
    ) -> Result<Option<CommandOutcome>, EngineError> {
        let start = tokio::time::Instant::now();
        loop {
            if let Some(outcome) = self.command_outcome(id).await? {
                return Ok(Some(outcome));
            }
            if self.driver(run).await?.is_none() {
                // Its driver may have applied it and let the run go since the check
                // above: asked once more, so that an applied command is not taken for
                // one nobody will apply.
                return self.command_outcome(id).await;
            }
            if start.elapsed() >= limit {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The worker driving the run right now: a lease not expired, held by a process that
    /// is not known to be dead.
    pub async fn driver(&self, run: &RunId) -> Result<Option<String>, EngineError> {
        let Some(row) = self.store.run(run).await? else {
            return Err(StoreError::NotFound(run.to_string()).into());
        };
        let now = self.clock.now();
        Ok(match (row.owner, row.lease_until) {
            (Some(owner), Some(until)) if until > now && !worker::is_dead_local(&owner) => {
                Some(owner)
            }
            _ => None,
        })
    }
}
