//! The state of a run, derived from its events by [`RunState::apply`](crate::RunState).
//!
//! A step has one item, or one per `for_each` value; every attempt, retry, verify and
//! compensation is tracked per item. Each variant of [`ItemStatus`] holds only what is
//! true in that status.

use std::sync::Arc;

use drctl_core::{Actor, Approver, RunId, StepId, Timestamp};
use drctl_runbook::Runbook;
use drctl_runbook::model::BlockKind;
use indexmap::IndexMap;
use serde_json::Value;

use crate::event::{Outcome, PauseReason, Phase, Recovery, RunCreated};

/// A run as of its last applied event.
#[derive(Debug, Clone)]
pub struct RunState {
    pub id: RunId,
    pub created: Box<RunCreated>,
    pub created_at: Timestamp,
    /// Who started it.
    pub created_by: Actor,
    /// Compiled from the pinned source.
    pub runbook: Arc<Runbook>,
    pub status: RunStatus,
    pub stage: Stage,
    /// Every step of every block, in file order.
    pub steps: IndexMap<StepId, StepState>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The run's `timeout`, once started.
    pub deadline: Option<Timestamp>,
    pub lock: Option<String>,
    /// Why the main block failed, once it has.
    pub failure: Option<String>,
    pub cancelled: bool,
    /// Items in the order they succeeded: compensations run in reverse.
    pub completed: Vec<(StepId, Option<u32>)>,
    /// Notices queued for `notify:` subscriptions, by number.
    pub notices: Vec<crate::notice::Notice>,
    /// How many events have been applied: the version appends are checked against.
    pub version: u64,
    /// Where each step is defined, who needs whom.
    pub(crate) shape: crate::index::SharedShape,
    /// The sets `decide` reads, kept by `apply`.
    pub(crate) index: crate::index::Index,
}

/// Where the run is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Created; its lock is not taken yet.
    Created,
    WaitingForLock {
        lock: String,
        held_by: RunId,
    },
    Running,
    Paused {
        reason: PauseReason,
    },
    Finished {
        outcome: Outcome,
    },
}

impl RunStatus {
    /// A short word for lists and the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Created => "created",
            RunStatus::WaitingForLock { .. } => "waiting",
            RunStatus::Running => "running",
            RunStatus::Paused { .. } => "paused",
            RunStatus::Finished { outcome } => outcome.as_str(),
        }
    }
}

/// Which part of the runbook is being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `steps`.
    Main,
    /// The main block failed: undoing completed steps, latest first.
    Compensating,
    OnFailure,
    Finally,
    /// Everything has run; the run can finish.
    Done,
}

impl Stage {
    pub fn block(self) -> Option<BlockKind> {
        match self {
            Stage::Main => Some(BlockKind::Main),
            Stage::OnFailure => Some(BlockKind::OnFailure),
            Stage::Finally => Some(BlockKind::Finally),
            Stage::Compensating | Stage::Done => None,
        }
    }
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub block: BlockKind,
    pub status: StepStatus,
    /// One item for a plain step; one per value for a `for_each` step once expanded.
    pub items: Vec<ItemState>,
    /// For `for_each` steps: whether the items are known yet.
    pub expanded: bool,
    /// An operator's skip of the step before it started (`skipped by bob`): it is skipped
    /// when it becomes ready, not before, so what it needs still comes first.
    pub skip_order: Option<String>,
}

/// A step's status, summing up its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepStatus {
    /// Not started: waiting for `needs`, or never reached.
    Pending,
    /// Some item is not finished.
    Active,
    Succeeded,
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

impl StepStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Active => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed { .. } => "failed",
            StepStatus::Skipped { .. } => "skipped",
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::Failed { .. } | StepStatus::Skipped { .. }
        )
    }
}

/// One item of a step (the only one, for a plain step).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemState {
    /// The `for_each` value.
    pub value: Option<Value>,
    pub status: ItemStatus,
    /// Attempts of the action so far.
    pub attempts: u32,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The sub-run of a `call` step.
    pub child: Option<RunId>,
    /// The action's output while its `verify` check runs; it becomes the item's output
    /// once the check passes.
    pub pending_output: Option<Value>,
    /// The end of the `verify` soak window: the action's end plus `for`.
    pub soak_until: Option<Timestamp>,
    pub compensation: Compensation,
}

impl ItemState {
    pub(crate) fn new(value: Option<Value>) -> Self {
        Self {
            value,
            status: ItemStatus::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            child: None,
            pending_output: None,
            soak_until: None,
            compensation: Compensation::Pending { attempts: 0 },
        }
    }

    /// The output once succeeded.
    pub fn output(&self) -> Option<&Value> {
        match &self.status {
            ItemStatus::Succeeded { output } => Some(output),
            _ => None,
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status,
            ItemStatus::Succeeded { .. } | ItemStatus::Failed { .. } | ItemStatus::Skipped { .. }
        )
    }

    /// Started and not yet finished: the item occupies one of its step's `max_parallel`
    /// slots (a sleep, a retry's backoff and a verify window included).
    pub fn holds_slot(&self) -> bool {
        !matches!(self.status, ItemStatus::Pending) && !self.is_terminal()
    }

    /// An attempt is out in the world right now.
    pub fn in_flight(&self) -> bool {
        matches!(self.status, ItemStatus::Running { .. })
            || matches!(self.compensation, Compensation::Running { .. })
    }
}

/// Where an item is.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemStatus {
    Pending,
    /// An attempt has been recorded as started and not finished.
    Running {
        phase: Phase,
        attempt: u32,
        since: Timestamp,
        deadline: Option<Timestamp>,
        input: Value,
    },
    /// A `sleep` step, until the stored time.
    Sleeping {
        attempt: u32,
        until: Timestamp,
    },
    /// Waiting to retry the action.
    Backoff {
        attempt: u32,
        retry_at: Timestamp,
        last_error: String,
    },
    /// The action succeeded; its `verify` check runs (again) at `next_at`. With a soak
    /// window, the check must keep passing until the item's `soak_until`.
    Verifying {
        attempt: u32,
        next_at: Timestamp,
    },
    /// An approval step waits for people's decisions.
    Awaiting {
        level: u32,
        /// Who may decide at this level.
        approvers: Vec<Approver>,
        message: Option<String>,
        deadline: Option<Timestamp>,
        /// The approvals given so far (a rejection ends the step at once).
        approvals: Vec<GivenApproval>,
    },
    /// A crash interrupted an attempt; `next` says what recovery does with it.
    Interrupted {
        phase: Phase,
        attempt: u32,
        next: Recovery,
        input: Value,
    },
    Succeeded {
        output: Value,
    },
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
}

impl ItemStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemStatus::Pending => "pending",
            ItemStatus::Running { .. } => "running",
            ItemStatus::Sleeping { .. } => "sleeping",
            ItemStatus::Backoff { .. } => "retrying",
            ItemStatus::Verifying { .. } => "verifying",
            ItemStatus::Awaiting { .. } => "awaiting approval",
            ItemStatus::Interrupted { .. } => "interrupted",
            ItemStatus::Succeeded { .. } => "succeeded",
            ItemStatus::Failed { .. } => "failed",
            ItemStatus::Skipped { .. } => "skipped",
        }
    }
}

/// One approval of an approval step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GivenApproval {
    pub by: Actor,
    pub on_behalf_of: Vec<Approver>,
    pub comment: String,
    pub at: Timestamp,
}

/// An item's compensation, once the run failed after the item succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum Compensation {
    /// Not run (yet): compensations run only when the run fails after the item succeeded.
    Pending {
        attempts: u32,
    },
    Running {
        attempt: u32,
        input: Value,
    },
    Interrupted {
        attempt: u32,
        next: Recovery,
        input: Value,
    },
    Done,
    Failed {
        error: String,
    },
}

/// What the driver must do after an event is stored and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Call the action of this attempt now (it is recorded as started).
    Invoke {
        step: StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
    },
    /// Ask the action whether the interrupted attempt took effect.
    Reconcile {
        step: StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
    },
    /// Cancel every running attempt.
    CancelAll,
    /// The run paused: stop driving it.
    Stop,
    /// The run finished: release its lock and lease.
    Finished,
}
