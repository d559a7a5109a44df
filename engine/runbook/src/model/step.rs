//! Compiled steps.

use std::num::NonZeroU32;
use std::time::Duration;

use drctl_core::{ActionName, ParamName, StepId};
use indexmap::IndexMap;

use crate::source::Span;
use crate::template::{Expr, Template, ValueTemplate};

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: StepId,
    pub name: Option<String>,
    /// Steps of the same block that must finish first.
    pub needs: Vec<StepId>,
    /// Runs only when the expression is truthy; otherwise skipped.
    pub when: Option<Expr>,
    pub kind: StepKind,
    pub for_each: Option<ForEach>,
    pub retry: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
    pub verify: Option<Verify>,
    pub compensate: Option<ActionCall>,
    /// `None`: decided by the action (idempotent → retry, else reconcile).
    pub on_interrupt: Option<OnInterrupt>,
    pub continue_on_failure: bool,
    pub marks: Vec<Mark>,
    pub span: Span,
}

impl Step {
    /// The action this step calls, if it is an action step.
    pub fn action(&self) -> Option<&ActionCall> {
        match &self.kind {
            StepKind::Action(call) => Some(call),
            StepKind::Approval(_) | StepKind::Call(_) => None,
        }
    }

    /// A short description of what the step does: the action, `approval` or `call`.
    pub fn kind_label(&self) -> String {
        match &self.kind {
            StepKind::Action(call) => call.action.to_string(),
            StepKind::Approval(_) => "approval".to_owned(),
            StepKind::Call(sub) => format!("call {}", sub.runbook),
        }
    }
}

/// What a step does. A closed set the engine interprets itself.
#[derive(Debug, Clone)]
pub enum StepKind {
    Action(ActionCall),
    Approval(Approval),
    Call(SubRunbook),
}

/// A call of a registered action.
#[derive(Debug, Clone)]
pub struct ActionCall {
    pub action: ActionName,
    pub with: ValueTemplate,
    pub span: Span,
}

/// `for_each`: run the step once per item.
#[derive(Debug, Clone)]
pub struct ForEach {
    pub items: ForEachItems,
    /// At most this many items at once; `None` means the global limit.
    pub max_parallel: Option<NonZeroU32>,
}

/// The items of a `for_each`.
#[derive(Debug, Clone)]
pub enum ForEachItems {
    /// Written out in the runbook; items may themselves be templates.
    List(Vec<ValueTemplate>),
    /// An expression that evaluates to a list at run time.
    Expr(Expr),
}

/// `retry`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: NonZeroU32,
    pub backoff: Backoff,
    /// Delay before the second attempt.
    pub initial: Duration,
    /// Cap on the delay between attempts.
    pub max: Option<Duration>,
    /// Which failures are retried.
    pub on: Vec<ErrorClass>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    Constant,
    /// Doubles after each attempt.
    Exponential,
}

/// Classes of failure a retry policy can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Errors the action reports as transient (connection refused, 503, lock busy).
    Retryable,
    /// The step's `timeout` expired.
    Timeout,
    /// Errors the action reports as permanent: retried only when asked for explicitly.
    Permanent,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Permanent => "permanent",
        }
    }
}

/// `verify`: a check that must pass after the step.
#[derive(Debug, Clone)]
pub struct Verify {
    pub call: ActionCall,
    /// `for`: the soak window during which the check must keep passing. It starts when
    /// the action finishes.
    pub soak: Option<Duration>,
    /// `every`: how often the check starts again inside the window.
    pub every: Duration,
}

/// How often a `verify` check runs inside its `for` window unless `every` says otherwise.
pub const DEFAULT_VERIFY_EVERY: Duration = Duration::from_secs(5);

/// What happens on restart when an attempt of this step was interrupted by a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInterrupt {
    /// Run a new attempt (the author vouches that repeating is safe).
    Retry,
    /// Always stop for an operator, even for idempotent actions.
    Pause,
}

/// Markers that the report uses to measure objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// RTO is measured from the start of this step...
    RtoStart,
    /// ...to the end of this one.
    RtoEnd,
    /// This step measures the data lost: its output's `lost_writes` and `lost_seconds`
    /// are the run's RPO.
    Rpo,
}

impl Mark {
    pub const ALL: [Mark; 3] = [Mark::RtoStart, Mark::RtoEnd, Mark::Rpo];

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::RtoStart => "rto_start",
            Mark::RtoEnd => "rto_end",
            Mark::Rpo => "rpo",
        }
    }
}

pub use drctl_core::Approver;

/// What an approval gate does when its timeout expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    Reject,
    Approve,
    /// Ask the next level of `escalate`.
    Escalate,
}

impl OnTimeout {
    pub fn as_str(self) -> &'static str {
        match self {
            OnTimeout::Reject => "reject",
            OnTimeout::Approve => "approve",
            OnTimeout::Escalate => "escalate",
        }
    }
}

/// An approval gate.
#[derive(Debug, Clone)]
pub struct Approval {
    /// Shown to approvers; secrets cannot appear in it.
    pub message: Option<Template>,
    pub approvers: Vec<Approver>,
    /// How many distinct approvals are needed.
    pub min: NonZeroU32,
    /// The approvals must come from members of different groups.
    pub distinct_groups: bool,
    /// Whoever started the run may approve it (four-eyes is the default).
    pub allow_self_approval: bool,
    pub require_comment: bool,
    pub timeout: Option<Duration>,
    pub on_timeout: OnTimeout,
    /// Further approvers asked after each timeout, level by level.
    pub escalate: Vec<Vec<Approver>>,
    /// An approval older than this no longer counts.
    pub expires: Option<Duration>,
}

/// `call`: another runbook run as a sub-run.
#[derive(Debug, Clone)]
pub struct SubRunbook {
    /// Path as written, relative to the calling runbook's file.
    pub runbook: String,
    pub params: IndexMap<ParamName, ValueTemplate>,
}
