//! The rows the store keeps next to the events: the run's status and one row per step
//! item, recomputed from the state for the steps an append touched.

use std::collections::{BTreeSet, HashMap};

use drctl_core::StepId;
use drctl_run::event::{Event, EventKind, PauseReason};
use drctl_run::state::ItemStatus;
use drctl_run::{RunState, RunStatus};
use drctl_store::{Projection, StepRow};

/// What an append touched: for each step, the items named, or `None` for all of them
/// (an event about the whole step, like `items_expanded` or `step_skipped`).
pub(crate) type Touched = HashMap<StepId, Option<BTreeSet<u32>>>;

/// The steps and items named by these events.
pub(crate) fn touched(events: &[Event]) -> Touched {
    let mut out = Touched::new();
    for e in events {
        let Some(step) = e.kind.step() else {
            continue;
        };
        let item = match &e.kind {
            EventKind::AttemptStarted(a) => a.item,
            EventKind::AttemptFinished { item, .. }
            | EventKind::AttemptInterrupted { item, .. }
            | EventKind::Reconciled { item, .. }
            | EventKind::ChildStarted { item, .. }
            | EventKind::OperatorDecision { item, .. }
            | EventKind::StepFailed { item, .. } => *item,
            _ => None,
        };
        let entry = out
            .entry(step.clone())
            .or_insert_with(|| Some(BTreeSet::new()));
        match (item, entry.as_mut()) {
            (Some(i), Some(items)) => {
                items.insert(i);
            }
            _ => *entry = None,
        }
    }
    out
}

/// The status a run's row keeps for the state's.
fn stored_status(status: &RunStatus) -> drctl_store::RunStatus {
    use drctl_run::Outcome;
    use drctl_store::RunStatus as Stored;
    match status {
        RunStatus::Created => Stored::Created,
        RunStatus::WaitingForLock { .. } => Stored::Waiting,
        RunStatus::Running => Stored::Running,
        RunStatus::Paused { .. } => Stored::Paused,
        RunStatus::Finished { outcome } => match outcome {
            Outcome::Succeeded => Stored::Succeeded,
            Outcome::Failed { .. } => Stored::Failed,
            Outcome::Cancelled => Stored::Cancelled,
        },
    }
}

pub(crate) fn projection(state: &RunState, touched: &Touched, all: bool) -> Projection {
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
        status: stored_status(&state.status),
        detail,
        finished_at: state.finished_at,
        rto: state.rto_span(),
        steps: rows(state, &positions(state, touched, all)),
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

/// The positions of the steps whose rows are written, in order, with the items to write
/// (`None`: all): only what was touched, not a walk over every step and item (a run of
/// n steps, or a `for_each` of n items, would cost O(n²)).
fn positions<'t>(
    state: &RunState,
    touched: &'t Touched,
    all: bool,
) -> Vec<(usize, Option<&'t BTreeSet<u32>>)> {
    if all {
        return (0..state.steps.len()).map(|p| (p, None)).collect();
    }
    let mut out: Vec<_> = touched
        .iter()
        .filter_map(|(id, items)| state.steps.get_index_of(id).map(|p| (p, items.as_ref())))
        .collect();
    out.sort_unstable_by_key(|(p, _)| *p);
    out
}

fn rows(state: &RunState, positions: &[(usize, Option<&BTreeSet<u32>>)]) -> Vec<StepRow> {
    let mut out = Vec::new();
    for &(position, only) in positions {
        let Some((id, st)) = state.steps.get_index(position) else {
            continue;
        };
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
        let items: Box<dyn Iterator<Item = usize>> = match only {
            Some(items) if for_each => Box::new(items.iter().map(|&i| i as usize)),
            _ => Box::new(0..st.items.len()),
        };
        for i in items {
            let Some(it) = st.items.get(i) else {
                continue;
            };
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
