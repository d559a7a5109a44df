//! The durable engine: drives runs by appending events and acting on them.
//!
//! One writer per run: a run's [`driver`] owns its state; its attempts run as tokio tasks
//! and report back over a channel; the driver alone appends. Which process drives a run
//! is decided by a lease with a fence that every append checks.
//!
//! The cycle, repeated until the run ends or pauses:
//! 1. in the append's transaction, apply the operator commands waiting in the run's inbox;
//! 2. ask the state what should happen now (`decide`) and apply it in memory;
//! 3. store those events and mark the commands taken, in that one transaction ("write
//!    before act");
//! 4. only then act on the effects: start actions, ask for reconciliation, cancel;
//! 5. wait for an attempt to finish, a deadline, a command, or a signal.
//!
//! On load, attempts left in flight by a dead process are settled by `recover` (retry,
//! reconcile or pause), as docs/runbook-language.md (When drctl crashes during a step) says.
//!
//! # Layout
//! - [`create`]: new runs, with their sources and params pinned.
//! - [`driver`]: the loop; `attempts`: starting actions, timeouts, results, sub-runs;
//!   `notices`: delivering what `notify:` subscriptions are owed, with retries.
//! - [`inbox`]: operators' commands, checked against the run and left for its driver,
//!   which applies them in the transaction of its next append.
//! - [`projection`]: rows kept next to the events.
//! - [`policy`]: gates approved by a configured policy (unattended drills).
//! - [`live`]: what a running attempt printed so far, masked, for people watching.
//! - [`liveness`]: whether anybody drives a run whose row says `running`.
//! - [`preview`]: a live plan: each action asked, read-only, what it would do now.
//! - `compiled`: runbooks compiled from pinned sources, compiled once per engine.
//! - [`clock`], [`worker`], [`secrets`], [`command`], [`observer`].

pub mod clock;
pub mod command;
pub mod create;
pub mod driver;
pub mod inbox;
pub mod live;
pub mod liveness;
pub mod observer;
pub mod policy;
pub mod preview;
pub mod projection;
pub mod secrets;
pub mod worker;

mod attempts;
mod compiled;
mod notices;

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{ActionRegistry, Clock, RunId};
use drctl_run::event::{Event, PauseReason};
use drctl_run::{Outcome, TransitionError};
use drctl_runbook::template::TemplateEnv;
use drctl_store::{Store, StoreError};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

pub use command::OperatorCommand;
pub use create::NewRunRequest;
pub use inbox::Submitted;
pub use observer::{Observer, Silent};
pub use secrets::{EnvAndFiles, SecretReader};

/// Tunables.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This process, as lease owner: `host:pid:nonce`.
    pub worker: String,
    /// Who acts when this process records an operator's action (resume).
    pub actor: drctl_core::Actor,
    /// Attempts in flight at once in one run.
    pub max_parallel: usize,
    /// How long a lease lasts without a heartbeat.
    pub lease_ttl: Duration,
    /// How often the lease is renewed.
    pub heartbeat: Duration,
    /// How long a cancelled action (timeout, cancel, pause) has to stop before its task is
    /// aborted.
    pub cancel_grace: Duration,
    /// How often the inbox is checked and a held lock is tried again.
    pub poll: Duration,
    /// Gates approved by configured policies (see [`policy`]).
    pub approval_policies: Vec<policy::ApprovalPolicy>,
    /// A crash to inject, for the crash tests; `None` in normal use.
    pub fault: Option<Fault>,
}

/// Where a crash test may have the driving process die.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Abort the process inside an append's transaction, after it read waiting commands
    /// and before it recorded them: the command must survive, untaken.
    AbortAfterInboxRead,
    /// The same moment, in-process: the append fails and the drive ends with an error,
    /// as if the process had died there (for tests on the memory store).
    FailAfterInboxRead,
}

impl Fault {
    /// By the name the binary reads from `DRCTL_FAULT`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "abort-after-inbox-read" => Some(Fault::AbortAfterInboxRead),
            _ => None,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            worker: worker::worker_id(),
            actor: drctl_core::Actor::Engine,
            max_parallel: 8,
            lease_ttl: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
            cancel_grace: Duration::from_secs(10),
            poll: Duration::from_millis(500),
            approval_policies: Vec::new(),
            fault: None,
        }
    }
}

/// The engine: cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) actions: Arc<dyn ActionRegistry>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) secrets: Arc<dyn SecretReader>,
    pub(crate) observer: Arc<dyn Observer>,
    pub(crate) env: Arc<TemplateEnv>,
    pub(crate) config: EngineConfig,
    pub(crate) compiled: Arc<compiled::Compiled>,
    /// Actions running at once across every run this engine drives (a server's
    /// `max_actions`); `None`: only each run's `max_parallel` limits them.
    pub(crate) slots: Option<Arc<tokio::sync::Semaphore>>,
    /// The drivers running in this process, by run: a command submitted here wakes its
    /// run's driver at once instead of waiting for its next poll of the store.
    pub(crate) drivers:
        Arc<std::sync::Mutex<std::collections::HashMap<RunId, Arc<tokio::sync::Notify>>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        actions: Arc<dyn ActionRegistry>,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Self {
        Self {
            store,
            actions,
            clock,
            secrets: Arc::new(EnvAndFiles),
            observer: Arc::new(Silent),
            env: Arc::new(TemplateEnv::new()),
            config,
            compiled: Arc::default(),
            slots: None,
            drivers: Arc::default(),
        }
    }

    /// Wakes this process's driver of `run`, if it has one: a command waits for it.
    pub(crate) fn wake(&self, run: &RunId) {
        let drivers = self.drivers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = drivers.get(run) {
            n.notify_one();
        }
    }

    /// At most `n` actions (attempts and reconciliations) run at once across every run
    /// this engine drives: a run starts an attempt only when a slot is free, and waits for
    /// one otherwise (see the driver's `parallel`).
    pub fn with_action_slots(mut self, n: usize) -> Self {
        self.slots = Some(Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Gates these policies approve (see [`policy`]).
    pub fn with_approval_policies(mut self, policies: Vec<policy::ApprovalPolicy>) -> Self {
        self.config.approval_policies = policies;
        self
    }

    pub fn with_secrets(mut self, secrets: Arc<dyn SecretReader>) -> Self {
        self.secrets = secrets;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A run's events, decoded.
    pub async fn events(&self, run: &RunId) -> Result<Vec<Event>, EngineError> {
        decode_events(&self.store.events(run, 0).await?)
    }
}

/// Decodes stored events.
pub fn decode_events(stored: &[drctl_store::StoredEvent]) -> Result<Vec<Event>, EngineError> {
    stored
        .iter()
        .map(|e| decode(&e.run, e.seq, &e.body))
        .collect()
}

/// Decodes events read as bodies alone.
pub(crate) fn decode_bodies(
    run: &RunId,
    bodies: &[drctl_store::EventBody],
) -> Result<Vec<Event>, EngineError> {
    bodies.iter().map(|e| decode(run, e.seq, &e.body)).collect()
}

/// One event's body; a body that does not decode is a corrupt store, named by place.
fn decode(run: &RunId, seq: u64, body: &str) -> Result<Event, EngineError> {
    serde_json::from_str(body).map_err(|err| {
        EngineError::Store(StoreError::Corrupt(format!("event {seq} of {run}: {err}")))
    })
}

/// How to drive a run.
#[derive(Debug, Clone, Default)]
pub struct DriveOptions {
    /// Resume a paused run (records who resumed it).
    pub resume: bool,
    /// Fail at once when the run's lock is held, instead of waiting.
    pub no_wait: bool,
    /// Pause the run durably (Ctrl-C).
    pub pause: CancellationToken,
    /// Cancel the run (a parent's cancel reaching its sub-run).
    pub cancel: CancellationToken,
    /// Hand the run back without pausing it (a server going down): no new attempt
    /// starts, running ones get the grace period, then the lease is released and the drive
    /// returns [`RunEnd::Released`]. Nothing is recorded, so whoever drives the run next
    /// (a restart, another node) continues it at once; an attempt the grace cut short is
    /// settled then by the crash rules (retry, reconcile, or pause for an operator).
    pub release: CancellationToken,
    /// Who resumes the run, when not the engine's own actor: the caller of an API that
    /// asked a server to resume it.
    pub resumed_by: Option<drctl_core::Actor>,
}

impl DriveOptions {
    /// Drive a run that may be paused, resuming it.
    pub fn resuming() -> Self {
        Self {
            resume: true,
            ..Self::default()
        }
    }
}

/// Why `drive` returned.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEnd {
    Finished {
        outcome: Outcome,
        /// `steps.<id>.output` of the main block, for a parent's `call` step.
        outputs: Map<String, Value>,
    },
    Paused(PauseReason),
    /// Handed back on request ([`DriveOptions::release`]), still to be driven.
    Released,
    /// `no_wait` and the lock is held.
    LockHeld {
        lock: String,
        holder: RunId,
    },
}

/// Why the engine could not drive a run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the run's log does not replay: {0}")]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Compile(String),
    /// A declared secret cannot be read, or is too short to mask.
    #[error("{0}")]
    Secret(String),
    #[error("{0}")]
    Invalid(String),
}
