//! What the API answers and the CLI and the console render: runs, steps, gates and the
//! result of a command, as plain data. The API serializes them; `drctl --server` and
//! the console deserialize the same types, and the local CLI builds them with the same
//! functions ([`crate::ops::runs`]), so every front end shows the same thing.

use drctl_core::{Actor, Approver, RunId, StepId, Timestamp};
use drctl_engine::liveness::{INTERRUPTED, interrupted};
use drctl_store::{RunRow, RunStatus, StepRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A run. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    #[schema(value_type = String)]
    pub id: RunId,
    pub runbook: String,
    pub file: String,
    /// The SHA-256 of the runbook's text the run was started from.
    pub digest: String,
    /// As stored, or `interrupted` when the row says driven and nobody drives it.
    pub status: StatusArg,
    /// Why it is paused or failed.
    pub detail: Option<String>,
    /// Why nobody drives it, when `status` is `interrupted`.
    pub interrupted: Option<String>,
    #[schema(value_type = String)]
    pub actor: Actor,
    #[schema(value_type = Option<String>)]
    pub parent: Option<RunId>,
    /// The step of the parent run that started this sub-run.
    pub parent_step: Option<String>,
    #[schema(value_type = i64)]
    pub created_at: Timestamp,
    #[schema(value_type = i64)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Timestamp>,
    /// Number of events.
    pub version: u64,
    /// A drill, not a real incident.
    pub drill: bool,
    /// What started it: `manual`, `api`, `schedule:<name>`, `webhook:<name>`, `call from
    /// <run>`.
    pub trigger: String,
    /// Its RTO clock, when the runbook asks for one and it has started.
    #[schema(value_type = Option<RtoClock>)]
    pub rto: Option<drctl_core::RtoSpan>,
}

/// A run's RTO clock (the API's schema of `drctl_core::RtoSpan`): from the first start of
/// a step marked `rto_start` (else the run's start) to the first success of a step marked
/// `rto_end` (else the run's end).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RtoClock {
    /// Milliseconds since the epoch.
    started_at: i64,
    /// `null` while the clock runs.
    ended_at: Option<i64>,
    /// The runbook's `objectives.rto`.
    objective_ms: Option<u64>,
    /// Stopped by a step marked `rto_end` that succeeded (the report's figure); false
    /// while it runs, and when the run ended without one (nothing was measured).
    measured: bool,
}

impl RunView {
    /// The run as shown at `now` (whether it is interrupted depends on its lease).
    pub fn of(row: RunRow, now: Timestamp) -> Self {
        let why = interrupted(&row, now);
        Self {
            status: if why.is_some() {
                StatusArg::Interrupted
            } else {
                StatusArg::from(row.status)
            },
            interrupted: why,
            id: row.id,
            runbook: row.runbook,
            file: row.source_name,
            digest: row.digest,
            detail: row.detail,
            actor: row.actor,
            parent: row.parent,
            parent_step: row.parent_step,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
            version: row.version,
            drill: row.drill,
            trigger: row.trigger.to_string(),
            rto: row.rto,
        }
    }

    /// Whether the run has ended for good.
    pub fn is_finished(&self) -> bool {
        self.status.stored().is_some_and(RunStatus::is_finished)
    }
}

/// One step (one item of a `for_each` step).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    pub step: String,
    /// The `for_each` index.
    pub item: Option<u32>,
    /// `main`, `on_failure` or `finally`.
    pub block: String,
    pub status: String,
    pub attempts: u32,
    #[schema(value_type = Option<i64>)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Timestamp>,
    #[schema(value_type = Option<Value>)]
    pub output: Option<Value>,
    pub error: Option<String>,
}

impl StepView {
    pub fn of(row: StepRow) -> Self {
        Self {
            step: row.step,
            item: row.item,
            block: row.block,
            status: row.status,
            attempts: row.attempts,
            started_at: row.started_at,
            finished_at: row.finished_at,
            output: row.output,
            error: row.error,
        }
    }
}

/// What a run's shown status may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusArg {
    Created,
    Waiting,
    Running,
    /// The row says running or waiting, and nobody drives the run.
    Interrupted,
    Paused,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<RunStatus> for StatusArg {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Created => StatusArg::Created,
            RunStatus::Waiting => StatusArg::Waiting,
            RunStatus::Running => StatusArg::Running,
            RunStatus::Paused => StatusArg::Paused,
            RunStatus::Succeeded => StatusArg::Succeeded,
            RunStatus::Failed => StatusArg::Failed,
            RunStatus::Cancelled => StatusArg::Cancelled,
        }
    }
}

impl std::fmt::Display for StatusArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StatusArg {
    /// The stored status this one is, if it is one (`interrupted` is not stored).
    pub fn stored(self) -> Option<RunStatus> {
        match self {
            StatusArg::Created => Some(RunStatus::Created),
            StatusArg::Waiting => Some(RunStatus::Waiting),
            StatusArg::Running => Some(RunStatus::Running),
            StatusArg::Interrupted => None,
            StatusArg::Paused => Some(RunStatus::Paused),
            StatusArg::Succeeded => Some(RunStatus::Succeeded),
            StatusArg::Failed => Some(RunStatus::Failed),
            StatusArg::Cancelled => Some(RunStatus::Cancelled),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusArg::Created => "created",
            StatusArg::Waiting => "waiting",
            StatusArg::Running => "running",
            StatusArg::Interrupted => INTERRUPTED,
            StatusArg::Paused => "paused",
            StatusArg::Succeeded => "succeeded",
            StatusArg::Failed => "failed",
            StatusArg::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
    /// When the list was cut at its limit: the `cursor` that lists the runs after it.
    #[serde(default)]
    pub next: Option<String>,
}

/// A run, its steps, and its sub-runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunDetail {
    pub run: RunView,
    pub steps: Vec<StepView>,
    pub children: Vec<RunView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Started {
    #[schema(value_type = String)]
    pub id: RunId,
    pub runbook: String,
}

/// What became of a command sent to a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CommandResult {
    #[schema(value_type = String)]
    pub run: RunId,
    /// `applied` (recorded by the run's driver) or `stored` (applied by the run's next
    /// driver before anything else).
    pub outcome: String,
    pub driver: Option<String>,
    /// Who it was recorded as: the identity of the caller's token.
    #[schema(value_type = String)]
    pub actor: Actor,
    /// For a gate's decision: the approver entries it counts as (`alice`, `group:dba`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub counts_as: Vec<Approver>,
}

/// A gate waiting for a decision. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Gate {
    #[schema(value_type = String)]
    pub run: RunId,
    pub runbook: String,
    #[schema(value_type = String)]
    pub step: StepId,
    #[schema(value_type = Vec<String>)]
    pub approvers: Vec<Approver>,
    pub given: usize,
    pub min: u32,
    #[schema(value_type = Option<i64>)]
    pub deadline: Option<Timestamp>,
    /// Whether the caller may approve it now, and if not, why.
    pub may_decide: bool,
    pub why_not: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Gates {
    pub approvals: Vec<Gate>,
}
