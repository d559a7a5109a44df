//! The scheduler of `drctl serve`: at each tick, every schedule of every runbook in the
//! folder is looked at, the firings it owes are decided ([`super::plan`]), and each is
//! recorded in the store once per nominal time, with the run it starts in the same
//! transaction. No leader: two servers on one database both tick, and the store's key
//! lets exactly one of them record each nominal time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::{Actor, Clock, RunId, Timestamp, Trigger};
use drctl_engine::{Engine, EngineError, NewRunRequest};
use drctl_runbook::model::{Schedule, Trigger as Declared};
use drctl_store::{FiringOutcome, FiringRow, NewFiring, Store, StoreError};
use tokio_util::sync::CancellationToken;

use super::cadence::Cadence;
use super::notices::{Notifier, owed};
use super::plan::{Decision, Situation, decide};
use crate::ops::folder::{Entry, FolderError, scan_async};
use crate::ops::start::{StartError, from_folder};

/// How many of a schedule's newest firings a tick reads.
const RECENT: u32 = 20;

/// What a tick recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub runbook: String,
    pub trigger: String,
    pub nominal: Timestamp,
    pub outcome: FiringOutcome,
    pub reason: Option<String>,
    pub run: Option<RunId>,
}

/// Why a tick stopped short.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("a service notice was not sent: {0}")]
    Notice(String),
    #[error("{0}")]
    Readiness(String),
}

/// See the module doc.
#[derive(Clone)]
pub struct Scheduler {
    engine: Engine,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    registry: Registry,
    dir: PathBuf,
    notifier: Option<Arc<Notifier>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    pub fn new(
        engine: Engine,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        registry: Registry,
        dir: PathBuf,
    ) -> Self {
        Self {
            engine,
            store,
            clock,
            registry,
            dir,
            notifier: None,
        }
    }

    /// Sends `[[serve.notify]]` notices after each tick.
    #[must_use]
    pub fn with_notifier(mut self, notifier: Arc<Notifier>) -> Self {
        self.notifier = Some(notifier).filter(|n| !n.is_empty());
        self
    }

    /// Ticks every `every` until `stop`, telling `fired` what each tick recorded (a run it
    /// started is for the caller to drive) and `failed` why one stopped short.
    pub async fn run(
        &self,
        every: Duration,
        stop: CancellationToken,
        fired: impl Fn(&Fired) + Send + Sync,
        failed: impl Fn(&TickError) + Send + Sync,
    ) {
        loop {
            // One read of the folder serves the firings, the notices and the readiness.
            match scan_async(&self.dir, &self.registry).await {
                Ok(entries) => match self.tick_in(&entries).await {
                    Ok(all) => {
                        all.iter().for_each(&fired);
                        // Proposals past their deadline read `expired` from now on.
                        if let Err(e) = self.store.expire_proposals(self.clock.now()).await {
                            failed(&TickError::from(e));
                        }
                        if let Err(e) = self.notify_in(&entries, &all).await {
                            failed(&e);
                        }
                        if let Err(e) = self.readiness_in(&entries).await {
                            failed(&e);
                        }
                    }
                    Err(e) => failed(&e),
                },
                Err(e) => failed(&TickError::Folder(e)),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// The notices a tick owes (its missed firings, the drills overdue or failed now),
    /// each sent once.
    pub async fn notify(&self, fired: &[Fired]) -> Result<(), TickError> {
        self.notify_in(&scan_async(&self.dir, &self.registry).await?, fired)
            .await
    }

    async fn notify_in(&self, entries: &[Entry], fired: &[Fired]) -> Result<(), TickError> {
        let Some(notifier) = &self.notifier else {
            return Ok(());
        };
        let now = self.clock.now();
        let views = super::view::list_in(entries, self.store.as_ref(), now)
            .await
            .map_err(|e| TickError::Notice(e.to_string()))?;
        let mut notices = owed(fired, &views.schedules);
        let waiting = crate::hooks::propose::list(self.store.as_ref(), now)
            .await
            .map_err(|e| TickError::Notice(e.to_string()))?;
        notices.extend(super::notices::proposed(&waiting));
        let errors = notifier.send(&notices, now).await?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TickError::Notice(errors.join("; ")))
        }
    }

    /// Checks each runbook whose readiness check is due, records the result, and sends
    /// a notice when it changed. What was checked: (runbook, ready).
    pub async fn readiness(&self) -> Result<Vec<(String, bool)>, TickError> {
        self.readiness_in(&scan_async(&self.dir, &self.registry).await?)
            .await
    }

    async fn readiness_in(&self, entries: &[Entry]) -> Result<Vec<(String, bool)>, TickError> {
        let mut out = Vec::new();
        for rb in entries.iter().filter_map(|e| e.runbook.as_ref()) {
            let Some(r) = &rb.readiness else { continue };
            let name = rb.name.as_str();
            let last = self.store.last_readiness(name).await?;
            let now = self.clock.now();
            if !super::readiness::due(r, last.as_ref(), now) {
                continue;
            }
            // On a thread of its own: the live plan's calls hold the action catalog, which
            // is not shared across the server's threads.
            let (rb2, r2, registry) = (rb.clone(), r.clone(), self.registry.clone());
            let findings = tokio::task::spawn_blocking(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(super::readiness::check(&rb2, &r2, &registry)))
            })
            .await
            .map_err(|e| {
                TickError::Readiness(format!("the readiness check of {name} failed: {e}"))
            })?
            .map_err(|e| {
                TickError::Readiness(format!("the readiness check of {name} failed: {e}"))
            })?;
            let row = drctl_store::ReadinessRow {
                runbook: name.to_owned(),
                at: self.clock.now(),
                ready: findings.is_empty(),
                findings,
            };
            self.store.record_readiness(&row).await?;
            out.push((name.to_owned(), row.ready));
            if let (Some(notifier), Some(notice)) = (
                &self.notifier,
                super::notices::readiness_change(last.as_ref(), &row),
            ) {
                let errors = notifier.send(&[notice], row.at).await?;
                if !errors.is_empty() {
                    return Err(TickError::Notice(errors.join("; ")));
                }
            }
        }
        Ok(out)
    }

    /// One look at every schedule of the folder.
    pub async fn tick(&self) -> Result<Vec<Fired>, TickError> {
        self.tick_in(&scan_async(&self.dir, &self.registry).await?)
            .await
    }

    async fn tick_in(&self, entries: &[Entry]) -> Result<Vec<Fired>, TickError> {
        let mut out = Vec::new();
        for rb in entries.iter().filter_map(|e| e.runbook.as_ref()) {
            for t in &rb.triggers {
                if let Declared::Schedule(s) = t {
                    out.extend(self.look(rb.name.as_str(), s).await?);
                }
            }
        }
        Ok(out)
    }

    async fn look(&self, runbook: &str, s: &Schedule) -> Result<Vec<Fired>, TickError> {
        let Ok(cadence) = Cadence::of(s) else {
            // The compiler checked the cron: a runbook that compiled has a valid one.
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let trigger = s.name.as_str();
        let row = self.store.schedule(runbook, trigger, now).await?;
        let recent = self.store.firings(runbook, trigger, RECENT).await?;
        let mut running = self.running(runbook, trigger).await?;
        let mut out = Vec::new();
        let buffered = recent.iter().find(|f| f.outcome == FiringOutcome::Buffered);
        if let (Some(waiting), None, None) = (buffered, &running, &row.paused)
            && let Some(f) = self.start_buffered(runbook, s, waiting).await?
        {
            running.clone_from(&f.run);
            out.push(f);
        }
        let situation = Situation {
            runbook,
            schedule: s,
            since: row.since,
            last: recent.first().map(|f| f.nominal),
            now,
            paused: row.paused.as_ref(),
            running: running.as_ref(),
            buffered: buffered.is_some() && out.is_empty(),
        };
        for d in decide(&cadence, &situation) {
            if let Some(f) = self.record(runbook, s, d).await? {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// An unfinished run this schedule started.
    async fn running(&self, runbook: &str, trigger: &str) -> Result<Option<RunId>, StoreError> {
        let ours = Trigger::Schedule(trigger.to_owned());
        let rows = crate::ops::runs::of_trigger(self.store.as_ref(), runbook, &ours).await?;
        Ok(rows.into_iter().find(|r| !r.is_finished()).map(|r| r.id))
    }

    /// The run a firing starts, as the folder holds the runbook now.
    fn request(&self, runbook: &str, s: &Schedule) -> Result<NewRunRequest, StartError> {
        let params = s
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let ready = from_folder(&self.dir, runbook, &params, &self.registry)?;
        Ok(NewRunRequest {
            source: ready.source,
            callees: ready.callees,
            params: ready.params,
            actor: Actor::Engine,
            trigger: Trigger::Schedule(s.name.clone()),
            drill: s.drill,
            parent: None,
        })
    }

    async fn record(
        &self,
        runbook: &str,
        s: &Schedule,
        d: Decision,
    ) -> Result<Option<Fired>, TickError> {
        let mut firing = NewFiring {
            runbook: runbook.to_owned(),
            trigger: s.name.clone(),
            nominal: d.nominal,
            at: self.clock.now(),
            outcome: d.outcome,
            reason: d.reason,
        };
        let run = if firing.outcome == FiringOutcome::Started {
            match self.request(runbook, s) {
                Ok(req) => match self.engine.create_fired(req, &firing).await? {
                    Some(id) => Some(id),
                    None => return Ok(None),
                },
                Err(why) => {
                    // A runbook that cannot start now (a secret unreadable, a param that
                    // no longer fits) misses its firing, and says why.
                    firing.outcome = FiringOutcome::Missed;
                    firing.reason = Some(format!("could not start: {}", describe(&why)));
                    if !self.store.record_firing(&firing, None).await? {
                        return Ok(None);
                    }
                    None
                }
            }
        } else {
            if !self.store.record_firing(&firing, None).await? {
                return Ok(None);
            }
            None
        };
        Ok(Some(Fired {
            runbook: firing.runbook,
            trigger: firing.trigger,
            nominal: firing.nominal,
            outcome: firing.outcome,
            reason: firing.reason,
            run,
        }))
    }

    async fn start_buffered(
        &self,
        runbook: &str,
        s: &Schedule,
        waiting: &FiringRow,
    ) -> Result<Option<Fired>, TickError> {
        let Ok(req) = self.request(runbook, s) else {
            // It stays buffered; the next firing's own start says why it cannot run.
            return Ok(None);
        };
        Ok(self
            .engine
            .start_buffered(req, waiting)
            .await?
            .map(|run| Fired {
                runbook: runbook.to_owned(),
                trigger: s.name.clone(),
                nominal: waiting.nominal,
                outcome: FiringOutcome::Started,
                reason: Some("waited for the previous run to end".to_owned()),
                run: Some(run),
            }))
    }
}

/// A start's refusal on one line, with its details.
fn describe(e: &StartError) -> String {
    match e {
        StartError::Unimplemented(list) | StartError::Params(list) => {
            format!("{e}: {}", list.join("; "))
        }
        StartError::Folder(FolderError::Invalid { errors, .. }) => {
            format!("{e}: {}", errors.join("; "))
        }
        other => other.to_string(),
    }
}
