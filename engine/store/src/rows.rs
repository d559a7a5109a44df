//! The data the store keeps: runs, their events, the projection of their steps, leases,
//! locks and the command inbox. Plain data; the meaning of events is `drctl-run`'s.

use drctl_core::{Actor, RunId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A run to create, with its first event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub id: RunId,
    pub runbook: String,
    pub source_name: String,
    pub digest: String,
    pub parent: Option<RunId>,
    pub parent_step: Option<String>,
    pub actor: Actor,
    pub created_at: Timestamp,
    /// A drill, not a real incident.
    pub drill: bool,
    /// What started it.
    pub trigger: drctl_core::Trigger,
}

/// A run's status as its row stores it (the text column holds `as_str`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    #[default]
    Created,
    /// Waiting for a lock.
    Waiting,
    Running,
    Paused,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Created,
        RunStatus::Waiting,
        RunStatus::Running,
        RunStatus::Paused,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Created => "created",
            RunStatus::Waiting => "waiting",
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The status a stored text names; `None` for a text no version of drctl wrote.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether a run with this status has ended for good.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The projection of a run: one row, updated with every append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: RunId,
    pub runbook: String,
    pub source_name: String,
    pub digest: String,
    pub parent: Option<RunId>,
    pub parent_step: Option<String>,
    pub actor: Actor,
    pub status: RunStatus,
    /// Why it is paused or failed.
    pub detail: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Number of events.
    pub version: u64,
    pub head_hash: String,
    pub owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    /// A drill, not a real incident.
    pub drill: bool,
    /// What started it.
    pub trigger: drctl_core::Trigger,
    /// Its RTO clock, as the last append left it.
    pub rto: Option<drctl_core::RtoSpan>,
}

impl RunRow {
    /// Whether the run has ended for good.
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }
}

/// The projection of one step item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRow {
    /// The step's place in the runbook (all blocks, file order), for listing in order.
    pub position: u32,
    pub step: String,
    /// The `for_each` index, or `None` for a plain step.
    pub item: Option<u32>,
    pub block: String,
    pub status: String,
    pub attempts: u32,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub output: Option<Value>,
    pub error: Option<String>,
}

/// An event to append. `body` is its JSON; `kind` its type tag, for queries.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub at: Timestamp,
    pub actor: Actor,
    pub kind: String,
    pub body: String,
}

/// An event as stored, with its place in the run's hash chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub run: RunId,
    /// 1 for the first event of the run.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    pub kind: String,
    pub body: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An event's number and body alone: what rebuilding a run's state reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBody {
    pub seq: u64,
    pub body: String,
}

/// What an append changes besides adding events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Projection {
    pub status: RunStatus,
    pub detail: Option<String>,
    pub finished_at: Option<Timestamp>,
    /// The RTO clock after these events.
    pub rto: Option<drctl_core::RtoSpan>,
    /// Step items whose row changed.
    pub steps: Vec<StepRow>,
    /// The run ended: release every lock it holds, in the same transaction.
    pub release_locks: bool,
}

/// The right to write a run's events. Every append checks the fence: a process that lost
/// its lease (paused, partitioned, presumed dead) can never write over its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub run: RunId,
    pub owner: String,
    pub fence: u64,
    pub until: Timestamp,
}

/// A request to own a run.
#[derive(Debug, Clone)]
pub struct Claim {
    pub run: RunId,
    pub owner: String,
    pub now: Timestamp,
    pub ttl: std::time::Duration,
    /// Take the run over from this owner even if its lease has not expired: the caller
    /// has established that the owner is dead (its process is gone).
    pub take_over_from: Option<String>,
}

impl Claim {
    /// Whether a run whose lease is `(owner, until)` may be claimed: it is free, already
    /// ours, its owner is known dead, or its lease expired. Every store decides with this.
    pub fn may_take(&self, owner: Option<&str>, until: Option<Timestamp>) -> bool {
        match (owner, until) {
            (None, _) | (Some(_), None) => true,
            (Some(o), _) if o == self.owner => true,
            (Some(o), _) if self.take_over_from.as_deref() == Some(o) => true,
            (Some(_), Some(u)) => u < self.now,
        }
    }

    /// The lease this claim gets, fenced with `fence`: it lasts `ttl` from `now`.
    pub fn lease(&self, fence: u64) -> Lease {
        Lease {
            run: self.run.clone(),
            owner: self.owner.clone(),
            fence,
            until: self.now.plus(self.ttl),
        }
    }
}

/// The result of asking for a named lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    Acquired,
    HeldBy(RunId),
}

/// An operator's command to a run, waiting for the run's owner to act on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub id: u64,
    pub run: RunId,
    pub at: Timestamp,
    pub actor: Actor,
    pub body: Value,
}

/// What became of a command that its run's owner took. Each is recorded in the run's
/// log as well, as the event `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Carried out: event `seq` records it.
    Applied { seq: u64 },
    /// It did not apply to the run any more (the gate was decided, the step had
    /// started); event `seq` records the refusal.
    Refused { seq: u64, reason: String },
}

/// What a command was checked against, so that the store accepts it only while that
/// still holds: the run's version, and the newest command already waiting for the run
/// (0: none), whose effects the check took into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    pub version: u64,
    pub newest_waiting: u64,
}

/// A command an append settles, marked taken in the append's transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub id: u64,
    pub outcome: CommandOutcome,
    /// The command as it is kept once taken (secrets an operator pasted masked), when it
    /// differs from what was sent.
    pub body: Option<Value>,
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub runbook: Option<String>,
    /// Only top-level runs (no sub-runs).
    pub top_level: bool,
    pub limit: usize,
    /// Only drills (`Some(true)`) or only real runs (`Some(false)`).
    pub drill: Option<bool>,
    /// Only runs created at or after this.
    pub since: Option<Timestamp>,
    /// Only runs listed after this one, newest first: a page's cursor (its last run's
    /// creation time and id).
    pub before: Option<(Timestamp, RunId)>,
}

/// A server's signature over one ledger entry's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedHead {
    /// The ledger entry signed.
    pub seq: u64,
    /// Its run (signed too: a run removed is named by what was signed).
    pub run: RunId,
    /// Its hash, as signed.
    pub hash: String,
    /// The fingerprint of the key that signed.
    pub key: String,
    /// Base64.
    pub signature: String,
    pub signed_at: Timestamp,
}

/// Every run (oldest first), each with its events, the ledger and its signatures: one
/// state of the whole store, read at once, so that a run appending meanwhile is seen
/// before or after an append, never half-way (an audit would take it for tampering).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub runs: Vec<(RunRow, Vec<StoredEvent>)>,
    pub ledger: Vec<crate::ledger::LedgerEntry>,
    /// Every signature over a ledger head.
    pub signed: Vec<SignedHead>,
}
