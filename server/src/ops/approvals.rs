//! Approval gates: which wait, who may decide, and a decision as a command.
//!
//! A decision is checked against the run now (entitled, four-eyes, comment, still
//! waiting) so that a refusal is immediate, then left in the run's inbox at the version
//! it was checked against; the run's driver records it before anything else, so no
//! timeout or other decision can slip in between.

use drctl_core::{Actor, Approver, StepId, Timestamp};
use drctl_engine::OperatorCommand;
use drctl_engine::{Engine, EngineError};
use drctl_run::RunState;
use drctl_run::approval::{check_decision, entries_for};
use drctl_run::event::Verdict;
use drctl_run::state::ItemStatus;
use drctl_runbook::model::StepKind;
use drctl_store::{RunFilter, RunReader, StoreError};

use crate::views::Gate;

/// A gate waiting in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub step: StepId,
    /// The approvers the runbook names (people and `group:` entries).
    pub approvers: Vec<Approver>,
    /// Approvals given so far.
    pub given: usize,
    /// Approvals needed.
    pub min: u32,
    /// When the gate times out, if it does.
    pub deadline: Option<Timestamp>,
}

/// Every gate of the run that waits for a decision.
pub fn waiting(state: &RunState) -> Vec<Waiting> {
    state
        .steps
        .iter()
        .filter_map(|(id, st)| {
            let it = st.items.first()?;
            let ItemStatus::Awaiting {
                approvers,
                deadline,
                approvals,
                ..
            } = &it.status
            else {
                return None;
            };
            let min = match &state.definition(id.as_str())?.kind {
                StepKind::Approval(a) => a.min.get(),
                _ => return None,
            };
            Some(Waiting {
                step: id.clone(),
                approvers: approvers.clone(),
                given: approvals.len(),
                min,
                deadline: *deadline,
            })
        })
        .collect()
}

/// Who may decide the gate `step` now (none if it is not waiting).
pub fn approvers_of(state: &RunState, step: &StepId) -> Vec<Approver> {
    waiting(state)
        .into_iter()
        .find(|w| w.step == *step)
        .map(|w| w.approvers)
        .unwrap_or_default()
}

/// Whether `me` (in `groups`) may give this verdict on the gate at `now`: entitled,
/// four-eyes, a comment where one is required, the gate still waiting.
pub fn may_decide(
    state: &RunState,
    step: &StepId,
    (me, groups): (&Actor, &[String]),
    verdict: Verdict,
    comment: &str,
    now: Timestamp,
) -> Result<(), String> {
    let mine = entries_for(&approvers_of(state, step), me, groups);
    check_decision(state, step, me, verdict, comment, &mine, now)
}

/// The decision as the command a run's driver records: on behalf of every approver
/// entry `me` stands for.
pub fn decision(
    state: &RunState,
    step: &StepId,
    (me, groups): (&Actor, &[String]),
    verdict: Verdict,
    comment: &str,
) -> OperatorCommand {
    OperatorCommand::Approval {
        step: step.clone(),
        verdict,
        comment: comment.to_owned(),
        on_behalf_of: entries_for(&approvers_of(state, step), me, groups),
    }
}

/// Every gate waiting for a decision in the unfinished runs, and whether `me` (in
/// `groups`) may approve it at `now`: what `drctl approvals`, the API and the console
/// list.
pub async fn gates(
    engine: &Engine,
    store: &dyn RunReader,
    (me, groups): (&Actor, &[String]),
    now: Timestamp,
) -> Result<Vec<Gate>, GatesError> {
    let rows = store
        .list_runs(&RunFilter {
            limit: 10_000,
            ..RunFilter::default()
        })
        .await?;
    let mut gates = Vec::new();
    for row in rows.iter().filter(|r| !r.is_finished()) {
        let state = engine.state(&row.id).await?;
        for w in waiting(&state) {
            let check = may_decide(&state, &w.step, (me, groups), Verdict::Approve, "-", now);
            gates.push(Gate {
                run: row.id.clone(),
                runbook: row.runbook.clone(),
                step: w.step,
                approvers: w.approvers,
                given: w.given,
                min: w.min,
                deadline: w.deadline,
                may_decide: check.is_ok(),
                why_not: check.err(),
            });
        }
    }
    Ok(gates)
}

/// Why the gates could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum GatesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}
