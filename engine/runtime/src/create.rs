//! New runs: the runbook's source, the sources it calls, and the params are pinned in the
//! first event, so the run never depends on the files again.

use std::collections::BTreeMap;

use drctl_core::RunId;
use drctl_run::event::{Confirmed, Event, EventKind, ParentLink, PinnedSource, RunCreated};
use drctl_runbook::Source;
use drctl_runbook::params::resolve_json;
use drctl_store::{FiringRow, NewEvent, NewFiring, NewRun};
use serde_json::{Map, Value};

use crate::{Engine, EngineError};

/// What a new run is made of.
#[derive(Debug, Clone)]
pub struct NewRunRequest {
    pub source: Source,
    /// The runbooks reachable through `call:`, keyed as `FsCalls::target_path` keys them.
    pub callees: Vec<(String, Source)>,
    /// Resolved params (defaults applied).
    pub params: Map<String, Value>,
    pub actor: drctl_core::Actor,
    pub trigger: drctl_core::Trigger,
    pub drill: bool,
    pub parent: Option<ParentLink>,
}

fn pin(source: &Source) -> PinnedSource {
    PinnedSource {
        name: source.name.clone(),
        digest: source.digest(),
        text: source.text.clone(),
    }
}

fn pin_callees(req: &NewRunRequest) -> BTreeMap<String, PinnedSource> {
    req.callees
        .iter()
        .map(|(k, s)| (k.clone(), pin(s)))
        .collect()
}

impl Engine {
    /// Creates a run, ready to be driven.
    pub async fn create_run(&self, req: NewRunRequest) -> Result<RunId, EngineError> {
        let callees = pin_callees(&req);
        self.create_pinned(pin(&req.source), callees, req).await
    }

    pub(crate) async fn create_pinned(
        &self,
        source: PinnedSource,
        callees: BTreeMap<String, PinnedSource>,
        req: NewRunRequest,
    ) -> Result<RunId, EngineError> {
        let id = self.new_run_id();
        let (id, run, first) = self.prepare(id, (source, callees, None), req)?;
        self.store.create_run(&run, &first).await?;
        Ok(id)
    }

    /// A new run's row and first event, checked (it compiles, its params fit), for a
    /// caller that stores it in a transaction of its own (a webhook's delivery).
    pub fn prepare_request(
        &self,
        req: NewRunRequest,
    ) -> Result<(RunId, NewRun, NewEvent), EngineError> {
        let callees = pin_callees(&req);
        self.prepare(self.new_run_id(), (pin(&req.source), callees, None), req)
    }

    /// As [`Engine::prepare_request`], with the id a proposal promised (a webhook's
    /// delivery proposed run `id`; `req.actor` confirmed it, as `confirmed` says).
    pub fn prepare_proposed(
        &self,
        id: RunId,
        req: NewRunRequest,
        confirmed: Confirmed,
    ) -> Result<(RunId, NewRun, NewEvent), EngineError> {
        let callees = pin_callees(&req);
        self.prepare(id, (pin(&req.source), callees, Some(confirmed)), req)
    }

    /// A fresh run id: the clock's time, and 80 random bits.
    pub fn new_run_id(&self) -> RunId {
        RunId::from_parts(self.clock.now(), rand::random::<u128>())
    }

    /// Creates the run a schedule's firing starts, in the transaction that records the
    /// firing: `None` when that nominal time was recorded already (by another node, or
    /// before a restart), and then no run exists.
    pub async fn create_fired(
        &self,
        req: NewRunRequest,
        firing: &NewFiring,
    ) -> Result<Option<RunId>, EngineError> {
        let (id, run, first) = self.prepare_request(req)?;
        let fired = self
            .store
            .record_firing(firing, Some((&run, &first)))
            .await?;
        Ok(fired.then_some(id))
    }

    /// Starts the run a buffered firing waited for: `None` when another node did.
    pub async fn start_buffered(
        &self,
        req: NewRunRequest,
        firing: &FiringRow,
    ) -> Result<Option<RunId>, EngineError> {
        let (id, run, first) = self.prepare_request(req)?;
        let started = self.store.start_buffered(firing, (&run, &first)).await?;
        Ok(started.then_some(id))
    }

    /// A new run's row and first event, checked (it compiles, its params fit).
    fn prepare(
        &self,
        id: RunId,
        (source, callees, confirmed): (
            PinnedSource,
            BTreeMap<String, PinnedSource>,
            Option<Confirmed>,
        ),
        req: NewRunRequest,
    ) -> Result<(RunId, NewRun, NewEvent), EngineError> {
        let now = self.clock.now();
        let created = RunCreated {
            id: id.clone(),
            runbook: String::new(),
            source,
            callees,
            params: req.params,
            parent: req.parent.clone(),
            trigger: req.trigger,
            drill: req.drill,
            confirmed,
        };
        let runbook = self
            .compiled
            .get(&created, self.actions.as_ref())
            .map_err(EngineError::Compile)?;
        // Params are checked against their types and defaulted here, whoever creates the
        // run (CLI, schedule, webhook, a parent's `call`).
        let params = resolve_json(&runbook.params, &created.params)
            .map_err(|errors| {
                let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
                EngineError::Invalid(all.join("; "))
            })?
            .to_map();
        let created = RunCreated {
            runbook: runbook.name.to_string(),
            params,
            ..created
        };
        let event = Event {
            at: now,
            actor: req.actor.clone(),
            kind: EventKind::RunCreated(Box::new(created.clone())),
        };
        let body =
            serde_json::to_string(&event).map_err(|e| EngineError::Invalid(e.to_string()))?;
        Ok((
            id.clone(),
            NewRun {
                id,
                runbook: created.runbook.clone(),
                source_name: created.source.name.clone(),
                digest: created.source.digest.clone(),
                parent: req.parent.as_ref().map(|p| p.run.clone()),
                parent_step: req.parent.as_ref().map(|p| p.step.to_string()),
                actor: req.actor,
                created_at: now,
                drill: created.drill,
                trigger: created.trigger.clone(),
            },
            NewEvent {
                at: now,
                actor: event.actor.clone(),
                kind: "run_created".into(),
                body,
            },
        ))
    }
}
