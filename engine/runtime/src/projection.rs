//! The rows the store keeps next to the events: the run's status and one row per step
//! item, recomputed from the state for the steps an append touched.

use std::collections::HashSet;

use drctl_core::StepId;
use drctl_run::event::{Event, EventKind, PauseReason};
use drctl_run::state::ItemStatus;
use drctl_run::{RunState, RunStatus};
use drctl_store::{Projection, StepRow};

/// The steps named by these events.
pub(crate) fn touched(events: &[Event]) -> HashSet<StepId> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ItemsExpanded { step, .. }
            | EventKind::StepSkipped { step, .. }
            | EventKind::StepFailed { step, .. }
            | EventKind::AttemptFinished { step, .. }
            | EventKind::AttemptInterrupted { step, .. }
            | EventKind::Reconciled { step, .. }
            | EventKind::ChildStarted { step, .. }
            | EventKind::OperatorDecision { step, .. } => Some(step.clone()),
            EventKind::AttemptStarted(a) => Some(a.step.clone()),
            _ => None,
        })
        .collect()
}

/// The projection after an append; `all` when every step may have changed (a stage
/// change marks steps that will never run).
pub(crate) fn projection(state: &RunState, touched: &HashSet<StepId>, all: bool) -> Projection {
    let detail = match &state.status {
        RunStatus::Paused { reason } => Some(describe_pause(reason)),
        RunStatus::WaitingForLock { lock, held_by } => {
            Some(format!("waiting for lock `{lock}`, held by {held_by}"))
        }
        RunStatus::Finished {
            outcome: drctl_run::Outcome::Failed { reason },
        } => Some(reason.clone()),
        _ => None,
    };
    Projection {
        status: state.status.as_str().to_owned(),
        detail,
        finished_at: state.finished_at,
        steps: rows(state, |id| all || touched.contains(id)),
        release_locks: matches!(state.status, RunStatus::Finished { .. }),
    }
}

/// Why a run paused, for people.
pub fn describe_pause(reason: &PauseReason) -> String {
    match reason {
        PauseReason::Interrupted { step, item, detail } => {
            let which = item.map_or_else(|| format!("`{step}`"), |i| format!("`{step}` item {i}"));
            format!("step {which} was interrupted: {detail}")
        }
        PauseReason::Operator => "paused by an operator".to_owned(),
        PauseReason::Child { step, child } => format!("sub-run {child} of step `{step}` paused"),
    }
}

fn rows(state: &RunState, include: impl Fn(&StepId) -> bool) -> Vec<StepRow> {
    let mut out = Vec::new();
    for (position, (id, st)) in state.steps.iter().enumerate() {
        if !include(id) {
            continue;
        }
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        let for_each = state
            .runbook
            .step(id.as_str())
            .is_some_and(|d| d.for_each.is_some());
        if st.items.is_empty() {
            out.push(StepRow {
                position,
                step: id.to_string(),
                item: None,
                block: st.block.as_str().to_owned(),
                status: st.status.as_str().to_owned(),
                attempts: 0,
                started_at: None,
                finished_at: None,
                output: None,
                error: match &st.status {
                    drctl_run::state::StepStatus::Failed { reason } => Some(reason.clone()),
                    _ => None,
                },
            });
            continue;
        }
        for (i, it) in st.items.iter().enumerate() {
            let status = match (&st.status, &it.status) {
                (drctl_run::state::StepStatus::Pending, ItemStatus::Pending) => "pending",
                _ => it.status.as_str(),
            };
            out.push(StepRow {
                position,
                step: id.to_string(),
                item: for_each.then(|| u32::try_from(i).unwrap_or(u32::MAX)),
                block: st.block.as_str().to_owned(),
                status: status.to_owned(),
                attempts: it.attempts,
                started_at: it.started_at,
                finished_at: it.finished_at,
                output: it.output().cloned(),
                error: match &it.status {
                    ItemStatus::Failed { error } => Some(error.clone()),
                    ItemStatus::Backoff { last_error, .. } => Some(last_error.clone()),
                    ItemStatus::Skipped { reason } => Some(reason.clone()),
                    _ => None,
                },
            });
        }
    }
    out
}
