//! `RunState::decide`: given the state and the time, which events should happen now.
//! Pure: it renders templates and checks schemas but changes nothing; the driver appends
//! the events, applies them, and acts on the effects.

use drctl_core::schema::{check_object, coerce_to_schema};
use drctl_core::{ActionCatalog, StepId, Timestamp, parse_duration};
use drctl_runbook::model::{ActionCall, BlockKind, ForEachItems, Step, StepKind};
use drctl_runbook::template::TemplateEnv;
use drctl_runbook::template::render::{Secrets, render_value, to_json};
use serde_json::{Map, Value, json};

use crate::context::Scope;
use crate::event::{AttemptResult, AttemptStarted, EventKind, Phase};
use crate::state::{Compensation, ItemStatus, RunState, RunStatus, Stage, StepStatus};

/// What `decide` needs besides the state.
#[derive(Clone, Copy)]
pub struct DecideCtx<'a> {
    pub env: &'a TemplateEnv,
    pub catalog: &'a dyn ActionCatalog,
    /// How many attempts may be in flight at once across the run.
    pub max_parallel: usize,
}

impl std::fmt::Debug for DecideCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecideCtx")
            .field("max_parallel", &self.max_parallel)
            .finish_non_exhaustive()
    }
}

/// The name of the engine-native sleep: its end is a stored deadline, no task runs.
pub const SLEEP: &str = "sleep";

enum Needs {
    Ready,
    Waiting,
    Blocked(StepId),
}

impl RunState {
    /// The events that should happen at `now`. Applying them and calling again makes
    /// progress; an empty list means "wait for an attempt to finish or for `next_wake`".
    pub fn decide(&self, now: Timestamp, cx: &DecideCtx<'_>) -> Vec<EventKind> {
        if self.status != RunStatus::Running {
            return Vec::new();
        }
        let timed_out = self.deadline.is_some_and(|d| now >= d);
        if timed_out && self.stage == Stage::Main && self.failure.is_none() && !self.cancelled {
            return vec![EventKind::TimedOut];
        }
        let notices = self.notices_to_queue(now, cx);
        if !notices.is_empty() {
            return notices;
        }
        match self.stage {
            // Every notice is settled before the run ends, `run_finished` included.
            Stage::Done if self.notices_pending() => Vec::new(),
            Stage::Done => vec![EventKind::RunFinished {
                outcome: self.outcome(),
                measured: self.measured(),
            }],
            Stage::Compensating => self.decide_compensation(now, cx).into_iter().collect(),
            Stage::Main => self.decide_block(BlockKind::Main, now, cx),
            Stage::OnFailure => self.decide_block(BlockKind::OnFailure, now, cx),
            Stage::Finally => self.decide_block(BlockKind::Finally, now, cx),
        }
    }

    /// The earliest time at which `decide` may have something new to say without any
    /// attempt finishing: a retry, the end of a sleep, a verify, the run's timeout.
    /// Deadlines of running attempts are not included: whoever runs an attempt enforces
    /// its deadline (the driver cancels the task), and a passed deadline stays passed until
    /// the attempt ends, so reporting it would make a waiter spin.
    pub fn next_wake(&self) -> Option<Timestamp> {
        let mut times: Vec<Timestamp> = Vec::new();
        for (_, st) in self.active_steps() {
            for it in &st.items {
                match &it.status {
                    ItemStatus::Backoff { retry_at, .. } => times.push(*retry_at),
                    ItemStatus::Sleeping { until, .. } => times.push(*until),
                    ItemStatus::Verifying { next_at, .. } => times.push(*next_at),
                    ItemStatus::Awaiting {
                        deadline: Some(d), ..
                    } => times.push(*d),
                    _ => {}
                }
            }
        }
        if self.stage == Stage::Main && self.failure.is_none() {
            times.extend(self.deadline);
        }
        times.extend(self.rto_deadline());
        times.into_iter().min()
    }

    /// A gate waits for people (with no deadline, nothing else may ever wake the run:
    /// only a decision, which arrives through the inbox).
    pub fn awaits_people(&self) -> bool {
        self.active_steps()
            .flat_map(|(_, s)| &s.items)
            .any(|i| matches!(i.status, ItemStatus::Awaiting { .. }))
    }

    /// Attempts in flight across the run.
    pub fn in_flight(&self) -> usize {
        self.busy_steps()
            .flat_map(|(_, s)| &s.items)
            .filter(|i| i.in_flight())
            .count()
    }

    /// The steps of `block` that `decide` may have something to say about, in file
    /// order: every active step, every ready step that acts without a slot, and as many
    /// of the other ready steps as there are free slots (`free`), first in file order.
    /// Any other step waits for its `needs` or is settled.
    fn candidates(&self, block: BlockKind, free: usize) -> Vec<usize> {
        let range = self.shape.block_range(block);
        let index = &self.index;
        let mut out: Vec<usize> = index.active.range(range.clone()).copied().collect();
        out.extend(index.gated.range(range.clone()).copied());
        out.extend(
            index
                .ready
                .range(range)
                .filter(|p| !index.gated.contains(p))
                .take(free)
                .copied(),
        );
        out.sort_unstable();
        out
    }

    fn decide_block(&self, block: BlockKind, now: Timestamp, cx: &DecideCtx<'_>) -> Vec<EventKind> {
        let mut out = Vec::new();
        let stopping = block != BlockKind::Finally
            && (self.cancelled || (block == BlockKind::Main && self.failure.is_some()));
        let mut running = self.in_flight();
        let runbook = self.runbook.clone();
        for p in self.candidates(block, cx.max_parallel.saturating_sub(running)) {
            let def = self.shape.def(&runbook, p);
            let Some((_, st)) = self.steps.get_index(p) else {
                continue;
            };
            match &st.status {
                StepStatus::Pending => {
                    if stopping {
                        continue;
                    }
                    match self.needs(p) {
                        Needs::Waiting => continue,
                        Needs::Blocked(need) => {
                            if block != BlockKind::Main {
                                out.push(EventKind::StepSkipped {
                                    step: def.id.clone(),
                                    reason: format!("not run: it needs `{need}`, which failed"),
                                });
                            }
                            continue;
                        }
                        Needs::Ready => {}
                    }
                    if let Some(reason) = &st.skip_order {
                        out.push(EventKind::StepSkipped {
                            step: def.id.clone(),
                            reason: reason.clone(),
                        });
                        continue;
                    }
                    if let Some(event) = self.gate(def, now, cx) {
                        out.push(event);
                        continue;
                    }
                }
                StepStatus::Active => {}
                StepStatus::Succeeded | StepStatus::Failed { .. } | StepStatus::Skipped { .. } => {
                    continue;
                }
            }
            if stopping {
                continue;
            }
            let step_failed = st
                .items
                .iter()
                .any(|i| matches!(i.status, ItemStatus::Failed { .. }));
            let step_limit = def
                .for_each
                .as_ref()
                .and_then(|f| f.max_parallel)
                .map_or(usize::MAX, |n| n.get() as usize);
            // An item holds its `max_parallel` slot from its first attempt until it has
            // succeeded: retries, the verify window and an interruption included, so the
            // next stage of a gradual rollout starts only once this one has held.
            let mut step_holding = st.items.iter().filter(|i| i.holds_slot()).count();
            for (index, it) in st.items.iter().enumerate() {
                let item = def
                    .for_each
                    .as_ref()
                    .map(|_| u32::try_from(index).unwrap_or(u32::MAX));
                let has_room = running < cx.max_parallel;
                let event = match &it.status {
                    ItemStatus::Pending
                        if has_room && step_holding < step_limit && !step_failed =>
                    {
                        step_holding += 1;
                        Some(self.start_action(def, item, 1, now, cx))
                    }
                    ItemStatus::Backoff {
                        attempt, retry_at, ..
                    } if *retry_at <= now && has_room && !step_failed => {
                        Some(self.start_action(def, item, attempt + 1, now, cx))
                    }
                    ItemStatus::Sleeping { attempt, until } if *until <= now => {
                        Some(EventKind::AttemptFinished {
                            step: def.id.clone(),
                            item,
                            phase: Phase::Action,
                            attempt: *attempt,
                            result: AttemptResult::Succeeded {
                                output: json!({ "slept_until": until.to_rfc3339() }),
                            },
                        })
                    }
                    ItemStatus::Verifying { attempt, next_at } if *next_at <= now && has_room => {
                        Some(self.start_verify(def, item, attempt + 1, now, cx))
                    }
                    ItemStatus::Awaiting {
                        level,
                        message,
                        deadline: Some(deadline),
                        ..
                    } if *deadline <= now => {
                        if let StepKind::Approval(a) = &def.kind {
                            let message = message.clone();
                            out.extend(Self::approval_timeout(def, a, *level, message, now));
                        }
                        None
                    }
                    _ => None,
                };
                if let Some(event) = event {
                    if matches!(&event, EventKind::AttemptStarted(a) if a.wait_until.is_none()) {
                        running += 1;
                    }
                    out.push(event);
                }
            }
        }
        out
    }

    /// Whether the `needs` of the step at `position` let it start.
    fn needs(&self, position: usize) -> Needs {
        for &n in self.shape.needs(position) {
            let Some((need, st)) = self.steps.get_index(n) else {
                continue;
            };
            match &st.status {
                StepStatus::Succeeded | StepStatus::Skipped { .. } => {}
                StepStatus::Failed { .. } => {
                    let tolerated = self.shape.def(&self.runbook, n).continue_on_failure;
                    if !tolerated {
                        return Needs::Blocked(need.clone());
                    }
                }
                StepStatus::Pending | StepStatus::Active => return Needs::Waiting,
            }
        }
        Needs::Ready
    }

    /// What a ready step does before its items start: skip on a false `when`, pin its
    /// `for_each` items, or fail when either cannot be evaluated.
    fn gate(&self, def: &Step, now: Timestamp, cx: &DecideCtx<'_>) -> Option<EventKind> {
        let fail = |message: String| EventKind::StepFailed {
            step: def.id.clone(),
            item: None,
            message,
        };
        if let Some(when) = &def.when {
            let ctx = self.context(now, &when.refs, Secrets::Masked(&[]), Scope::default());
            match cx.env.eval(&when.source, &ctx) {
                Ok(v) if v.is_true() => {}
                Ok(_) => {
                    return Some(EventKind::StepSkipped {
                        step: def.id.clone(),
                        reason: format!("`when: {}` is false", when.source.trim()),
                    });
                }
                Err(e) => return Some(fail(format!("`when` could not be evaluated: {e}"))),
            }
        }
        if let StepKind::Approval(a) = &def.kind {
            return Some(self.request_approval(def, a, now, cx));
        }
        let st = self.steps.get(&def.id)?;
        let for_each = def.for_each.as_ref().filter(|_| !st.expanded)?;
        let items = match &for_each.items {
            ForEachItems::List(list) => list
                .iter()
                .map(|v| {
                    let ctx = self.context(now, v.refs(), Secrets::Masked(&[]), Scope::default());
                    render_value(cx.env, v, &ctx).map_err(|e| e.message)
                })
                .collect::<Result<Vec<_>, _>>(),
            ForEachItems::Expr(e) => {
                let ctx = self.context(now, &e.refs, Secrets::Masked(&[]), Scope::default());
                cx.env
                    .eval(&e.source, &ctx)
                    .map_err(|err| err.message)
                    .and_then(|v| to_json(&v))
                    .and_then(|v| match v {
                        Value::Array(items) => Ok(items),
                        other => Err(format!("`for_each` must give a list, got {other}")),
                    })
            }
        };
        Some(match items {
            Ok(items) => EventKind::ItemsExpanded {
                step: def.id.clone(),
                items,
            },
            Err(message) => fail(format!("`for_each` could not be evaluated: {message}")),
        })
    }

    fn start_action(
        &self,
        def: &Step,
        item: Option<u32>,
        attempt: u32,
        now: Timestamp,
        cx: &DecideCtx<'_>,
    ) -> EventKind {
        let scope = Scope {
            item: self.item_value(&def.id, item),
            own: None,
        };
        let rendered = match &def.kind {
            StepKind::Action(call) => self.render_call(call, now, scope, cx),
            StepKind::Call(sub) => {
                let mut params = Map::new();
                let mut error = None;
                for (name, v) in &sub.params {
                    let ctx = self.context(now, v.refs(), Secrets::Masked(&[]), scope);
                    match render_value(cx.env, v, &ctx) {
                        Ok(value) => {
                            params.insert(name.to_string(), value);
                        }
                        Err(e) => {
                            error = Some(format!("param `{name}` of the sub-run: {}", e.message))
                        }
                    }
                }
                match error {
                    Some(e) => Err(e),
                    None => Ok(json!({ "runbook": sub.runbook, "params": params })),
                }
            }
            StepKind::Approval(_) => Err("an approval step has no attempts".into()),
        };
        let input = match rendered {
            Ok(input) => input,
            Err(message) => {
                return EventKind::StepFailed {
                    step: def.id.clone(),
                    item,
                    message,
                };
            }
        };
        let wait_until = match &def.kind {
            StepKind::Action(call) if call.action.as_str() == SLEEP => input
                .get("duration")
                .and_then(Value::as_str)
                .and_then(|d| parse_duration(d).ok())
                .map(|d| now.plus(d)),
            _ => None,
        };
        EventKind::AttemptStarted(Box::new(AttemptStarted {
            step: def.id.clone(),
            item,
            phase: Phase::Action,
            attempt,
            input,
            deadline: def.timeout.map(|t| now.plus(t)),
            wait_until,
        }))
    }

    fn start_verify(
        &self,
        def: &Step,
        item: Option<u32>,
        attempt: u32,
        now: Timestamp,
        cx: &DecideCtx<'_>,
    ) -> EventKind {
        let Some(verify) = &def.verify else {
            return EventKind::StepFailed {
                step: def.id.clone(),
                item,
                message: "no verify to run".into(),
            };
        };
        let own = self.own_output(&def.id, item).map(|o| (&def.id, o));
        let scope = Scope {
            item: self.item_value(&def.id, item),
            own,
        };
        match self.render_call(&verify.call, now, scope, cx) {
            Ok(input) => EventKind::AttemptStarted(Box::new(AttemptStarted {
                step: def.id.clone(),
                item,
                phase: Phase::Verify,
                attempt,
                input,
                deadline: def.timeout.map(|t| now.plus(t)),
                wait_until: None,
            })),
            Err(message) => EventKind::StepFailed {
                step: def.id.clone(),
                item,
                message: format!("verify: {message}"),
            },
        }
    }

    fn decide_compensation(&self, now: Timestamp, cx: &DecideCtx<'_>) -> Option<EventKind> {
        // One compensation at a time, latest completed first.
        let busy = self.busy_steps().flat_map(|(_, s)| &s.items).any(|i| {
            matches!(
                i.compensation,
                Compensation::Running { .. } | Compensation::Interrupted { .. }
            )
        });
        if busy || self.cancelled {
            return None;
        }
        for (step, item) in self.completed.iter().rev() {
            let Some(def) = self.runbook.step(step.as_str()) else {
                continue;
            };
            let Some(call) = &def.compensate else {
                continue;
            };
            let it = self
                .steps
                .get(step)?
                .items
                .get(item.unwrap_or(0) as usize)?;
            let Compensation::Pending { attempts } = it.compensation else {
                continue;
            };
            let own = self.own_output(step, *item).map(|o| (step, o));
            let scope = Scope {
                item: self.item_value(step, *item),
                own,
            };
            return Some(match self.render_call(call, now, scope, cx) {
                Ok(input) => EventKind::AttemptStarted(Box::new(AttemptStarted {
                    step: step.clone(),
                    item: *item,
                    phase: Phase::Compensate,
                    attempt: attempts + 1,
                    input,
                    deadline: def.timeout.map(|t| now.plus(t)),
                    wait_until: None,
                })),
                Err(message) => EventKind::AttemptFinished {
                    step: step.clone(),
                    item: *item,
                    phase: Phase::Compensate,
                    attempt: attempts + 1,
                    result: AttemptResult::Failed {
                        class: crate::event::FailureClass::Permanent,
                        message,
                    },
                },
            });
        }
        None
    }

    /// Renders an action call's inputs with secrets masked and checks them against the
    /// action's schema: what is recorded in `AttemptStarted`.
    fn render_call(
        &self,
        call: &ActionCall,
        now: Timestamp,
        scope: Scope<'_>,
        cx: &DecideCtx<'_>,
    ) -> Result<Value, String> {
        let names = self.runbook.secret_names();
        let ctx = self.context(now, call.with.refs(), Secrets::Masked(&names), scope);
        let mut input = render_value(cx.env, &call.with, &ctx)
            .map_err(|e| format!("inputs of `{}`: {}", call.action, e.message))?;
        let spec = cx
            .catalog
            .spec(call.action.as_str())
            .ok_or_else(|| format!("action `{}` is not in this build", call.action))?;
        coerce_to_schema(&spec.params, &mut input);
        let mut problems = Vec::new();
        check_object(&spec.params, &input, &mut |_, e| {
            problems.push(e.to_string())
        });
        if problems.is_empty() {
            Ok(input)
        } else {
            Err(format!(
                "inputs of `{}`: {}",
                call.action,
                problems.join("; ")
            ))
        }
    }
}
