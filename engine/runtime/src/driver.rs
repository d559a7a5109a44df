//! The run loop. See the crate doc for the cycle; here are the rules it keeps:
//!
//! - nothing acts before its event is stored: effects run only after the append that
//!   produced them committed (a sub-run is driven only after `child_started` is stored);
//! - events found in one pass (a finished attempt, the next attempts it unblocks) are
//!   stored in one transaction: one commit per step of a sequential runbook;
//! - a timeout cancels the action's token; an action that does not stop within the grace
//!   period has its task aborted, and the attempt fails with a timeout;
//! - Ctrl-C (the `pause` token) stops starting attempts, gives running ones the grace
//!   period to finish, then stores `paused`: attempts still running are left as
//!   started-not-finished, which the next `resume` settles exactly like a crash.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use drctl_core::{Actor, RunId, StepId, Timestamp};
use drctl_run::event::{
    AttemptResult, ENGINE, EventKind, FailureClass, NoticeResult, PauseReason, Reconciliation,
    Recovery,
};
use drctl_run::state::{Compensation, ItemStatus};
use drctl_run::{DecideCtx, Effect, Event, Phase, RunState, RunStatus, Stage};
use drctl_store::{Batch, Claim, Command, CommandOutcome, Lease, NewEvent, StoreError, Taken};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::command::OperatorCommand;
use crate::projection::{projection, touched};
use crate::secrets::Scrubber;
use crate::{DriveOptions, Engine, EngineError, Fault, RunEnd, worker};
use indexmap::IndexMap;

/// An attempt: step, item, phase, attempt number.
pub(crate) type Key = (StepId, Option<u32>, Phase, u32);

/// What a task reports back.
#[derive(Debug)]
pub(crate) enum Done {
    Attempt {
        key: Key,
        result: AttemptResult,
    },
    Reconciled {
        key: Key,
        observed: Reconciliation,
    },
    ChildPaused {
        key: Key,
    },
    Notice {
        notice: u32,
        attempt: u32,
        result: NoticeResult,
    },
}

/// A task out in the world.
/// How many times an append the store did not answer is tried again (100 ms, doubling).
const APPEND_TRIES: u32 = 5;

/// How soon a lease renewal the store did not answer is tried again.
const RENEW_RETRY: Duration = Duration::from_secs(1);

pub(crate) struct Flight {
    pub(crate) cancel: CancellationToken,
    pub(crate) handle: JoinHandle<()>,
    pub(crate) deadline: Option<Timestamp>,
    /// Set when the deadline passed and the action was asked to stop: when the grace ends.
    pub(crate) timing_out: Option<Timestamp>,
}

pub(crate) struct Driver {
    pub(crate) e: Engine,
    /// Notified when a command is submitted in this process (see `Engine::wake`).
    woken: Arc<tokio::sync::Notify>,
    /// The engine's free action slots held the run back at its last decision.
    capped: bool,
    /// The version and the commands of the batch `build` made last (see `rebuilt`).
    last_built: (u64, Vec<Taken>),
    pub(crate) state: RunState,
    lease: Lease,
    batch: Vec<Event>,
    effects: Vec<Effect>,
    pub(crate) flights: HashMap<Key, Flight>,
    /// Notices being delivered, by number.
    pub(crate) notices: HashMap<u32, JoinHandle<()>>,
    pub(crate) done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    pub(crate) opts: DriveOptions,
    /// Ctrl-C: when the grace for running attempts ends.
    pub(crate) pausing: Option<Timestamp>,
    /// The stop under way is a release, not a pause: nothing is recorded at its end.
    releasing: bool,
    next_heartbeat: Timestamp,
    next_poll: Timestamp,
    stage_before: Stage,
    /// Sub-runs to drive once their `child_started` is stored.
    pub(crate) to_attach: Vec<(Key, RunId)>,
    /// Every secret the runbook declares, read when the drive began: revealed only in
    /// the inputs of the actions that use them.
    pub(crate) secret_values: IndexMap<String, String>,
    /// Masks those values, in every form, in whatever is recorded.
    pub(crate) scrubber: Arc<Scrubber>,
    /// Policies whose approval a gate refused, reported once.
    policy_refused: HashSet<Actor>,
    /// The events of the append in progress, for the observer once they are stored.
    stored: Vec<Event>,
}

impl Engine {
    /// A run's state, rebuilt from its events and its pinned source. The pinned runbook
    /// is compiled on a blocking thread while the other events are read and decoded: for
    /// a run of 10,000 steps the compile takes about 100 ms, the events
    /// about as long, and a resume waits for both.
    pub async fn state(&self, run: &RunId) -> Result<RunState, EngineError> {
        let first = crate::decode_bodies(run, &self.store.event_bodies(run, 0, 1).await?)?;
        let Some(EventKind::RunCreated(created)) = first.first().map(|e| &e.kind) else {
            return Err(EngineError::Store(StoreError::NotFound(run.to_string())));
        };
        let (compiled, actions, created) =
            (self.compiled.clone(), self.actions.clone(), created.clone());
        let compiling =
            tokio::task::spawn_blocking(move || compiled.get(&created, actions.as_ref()));
        let rest = crate::decode_bodies(run, &self.store.event_bodies(run, 1, u64::MAX).await?)?;
        let runbook = compiling
            .await
            .map_err(|e| EngineError::Compile(format!("compiling the pinned runbook: {e}")))?
            .map_err(EngineError::Compile)?;
        Ok(RunState::replay(first.iter().chain(&rest), |_| {
            Ok(runbook)
        })?)
    }

    /// Whether a process could drive the run now: every secret its runbook declares can
    /// be read and is long enough to mask (what `drive` checks before recording anything).
    pub async fn check_secrets(&self, run: &RunId) -> Result<(), EngineError> {
        self.read_secrets(&self.state(run).await?).map(|_| ())
    }

    /// Every secret the run's runbook declares, and the scrubber that masks them.
    fn read_secrets(
        &self,
        state: &RunState,
    ) -> Result<(IndexMap<String, String>, Scrubber), EngineError> {
        crate::secrets::read_all(self.secrets.as_ref(), &state.runbook.secrets)
            .map_err(EngineError::Secret)
    }

    /// Drives a run until it finishes or pauses. Safe to call on any run: a finished run
    /// returns at once; a paused one returns unless `resume`; one left mid-flight by a dead
    /// process is recovered first.
    pub async fn drive(&self, run: &RunId, opts: DriveOptions) -> Result<RunEnd, EngineError> {
        let state = self.state(run).await?;
        match &state.status {
            RunStatus::Finished { outcome } => {
                return Ok(RunEnd::Finished {
                    outcome: outcome.clone(),
                    outputs: outputs(&state),
                });
            }
            RunStatus::Paused { reason } if !opts.resume => {
                return Ok(RunEnd::Paused(reason.clone()));
            }
            _ => {}
        }
        // Before anything is recorded: the values to mask, whichever step and whichever
        // process (before a crash) revealed them.
        let (secret_values, scrubber) = self.read_secrets(&state)?;
        let lease = self.claim(run).await?;
        // What an earlier driver's attempts printed is nobody's live output now.
        let _ = self.store.clear_live(run).await;
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let now = self.clock.now();
        let mut driver = Driver {
            e: self.clone(),
            stage_before: state.stage,
            state,
            lease,
            batch: Vec::new(),
            effects: Vec::new(),
            flights: HashMap::new(),
            notices: HashMap::new(),
            done_tx,
            done_rx,
            opts,
            pausing: None,
            releasing: false,
            next_heartbeat: now.plus(self.config.heartbeat),
            next_poll: now,
            to_attach: Vec::new(),
            secret_values,
            scrubber: Arc::new(scrubber),
            policy_refused: HashSet::new(),
            stored: Vec::new(),
            woken: Arc::new(tokio::sync::Notify::new()),
            capped: false,
            last_built: (0, Vec::new()),
        };
        self.drivers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(run.clone(), driver.woken.clone());
        let end = driver.run().await;
        driver.shutdown().await;
        end
    }

    /// `drive` as a boxed future: sub-runs are driven from inside a drive.
    pub(crate) fn drive_boxed(
        self,
        run: RunId,
        opts: DriveOptions,
    ) -> Pin<Box<dyn Future<Output = Result<RunEnd, EngineError>> + Send>> {
        Box::pin(async move { self.drive(&run, opts).await })
    }

    /// Takes the run's lease; from a dead process of this host at once.
    async fn claim(&self, run: &RunId) -> Result<Lease, EngineError> {
        let claim = Claim {
            run: run.clone(),
            owner: self.config.worker.clone(),
            now: self.clock.now(),
            ttl: self.config.lease_ttl,
            take_over_from: None,
        };
        match self.store.claim(&claim).await {
            Ok(lease) => Ok(lease),
            Err(StoreError::Leased { owner, .. }) if worker::is_dead_local(&owner) => Ok(self
                .store
                .claim(&Claim {
                    take_over_from: Some(owner),
                    ..claim
                })
                .await?),
            Err(e) => Err(e.into()),
        }
    }
}

/// `steps.<id>.output` of the main block.
pub(crate) fn outputs(state: &RunState) -> Map<String, Value> {
    state
        .runbook
        .steps
        .steps
        .iter()
        .map(|s| {
            (
                s.id.to_string(),
                state.step_view(s.id.as_str())["output"].clone(),
            )
        })
        .collect()
}

impl Driver {
    async fn run(&mut self) -> Result<RunEnd, EngineError> {
        // Attempts a dead process left in flight: nobody else can be running them, we
        // hold the lease. Reconciliations it asked for and never heard back are asked again.
        let mut unanswered = self.state.unanswered_reconciliations();
        if self.state.in_flight() > 0 {
            let events = self.state.recover(self.e.actions.as_ref());
            self.queue(events, &ENGINE)?;
        }
        // Commands left while nobody drove the run come first.
        self.store_batch(true).await?;
        // An operator may have decided meanwhile: ask only about what still waits.
        let still = self.state.unanswered_reconciliations();
        unanswered.retain(|e| still.contains(e));
        self.effects.extend(unanswered);
        if self.opts.resume && matches!(self.state.status, RunStatus::Paused { .. }) {
            // Paused for a step that still waits for a decision: resuming would only pause
            // again, so the log gets no resume/pause pair, and the caller hears why.
            let undecided = matches!(
                self.state.status,
                RunStatus::Paused {
                    reason: PauseReason::Interrupted { .. }
                }
            ) && self.waiting_for_operator().is_some();
            if !undecided {
                let actor =
                    (self.opts.resumed_by.clone()).unwrap_or_else(|| self.e.config.actor.clone());
                self.queue(vec![EventKind::Resumed], &actor)?;
                self.pause_if_waiting_for_operator()?;
            }
        }
        self.flush().await?;
        if matches!(
            self.state.status,
            RunStatus::Created | RunStatus::WaitingForLock { .. }
        ) && let Some(end) = self.take_lock().await?
        {
            return Ok(end);
        }
        loop {
            self.flush().await?;
            self.deliver_notices();
            if let Some(end) = self.end() {
                return Ok(end);
            }
            self.wait().await?;
            // On its own schedule, however busy the driver is: a stream of attempts
            // finishing wins every `wait`, and a lease left to expire under a live driver
            // would let another process take the run over.
            self.heartbeat_if_due(self.e.clock.now()).await?;
        }
    }

    /// Applies events in memory, to be stored by the next `flush`.
    pub(crate) fn queue(
        &mut self,
        kinds: Vec<EventKind>,
        actor: &Actor,
    ) -> Result<(), EngineError> {
        let now = self.e.clock.now();
        for kind in kinds {
            let event = Event {
                at: now,
                actor: actor.clone(),
                kind,
            };
            let effects = self.state.apply(&event)?;
            self.batch.push(event);
            self.effects.extend(effects);
        }
        Ok(())
    }

    fn decide(&mut self) -> Result<(), EngineError> {
        // Asked to pause: no new attempt starts, even before the loop hears of it.
        if self.stopping() {
            return Ok(());
        }
        let (env, actions) = (self.e.env.clone(), self.e.actions.clone());
        let max_parallel = self.parallel();
        self.capped = max_parallel < self.e.config.max_parallel;
        let cx = DecideCtx {
            env: &env,
            catalog: actions.as_ref(),
            max_parallel,
        };
        for _ in 0..1_000_000 {
            let events = self.state.decide(self.e.clock.now(), &cx);
            if events.is_empty() {
                return Ok(());
            }
            self.queue(events, &ENGINE)?;
        }
        Err(EngineError::Invalid(
            "the run's decisions did not settle".into(),
        ))
    }

    /// Stores what happened and what follows from it, then acts on the effects (which
    /// may queue more), until nothing is left to store.
    async fn flush(&mut self) -> Result<(), EngineError> {
        loop {
            self.store_batch(false).await?;
            let effects = std::mem::take(&mut self.effects);
            if effects.is_empty() {
                return Ok(());
            }
            for effect in effects {
                match effect {
                    Effect::Invoke {
                        step,
                        item,
                        phase,
                        attempt,
                    } => self.invoke((step, item, phase, attempt)).await?,
                    Effect::Reconcile {
                        step,
                        item,
                        phase,
                        attempt,
                    } => self.reconcile((step, item, phase, attempt))?,
                    Effect::CancelAll => self.flights.values().for_each(|f| f.cancel.cancel()),
                    Effect::Stop | Effect::Finished => {}
                }
            }
        }
    }

    /// One append: inside the store's transaction, the commands waiting in the inbox are
    /// applied (or refused, on the record) first, then the state decides what follows,
    /// and all of it is stored together, the commands marked taken with it. So a command
    /// committed before an append is never missed by it, nothing is decided on a state
    /// that lacks it, and a crash before the commit leaves it waiting, never lost.
    /// The transaction is opened only when there is something to store, or on the
    /// inbox's poll (`poll_now`: at once) when a command waits.
    async fn store_batch(&mut self, poll_now: bool) -> Result<(), EngineError> {
        let now = self.e.clock.now();
        let poll = poll_now || now >= self.next_poll;
        if poll {
            self.next_poll = now.plus(self.e.config.poll);
        }
        // A store that does not answer this cheap read is asked again at the next poll.
        let inbox = poll
            && match self.e.store.has_commands(&self.state.id).await {
                Ok(waiting) => waiting,
                Err(StoreError::Unavailable(_)) => false,
                Err(e) => return Err(e.into()),
            };
        if self.batch.is_empty() && !inbox && !self.has_decisions(now) {
            return Ok(());
        }
        let (store, lease) = (self.e.store.clone(), self.lease.clone());
        let mut appended = self.append_built(&store, &lease, now).await?;
        // A store that did not answer (busy, an I/O hiccup): the same batch is offered
        // again. It was built into the state already, so it is stored as built: the same
        // events at the same version, the same commands marked taken (only this driver
        // takes them, and they wait until it does). Should the first try have committed
        // after all, the version check refuses the second, and the drive ends.
        let mut backoff = Duration::from_millis(100);
        for _ in 0..APPEND_TRIES {
            let Err(StoreError::Unavailable(why)) = &appended else {
                break;
            };
            self.e.observer.notice(
                &self.state,
                &format!(
                    "cannot store run {}'s events ({why}); trying again",
                    self.state.id
                ),
            );
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            appended = match self.rebuilt()? {
                // Nothing was built (the store failed before asking): build afresh.
                None => {
                    self.append_built(&store, &lease, self.e.clock.now())
                        .await?
                }
                Some(batch) => {
                    store
                        .append(&lease, self.e.clock.now(), &mut |_| Some(batch.clone()))
                        .await
                }
            };
        }
        appended?;
        for e in std::mem::take(&mut self.stored) {
            self.e.observer.on_event(&self.state, &e);
        }
        for (key, child) in std::mem::take(&mut self.to_attach) {
            self.attach(key, child);
        }
        Ok(())
    }

    /// One append whose batch `build` makes inside the store's transaction. A failure of
    /// the build ends the drive (the outer `Err`); the store's answer is handed back as it
    /// came, for `store_batch` to try again when the store did not answer.
    async fn append_built(
        &mut self,
        store: &Arc<dyn drctl_store::Store>,
        lease: &Lease,
        now: Timestamp,
    ) -> Result<Result<Option<u64>, StoreError>, EngineError> {
        let mut failed = None;
        // Measured on the monotonic clock, for the metrics only: nothing is decided on it.
        let started = std::time::Instant::now();
        let appended = store
            .append(lease, now, &mut |commands| match self.build(commands) {
                Ok(batch) => batch,
                Err(e) => {
                    failed = Some(e);
                    None
                }
            })
            .await;
        if let Ok(Some(_)) = &appended {
            self.e.observer.appended(started.elapsed());
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(appended),
        }
    }

    /// The batch `build` made last, again (its events are in `stored` until they are
    /// stored): what a failed append offers the store once more. `None` when the failed
    /// append built nothing. Its projection covers every step: the step rows are the
    /// state's, whatever the first one covered.
    fn rebuilt(&self) -> Result<Option<Batch>, EngineError> {
        if self.stored.is_empty() {
            return Ok(None);
        }
        let (expected, taken) = self.last_built.clone();
        Ok(Some(Batch {
            expected,
            events: self
                .stored
                .iter()
                .map(encode)
                .collect::<Result<Vec<_>, _>>()?,
            projection: projection(&self.state, &touched(&self.stored), true),
            taken,
        }))
    }

    /// The batch of one append, given the commands waiting: see `store_batch`.
    fn build(&mut self, commands: &[Command]) -> Result<Option<Batch>, EngineError> {
        if !commands.is_empty() {
            // Crash tests: die between reading commands and recording them.
            match self.e.config.fault {
                Some(Fault::AbortAfterInboxRead) => std::process::abort(),
                Some(Fault::FailAfterInboxRead) => {
                    return Err(EngineError::Invalid(
                        "injected fault after the inbox".into(),
                    ));
                }
                None => {}
            }
        }
        let taken = self.apply_commands(commands)?;
        self.decide()?;
        self.approve_by_policy()?;
        if self.batch.is_empty() {
            return Ok(None);
        }
        let events = std::mem::take(&mut self.batch);
        let expected = self.state.version - events.len() as u64;
        self.last_built = (expected, taken.clone());
        let all = self.state.stage != self.stage_before
            || events.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::CancelRequested { .. } | EventKind::RunFinished { .. }
                )
            });
        self.stage_before = self.state.stage;
        let projection = projection(&self.state, &touched(&events), all);
        let stored = events.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        self.stored = events;
        Ok(Some(Batch {
            expected,
            events: stored,
            projection,
            taken,
        }))
    }

    /// Whether deciding now would record anything (pure: nothing is applied).
    /// Attempts the run may have in flight now: its `max_parallel`, and no more than the
    /// engine's free action slots allow (a server's `max_actions`). An attempt is thus
    /// recorded as started only when a slot is there for it: none waits for one, its
    /// timeout counting, or is found "interrupted" by a restart without having run.
    fn parallel(&self) -> usize {
        match &self.e.slots {
            None => self.e.config.max_parallel,
            Some(slots) => self
                .e
                .config
                .max_parallel
                .min(self.state.in_flight() + slots.available_permits()),
        }
    }

    fn has_decisions(&self, now: Timestamp) -> bool {
        if self.stopping() {
            return false;
        }
        let cx = DecideCtx {
            env: &self.e.env,
            catalog: self.e.actions.as_ref(),
            max_parallel: self.parallel(),
        };
        !self.state.decide(now, &cx).is_empty()
            || crate::policy::owed(&self.e.config.approval_policies, &self.state)
                .iter()
                .any(|(actor, _)| !self.policy_refused.contains(actor))
    }

    /// Asked to pause or to release: no new attempt starts, even before the loop hears.
    fn stopping(&self) -> bool {
        self.pausing.is_some() || self.opts.pause.is_cancelled() || self.opts.release.is_cancelled()
    }

    fn end(&self) -> Option<RunEnd> {
        if self.releasing
            && self.flights.is_empty()
            && !matches!(self.state.status, RunStatus::Finished { .. })
        {
            return Some(RunEnd::Released);
        }
        match &self.state.status {
            RunStatus::Finished { outcome } => Some(RunEnd::Finished {
                outcome: outcome.clone(),
                outputs: outputs(&self.state),
            }),
            RunStatus::Paused { reason } if self.flights.is_empty() => {
                Some(RunEnd::Paused(reason.clone()))
            }
            _ => None,
        }
    }

    /// Waits for one thing to happen and records it.
    async fn wait(&mut self) -> Result<(), EngineError> {
        let now = self.e.clock.now();
        let mut wake = vec![self.next_heartbeat, self.next_poll];
        wake.extend(self.state.next_wake());
        wake.extend(
            self.flights
                .values()
                .filter_map(|f| f.timing_out.or(f.deadline)),
        );
        wake.extend(self.pausing);
        wake.extend(
            self.state
                .notices_waiting()
                .filter(|(n, _, _)| !self.notices.contains_key(n))
                .map(|(_, _, at)| at),
        );
        let at = wake.into_iter().min().unwrap_or(now);
        let nothing_to_wait_for = self.flights.is_empty()
            && self.notices.is_empty()
            && !self.state.notices_pending()
            && self.state.next_wake().is_none()
            && self.done_rx.is_empty()
            && !self.stopping()
            && !self.state.awaits_people()
            && !self.capped
            && self.state.status == RunStatus::Running;
        if nothing_to_wait_for && self.state.stage != Stage::Done {
            return Err(EngineError::Invalid(format!(
                "run {} cannot make progress (stage {:?}); this is a bug in drctl",
                self.state.id, self.state.stage
            )));
        }
        let (pause, release) = (self.opts.pause.clone(), self.opts.release.clone());
        let cancel = self.opts.cancel.clone();
        // A pause or a cancel comes first: a stream of fast attempts finishing would
        // otherwise keep the driver busy and the request unheard. Each fires once.
        tokio::select! {
            biased;
            () = pause.cancelled(), if self.pausing.is_none() => self.begin_pause()?,
            () = release.cancelled(), if self.pausing.is_none() => {
                self.releasing = true;
                self.begin_pause()?;
            }
            () = cancel.cancelled(), if !self.state.cancelled && self.state.status == RunStatus::Running => {
                self.queue(vec![EventKind::CancelRequested { reason: "the parent run was cancelled".into() }], &ENGINE)?;
            }
            Some(done) = self.done_rx.recv() => self.on_done(done)?,
            // A command for this run was just submitted here: read the inbox now.
            () = self.woken.notified() => self.next_poll = now,
            // Steps wait for a free action slot: one is free, decide again.
            Some(_free) = free_slot(self.e.slots.clone()), if self.capped => self.capped = false,
            () = tokio::time::sleep(at.since(now)) => self.on_timer().await?,
        }
        Ok(())
    }

    fn on_done(&mut self, done: Done) -> Result<(), EngineError> {
        match done {
            Done::Attempt { key, result } => {
                let flight = self.flights.remove(&key);
                let result = match (flight.and_then(|f| f.timing_out), result) {
                    (Some(_), AttemptResult::Cancelled | AttemptResult::Failed { .. }) => {
                        timeout_failure(&self.state, &key.0)
                    }
                    (_, result) => result,
                };
                // While pausing, a cancelled attempt is left as started: resume settles it.
                if !(self.pausing.is_some() && result == AttemptResult::Cancelled)
                    && self.expects(&key)
                {
                    self.record_finished(key, result)?;
                }
            }
            Done::Reconciled { key, observed } => {
                self.flights.remove(&key);
                let (step, item, phase, attempt) = key;
                let pause = match &observed {
                    Reconciliation::Unknown { reason } => Some(EventKind::Paused {
                        reason: PauseReason::Interrupted {
                            step: step.clone(),
                            item,
                            detail: reason.clone(),
                        },
                    }),
                    _ => None,
                };
                self.queue(
                    vec![EventKind::Reconciled {
                        step,
                        item,
                        phase,
                        attempt,
                        observed,
                    }],
                    &ENGINE,
                )?;
                self.queue(pause.into_iter().collect(), &ENGINE)?;
            }
            Done::Notice {
                notice,
                attempt,
                result,
            } => {
                self.notices.remove(&notice);
                if self.state.awaits_notice(notice, attempt) {
                    self.queue(
                        vec![EventKind::NoticeAttempted {
                            notice,
                            attempt,
                            result,
                        }],
                        &ENGINE,
                    )?;
                }
            }
            Done::ChildPaused { key } => {
                self.flights.remove(&key);
                if self.pausing.is_none() {
                    let child = self
                        .state
                        .steps
                        .get(&key.0)
                        .and_then(|s| s.items.get(key.1.unwrap_or(0) as usize))
                        .and_then(|i| i.child.clone());
                    if let Some(child) = child {
                        self.queue(
                            vec![EventKind::Paused {
                                reason: PauseReason::Child { step: key.0, child },
                            }],
                            &ENGINE,
                        )?;
                    }
                }
            }
        }
        if self.pausing.is_some() {
            self.pause_if_idle()?;
        }
        Ok(())
    }

    /// Records the operator's pause once no attempt is in flight (a release records
    /// nothing: `end` returns once the flights are gone).
    fn pause_if_idle(&mut self) -> Result<(), EngineError> {
        if !self.releasing
            && self.flights.is_empty()
            && !matches!(
                self.state.status,
                RunStatus::Paused { .. } | RunStatus::Finished { .. }
            )
        {
            self.queue(
                vec![EventKind::Paused {
                    reason: PauseReason::Operator,
                }],
                &self.e.config.actor.clone(),
            )?;
        }
        Ok(())
    }

    /// Records an attempt's result.
    fn record_finished(&mut self, key: Key, result: AttemptResult) -> Result<(), EngineError> {
        let (step, item, phase, attempt) = key;
        let finished = EventKind::AttemptFinished {
            step,
            item,
            phase,
            attempt,
            result,
        };
        self.queue(vec![finished], &ENGINE)
    }

    /// Whether the state is waiting for this attempt's result (it may have moved on).
    fn expects(&self, key: &Key) -> bool {
        let Some(it) = self
            .state
            .steps
            .get(&key.0)
            .and_then(|s| s.items.get(key.1.unwrap_or(0) as usize))
        else {
            return false;
        };
        match key.2 {
            Phase::Compensate => {
                matches!(it.compensation, Compensation::Running { attempt, .. } if attempt == key.3)
            }
            _ => {
                matches!(it.status, ItemStatus::Running { attempt, phase, .. } if attempt == key.3 && phase == key.2)
            }
        }
    }

    /// Renews the lease when its heartbeat is due. A store that does not answer for a
    /// moment (busy, an I/O hiccup) is asked again every [`RENEW_RETRY`] while the lease
    /// holds; a driver that still cannot renew gives up `cancel_grace` before its lease
    /// ends, and its attempts stop with it (see `Drop`), so that whoever takes the run
    /// over never finds it still acting.
    async fn heartbeat_if_due(&mut self, now: Timestamp) -> Result<(), EngineError> {
        if now < self.next_heartbeat {
            return Ok(());
        }
        match self
            .e
            .store
            .renew(&self.lease, now, self.e.config.lease_ttl)
            .await
        {
            Ok(lease) => {
                self.lease = lease;
                self.next_heartbeat = now.plus(self.e.config.heartbeat);
                Ok(())
            }
            Err(StoreError::Unavailable(why))
                if now.plus(RENEW_RETRY + self.e.config.cancel_grace) < self.lease.until =>
            {
                self.e.observer.notice(
                    &self.state,
                    &format!(
                        "cannot renew the lease of run {} ({why}); trying again",
                        self.state.id
                    ),
                );
                self.next_heartbeat = now.plus(RENEW_RETRY);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn on_timer(&mut self) -> Result<(), EngineError> {
        let now = self.e.clock.now();
        self.heartbeat_if_due(now).await?;
        let grace = self.e.config.cancel_grace;
        let mut expired = Vec::new();
        for (key, f) in &mut self.flights {
            match (f.deadline, f.timing_out) {
                (_, Some(end)) if now >= end => expired.push(key.clone()),
                (Some(deadline), None) if now >= deadline => {
                    f.cancel.cancel();
                    f.timing_out = Some(now.plus(grace));
                }
                _ => {}
            }
        }
        for key in expired {
            if let Some(f) = self.flights.remove(&key) {
                f.handle.abort();
            }
            if self.expects(&key) {
                let result = timeout_failure(&self.state, &key.0);
                self.record_finished(key, result)?;
            }
        }
        if let Some(end) = self.pausing
            && now >= end
        {
            // The grace is over: what still runs is abandoned, to be settled on resume.
            for (_, f) in self.flights.drain() {
                f.handle.abort();
            }
            self.pause_if_idle()?;
        }
        Ok(())
    }

    fn begin_pause(&mut self) -> Result<(), EngineError> {
        let now = self.e.clock.now();
        self.pausing = Some(now.plus(self.e.config.cancel_grace));
        self.pause_if_idle()
    }

    /// Operators' commands, each checked against the state first: one that applies is
    /// recorded as its event; one that no longer does (the gate was decided, the step
    /// started) is recorded as refused, with why. Either way it is settled exactly once,
    /// by the append that records it.
    fn apply_commands(&mut self, commands: &[Command]) -> Result<Vec<Taken>, EngineError> {
        let mut taken = Vec::with_capacity(commands.len());
        for cmd in commands {
            let mut kept = None;
            let (kind, refused) = match serde_json::from_value::<OperatorCommand>(cmd.body.clone())
            {
                Ok(command) => {
                    // What an operator typed may hold a secret (a pasted output, a comment).
                    let command = command.masked(&self.scrubber);
                    kept = serde_json::to_value(&command)
                        .ok()
                        .filter(|body| *body != cmd.body);
                    let probe = Event {
                        at: self.e.clock.now(),
                        actor: cmd.actor.clone(),
                        kind: command.event(),
                    };
                    let applies = command
                        .check_text()
                        .and_then(|()| self.state.clone().apply(&probe).map_err(|e| e.reason()));
                    match applies {
                        Ok(_) => (probe.kind, None),
                        Err(reason) => (
                            EventKind::CommandRefused {
                                asked: command.describe(),
                                reason: reason.clone(),
                            },
                            Some(reason),
                        ),
                    }
                }
                Err(e) => {
                    let reason = format!("this drctl cannot read it: {e}");
                    let kind = EventKind::CommandRefused {
                        asked: "an unreadable command".into(),
                        reason: reason.clone(),
                    };
                    (kind, Some(reason))
                }
            };
            self.queue(vec![kind], &cmd.actor)?;
            let seq = self.state.version;
            let outcome = match refused {
                None => CommandOutcome::Applied { seq },
                Some(reason) => {
                    self.e.observer.notice(
                        &self.state,
                        &format!("refused a command from {}: {reason}", cmd.actor),
                    );
                    CommandOutcome::Refused { seq, reason }
                }
            };
            taken.push(Taken {
                id: cmd.id,
                outcome,
                body: kept,
            });
        }
        Ok(taken)
    }

    /// Records the approvals configured policies owe the run's waiting gates. Each is
    /// checked like an operator's decision first; one that does not apply is reported
    /// once and left for a person.
    fn approve_by_policy(&mut self) -> Result<(), EngineError> {
        if self.pausing.is_some() || self.e.config.approval_policies.is_empty() {
            return Ok(());
        }
        for (actor, kind) in crate::policy::owed(&self.e.config.approval_policies, &self.state) {
            let probe = Event {
                at: self.e.clock.now(),
                actor: actor.clone(),
                kind: kind.clone(),
            };
            if let Err(e) = self.state.clone().apply(&probe) {
                if self.policy_refused.insert(actor.clone()) {
                    self.e
                        .observer
                        .notice(&self.state, &format!("{actor} did not approve: {e}"));
                }
                continue;
            }
            self.queue(vec![kind], &actor)?;
            // Decided gates may start more steps at once.
            self.decide()?;
        }
        Ok(())
    }

    /// After a resume, a step that still waits for an operator's decision pauses the run
    /// again at once, saying which: resuming cannot guess whether it ran.
    fn pause_if_waiting_for_operator(&mut self) -> Result<(), EngineError> {
        if let Some((step, item)) = self.waiting_for_operator() {
            let detail = "it needs an operator: `drctl step retry|skip|fail`".to_owned();
            self.queue(
                vec![EventKind::Paused {
                    reason: PauseReason::Interrupted { step, item, detail },
                }],
                &ENGINE,
            )?;
        }
        Ok(())
    }

    /// The first step (and item) interrupted with no way on but an operator's decision.
    fn waiting_for_operator(&self) -> Option<(StepId, Option<u32>)> {
        self.state.steps.iter().find_map(|(id, st)| {
            st.items.iter().enumerate().find_map(|(i, it)| {
                let stuck = matches!(
                    it.status,
                    ItemStatus::Interrupted {
                        next: Recovery::Pause,
                        ..
                    }
                ) || matches!(
                    it.compensation,
                    Compensation::Interrupted {
                        next: Recovery::Pause,
                        ..
                    }
                );
                let item = self
                    .state
                    .runbook
                    .step(id.as_str())
                    .and_then(|d| d.for_each.as_ref())
                    .map(|_| i as u32);
                stuck.then(|| (id.clone(), item))
            })
        })
    }

    /// Takes the run's lock (waiting while another run holds it), then starts the run.
    async fn take_lock(&mut self) -> Result<Option<RunEnd>, EngineError> {
        let Some(lock) = self.lock_name()? else {
            self.start()?;
            self.flush().await?;
            return Ok(None);
        };
        loop {
            let now = self.e.clock.now();
            match self.e.store.try_lock(&lock, &self.state.id, now).await? {
                drctl_store::LockOutcome::Acquired => {
                    self.queue(vec![EventKind::LockAcquired { lock }], &ENGINE)?;
                    self.start()?;
                    self.flush().await?;
                    return Ok(None);
                }
                drctl_store::LockOutcome::HeldBy(holder) => {
                    if self.opts.no_wait {
                        let reason = format!("lock `{lock}` is held by run {holder}");
                        self.queue(
                            vec![EventKind::RunFinished {
                                outcome: drctl_run::Outcome::Failed { reason },
                                measured: None,
                            }],
                            &ENGINE,
                        )?;
                        self.flush().await?;
                        return Ok(Some(RunEnd::LockHeld { lock, holder }));
                    }
                    let already = matches!(&self.state.status, RunStatus::WaitingForLock { held_by, .. } if *held_by == holder);
                    if !already {
                        self.queue(
                            vec![EventKind::LockWaiting {
                                lock: lock.clone(),
                                held_by: holder,
                            }],
                            &ENGINE,
                        )?;
                        self.flush().await?;
                    }
                }
            }
            let (pause, cancel) = (self.opts.pause.clone(), self.opts.cancel.clone());
            let release = self.opts.release.clone();
            tokio::select! {
                () = tokio::time::sleep(self.e.config.poll) => {}
                () = release.cancelled() => return Ok(Some(RunEnd::Released)),
                () = pause.cancelled() => {
                    self.queue(vec![EventKind::Paused { reason: PauseReason::Operator }], &self.e.config.actor.clone())?;
                    self.flush().await?;
                    return Ok(self.end());
                }
                () = cancel.cancelled() => {
                    self.queue(vec![EventKind::RunFinished { outcome: drctl_run::Outcome::Cancelled, measured: None }], &ENGINE)?;
                    self.flush().await?;
                    return Ok(self.end());
                }
            }
            self.heartbeat_if_due(self.e.clock.now()).await?;
            self.store_batch(true).await?;
            if self.state.cancelled {
                self.queue(
                    vec![EventKind::RunFinished {
                        outcome: drctl_run::Outcome::Cancelled,
                        measured: None,
                    }],
                    &ENGINE,
                )?;
                self.flush().await?;
                return Ok(self.end());
            }
        }
    }

    fn lock_name(&self) -> Result<Option<String>, EngineError> {
        let Some(template) = &self.state.runbook.lock else {
            return Ok(None);
        };
        let ctx = drctl_runbook::template::render::Context::new()
            .params(&self.state.created.params)
            .build();
        self.e
            .env
            .render(&template.source, &ctx)
            .map(Some)
            .map_err(|e| EngineError::Invalid(format!("the lock name cannot be rendered: {e}")))
    }

    fn start(&mut self) -> Result<(), EngineError> {
        let deadline = self
            .state
            .runbook
            .timeout
            .map(|t| self.e.clock.now().plus(t));
        self.queue(vec![EventKind::RunStarted { deadline }], &ENGINE)
    }

    /// Stops everything still running and gives the lease up.
    async fn shutdown(&mut self) {
        for (_, f) in self.flights.drain() {
            f.handle.abort();
        }
        // Undelivered notices are delivered again by whoever drives the run next.
        for (_, handle) in self.notices.drain() {
            handle.abort();
        }
        let _ = self.e.store.release(&self.lease).await;
    }
}

/// Waits until one of the engine's action slots is free (it is given back at once: the
/// attempt that takes it is decided next).
async fn free_slot(slots: Option<Arc<tokio::sync::Semaphore>>) -> Option<()> {
    slots?.acquire_owned().await.ok().map(drop)
}

/// A drive that is dropped mid-way (its task aborted, its process going down) takes its
/// attempts with it, as a dead process would: an attempt's task never outlives the driver
/// that records its result. (A drive that returns has drained these in `shutdown`.)
impl Drop for Driver {
    fn drop(&mut self) {
        let mut drivers = self.e.drivers.lock().unwrap_or_else(|e| e.into_inner());
        if drivers
            .get(&self.state.id)
            .is_some_and(|n| Arc::ptr_eq(n, &self.woken))
        {
            drivers.remove(&self.state.id);
        }
        drop(drivers);
        for (_, f) in self.flights.drain() {
            f.handle.abort();
        }
        for (_, handle) in self.notices.drain() {
            handle.abort();
        }
    }
}

fn timeout_failure(state: &RunState, step: &StepId) -> AttemptResult {
    let limit = state
        .runbook
        .step(step.as_str())
        .and_then(|d| d.timeout)
        .map(drctl_core::format_duration)
        .unwrap_or_default();
    AttemptResult::Failed {
        class: FailureClass::Timeout,
        message: format!("timed out after {limit}"),
    }
}

fn encode(e: &Event) -> Result<NewEvent, EngineError> {
    Ok(NewEvent {
        at: e.at,
        actor: e.actor.clone(),
        kind: e.kind.name().to_owned(),
        body: serde_json::to_string(e).map_err(|err| EngineError::Invalid(err.to_string()))?,
    })
}
