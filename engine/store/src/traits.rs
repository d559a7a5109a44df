//! The store, split by who calls it: the run's owner writes (`RunWriter`), operators leave
//! commands (`CommandInbox`), runs take named locks (`Locks`), and the CLI, the API and
//! the audit read (`RunReader`). A test can fake just the part it needs.
//!
//! The contract every backend keeps (the conformance suite checks it):
//! - `append` is atomic: events, the run row and the step rows change together or not at
//!   all;
//! - `append` succeeds only at the expected version and with the current lease, so two
//!   writers never interleave and a stale one is refused;
//! - events are chained by hash (`chain`) as they are stored.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};

use crate::error::StoreError;
use crate::rows::{
    Claim, Command, Lease, LockOutcome, NewEvent, NewRun, Projection, RunFilter, RunRow, StepRow,
    StoredEvent,
};

/// What an append adds, and the conditions under which it may.
#[derive(Debug, Clone)]
pub struct Append<'a> {
    pub lease: &'a Lease,
    /// The run's version before these events; the append fails if it moved.
    pub expected: u64,
    pub events: &'a [NewEvent],
    pub projection: &'a Projection,
    pub now: Timestamp,
}

/// The write path of a run's owner.
#[async_trait]
pub trait RunWriter: Send + Sync {
    /// Creates a run with its first event (version 1). Fails if the id exists.
    async fn create_run(&self, run: &NewRun, first: &NewEvent) -> Result<(), StoreError>;

    /// Appends events and updates the projection in one transaction; returns the new version.
    async fn append(&self, append: Append<'_>) -> Result<u64, StoreError>;

    /// Takes ownership of a run: when nobody holds it, its lease expired, the caller
    /// already holds it, or `take_over_from` names the current (dead) owner.
    async fn claim(&self, claim: &Claim) -> Result<Lease, StoreError>;

    /// Extends a lease still held.
    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<Lease, StoreError>;

    /// Gives a lease up.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;
}

/// Named locks (`lock:` in a runbook): at most one run holds a name at a time.
#[async_trait]
pub trait Locks: Send + Sync {
    /// Takes `name` for `run`, or says who holds it. A lock held by a finished run is free.
    async fn try_lock(
        &self,
        name: &str,
        run: &RunId,
        now: Timestamp,
    ) -> Result<LockOutcome, StoreError>;
    async fn unlock(&self, name: &str, run: &RunId) -> Result<(), StoreError>;
}

/// Commands from operators to a run, picked up by its owner.
#[async_trait]
pub trait CommandInbox: Send + Sync {
    async fn push_command(
        &self,
        run: &RunId,
        at: Timestamp,
        actor: &str,
        body: &serde_json::Value,
    ) -> Result<u64, StoreError>;
    /// The commands not taken yet, oldest first; they are marked taken.
    async fn take_commands(&self, run: &RunId) -> Result<Vec<Command>, StoreError>;
}

/// The read path: CLI, API, TUI, audit.
#[async_trait]
pub trait RunReader: Send + Sync {
    async fn run(&self, id: &RunId) -> Result<Option<RunRow>, StoreError>;
    /// A run by a unique prefix of its id (`run_01JD3`), for people typing ids.
    async fn resolve(&self, prefix: &str) -> Result<RunId, StoreError>;
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRow>, StoreError>;
    async fn children(&self, parent: &RunId) -> Result<Vec<RunRow>, StoreError>;
    async fn steps(&self, run: &RunId) -> Result<Vec<StepRow>, StoreError>;
    /// Events with `seq > after`, in order.
    async fn events(&self, run: &RunId, after: u64) -> Result<Vec<StoredEvent>, StoreError>;
    /// The whole store-wide ledger, in order.
    async fn ledger(&self) -> Result<Vec<crate::ledger::LedgerEntry>, StoreError>;
}

/// Everything, for the engine and the CLI.
pub trait Store: RunWriter + Locks + CommandInbox + RunReader {}

impl<T: RunWriter + Locks + CommandInbox + RunReader> Store for T {}
