//! Operator commands, left in a run's inbox for whoever drives it.

use drctl_core::StepId;
use drctl_run::event::{Decision, Verdict};
use serde::{Deserialize, Serialize};

/// What an operator asks of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum OperatorCommand {
    Cancel {
        reason: String,
    },
    Step {
        step: StepId,
        item: Option<u32>,
        decision: Decision,
        /// See `EventKind::OperatorDecision`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<serde_json::Value>,
    },
    /// An approver's decision on an approval step (`drctl approve|reject`).
    Approval {
        step: StepId,
        verdict: Verdict,
        comment: String,
        /// See `EventKind::ApprovalDecided`.
        on_behalf_of: Vec<String>,
    },
}
