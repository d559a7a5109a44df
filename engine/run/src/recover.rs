//! What a restart does with the attempts that were in flight when drctl died.
//!
//! DESIGN's rule: an interrupted attempt is run again when its action is idempotent or the
//! step says `on_interrupt: retry`; otherwise the action is asked to reconcile (did the
//! call take effect?); an action that cannot tell, or `on_interrupt: pause`, stops the
//! run for an operator. Verify checks are asked the same of their own action. A `call`
//! step is always resumed: its sub-run is durable and picks up where it stopped.

use drctl_core::{ActionCatalog, Reconcile};
use drctl_runbook::model::{OnInterrupt, Step, StepKind};
use serde_json::Value;

use crate::event::{EventKind, PauseReason, Phase, Recovery};
use crate::state::{Compensation, Effect, ItemStatus, RunState};

impl RunState {
    /// The events that settle every attempt left in flight by a process that died.
    /// Only call this while holding the run's lease: nobody else may be running them.
    pub fn recover(&self, catalog: &dyn ActionCatalog) -> Vec<EventKind> {
        let mut out = Vec::new();
        let mut pause = None;
        for (id, st) in &self.steps {
            let Some(def) = self.runbook.step(id.as_str()) else {
                continue;
            };
            for (index, it) in st.items.iter().enumerate() {
                let item = def
                    .for_each
                    .as_ref()
                    .map(|_| u32::try_from(index).unwrap_or(u32::MAX));
                let mut interrupted = |phase: Phase, attempt: u32, input: &Value| {
                    let next = recovery(def, phase, input, catalog);
                    if next == Recovery::Pause && pause.is_none() {
                        pause = Some(PauseReason::Interrupted {
                            step: id.clone(),
                            item,
                            detail: describe(def, phase, catalog),
                        });
                    }
                    out.push(EventKind::AttemptInterrupted {
                        step: id.clone(),
                        item,
                        phase,
                        attempt,
                        next,
                    });
                };
                if let ItemStatus::Running {
                    phase,
                    attempt,
                    input,
                    ..
                } = &it.status
                {
                    interrupted(*phase, *attempt, input);
                }
                if let Compensation::Running { attempt, input } = &it.compensation {
                    interrupted(Phase::Compensate, *attempt, input);
                }
            }
        }
        if let Some(reason) = pause {
            out.push(EventKind::Paused { reason });
        }
        out
    }
}

impl RunState {
    /// Reconciliations asked for and never answered: the process that asked died while
    /// the action was looking. They are asked again (looking is safe to repeat).
    pub fn unanswered_reconciliations(&self) -> Vec<Effect> {
        let mut out = Vec::new();
        for (id, st) in &self.steps {
            let indexed = self
                .runbook
                .step(id.as_str())
                .is_some_and(|d| d.for_each.is_some());
            for (index, it) in st.items.iter().enumerate() {
                let item = indexed.then(|| u32::try_from(index).unwrap_or(u32::MAX));
                let mut ask = |phase: Phase, attempt: u32| {
                    out.push(Effect::Reconcile {
                        step: id.clone(),
                        item,
                        phase,
                        attempt,
                    });
                };
                if let ItemStatus::Interrupted {
                    phase,
                    attempt,
                    next: Recovery::Reconcile,
                    ..
                } = &it.status
                {
                    ask(*phase, *attempt);
                }
                if let Compensation::Interrupted {
                    attempt,
                    next: Recovery::Reconcile,
                    ..
                } = &it.compensation
                {
                    ask(Phase::Compensate, *attempt);
                }
            }
        }
        out
    }
}

/// Retry, reconcile or pause, for one interrupted attempt.
pub fn recovery(def: &Step, phase: Phase, input: &Value, catalog: &dyn ActionCatalog) -> Recovery {
    if phase == Phase::Action && matches!(def.kind, StepKind::Call(_)) {
        return Recovery::Retry;
    }
    if phase == Phase::Action {
        match def.on_interrupt {
            Some(OnInterrupt::Retry) => return Recovery::Retry,
            Some(OnInterrupt::Pause) => return Recovery::Pause,
            None => {}
        }
    }
    let action = match phase {
        Phase::Action => def.action().map(|c| c.action.as_str()),
        Phase::Verify => def.verify.as_ref().map(|v| v.call.action.as_str()),
        Phase::Compensate => def.compensate.as_ref().map(|c| c.action.as_str()),
    };
    let Some(spec) = action.and_then(|a| catalog.spec(a)) else {
        return Recovery::Pause;
    };
    if spec.idempotent {
        return Recovery::Retry;
    }
    match spec.reconcile {
        Reconcile::Supported => Recovery::Reconcile,
        Reconcile::WithCheck if input.get("reconcile").is_some() => Recovery::Reconcile,
        Reconcile::WithCheck | Reconcile::Unsupported => Recovery::Pause,
    }
}

fn describe(def: &Step, phase: Phase, catalog: &dyn ActionCatalog) -> String {
    let action = def
        .action()
        .map(|c| c.action.to_string())
        .unwrap_or_default();
    match (phase, def.on_interrupt) {
        (Phase::Action, Some(OnInterrupt::Pause)) => {
            "the step says `on_interrupt: pause`".to_owned()
        }
        (Phase::Action, _) => match catalog.spec(&action).map(|s| s.reconcile) {
            Some(Reconcile::WithCheck) => {
                format!(
                    "`{action}` is not idempotent and the step gives no `reconcile` check; it may or may not have run"
                )
            }
            _ => format!(
                "`{action}` is not idempotent and cannot tell whether the interrupted call took effect"
            ),
        },
        (Phase::Verify, _) => "its verify check was interrupted".to_owned(),
        (Phase::Compensate, _) => "its compensation was interrupted".to_owned(),
    }
}
