//! Operator commands, left in a run's inbox for whoever drives it.

use drctl_core::StepId;
use drctl_run::event::{Decision, EventKind, Verdict};
use serde::{Deserialize, Serialize};

use crate::secrets::Scrubber;

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

impl OperatorCommand {
    /// The command with the secret values in what the operator wrote masked.
    pub fn masked(self, scrubber: &Scrubber) -> Self {
        match self {
            OperatorCommand::Cancel { reason } => OperatorCommand::Cancel {
                reason: scrubber.text(&reason),
            },
            OperatorCommand::Step {
                step,
                item,
                decision,
                mut output,
            } => {
                if let Some(o) = output.as_mut() {
                    scrubber.value(o);
                }
                OperatorCommand::Step {
                    step,
                    item,
                    decision,
                    output,
                }
            }
            OperatorCommand::Approval {
                step,
                verdict,
                comment,
                on_behalf_of,
            } => OperatorCommand::Approval {
                step,
                verdict,
                comment: scrubber.text(&comment),
                on_behalf_of,
            },
        }
    }

    /// The event that records it in the run's log.
    pub fn event(&self) -> EventKind {
        match self.clone() {
            OperatorCommand::Cancel { reason } => EventKind::CancelRequested { reason },
            OperatorCommand::Step {
                step,
                item,
                decision,
                output,
            } => EventKind::OperatorDecision {
                step,
                item,
                decision,
                output,
            },
            OperatorCommand::Approval {
                step,
                verdict,
                comment,
                on_behalf_of,
            } => EventKind::ApprovalDecided {
                step,
                verdict,
                comment,
                on_behalf_of,
            },
        }
    }

    /// What was asked, as a person would say it: `skip step deploy`, `approve gate`.
    pub fn describe(&self) -> String {
        match self {
            OperatorCommand::Cancel { .. } => "cancel the run".to_owned(),
            OperatorCommand::Step {
                step,
                item,
                decision,
                ..
            } => {
                let item = item.map(|i| format!(" item {i}")).unwrap_or_default();
                format!("{} step {step}{item}", decision.as_str())
            }
            OperatorCommand::Approval { step, verdict, .. } => {
                let verb = match verdict {
                    Verdict::Approve => "approve",
                    Verdict::Reject => "reject",
                };
                format!("{verb} {step}")
            }
        }
    }
}
