//! Store errors. Backends map their driver's errors into these; nothing above the store
//! sees a database error type.

use drctl_core::{RunId, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no run `{0}`")]
    NotFound(String),
    #[error("`{prefix}` matches several runs: {candidates}")]
    Ambiguous { prefix: String, candidates: String },
    #[error("run `{0}` already exists")]
    Exists(RunId),
    /// Someone appended since this writer last read: it must reload.
    #[error("run `{run}` is at version {actual}, not {expected}")]
    VersionConflict {
        run: RunId,
        expected: u64,
        actual: u64,
    },
    /// The lease was taken over or expired and was claimed: stop writing.
    #[error("the lease on run `{0}` is no longer ours")]
    LeaseLost(RunId),
    #[error("run `{run}` is owned by {owner} until {until}")]
    Leased {
        run: RunId,
        owner: String,
        until: Timestamp,
    },
    /// The run has ended: nothing can be asked of it any more.
    #[error("run `{0}` has ended")]
    Finished(RunId),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// Only commands that create runs create a database: a mistyped path must not look
    /// like an empty history.
    #[error("no database at {0} (set by --db or DRCTL_DB); nothing has run there")]
    NoDatabase(String),
}
