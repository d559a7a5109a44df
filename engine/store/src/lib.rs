//! The storage contract of drctl.
//!
//! - [`traits`]: `RunWriter` (the owner's append path, guarded by version and lease),
//!   `Locks`, `CommandInbox`, `RunReader`, and `Store` = all of them.
//! - [`rows`]: the plain data stored: runs, events, step rows, leases, commands.
//! - [`chain`]: the per-run hash chain and its verification.
//! - [`ledger`]: the store-wide chain of run heads (created, finished), so a whole run
//!   removed is found.
//! - [`schedules`]: schedules and their firings, each nominal time recorded once under a
//!   unique key in the transaction that creates its run.
//! - [`deliveries`]: webhook deliveries, each recorded with its verdict; a sender's
//!   delivery id taken once per hook.
//! - [`live`]: what running attempts have printed so far, for people watching.
//! - [`memory`]: `MemoryStore`, the in-memory reference implementation.
//! - `conformance` (feature `conformance`): the one test suite every backend runs.
//!
//! The store knows nothing of what events mean: it stores their JSON, chains them, and
//! keeps the projection its caller computed, all in one transaction.

pub mod chain;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod deliveries;
pub mod error;
pub mod ledger;
pub mod live;
pub mod memory;
pub mod rows;
pub mod schedules;
pub mod traits;

pub use deliveries::{
    Dedup, Deliveries, DeliveryRow, Holder, Placed, Proposal, Settled, Verdict as DeliveryVerdict,
};
pub use error::StoreError;
pub use live::{LiveOutputs, LiveRow};
pub use memory::MemoryStore;
pub use rows::{
    Checked, Claim, Command, CommandOutcome, EventBody, Lease, LockOutcome, NewEvent, NewRun,
    Projection, RunFilter, RunRow, RunStatus, SignedHead, Snapshot, StepRow, StoredEvent, Taken,
};
pub use schedules::{
    Change, ChangeRow, Finding, FiringOutcome, FiringRow, NewFiring, Pause, ReadinessRow,
    ScheduleRow, Schedules, Waiver,
};
pub use traits::{
    Batch, BuildBatch, CommandInbox, Locks, RunReader, RunWriter, SignedHeads, Store,
};

use drctl_core::RunId;

/// The run a prefix names, shared by backends so they answer alike.
pub fn resolve_matches(prefix: &str, matches: &[&RunId]) -> Result<RunId, StoreError> {
    match matches {
        [] => Err(StoreError::NotFound(prefix.to_owned())),
        [one] => Ok((*one).clone()),
        many => Err(StoreError::Ambiguous {
            prefix: prefix.to_owned(),
            candidates: many
                .iter()
                .take(5)
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
