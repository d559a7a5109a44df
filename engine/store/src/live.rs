//! What a running attempt has printed so far (an `exec` step's stdout and stderr tails,
//! secrets already masked), kept for people watching a run from another process or over
//! the API. Not evidence and not chained: the attempt's output in its events is the
//! record. A row is replaced as output arrives and removed when the attempt ends; one
//! left by a crash names an attempt that is no longer running, which readers ignore.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// One attempt's output so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRow {
    pub step: String,
    pub item: Option<u32>,
    pub attempt: u32,
    /// The tail of stdout, secrets masked.
    pub stdout: String,
    /// The tail of stderr, secrets masked.
    pub stderr: String,
    /// When it was last replaced.
    pub at: Timestamp,
}

/// The live output of running attempts (see the module doc).
#[async_trait]
pub trait LiveOutputs: Send + Sync {
    /// Replaces the row of the attempt `row` names.
    async fn put_live(&self, run: &RunId, row: &LiveRow) -> Result<(), StoreError>;
    /// The rows of a run's step (every item and attempt), oldest attempt first.
    async fn live(&self, run: &RunId, step: &str) -> Result<Vec<LiveRow>, StoreError>;
    /// Removes every row of a run: a new driver's, since whatever printed them is no
    /// longer watched by anyone (its driver died or handed the run back).
    async fn clear_live(&self, run: &RunId) -> Result<(), StoreError>;
    /// Removes an attempt's row.
    async fn drop_live(
        &self,
        run: &RunId,
        (step, item, attempt): (&str, Option<u32>, u32),
    ) -> Result<(), StoreError>;
}
