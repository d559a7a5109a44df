//! The store, split by who calls it: the run's owner writes (`RunWriter`), operators leave
//! commands (`CommandInbox`), runs take named locks (`Locks`), and the CLI, the API and
//! the audit read (`RunReader`). A test can fake just the part it needs.
//!
//! The contract every backend keeps (the conformance suite checks it):
//! - `append` is atomic: events, the run row, the step rows and the commands it settles
//!   change together or not at all;
//! - `append` succeeds only at the expected version and with the current lease, so two
//!   writers never interleave and a stale one is refused;
//! - `append` shows its builder every command left for the run and not yet taken, inside
//!   its transaction: a command committed before an append is seen by it, and a command
//!   is marked taken only together with the event that records it (so a crash between
//!   the two cannot lose it, and it is applied exactly once);
//! - `push_command` with an expected version commits only if the run is still there, so
//!   what the sender checked its command against is what the run applies it to;
//! - events are chained by hash (`chain`) as they are stored.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};

use crate::error::StoreError;
use crate::rows::{
    Checked, Claim, Command, CommandOutcome, Lease, LockOutcome, NewEvent, NewRun, Projection,
    RunFilter, RunRow, StepRow, StoredEvent, Taken,
};

/// What a run's owner appends, built once it has seen the commands waiting for the run.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The run's version before these events; the append fails if it moved.
    pub expected: u64,
    pub events: Vec<NewEvent>,
    pub projection: Projection,
    /// The commands these events settle: marked taken in the same transaction.
    pub taken: Vec<Taken>,
}

/// Builds a batch inside an append's transaction from the run's untaken commands, oldest
/// first. `None`: nothing to append (the transaction is rolled back).
pub type BuildBatch<'a> = dyn FnMut(&[Command]) -> Option<Batch> + Send + 'a;

/// The write path of a run's owner.
#[async_trait]
pub trait RunWriter: Send + Sync {
    /// Creates a run with its first event (version 1). Fails if the id exists.
    async fn create_run(&self, run: &NewRun, first: &NewEvent) -> Result<(), StoreError>;

    /// In one transaction: checks the lease, reads the run's untaken commands, calls
    /// `build` with them, and stores what it returns (events, projection, and the
    /// commands it settled, marked taken with their outcome). Fails, storing nothing, if
    /// the lease is lost (before `build` is called) or the version moved. Returns the new
    /// version, or `None` when `build` had nothing to append.
    async fn append(
        &self,
        lease: &Lease,
        now: Timestamp,
        build: &mut BuildBatch<'_>,
    ) -> Result<Option<u64>, StoreError>;

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

/// Commands from operators to a run, picked up by its owner in its next `append`.
#[async_trait]
pub trait CommandInbox: Send + Sync {
    /// Leaves a command for the run; returns its id. With `checked`, only while the run
    /// is at that version and no command newer than the one named waits (else
    /// `VersionConflict`: the sender checks again). A run that has ended takes no
    /// command (`Finished`).
    async fn push_command(
        &self,
        run: &RunId,
        at: Timestamp,
        actor: &drctl_core::Actor,
        body: &serde_json::Value,
        checked: Option<Checked>,
    ) -> Result<u64, StoreError>;
    /// Whether commands wait for the run: a cheap read for an idle owner's poll.
    async fn has_commands(&self, run: &RunId) -> Result<bool, StoreError>;
    /// The commands waiting for the run, oldest first (read only: a sender checks its own
    /// command against the run as they will leave it).
    async fn waiting_commands(&self, run: &RunId) -> Result<Vec<Command>, StoreError>;
    /// What became of a command: `None` while it waits.
    async fn command_outcome(&self, id: u64) -> Result<Option<CommandOutcome>, StoreError>;
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
    /// The numbers and bodies of events with `after < seq <= upto`, in order: what
    /// rebuilding a run's state needs, which a store may read faster than whole events.
    async fn event_bodies(
        &self,
        run: &RunId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<crate::rows::EventBody>, StoreError> {
        Ok(self
            .events(run, after)
            .await?
            .into_iter()
            .take_while(|e| e.seq <= upto)
            .map(|e| crate::rows::EventBody {
                seq: e.seq,
                body: e.body,
            })
            .collect())
    }
    /// Events of every run (or of `run`) after the store-wide `cursor`, in the order
    /// they were stored, at most `limit`, each with its own cursor: what a follower
    /// resumes from (`Last-Event-ID`).
    async fn feed(
        &self,
        cursor: u64,
        run: Option<&RunId>,
        limit: usize,
    ) -> Result<Vec<(u64, StoredEvent)>, StoreError>;
    /// The whole store-wide ledger, in order.
    async fn ledger(&self) -> Result<Vec<crate::ledger::LedgerEntry>, StoreError>;
    /// Every run with its events (or the one run `only`), the whole ledger and its
    /// signatures, as one state.
    async fn snapshot(&self, only: Option<&RunId>) -> Result<crate::rows::Snapshot, StoreError>;
}

/// Signatures over ledger heads, made by a server's key (see drctl-evidence): what
/// lets `audit verify --key` tell a history rewritten by whoever can write the database.
#[async_trait]
pub trait SignedHeads: Send + Sync {
    /// Ledger entries with `seq > after`, in order, at most `limit`.
    async fn ledger_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::ledger::LedgerEntry>, StoreError>;
    /// Records signatures; one already held (same entry, same key) is kept as it is.
    async fn add_signed_heads(&self, heads: &[crate::rows::SignedHead]) -> Result<(), StoreError>;
    /// Every signature held, by entry.
    async fn signed_heads(&self) -> Result<Vec<crate::rows::SignedHead>, StoreError>;
    /// The last entry signed with the key of this fingerprint.
    async fn last_signed(&self, key: &str) -> Result<Option<u64>, StoreError>;
}

/// Everything, for the engine and the CLI.
pub trait Store:
    RunWriter
    + Locks
    + CommandInbox
    + RunReader
    + SignedHeads
    + crate::schedules::Schedules
    + crate::deliveries::Deliveries
    + crate::live::LiveOutputs
{
}

impl<T> Store for T where
    T: RunWriter
        + Locks
        + CommandInbox
        + RunReader
        + SignedHeads
        + crate::schedules::Schedules
        + crate::deliveries::Deliveries
        + crate::live::LiveOutputs
{
}
