//! A harness that runs the pure state machine by hand: `decide` → append → `apply`, with
//! invoked attempts completed by the test and time moved by the test.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::{RunId, StepId, Timestamp};
use drctl_run::event::{AttemptResult, FailureClass, PinnedSource, RunCreated};
use drctl_run::{DecideCtx, Effect, Event, EventKind, Phase, RunState};
use drctl_runbook::template::TemplateEnv;
use drctl_runbook::{NoCalls, Source, compile};
use serde_json::{Map, Value, json};

pub(crate) struct Sim {
    pub(crate) state: RunState,
    pub(crate) log: Vec<Event>,
    pub(crate) now: Timestamp,
    pub(crate) invoked: Vec<(String, Option<u32>, Phase, u32)>,
    pub(crate) effects: Vec<Effect>,
    registry: Registry,
    env: TemplateEnv,
    pub(crate) max_parallel: usize,
}

pub(crate) const T0: i64 = 1_800_000_000_000;

impl Sim {
    pub(crate) fn new(yaml: &str) -> Self {
        Self::with_params(yaml, Map::new())
    }

    pub(crate) fn with_params(yaml: &str, params: Map<String, Value>) -> Self {
        let registry = Registry::builtin();
        let source = Source::new("sim.yaml", yaml);
        let compiled = compile(&source, &registry, &NoCalls);
        let runbook = Arc::new(
            compiled
                .runbook
                .unwrap_or_else(|| panic!("{:#?}", compiled.diagnostics)),
        );
        let id = RunId::from_parts(Timestamp::from_millis(T0), 7);
        let mut all = Map::new();
        for (name, spec) in &runbook.params {
            if let Some(d) = &spec.default {
                all.insert(name.to_string(), d.clone());
            }
        }
        all.extend(params);
        let created = RunCreated {
            id,
            runbook: runbook.name.to_string(),
            source: PinnedSource {
                name: "sim.yaml".into(),
                digest: source.digest(),
                text: yaml.into(),
            },
            callees: Default::default(),
            confirmed: None,
            params: all,
            parent: None,
            trigger: drctl_core::Trigger::Manual,
            drill: false,
        };
        let first = Event {
            at: Timestamp::from_millis(T0),
            actor: drctl_core::Actor::from_stored("tester"),
            kind: EventKind::RunCreated(Box::new(created)),
        };
        let state = RunState::new(&first, runbook).unwrap();
        let mut sim = Self {
            state,
            log: vec![first],
            now: Timestamp::from_millis(T0),
            invoked: Vec::new(),
            effects: Vec::new(),
            registry,
            env: TemplateEnv::new(),
            max_parallel: 8,
        };
        let deadline = sim.state.runbook.timeout.map(|t| sim.now.plus(t));
        sim.push(EventKind::RunStarted { deadline });
        sim
    }

    /// Appends and applies one event at the current time.
    pub(crate) fn push(&mut self, kind: EventKind) {
        self.push_as("drctl", kind);
    }

    pub(crate) fn push_as(&mut self, actor: &str, kind: EventKind) {
        let event = Event {
            at: self.now,
            actor: drctl_core::Actor::from_stored(actor),
            kind,
        };
        let effects = self
            .state
            .apply(&event)
            .unwrap_or_else(|e| panic!("{e}: {event:?}"));
        for e in &effects {
            if let Effect::Invoke {
                step,
                item,
                phase,
                attempt,
            } = e
            {
                self.invoked
                    .push((step.to_string(), *item, *phase, *attempt));
            }
        }
        self.effects.extend(effects);
        self.log.push(event);
    }

    /// Runs `decide` until it has nothing more to say at this time.
    pub(crate) fn settle(&mut self) {
        for _ in 0..10_000 {
            let cx = DecideCtx {
                env: &self.env,
                catalog: &self.registry,
                max_parallel: self.max_parallel,
            };
            let events = self.state.decide(self.now, &cx);
            if events.is_empty() {
                return;
            }
            for e in events {
                self.push(e);
            }
        }
        panic!("decide did not settle");
    }

    pub(crate) fn advance(&mut self, d: Duration) {
        self.now = self.now.plus(d);
        self.settle();
    }

    /// Jumps to the next wake-up time and settles.
    pub(crate) fn wake(&mut self) {
        let next = self.state.next_wake().expect("something to wake for");
        assert!(next >= self.now);
        self.now = next;
        self.settle();
    }

    /// The attempts currently in flight, as `step[item]/phase#attempt` strings.
    pub(crate) fn running(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, st) in &self.state.steps {
            for (i, it) in st.items.iter().enumerate() {
                if let drctl_run::state::ItemStatus::Running { phase, attempt, .. } = &it.status {
                    out.push(label(
                        id,
                        st.items.len() > 1 || self.is_for_each(id),
                        i,
                        *phase,
                        *attempt,
                    ));
                }
                if let drctl_run::state::Compensation::Running { attempt, .. } = &it.compensation {
                    out.push(label(
                        id,
                        self.is_for_each(id),
                        i,
                        Phase::Compensate,
                        *attempt,
                    ));
                }
            }
        }
        out
    }

    fn is_for_each(&self, id: &StepId) -> bool {
        self.state
            .runbook
            .step(id.as_str())
            .is_some_and(|d| d.for_each.is_some())
    }

    fn attempt_of(&self, step: &str, item: Option<u32>, phase: Phase) -> u32 {
        let it = &self.state.steps[step].items[item.unwrap_or(0) as usize];
        match (&it.status, &it.compensation, phase) {
            (_, drctl_run::state::Compensation::Running { attempt, .. }, Phase::Compensate) => {
                *attempt
            }
            (drctl_run::state::ItemStatus::Running { attempt, .. }, _, _) => *attempt,
            (drctl_run::state::ItemStatus::Sleeping { attempt, .. }, _, _) => *attempt,
            other => panic!("{step} {item:?} is not running: {other:?}"),
        }
    }

    /// Finishes the running attempt of `step` (item, phase) with `result` and settles.
    pub(crate) fn finish(
        &mut self,
        step: &str,
        item: Option<u32>,
        phase: Phase,
        result: AttemptResult,
    ) {
        let attempt = self.attempt_of(step, item, phase);
        self.push(EventKind::AttemptFinished {
            step: StepId::new(step).unwrap(),
            item,
            phase,
            attempt,
            result,
        });
        self.settle();
    }

    pub(crate) fn ok(&mut self, step: &str, output: Value) {
        self.finish(
            step,
            None,
            Phase::Action,
            AttemptResult::Succeeded { output },
        );
    }

    pub(crate) fn ok_item(&mut self, step: &str, item: u32, output: Value) {
        self.finish(
            step,
            Some(item),
            Phase::Action,
            AttemptResult::Succeeded { output },
        );
    }

    pub(crate) fn fail(&mut self, step: &str, class: FailureClass) {
        self.finish(
            step,
            None,
            Phase::Action,
            AttemptResult::Failed {
                class,
                message: format!("{step} broke"),
            },
        );
    }

    pub(crate) fn status(&self, step: &str) -> String {
        self.state.steps[step].status.as_str().to_owned()
    }

    pub(crate) fn item_status(&self, step: &str, item: usize) -> String {
        self.state.steps[step].items[item]
            .status
            .as_str()
            .to_owned()
    }

    /// The recorded input of the last attempt of `step`.
    pub(crate) fn input_of(&self, step: &str, phase: Phase) -> Value {
        self.log
            .iter()
            .rev()
            .find_map(|e| match &e.kind {
                EventKind::AttemptStarted(a) if a.step.as_str() == step && a.phase == phase => {
                    Some(a.input.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no attempt of {step}"))
    }

    pub(crate) fn kinds(&self) -> Vec<&'static str> {
        self.log.iter().map(|e| e.kind.name()).collect()
    }

    /// Replaying the log from scratch must give the same state.
    pub(crate) fn check_replay(&self) {
        let replayed = RunState::replay(&self.log, |_| Ok(self.state.runbook.clone())).unwrap();
        assert_eq!(replayed.status, self.state.status);
        assert_eq!(replayed.stage, self.state.stage);
        assert_eq!(replayed.steps, self.state.steps);
        assert_eq!(replayed.completed, self.state.completed);
        assert_eq!(replayed.version, self.state.version);
        // And every event survives a JSON round trip unchanged.
        for e in &self.log {
            let json = serde_json::to_string(e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, e, "{json}");
        }
    }
}

fn label(id: &StepId, indexed: bool, i: usize, phase: Phase, attempt: u32) -> String {
    let phase = match phase {
        Phase::Action => "",
        Phase::Verify => "/verify",
        Phase::Compensate => "/compensate",
    };
    if indexed {
        format!("{id}[{i}]{phase}#{attempt}")
    } else {
        format!("{id}{phase}#{attempt}")
    }
}

pub(crate) fn ok_json() -> Value {
    json!({"ok": true})
}
