//! `RunState::apply`: the only place where run and step states change. Pure: no IO, no
//! clock; time comes from the event itself.

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{StepId, Timestamp};
use drctl_runbook::Runbook;
use drctl_runbook::model::{BlockKind, Step, StepKind};
use indexmap::IndexMap;
use serde_json::Value;

use crate::backoff::{retries, retry_delay};
use crate::event::{
    AttemptResult, Decision, Event, EventKind, Outcome, Phase, Reconciliation, Recovery, RunCreated,
};
use crate::state::{
    Compensation, Effect, ItemState, ItemStatus, RunState, RunStatus, Stage, StepState, StepStatus,
};

/// An event that does not fit the state: a bug, or a log that was tampered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("event {index}: the first event must be `run_created`")]
    NotCreated { index: u64 },
    #[error("event {index} ({kind}): unknown step `{step}`")]
    UnknownStep {
        index: u64,
        kind: &'static str,
        step: String,
    },
    #[error("event {index} ({kind}): {message}")]
    Invalid {
        index: u64,
        kind: &'static str,
        message: String,
    },
}

impl TransitionError {
    /// Why, without which event: for a person whose command was refused.
    pub fn reason(&self) -> String {
        match self {
            TransitionError::NotCreated { .. } => "the run has no `run_created` event".into(),
            TransitionError::UnknownStep { step, .. } => format!("unknown step `{step}`"),
            TransitionError::Invalid { message, .. } => message.clone(),
        }
    }
}

impl RunState {
    /// A run from its `run_created` event and the runbook compiled from its pinned source.
    pub fn new(first: &Event, runbook: Arc<Runbook>) -> Result<Self, TransitionError> {
        let EventKind::RunCreated(created) = &first.kind else {
            return Err(TransitionError::NotCreated { index: 0 });
        };
        let mut steps = IndexMap::new();
        for block in runbook.blocks() {
            for step in &block.steps {
                let items = if step.for_each.is_some() {
                    Vec::new()
                } else {
                    vec![ItemState::new(None)]
                };
                steps.insert(
                    step.id.clone(),
                    StepState {
                        block: block.kind,
                        status: StepStatus::Pending,
                        items,
                        expanded: step.for_each.is_none(),
                        skip_order: None,
                    },
                );
            }
        }
        let shape = Arc::new(crate::index::Shape::new(&runbook));
        let index = crate::index::Index::empty(shape.len());
        let mut state = Self {
            id: created.id.clone(),
            created: created.clone(),
            created_at: first.at,
            created_by: first.actor.clone(),
            runbook,
            status: RunStatus::Created,
            stage: Stage::Main,
            steps,
            started_at: None,
            finished_at: None,
            deadline: None,
            lock: None,
            failure: None,
            cancelled: false,
            completed: Vec::new(),
            notices: Vec::new(),
            version: 1,
            shape,
            index,
        };
        state.reindex();
        Ok(state)
    }

    /// Rebuilds a run from its whole log. `compile` turns the pinned source into a runbook.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a Event>,
        compile: impl FnOnce(&RunCreated) -> Result<Arc<Runbook>, String>,
    ) -> Result<Self, TransitionError> {
        let mut events = events.into_iter();
        let first = events
            .next()
            .ok_or(TransitionError::NotCreated { index: 0 })?;
        let EventKind::RunCreated(created) = &first.kind else {
            return Err(TransitionError::NotCreated { index: 0 });
        };
        let runbook = compile(created).map_err(|message| TransitionError::Invalid {
            index: 0,
            kind: "run_created",
            message,
        })?;
        let mut state = Self::new(first, runbook)?;
        for event in events {
            state.apply(event)?;
        }
        Ok(state)
    }

    /// Applies one event and says what the driver must do about it.
    pub fn apply(&mut self, event: &Event) -> Result<Vec<Effect>, TransitionError> {
        let index = self.version;
        let kind = event.kind.name();
        let at = event.at;
        let invalid = |message: String| TransitionError::Invalid {
            index,
            kind,
            message,
        };
        let mut effects = Vec::new();
        match &event.kind {
            EventKind::RunCreated(_) => return Err(invalid("a run is created only once".into())),
            EventKind::LockWaiting { lock, held_by } => {
                self.lock = Some(lock.clone());
                self.status = RunStatus::WaitingForLock {
                    lock: lock.clone(),
                    held_by: held_by.clone(),
                };
            }
            EventKind::LockAcquired { lock } => {
                self.lock = Some(lock.clone());
                self.status = RunStatus::Created;
            }
            EventKind::RunStarted { deadline } => {
                self.status = RunStatus::Running;
                self.started_at = Some(at);
                self.deadline = *deadline;
            }
            EventKind::ItemsExpanded { step, items } => {
                let st = self.step_mut(step, index, kind)?;
                if st.expanded {
                    return Err(invalid(format!("step `{step}` was already expanded")));
                }
                st.items = items
                    .iter()
                    .cloned()
                    .map(|v| ItemState::new(Some(v)))
                    .collect();
                st.expanded = true;
                st.status = if items.is_empty() {
                    StepStatus::Succeeded
                } else {
                    StepStatus::Active
                };
            }
            EventKind::StepSkipped { step, reason } => {
                let st = self.step_mut(step, index, kind)?;
                st.status = StepStatus::Skipped {
                    reason: reason.clone(),
                };
                for item in &mut st.items {
                    item.status = ItemStatus::Skipped {
                        reason: reason.clone(),
                    };
                }
            }
            EventKind::StepFailed {
                step,
                item,
                message,
            } => match item {
                Some(i) => self.fail_item(step, Some(*i), message.clone(), at, index, kind)?,
                None => {
                    let st = self.step_mut(step, index, kind)?;
                    for it in &mut st.items {
                        it.status = ItemStatus::Failed {
                            error: message.clone(),
                        };
                        it.finished_at = Some(at);
                    }
                    st.status = StepStatus::Failed {
                        reason: message.clone(),
                    };
                    self.note_step_failure(step, message);
                }
            },
            EventKind::AttemptStarted(a) => {
                let item = self.item_mut(&a.step, a.item, index, kind)?;
                match a.phase {
                    Phase::Action | Phase::Verify => {
                        if a.phase == Phase::Action {
                            item.attempts = a.attempt;
                        }
                        item.started_at.get_or_insert(at);
                        item.status = match (a.phase, a.wait_until) {
                            (Phase::Action, Some(until)) => ItemStatus::Sleeping {
                                attempt: a.attempt,
                                until,
                            },
                            _ => ItemStatus::Running {
                                phase: a.phase,
                                attempt: a.attempt,
                                since: at,
                                deadline: a.deadline,
                                input: a.input.clone(),
                            },
                        };
                        let step = self.step_mut(&a.step, index, kind)?;
                        step.status = StepStatus::Active;
                    }
                    Phase::Compensate => {
                        item.compensation = Compensation::Running {
                            attempt: a.attempt,
                            input: a.input.clone(),
                        };
                    }
                }
                if a.wait_until.is_none() {
                    effects.push(Effect::Invoke {
                        step: a.step.clone(),
                        item: a.item,
                        phase: a.phase,
                        attempt: a.attempt,
                    });
                }
            }
            EventKind::AttemptFinished {
                step,
                item,
                phase,
                attempt,
                result,
            } => {
                self.expect_running(step, *item, *phase, *attempt, index, kind)?;
                self.finish_attempt(step, *item, *phase, *attempt, result, at, index, kind)?;
            }
            EventKind::AttemptInterrupted {
                step,
                item,
                phase,
                attempt,
                next,
            } => {
                self.expect_running(step, *item, *phase, *attempt, index, kind)?;
                let it = self.item_mut(step, *item, index, kind)?;
                let input = match (&it.status, &it.compensation, phase) {
                    (_, Compensation::Running { input, .. }, Phase::Compensate) => input.clone(),
                    (ItemStatus::Running { input, .. }, _, _) => input.clone(),
                    _ => Value::Null,
                };
                if *phase == Phase::Compensate {
                    it.compensation = Compensation::Interrupted {
                        attempt: *attempt,
                        next: *next,
                        input,
                    };
                } else {
                    it.status = ItemStatus::Interrupted {
                        phase: *phase,
                        attempt: *attempt,
                        next: *next,
                        input,
                    };
                }
                match next {
                    Recovery::Retry => {
                        self.retry_now(step, *item, at, "interrupted by a crash", index, kind)?
                    }
                    Recovery::Reconcile => effects.push(Effect::Reconcile {
                        step: step.clone(),
                        item: *item,
                        phase: *phase,
                        attempt: *attempt,
                    }),
                    Recovery::Pause => {}
                }
            }
            EventKind::Reconciled {
                step,
                item,
                phase,
                attempt,
                observed,
            } => {
                let it = self.item_mut(step, *item, index, kind)?;
                let waiting = matches!(
                    it.status,
                    ItemStatus::Interrupted {
                        next: Recovery::Reconcile,
                        ..
                    }
                ) || matches!(
                    it.compensation,
                    Compensation::Interrupted {
                        next: Recovery::Reconcile,
                        ..
                    }
                );
                if !waiting {
                    return Err(invalid(format!(
                        "step `{step}` is not waiting for reconciliation"
                    )));
                }
                match observed {
                    Reconciliation::Done { output } => {
                        let result = AttemptResult::Succeeded {
                            output: output.clone(),
                        };
                        self.finish_attempt(
                            step, *item, *phase, *attempt, &result, at, index, kind,
                        )?;
                    }
                    Reconciliation::NotDone => {
                        self.retry_now(step, *item, at, "not done before the crash", index, kind)?
                    }
                    Reconciliation::Unknown { .. } => {
                        let it = self.item_mut(step, *item, index, kind)?;
                        if let ItemStatus::Interrupted { next, .. } = &mut it.status {
                            *next = Recovery::Pause;
                        }
                        if let Compensation::Interrupted { next, .. } = &mut it.compensation {
                            *next = Recovery::Pause;
                        }
                    }
                }
            }
            EventKind::ChildStarted { step, item, child } => {
                self.item_mut(step, *item, index, kind)?.child = Some(child.clone());
            }
            EventKind::Paused { reason } => {
                self.status = RunStatus::Paused {
                    reason: reason.clone(),
                };
                effects.push(Effect::Stop);
            }
            // A record for people: the state does not change.
            EventKind::CommandRefused { .. } | EventKind::DeliveryAttached { .. } => {}
            EventKind::Resumed => {
                // A run paused before it started (waiting for its lock) goes back to waiting.
                if matches!(self.status, RunStatus::Paused { .. }) {
                    self.status = if self.started_at.is_some() {
                        RunStatus::Running
                    } else {
                        RunStatus::Created
                    };
                }
            }
            EventKind::OperatorDecision {
                step,
                item,
                decision,
                output,
            } => {
                let decided = Decided {
                    decision: *decision,
                    output: output.as_ref(),
                    actor: &event.actor,
                };
                self.decide_for_operator(step, *item, decided, at, index, kind)?;
            }
            EventKind::CancelRequested { .. } => {
                self.cancelled = true;
                for st in self.steps.values_mut() {
                    for it in &mut st.items {
                        let stuck = matches!(
                            it.status,
                            ItemStatus::Interrupted { .. } | ItemStatus::Sleeping { .. }
                        );
                        if stuck {
                            it.status = ItemStatus::Failed {
                                error: "cancelled".into(),
                            };
                            it.finished_at = Some(at);
                        }
                        if matches!(it.compensation, Compensation::Interrupted { .. }) {
                            it.compensation = Compensation::Failed {
                                error: "cancelled".into(),
                            };
                        }
                    }
                }
                effects.push(Effect::CancelAll);
            }
            EventKind::ApprovalRequested { .. }
            | EventKind::ApprovalDecided { .. }
            | EventKind::ApprovalTimedOut { .. } => {
                self.apply_approval(&event.actor, &event.kind, at, index, kind)?;
            }
            EventKind::TimedOut => {
                let limit = self
                    .runbook
                    .timeout
                    .map(drctl_core::format_duration)
                    .unwrap_or_default();
                self.failure
                    .get_or_insert_with(|| format!("the run's timeout of {limit} expired"));
                effects.push(Effect::CancelAll);
            }
            EventKind::NoticeQueued {
                notice,
                subscription,
                on,
                about,
                ..
            } => {
                if *notice as usize != self.notices.len() {
                    return Err(invalid(format!(
                        "notice {notice} is out of order ({} queued)",
                        self.notices.len()
                    )));
                }
                self.notices.push(crate::notice::Notice {
                    subscription: *subscription,
                    on: *on,
                    about: about.clone(),
                    status: crate::notice::NoticeStatus::Due { attempt: 1, at },
                });
            }
            EventKind::NoticeAttempted {
                notice,
                attempt,
                result,
            } => self
                .apply_notice_attempt(*notice, *attempt, result, at)
                .map_err(invalid)?,
            EventKind::RunFinished { outcome, .. } => {
                self.status = RunStatus::Finished {
                    outcome: outcome.clone(),
                };
                self.finished_at = Some(at);
                effects.push(Effect::Finished);
            }
        }
        self.version += 1;
        match event.kind.step() {
            Some(step) => {
                if let Some(p) = self.steps.get_index_of(step) {
                    self.refresh(p);
                }
            }
            None if matches!(event.kind, EventKind::CancelRequested { .. }) => self.reindex(),
            None => {}
        }
        self.advance_stage();
        self.check_index();
        Ok(effects)
    }

    /// The compiled definition of a step.
    pub fn definition(&self, step: &str) -> Option<&Step> {
        self.runbook.step(step)
    }

    pub(crate) fn step_mut(
        &mut self,
        step: &StepId,
        index: u64,
        kind: &'static str,
    ) -> Result<&mut StepState, TransitionError> {
        self.steps
            .get_mut(step)
            .ok_or_else(|| TransitionError::UnknownStep {
                index,
                kind,
                step: step.to_string(),
            })
    }

    pub(crate) fn item_mut(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        index: u64,
        kind: &'static str,
    ) -> Result<&mut ItemState, TransitionError> {
        let st = self.step_mut(step, index, kind)?;
        let i = item.unwrap_or(0) as usize;
        st.items.get_mut(i).ok_or_else(|| TransitionError::Invalid {
            index,
            kind,
            message: format!("step `{step}` has no item {i}"),
        })
    }

    fn expect_running(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
        index: u64,
        kind: &'static str,
    ) -> Result<(), TransitionError> {
        let it = self.item_mut(step, item, index, kind)?;
        let ok = match phase {
            Phase::Compensate => {
                matches!(it.compensation, Compensation::Running { attempt: a, .. } if a == attempt)
            }
            Phase::Action => matches!(
                it.status,
                ItemStatus::Running { phase: Phase::Action, attempt: a, .. } | ItemStatus::Sleeping { attempt: a, .. } if a == attempt
            ),
            Phase::Verify => {
                matches!(it.status, ItemStatus::Running { phase: Phase::Verify, attempt: a, .. } if a == attempt)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(TransitionError::Invalid {
                index,
                kind,
                message: format!("step `{step}` has no running {phase:?} attempt {attempt}"),
            })
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_attempt(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        phase: Phase,
        attempt: u32,
        result: &AttemptResult,
        at: Timestamp,
        index: u64,
        kind: &'static str,
    ) -> Result<(), TransitionError> {
        let rb = self.runbook.clone();
        let def = rb
            .step(step.as_str())
            .ok_or_else(|| TransitionError::UnknownStep {
                index,
                kind,
                step: step.to_string(),
            })?;
        match (phase, result) {
            (Phase::Action, AttemptResult::Succeeded { output }) => match &def.verify {
                Some(verify) => {
                    let it = self.item_mut(step, item, index, kind)?;
                    it.pending_output = Some(output.clone());
                    // The window starts when the action's change is in place.
                    it.soak_until = verify.soak.map(|window| at.plus(window));
                    it.status = ItemStatus::Verifying {
                        attempt: 0,
                        next_at: at,
                    };
                }
                None => self.succeed_item(step, item, output.clone(), at, index, kind)?,
            },
            (Phase::Action, AttemptResult::Failed { class, message }) => {
                let retry = def.retry.as_ref().filter(|p| retries(p, attempt, *class));
                match retry {
                    Some(policy) => {
                        let it = self.item_mut(step, item, index, kind)?;
                        it.status = ItemStatus::Backoff {
                            attempt,
                            retry_at: at.plus(retry_delay(policy, attempt)),
                            last_error: message.clone(),
                        };
                    }
                    None => self.fail_item(step, item, message.clone(), at, index, kind)?,
                }
            }
            (Phase::Action, AttemptResult::Cancelled) => {
                self.fail_item(step, item, "cancelled".into(), at, index, kind)?
            }
            (Phase::Verify, AttemptResult::Succeeded { .. }) => {
                let every = def.verify.as_ref().map_or(Duration::ZERO, |v| v.every);
                let it = self.item_mut(step, item, index, kind)?;
                let began = match it.status {
                    ItemStatus::Running { since, .. } => since,
                    _ => at,
                };
                match it.soak_until {
                    // A passing check that ends inside the window: the next one starts
                    // `every` after this one began, and the last one exactly at the
                    // window's end, so that the system is seen at the end of the window.
                    Some(until) if at < until => {
                        let next = began.plus(every).min(until).max(at);
                        it.status = ItemStatus::Verifying {
                            attempt,
                            next_at: next,
                        };
                    }
                    _ => {
                        let output = it.pending_output.take().unwrap_or(Value::Null);
                        self.succeed_item(step, item, output, at, index, kind)?;
                    }
                }
            }
            (Phase::Verify, AttemptResult::Failed { message, .. }) => {
                // The action took effect: its compensation undoes it like a completed
                // item's (a canary stage that failed its check is rolled back too).
                self.completed.push((step.clone(), item));
                self.fail_item(
                    step,
                    item,
                    format!("verify failed: {message}"),
                    at,
                    index,
                    kind,
                )?;
            }
            (Phase::Verify, AttemptResult::Cancelled) => {
                self.completed.push((step.clone(), item));
                self.fail_item(step, item, "verify cancelled".into(), at, index, kind)?;
            }
            (Phase::Compensate, result) => {
                let it = self.item_mut(step, item, index, kind)?;
                it.compensation = match result {
                    AttemptResult::Succeeded { .. } => Compensation::Done,
                    AttemptResult::Failed { message, .. } => Compensation::Failed {
                        error: message.clone(),
                    },
                    AttemptResult::Cancelled => Compensation::Failed {
                        error: "cancelled".into(),
                    },
                };
            }
        }
        Ok(())
    }

    pub(crate) fn succeed_item(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        output: Value,
        at: Timestamp,
        index: u64,
        kind: &'static str,
    ) -> Result<(), TransitionError> {
        let it = self.item_mut(step, item, index, kind)?;
        it.status = ItemStatus::Succeeded { output };
        it.finished_at = Some(at);
        it.compensation = Compensation::Pending { attempts: 0 };
        self.completed.push((step.clone(), item));
        Ok(())
    }

    pub(crate) fn fail_item(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        error: String,
        at: Timestamp,
        index: u64,
        kind: &'static str,
    ) -> Result<(), TransitionError> {
        let who = match item {
            Some(i) => format!("step `{step}` (item {i})"),
            None => format!("step `{step}`"),
        };
        let message = format!("{who} failed: {error}");
        let it = self.item_mut(step, item, index, kind)?;
        it.status = ItemStatus::Failed { error };
        it.finished_at = Some(at);
        self.note_step_failure(step, &message);
        Ok(())
    }

    /// A failed step fails the run unless it may (`continue_on_failure`); failures in
    /// `on_failure` and `finally` are recorded on the step and in the outcome at the end.
    fn note_step_failure(&mut self, step: &StepId, message: &str) {
        let (block, continue_on_failure) = match self.runbook.step(step.as_str()) {
            Some(def) => (
                self.steps.get(step).map(|s| s.block),
                def.continue_on_failure,
            ),
            None => (None, false),
        };
        if block == Some(BlockKind::Main) && !continue_on_failure {
            self.failure.get_or_insert_with(|| message.to_owned());
        }
    }

    /// A new attempt as soon as possible (after an interruption, or an operator's retry).
    fn retry_now(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        at: Timestamp,
        why: &str,
        index: u64,
        kind: &'static str,
    ) -> Result<(), TransitionError> {
        let it = self.item_mut(step, item, index, kind)?;
        if let Compensation::Interrupted { attempt, .. } = it.compensation {
            it.compensation = Compensation::Pending { attempts: attempt };
            return Ok(());
        }
        it.status = match &it.status {
            ItemStatus::Interrupted {
                phase: Phase::Verify,
                attempt,
                ..
            } => ItemStatus::Verifying {
                attempt: *attempt,
                next_at: at,
            },
            _ => ItemStatus::Backoff {
                attempt: it.attempts,
                retry_at: at,
                last_error: why.to_owned(),
            },
        };
        Ok(())
    }

    fn decide_for_operator(
        &mut self,
        step: &StepId,
        item: Option<u32>,
        decided: Decided<'_>,
        at: Timestamp,
        index: u64,
        kind: &'static str,
    ) -> Result<(), TransitionError> {
        let Decided {
            decision,
            output,
            actor,
        } = decided;
        let invalid = |message: String| TransitionError::Invalid {
            index,
            kind,
            message,
        };
        if self
            .runbook
            .step(step.as_str())
            .is_some_and(|d| matches!(d.kind, StepKind::Approval(_)))
        {
            return Err(invalid(format!(
                "step `{step}` is an approval gate: only its approvers decide it, with `drctl approve|reject`"
            )));
        }
        let status = self
            .steps
            .get(step)
            .map_or("unknown", |s| s.status.as_str());
        let not_started = self
            .steps
            .get(step)
            .is_some_and(|s| s.status == StepStatus::Pending);
        if let Some(depth) = output
            .map(drctl_core::json::depth)
            .filter(|d| *d > drctl_core::json::MAX_DEPTH)
        {
            return Err(invalid(format!(
                "the output nests {depth} levels deep; at most {} are accepted",
                drctl_core::json::MAX_DEPTH
            )));
        }
        if not_started && decision == Decision::Skip {
            // A standing order, carried out when the step becomes ready (see `decide`).
            if output.is_some() {
                return Err(invalid(format!(
                    "step `{step}` has not started: `--output` says an interrupted step took effect; skip it without"
                )));
            }
            if item.is_some() {
                return Err(invalid(format!(
                    "step `{step}` has not started: it is skipped as a whole, without `--item`"
                )));
            }
            let st = self.step_mut(step, index, kind)?;
            if let Some(order) = &st.skip_order {
                return Err(invalid(format!("step `{step}` is already to be {order}")));
            }
            st.skip_order = Some(format!("skipped by {actor}"));
            return Ok(());
        }
        let it = self.item_mut(step, item, index, kind)?;
        let interrupted = matches!(it.status, ItemStatus::Interrupted { .. });
        let comp_interrupted = matches!(it.compensation, Compensation::Interrupted { .. });
        match decision {
            _ if comp_interrupted => {
                it.compensation = match decision {
                    Decision::Retry => match it.compensation {
                        Compensation::Interrupted { attempt, .. } => {
                            Compensation::Pending { attempts: attempt }
                        }
                        _ => Compensation::Pending { attempts: 0 },
                    },
                    Decision::Skip => Compensation::Done,
                    Decision::Fail => Compensation::Failed {
                        error: format!("failed by {actor}"),
                    },
                };
            }
            Decision::Skip if interrupted && output.is_some() => {
                let output = output.cloned().unwrap_or_default();
                self.succeed_item(step, item, output, at, index, kind)?
            }
            Decision::Retry if interrupted => {
                self.retry_now(step, item, at, &format!("retried by {actor}"), index, kind)?
            }
            Decision::Skip if interrupted => {
                it.status = ItemStatus::Skipped {
                    reason: format!("skipped by {actor}"),
                };
                it.finished_at = Some(at);
            }
            Decision::Fail if interrupted => {
                self.fail_item(step, item, format!("failed by {actor}"), at, index, kind)?
            }
            _ => {
                return Err(TransitionError::Invalid {
                    index,
                    kind,
                    message: format!(
                        "step `{step}` is {status}, not waiting for an operator's decision (retry and fail apply to an interrupted step; skip also to one that has not started)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Moves from block to block as each is done.
    fn advance_stage(&mut self) {
        loop {
            let next = match self.stage {
                Stage::Main if self.block_done(BlockKind::Main, true) => {
                    self.abandon(BlockKind::Main);
                    self.reindex();
                    if self.cancelled || self.failure.is_none() {
                        Stage::Finally
                    } else {
                        Stage::Compensating
                    }
                }
                Stage::Compensating if self.compensation_done() => Stage::OnFailure,
                Stage::OnFailure if self.block_done(BlockKind::OnFailure, true) => {
                    self.abandon(BlockKind::OnFailure);
                    self.reindex();
                    Stage::Finally
                }
                // `finally` always runs to its end, even after a cancel.
                Stage::Finally if self.block_done(BlockKind::Finally, false) => Stage::Done,
                _ => return,
            };
            self.stage = next;
        }
    }

    /// A block is done when all its steps are; the main block (and `on_failure`) also
    /// when the run has failed or is cancelled and nothing of it is in flight.
    fn block_done(&self, block: BlockKind, cut_short: bool) -> bool {
        let range = self.shape.block_range(block);
        if self.index.open.range(range.clone()).next().is_none() {
            return true;
        }
        let stopping =
            cut_short && (self.cancelled || (block == BlockKind::Main && self.failure.is_some()));
        // Stopping: done once no unsettled step of the block has an attempt out.
        stopping
            && !self
                .index
                .busy
                .range(range)
                .any(|p| self.index.open.contains(p))
    }

    /// Steps of a block that will never run are marked so.
    fn abandon(&mut self, block: BlockKind) {
        let reason = if self.cancelled {
            "not run: the run was cancelled"
        } else {
            "not run: the run failed"
        };
        for st in self.steps.values_mut().filter(|s| s.block == block) {
            // A failed `for_each` step is terminal while its later items never started:
            // they are marked too, so that no item of a finished run reads `pending`.
            for it in st.items.iter_mut().filter(|i| !i.is_terminal()) {
                it.status = ItemStatus::Skipped {
                    reason: reason.to_owned(),
                };
            }
            if st.status.is_terminal() {
                continue;
            }
            st.status = StepStatus::Skipped {
                reason: reason.to_owned(),
            };
        }
    }

    fn compensation_done(&self) -> bool {
        self.completed.iter().all(|(step, item)| {
            let has_compensate = self
                .runbook
                .step(step.as_str())
                .is_some_and(|d| d.compensate.is_some());
            let it = self
                .steps
                .get(step)
                .and_then(|s| s.items.get(item.unwrap_or(0) as usize));
            !has_compensate
                || self.cancelled
                || it.is_none_or(|i| {
                    matches!(
                        i.compensation,
                        Compensation::Done | Compensation::Failed { .. }
                    )
                })
        })
    }

    /// The outcome, once everything has run.
    pub fn outcome(&self) -> Outcome {
        if self.cancelled {
            return Outcome::Cancelled;
        }
        if let Some(reason) = &self.failure {
            return Outcome::Failed {
                reason: reason.clone(),
            };
        }
        let cleanup = self
            .steps
            .iter()
            .find_map(|(id, s)| match (&s.status, s.block) {
                (StepStatus::Failed { reason }, BlockKind::OnFailure | BlockKind::Finally) => {
                    let continue_ok = self
                        .runbook
                        .step(id.as_str())
                        .is_some_and(|d| d.continue_on_failure);
                    (!continue_ok).then(|| format!("step `{id}` failed: {reason}"))
                }
                _ => None,
            });
        match cleanup {
            Some(reason) => Outcome::Failed { reason },
            None => Outcome::Succeeded,
        }
    }

    /// Whether a step's kind is a sub-run.
    pub fn is_call(&self, step: &str) -> bool {
        self.runbook
            .step(step)
            .is_some_and(|d| matches!(d.kind, StepKind::Call(_)))
    }
}

/// An operator's decision about a step, as recorded.
#[derive(Clone, Copy)]
struct Decided<'a> {
    decision: Decision,
    output: Option<&'a Value>,
    actor: &'a drctl_core::Actor,
}
