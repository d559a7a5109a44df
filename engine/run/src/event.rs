//! Events: the facts of a run, appended and never changed. The event log is the truth
//! (and the audit trail); run and step states are derived from it by [`crate::RunState`].
//!
//! Every time-dependent decision is stored in an event (a retry's delay is computed from
//! the failing event's time, a sleep's end and an attempt's deadline are written in
//! `AttemptStarted`), so replaying the log gives the same state on any machine, any day.

use std::collections::BTreeMap;

use drctl_core::{Actor, Approver, RunId, StepId, Timestamp};
use drctl_runbook::model::NoticeOn;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::notice::NoticeResult;

/// One fact about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    /// Who caused it: a person (`alice`), a policy, or `drctl` for the engine's own
    /// decisions.
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The actor of the engine's own decisions.
pub const ENGINE: Actor = Actor::Engine;

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// The first event: the pinned runbook sources and the resolved params.
    RunCreated(Box<RunCreated>),
    /// The run's lock is held by another run; this one waits.
    LockWaiting {
        lock: String,
        held_by: RunId,
    },
    LockAcquired {
        lock: String,
    },
    /// Steps may start. The run's own deadline, if it has a timeout, starts now.
    RunStarted {
        deadline: Option<Timestamp>,
    },
    /// A `for_each` step's items, evaluated once and pinned.
    ItemsExpanded {
        step: StepId,
        items: Vec<Value>,
    },
    StepSkipped {
        step: StepId,
        reason: String,
    },
    /// A step (or one item) failed outside an attempt: a `when`, `for_each` or input that
    /// could not be rendered, or inputs that break the action's schema.
    StepFailed {
        step: StepId,
        item: Option<u32>,
        message: String,
    },
    /// Written before the action is called ("write before act").
    AttemptStarted(Box<AttemptStarted>),
    AttemptFinished {
        step: StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
        result: AttemptResult,
    },
    /// Found at recovery: the attempt started and its process died before it finished.
    AttemptInterrupted {
        step: StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
        next: Recovery,
    },
    /// What the action saw when asked whether an interrupted attempt took effect.
    Reconciled {
        step: StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
        observed: Reconciliation,
    },
    /// A `call` step's sub-run.
    ChildStarted {
        step: StepId,
        item: Option<u32>,
        child: RunId,
    },
    Paused {
        reason: PauseReason,
    },
    Resumed,
    /// An operator's decision on a step that is interrupted or failed (`drctl step`).
    OperatorDecision {
        step: StepId,
        item: Option<u32>,
        decision: Decision,
        /// With `skip` of an interrupted step: the operator says it took effect and gives
        /// the output downstream steps read; the step then counts as succeeded (and is
        /// compensated on failure). Without it, a skipped step has no output.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
    },
    CancelRequested {
        reason: String,
    },
    /// An operator's command (the event's actor) that no longer applied when the run's
    /// driver took it: recorded so that an acknowledged command is never silently dropped.
    CommandRefused {
        /// What was asked, as a person would say it (`skip step deploy`).
        asked: String,
        reason: String,
    },
    /// Another delivery of the webhook that started the run, with the same dedup key,
    /// joined it instead of starting a second run (the store's `deliveries` holds the
    /// delivery itself).
    DeliveryAttached {
        hook: String,
        /// The delivery's place among all deliveries.
        delivery: u64,
        /// The sender's delivery id, when its scheme has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        peer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// An approval step waits for people: at level 0 its `approvers`; each escalation
    /// level adds the next list of `escalate`.
    ApprovalRequested {
        step: StepId,
        level: u32,
        /// Who may decide at this level: user names and `group:<name>`.
        approvers: Vec<Approver>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline: Option<Timestamp>,
    },
    /// The event's actor approved or rejected an approval step.
    ApprovalDecided {
        step: StepId,
        verdict: Verdict,
        comment: String,
        /// The approver entries the actor answers for (`alice`, `group:dba`), resolved
        /// from the configuration's groups when they decided.
        on_behalf_of: Vec<Approver>,
    },
    /// An approval step's timeout passed at `level`.
    ApprovalTimedOut {
        step: StepId,
        level: u32,
        outcome: TimeoutOutcome,
    },
    /// The run's `timeout` passed: it fails, running attempts are cancelled.
    TimedOut,
    /// A `notify:` subscription matched: a notice is due for delivery.
    NoticeQueued {
        notice: u32,
        /// Index of the subscription in the runbook's `notify:` list.
        subscription: u32,
        on: NoticeOn,
        /// The subscription's action, for whoever reads the log.
        action: String,
        /// What templates see as `notice`.
        about: Value,
        /// The inputs as rendered with secrets masked: what was said, for the record.
        input: Value,
    },
    /// One delivery attempt of a notice.
    NoticeAttempted {
        notice: u32,
        attempt: u32,
        #[serde(flatten)]
        result: NoticeResult,
    },
    RunFinished {
        outcome: Outcome,
        /// RTO and RPO as measured by the run's marked steps, when it has any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        measured: Option<crate::measure::Measured>,
    },
}

impl EventKind {
    /// The one step whose state the event changes, if it is about a step. Events about
    /// no step change no step, except `cancel_requested`, which touches every one.
    pub fn step(&self) -> Option<&StepId> {
        match self {
            EventKind::ItemsExpanded { step, .. }
            | EventKind::StepSkipped { step, .. }
            | EventKind::StepFailed { step, .. }
            | EventKind::AttemptFinished { step, .. }
            | EventKind::AttemptInterrupted { step, .. }
            | EventKind::Reconciled { step, .. }
            | EventKind::ChildStarted { step, .. }
            | EventKind::OperatorDecision { step, .. }
            | EventKind::ApprovalRequested { step, .. }
            | EventKind::ApprovalDecided { step, .. }
            | EventKind::ApprovalTimedOut { step, .. } => Some(step),
            EventKind::AttemptStarted(a) => Some(&a.step),
            EventKind::RunCreated(_)
            | EventKind::LockWaiting { .. }
            | EventKind::LockAcquired { .. }
            | EventKind::RunStarted { .. }
            | EventKind::Paused { .. }
            | EventKind::Resumed
            | EventKind::CancelRequested { .. }
            | EventKind::CommandRefused { .. }
            | EventKind::DeliveryAttached { .. }
            | EventKind::TimedOut
            | EventKind::NoticeQueued { .. }
            | EventKind::NoticeAttempted { .. }
            | EventKind::RunFinished { .. } => None,
        }
    }

    /// The `type` tag, for the store's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunCreated(_) => "run_created",
            EventKind::LockWaiting { .. } => "lock_waiting",
            EventKind::LockAcquired { .. } => "lock_acquired",
            EventKind::RunStarted { .. } => "run_started",
            EventKind::ItemsExpanded { .. } => "items_expanded",
            EventKind::StepSkipped { .. } => "step_skipped",
            EventKind::StepFailed { .. } => "step_failed",
            EventKind::AttemptStarted(_) => "attempt_started",
            EventKind::AttemptFinished { .. } => "attempt_finished",
            EventKind::AttemptInterrupted { .. } => "attempt_interrupted",
            EventKind::Reconciled { .. } => "reconciled",
            EventKind::ChildStarted { .. } => "child_started",
            EventKind::Paused { .. } => "paused",
            EventKind::Resumed => "resumed",
            EventKind::OperatorDecision { .. } => "operator_decision",
            EventKind::CancelRequested { .. } => "cancel_requested",
            EventKind::CommandRefused { .. } => "command_refused",
            EventKind::DeliveryAttached { .. } => "delivery_attached",
            EventKind::ApprovalRequested { .. } => "approval_requested",
            EventKind::ApprovalDecided { .. } => "approval_decided",
            EventKind::ApprovalTimedOut { .. } => "approval_timed_out",
            EventKind::TimedOut => "timed_out",
            EventKind::NoticeQueued { .. } => "notice_queued",
            EventKind::NoticeAttempted { .. } => "notice_attempted",
            EventKind::RunFinished { .. } => "run_finished",
        }
    }
}

/// The run's identity and everything pinned at creation: editing a runbook file never
/// changes a run in progress, because the run only ever reads these copies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCreated {
    pub id: RunId,
    pub runbook: String,
    pub source: PinnedSource,
    /// The sources of every runbook reachable through `call:`, by the path they were read
    /// from, so that sub-runs started hours later use the text of this moment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub callees: BTreeMap<String, PinnedSource>,
    pub params: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentLink>,
    pub trigger: drctl_core::Trigger,
    pub drill: bool,
    /// For a run a webhook proposed (`confirm: true`): the proposal its creator (the
    /// event's actor) confirmed, and why. In the run's own log, so that the decision is
    /// in its hash chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<Confirmed>,
}

/// The proposal a person confirmed to create a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmed {
    pub hook: String,
    /// The delivery that proposed it.
    pub delivery: u64,
    pub proposed_at: Timestamp,
    pub reason: String,
}

/// A runbook text as it was when the run was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedSource {
    /// The path it was read from (as given).
    pub name: String,
    /// `sha256:<hex>` of `text`.
    pub digest: String,
    pub text: String,
}

/// The parent of a sub-run: the `call` step (and item) that started it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentLink {
    pub run: RunId,
    pub step: StepId,
    pub item: Option<u32>,
}

/// An attempt of a step (one item), of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptStarted {
    pub step: StepId,
    pub item: Option<u32>,
    pub phase: Phase,
    pub attempt: u32,
    /// The rendered inputs with secrets masked: what was called, for people and audits.
    pub input: Value,
    /// When the step's `timeout` expires for this attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Timestamp>,
    /// For `sleep`: when it is over. A sleep is a stored deadline, not a running task,
    /// so a restart neither loses nor restarts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<Timestamp>,
}

/// What an attempt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The step's action.
    Action,
    /// The step's `verify` check.
    Verify,
    /// The step's `compensate` action, when the run failed later.
    Compensate,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AttemptResult {
    Succeeded {
        output: Value,
    },
    Failed {
        class: FailureClass,
        message: String,
    },
    Cancelled,
}

/// Why an attempt failed, as a retry policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Retryable,
    Permanent,
    Timeout,
}

/// What recovery does with an interrupted attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// Run a new attempt: the action is idempotent, or the step says `on_interrupt: retry`.
    Retry,
    /// Ask the action whether the call took effect.
    Reconcile,
    /// Stop for an operator.
    Pause,
}

/// What reconciliation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "found", rename_all = "snake_case")]
pub enum Reconciliation {
    Done { output: Value },
    NotDone,
    Unknown { reason: String },
}

/// Why a run paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum PauseReason {
    /// A step was interrupted and cannot be safely retried or reconciled.
    Interrupted {
        step: StepId,
        item: Option<u32>,
        detail: String,
    },
    /// Someone asked (Ctrl-C in `drctl run`).
    Operator,
    /// A sub-run paused.
    Child { step: StepId, child: RunId },
}

/// An operator's decision on a step (`drctl step retry|skip|fail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run a new attempt.
    Retry,
    /// Treat the step as done without running it: skipped with no output, or succeeded
    /// with the output the operator gives.
    Skip,
    /// Treat it as failed.
    Fail,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Retry => "retry",
            Decision::Skip => "skip",
            Decision::Fail => "fail",
        }
    }
}

/// An approver's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }
}

/// What an approval step's timeout did (its `on_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutOutcome {
    Rejected,
    Approved,
    /// The next level of approvers is asked (an `ApprovalRequested` follows).
    Escalated,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed { reason: String },
    Cancelled,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed { .. } => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }
}
