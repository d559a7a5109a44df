//! A run as the console shows it: its state replayed from its events (the engine's own
//! state machine, on the runbook text the run pinned), and what the screens read from
//! it: the DAG's layers, progress, the RTO clock, the gates waiting, each step's
//! attempts.

use drctl_core::{ActionCatalog, RtoSpan, StepId, Timestamp};
use drctl_run::event::{AttemptResult, EventKind, Phase};
use drctl_run::{Event, RunState};
use serde_json::Value;
use std::collections::HashMap;

/// One attempt of a step (one item, one phase).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub item: Option<u32>,
    pub phase: &'static str,
    pub attempt: u32,
    pub started: Timestamp,
    pub finished: Option<Timestamp>,
    /// `ok`, `failed: why`, `cancelled`, or `None` while it runs.
    pub result: Option<String>,
    /// The inputs as rendered, secrets masked.
    pub input: Value,
    pub output: Option<Value>,
}

/// See the module doc. Built once per load, off the screen's path: rendering only reads
/// it (a frame of a 2,000-step run must take milliseconds).
#[derive(Debug, Clone)]
pub struct RunModel {
    pub state: RunState,
    pub events: Vec<Event>,
    /// Each step's attempts, oldest first.
    attempts: HashMap<StepId, Vec<Attempt>>,
    /// The steps in screen order, with their block and layer.
    order: Vec<(usize, &'static str, StepId)>,
}

impl RunModel {
    /// Replays `events` (the whole log, in order) on the runbook the first one pinned.
    pub fn build(events: Vec<Event>, catalog: &dyn ActionCatalog) -> Result<Self, String> {
        let state = RunState::replay(&events, |created| {
            drctl_run::pinned::compile_pinned(created, catalog).map_err(|e| e.to_string())
        })
        .map_err(|e| e.reason())?;
        let attempts = index_attempts(&events);
        let mut order = Vec::new();
        let mut layer = 0;
        for block in state.runbook.blocks() {
            for ids in &block.layers {
                layer += 1;
                for i in ids {
                    order.push((layer, block.kind.as_str(), block.steps[*i].id.clone()));
                }
            }
        }
        Ok(Self {
            state,
            events,
            attempts,
            order,
        })
    }

    /// The steps in screen order: (layer, block, step).
    pub fn order(&self) -> &[(usize, &'static str, StepId)] {
        &self.order
    }

    /// A step's status as the state machine has it: its item's for a plain step
    /// (`awaiting approval`, `retrying`, `interrupted`, ...), else the step's.
    pub fn status(&self, step: &StepId) -> &'static str {
        match self.state.steps.get(step) {
            None => "pending",
            Some(s) if s.items.len() == 1 => s.items[0].status.as_str(),
            Some(s) => s.status.as_str(),
        }
    }

    /// Steps done (in a final state) and steps in all.
    pub fn progress(&self) -> (usize, usize) {
        let done = self
            .state
            .steps
            .values()
            .filter(|s| s.status.is_terminal())
            .count();
        (done, self.state.steps.len())
    }

    /// The attempts of `step`, oldest first.
    pub fn attempts(&self, step: &StepId) -> &[Attempt] {
        self.attempts.get(step).map_or(&[], Vec::as_slice)
    }

    /// The steps that are approval gates waiting for a decision.
    pub fn gates_waiting(&self) -> Vec<&StepId> {
        self.state
            .steps
            .iter()
            .filter(|(_, s)| {
                s.items
                    .iter()
                    .any(|i| i.status.as_str() == "awaiting approval")
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// The newest failure: the run's, else the last failed attempt's.
    pub fn last_error(&self) -> Option<String> {
        if let Some(f) = &self.state.failure {
            return Some(f.clone());
        }
        self.events.iter().rev().find_map(|e| match &e.kind {
            EventKind::AttemptFinished {
                step,
                result: AttemptResult::Failed { message, .. },
                ..
            } => Some(format!("{step}: {message}")),
            EventKind::StepFailed { step, message, .. } => Some(format!("{step}: {message}")),
            _ => None,
        })
    }

    /// The RTO clock, as the run's row keeps it (see `RunState::rto_span`).
    pub fn rto(&self) -> Option<RtoSpan> {
        self.state.rto_span()
    }

    /// Locks the run holds.
    pub fn locks(&self) -> Vec<String> {
        self.state.lock.iter().cloned().collect()
    }
}

/// Every step's attempts, in one pass over the log.
fn index_attempts(events: &[Event]) -> HashMap<StepId, Vec<Attempt>> {
    let mut out: HashMap<StepId, Vec<Attempt>> = HashMap::new();
    for e in events {
        match &e.kind {
            EventKind::AttemptStarted(a) => out.entry(a.step.clone()).or_default().push(Attempt {
                item: a.item,
                phase: match a.phase {
                    Phase::Action => "action",
                    Phase::Verify => "verify",
                    Phase::Compensate => "compensate",
                },
                attempt: a.attempt,
                started: e.at,
                finished: None,
                result: None,
                input: a.input.clone(),
                output: None,
            }),
            EventKind::AttemptFinished {
                step,
                item,
                attempt,
                result,
                ..
            } => {
                if let Some(a) = out.get_mut(step).and_then(|all| {
                    all.iter_mut()
                        .rev()
                        .find(|a| a.item == *item && a.attempt == *attempt)
                }) {
                    a.finished = Some(e.at);
                    let (said, output) = match result {
                        AttemptResult::Succeeded { output } => ("ok".into(), Some(output)),
                        AttemptResult::Failed { message, .. } => {
                            (format!("failed: {message}"), None)
                        }
                        AttemptResult::Cancelled => ("cancelled".into(), None),
                    };
                    a.result = Some(said);
                    a.output = output.cloned();
                }
            }
            _ => {}
        }
    }
    out
}
