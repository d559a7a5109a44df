//! Starting what `Effect::Invoke` and `Effect::Reconcile` ask for: actions as tokio tasks
//! (with secrets revealed only in their inputs, and scrubbed from what they return), and
//! sub-runs for `call` steps.

use drctl_core::{ActionCtx, ActionError, Observed};
use drctl_run::event::{
    AttemptResult, ENGINE, EventKind, FailureClass, ParentLink, Reconciliation,
};
use drctl_run::pinned::PinnedCalls;
use drctl_run::state::ItemStatus;
use drctl_run::{Outcome, Phase, Scope};
use drctl_runbook::model::{ActionCall, StepKind};
use drctl_runbook::params::resolve_json;
use drctl_runbook::template::Root;
use drctl_runbook::template::render::{SecretValues, Secrets, render_value};
use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::driver::{Done, Driver, Flight, Key};
use crate::secrets::Scrubber;
use crate::{DriveOptions, EngineError, RunEnd};
use drctl_store::StoreError;

impl Driver {
    /// Starts an attempt that is recorded as started.
    pub(crate) async fn invoke(&mut self, key: Key) -> Result<(), EngineError> {
        let runbook = self.state.runbook.clone();
        let Some(def) = runbook.step(key.0.as_str()) else {
            return self.fail_now(key, "the step is not in the runbook");
        };
        if key.2 == Phase::Action
            && let StepKind::Call(_) = def.kind
        {
            return self.start_child(key).await;
        }
        let Some(call) = call_of(def, key.2) else {
            return self.fail_now(key, "the step has nothing to run in this phase");
        };
        let input = match self.reveal(call, &key) {
            Ok(input) => input,
            Err(message) => return self.fail_now(key, &message),
        };
        let Some(action) = self.e.actions.action(call.action.as_str()) else {
            let message = format!(
                "action `{}` is not implemented in this build of drctl",
                call.action
            );
            return self.fail_now(key, &message);
        };
        let (ctx, cancel) = self.action_ctx(&key);
        let (tx, secrets, k) = (self.done_tx.clone(), self.scrubber.clone(), key.clone());
        let taken = self.take_slot();
        let handle = tokio::spawn(async move {
            let _slot = taken.await;
            let result = attempt_result(action.run(&ctx, input).await, &secrets);
            let _ = tx.send(Done::Attempt { key: k, result });
        });
        let deadline = self.deadline_of(&key);
        self.track(key, cancel, handle, deadline);
        Ok(())
    }

    /// Asks the action whether an interrupted attempt took effect.
    pub(crate) fn reconcile(&mut self, key: Key) -> Result<(), EngineError> {
        let runbook = self.state.runbook.clone();
        let call = runbook.step(key.0.as_str()).and_then(|d| call_of(d, key.2));
        let prepared = call
            .ok_or_else(|| "nothing to reconcile".to_owned())
            .and_then(|call| {
                let input = self.reveal(call, &key)?;
                let action = self.e.actions.action(call.action.as_str()).ok_or_else(|| {
                    format!("action `{}` is not implemented in this build", call.action)
                })?;
                Ok((action, input))
            });
        let (ctx, cancel) = self.action_ctx(&key);
        let (tx, secrets, k) = (self.done_tx.clone(), self.scrubber.clone(), key.clone());
        let taken = self.take_slot();
        let handle = tokio::spawn(async move {
            let _slot = taken.await;
            let observed = match prepared {
                Err(reason) => Reconciliation::Unknown { reason },
                Ok((action, input)) => match action.reconcile(&ctx, input).await {
                    Ok(Observed::Done(mut output)) => {
                        secrets.value(&mut output);
                        Reconciliation::Done { output }
                    }
                    Ok(Observed::NotDone) => Reconciliation::NotDone,
                    Ok(Observed::Unknown(reason)) => Reconciliation::Unknown {
                        reason: secrets.text(&reason),
                    },
                    Err(e) => Reconciliation::Unknown {
                        reason: format!("reconciliation failed: {}", secrets.text(&e.to_string())),
                    },
                },
            };
            let _ = tx.send(Done::Reconciled { key: k, observed });
        });
        self.track(key, cancel, handle, None);
        Ok(())
    }

    /// A `call` step: creates its sub-run (or finds the one it already has) and drives it
    /// once `child_started` is stored.
    async fn start_child(&mut self, key: Key) -> Result<(), EngineError> {
        let item = self
            .state
            .steps
            .get(&key.0)
            .and_then(|s| s.items.get(key.1.unwrap_or(0) as usize));
        if let Some(child) = item.and_then(|i| i.child.clone()) {
            self.attach(key, child);
            return Ok(());
        }
        let input = match item.map(|i| &i.status) {
            Some(ItemStatus::Running { input, .. }) => input.clone(),
            _ => return self.fail_now(key, "the call step is not running"),
        };
        let target = input["runbook"].as_str().unwrap_or_default().to_owned();
        let given = input["params"].as_object().cloned().unwrap_or_default();
        let created = self.state.created.clone();
        // In a block: `PinnedCalls` borrows the catalog and must not live across an await.
        let prepared = {
            let calls = PinnedCalls {
                callees: &created.callees,
                catalog: self.e.actions.as_ref(),
            };
            calls
                .source(&created.source.name, &target)
                .cloned()
                .ok_or_else(|| format!("`{target}` was not pinned when the run was created"))
                .and_then(|pinned| {
                    let runbook = calls.compile(&created.source.name, &target)?;
                    let params = resolve_json(&runbook.params, &given).map_err(|errors| {
                        errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })?;
                    Ok((pinned, params.to_map()))
                })
        };
        let (pinned, params) = match prepared {
            Ok(p) => p,
            Err(message) => return self.fail_now(key, &format!("sub-run `{target}`: {message}")),
        };
        let request = crate::create::NewRunRequest {
            source: drctl_runbook::Source::new(pinned.name.clone(), pinned.text.clone()),
            callees: Vec::new(),
            params,
            actor: self.state.created_by.clone(),
            trigger: drctl_core::Trigger::Call(self.state.id.clone()),
            drill: created.drill,
            parent: Some(ParentLink {
                run: self.state.id.clone(),
                step: key.0.clone(),
                item: key.1,
            }),
        };
        let child = self
            .e
            .create_pinned(pinned, created.callees.clone(), request)
            .await?;
        self.queue(
            vec![EventKind::ChildStarted {
                step: key.0.clone(),
                item: key.1,
                child: child.clone(),
            }],
            &ENGINE,
        )?;
        self.to_attach.push((key, child));
        Ok(())
    }

    /// Drives a sub-run as this step's attempt.
    pub(crate) fn attach(&mut self, key: Key, child: drctl_core::RunId) {
        let cancel = CancellationToken::new();
        let opts = DriveOptions {
            resume: true,
            no_wait: false,
            pause: self.opts.pause.child_token(),
            cancel: cancel.clone(),
            release: self.opts.release.child_token(),
            resumed_by: self.opts.resumed_by.clone(),
        };
        let (engine, tx, k) = (self.e.clone(), self.done_tx.clone(), key.clone());
        let handle = tokio::spawn(async move {
            let mut cancel_sent = false;
            let end = loop {
                let (pause, cancel) = (opts.pause.clone(), opts.cancel.clone());
                match engine
                    .clone()
                    .drive_boxed(child.clone(), opts.clone())
                    .await
                {
                    // Another live process drives the sub-run (its own `resume`): this step
                    // waits for it to end, and drives it itself if that driver goes.
                    Err(EngineError::Store(StoreError::Leased { .. })) => {
                        let poll = engine.config.poll.max(std::time::Duration::from_millis(50));
                        tokio::select! {
                            () = tokio::time::sleep(poll) => {}
                            () = pause.cancelled() => break Ok(RunEnd::Paused(drctl_run::event::PauseReason::Operator)),
                            () = cancel.cancelled(), if !cancel_sent => {
                                // The cancel reaches the sub-run's driver through its inbox.
                                cancel_sent = true;
                                let command = crate::OperatorCommand::Cancel { reason: "the parent run was cancelled".into() };
                                let _ = engine.submit(&child, &ENGINE, &command, &|_| Ok(())).await;
                            }
                        }
                    }
                    other => break other,
                }
            };
            let done = match end {
                Ok(RunEnd::Finished {
                    outcome: Outcome::Succeeded,
                    outputs,
                }) => Done::Attempt {
                    key: k,
                    result: AttemptResult::Succeeded {
                        output: json!({ "run": child, "status": "succeeded", "steps": outputs }),
                    },
                },
                Ok(RunEnd::Finished {
                    outcome: Outcome::Failed { reason },
                    ..
                }) => Done::Attempt {
                    key: k,
                    result: AttemptResult::Failed {
                        class: FailureClass::Permanent,
                        message: format!("sub-run {child} failed: {reason}"),
                    },
                },
                Ok(RunEnd::Finished {
                    outcome: Outcome::Cancelled,
                    ..
                }) => Done::Attempt {
                    key: k,
                    result: AttemptResult::Cancelled,
                },
                Ok(RunEnd::Paused(_)) => Done::ChildPaused { key: k },
                // The parent is being released too: the step is left as started, and
                // whoever drives the parent next drives the sub-run again.
                Ok(RunEnd::Released) => Done::Attempt {
                    key: k,
                    result: AttemptResult::Cancelled,
                },
                Ok(RunEnd::LockHeld { lock, holder }) => Done::Attempt {
                    key: k,
                    result: AttemptResult::Failed {
                        class: FailureClass::Permanent,
                        message: format!("sub-run {child}: lock `{lock}` is held by {holder}"),
                    },
                },
                Err(e) => Done::Attempt {
                    key: k,
                    result: AttemptResult::Failed {
                        class: FailureClass::Permanent,
                        message: format!("sub-run {child}: {e}"),
                    },
                },
            };
            let _ = tx.send(done);
        });
        let deadline = self.deadline_of(&key);
        self.track(key, cancel, handle, deadline);
    }

    /// Fails an attempt at once (it never reached an action), through the same channel as
    /// every other result so that it is recorded the same way.
    fn fail_now(&mut self, key: Key, message: &str) -> Result<(), EngineError> {
        let result = AttemptResult::Failed {
            class: FailureClass::Permanent,
            message: self.scrubber.text(message),
        };
        self.done_tx
            .send(Done::Attempt { key, result })
            .map_err(|_| EngineError::Invalid("the driver's channel closed".into()))
    }

    /// Remembers a task in flight, with the deadline the driver enforces on it.
    fn track(
        &mut self,
        key: Key,
        cancel: CancellationToken,
        handle: tokio::task::JoinHandle<()>,
        deadline: Option<drctl_core::Timestamp>,
    ) {
        let flight = Flight {
            cancel,
            handle,
            deadline,
            timing_out: None,
        };
        self.flights.insert(key, flight);
    }

    /// What an action is told about the call, and the token that cancels it.
    fn action_ctx(&self, key: &Key) -> (ActionCtx, CancellationToken) {
        let cancel = CancellationToken::new();
        let ctx = ActionCtx {
            run: self.state.id.clone(),
            step: key.0.clone(),
            item: key.1,
            attempt: key.3,
            cancel: cancel.clone(),
            live: Some(std::sync::Arc::new(crate::live::LiveWriter::new(
                (self.e.store.clone(), self.e.clock.clone()),
                self.state.id.clone(),
                key.clone(),
                self.scrubber.clone(),
            ))),
        };
        (ctx, cancel)
    }

    /// The stored deadline of a running attempt. Compensations have none of their own:
    /// they are short undo actions, and cutting one off half-way would leave the system in
    /// neither state.
    fn deadline_of(&self, key: &Key) -> Option<drctl_core::Timestamp> {
        let it = self
            .state
            .steps
            .get(&key.0)?
            .items
            .get(key.1.unwrap_or(0) as usize)?;
        match &it.status {
            ItemStatus::Running { deadline, .. } => *deadline,
            _ => None,
        }
    }

    /// The values of the secrets `call` refers to (read when the drive began).
    pub(crate) fn read_secrets(&self, call: &ActionCall) -> Result<SecretValues, String> {
        let mut values = IndexMap::new();
        for r in call.with.refs().iter().filter(|r| r.root == Root::Secrets) {
            let Some(name) = r.name() else { continue };
            let value = self
                .secret_values
                .get(name)
                .ok_or_else(|| format!("secret `{name}` was not read"))?;
            values.insert(name.to_owned(), value.clone());
        }
        Ok(SecretValues::new(values))
    }

    fn reveal(&mut self, call: &ActionCall, key: &Key) -> Result<Value, String> {
        let refs = call.with.refs();
        let secrets = self.read_secrets(call)?;
        let own = match (key.2, self.state.own_output(&key.0, key.1)) {
            (Phase::Verify | Phase::Compensate, Some(output)) => Some((&key.0, output)),
            _ => None,
        };
        let scope = Scope {
            item: self.state.item_value(&key.0, key.1),
            own,
        };
        let ctx = self.state.context(
            self.e.clock.now(),
            refs.iter().copied(),
            Secrets::Revealed(&secrets),
            scope,
        );
        let mut input = render_value(&self.e.env, &call.with, &ctx)
            .map_err(|e| self.scrubber.text(&e.message))?;
        if let Some(spec) = self.e.actions.spec(call.action.as_str()) {
            drctl_core::schema::coerce_to_schema(&spec.params, &mut input);
        }
        Ok(input)
    }
}

fn call_of(def: &drctl_runbook::model::Step, phase: Phase) -> Option<&ActionCall> {
    match phase {
        Phase::Action => def.action(),
        Phase::Verify => def.verify.as_ref().map(|v| &v.call),
        Phase::Compensate => def.compensate.as_ref(),
    }
}

/// What an action's call comes to, classed for retries, with secrets scrubbed from its
/// output or error. Steps and notices both record their calls through it.
pub(crate) fn attempt_result(
    returned: Result<Value, ActionError>,
    secrets: &Scrubber,
) -> AttemptResult {
    match returned {
        Ok(mut output) => {
            secrets.value(&mut output);
            AttemptResult::Succeeded { output }
        }
        Err(ActionError::Retryable(m)) => AttemptResult::Failed {
            class: FailureClass::Retryable,
            message: secrets.text(&m),
        },
        Err(ActionError::Permanent(m)) => AttemptResult::Failed {
            class: FailureClass::Permanent,
            message: secrets.text(&m),
        },
        Err(ActionError::Cancelled) => AttemptResult::Cancelled,
    }
}

impl Driver {
    /// A slot among the engine's actions running at once (none when there is no limit),
    /// held by the action's task until it returns. The run was decided with a slot free
    /// for it (see `parallel`), so it is taken now; should another run of this engine
    /// have taken it in between, the action waits for the next.
    fn take_slot(
        &self,
    ) -> impl std::future::Future<Output = Option<tokio::sync::OwnedSemaphorePermit>> + use<> {
        let slots = self.e.slots.clone();
        let now = slots.as_ref().map(|s| s.clone().try_acquire_owned());
        async move {
            match now {
                None => None,
                Some(Ok(permit)) => Some(permit),
                Some(Err(_)) => slots?.acquire_owned().await.ok(),
            }
        }
    }
}
