//! Finds the runs that need a driver and drives them.
//!
//! A run needs a driver when it is not finished and not paused and nobody drives it:
//! created and never claimed (a detached `drctl run`), or claimed by a process that is
//! gone (its lease expired, or its pid no longer runs on this host). Paused runs wait for
//! an operator's `resume`; sub-runs are driven by their parent's driver. Every scan reads
//! this from the store, so the work survives any restart; the lease decides who drives,
//! so two servers on one database never drive the same run at once.
//!
//! A run the server drives is recovered by the engine's crash rules (an idempotent step
//! runs again, another is reconciled, or the run pauses for an operator): nobody types
//! `resume` after a crash. Stopping the server releases every run (see
//! `DriveOptions::release`), so a restart continues them at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use drctl_core::{Clock, RunId, Timestamp};
use drctl_engine::{DriveOptions, Engine, EngineError, RunEnd, liveness};
use drctl_store::{RunFilter, RunRow, RunStatus, Store, StoreError};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ServeConfig;

/// What the supervisor did, for the host to print or count.
#[derive(Debug)]
pub enum Activity {
    /// Began driving a run; `why` says what it found.
    Driving { run: RunId, why: String },
    /// A drive returned.
    Ended { run: RunId, end: RunEnd },
    /// A drive failed; the run is tried again after `retry_in`.
    Failed {
        run: RunId,
        error: String,
        retry_in: Duration,
    },
    /// The store could not be read; the scan is tried again on the next tick.
    ScanFailed(String),
}

/// A failed drive is tried again after this, doubling up to [`MAX_BACKOFF`]: a run whose
/// secret is missing must not be retried every second.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub struct Supervisor {
    engine: Engine,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    limits: ServeConfig,
    handle: Handle,
    requests: Mutex<mpsc::UnboundedReceiver<Request>>,
    report: Box<dyn Fn(Activity) + Send + Sync>,
}

/// Asks a running supervisor to drive a run now, without waiting for its next scan.
#[derive(Debug, Clone)]
pub struct Handle(mpsc::UnboundedSender<Request>);

#[derive(Debug)]
struct Request {
    run: RunId,
    /// Resume it, recorded as resumed by this identity.
    resume: Option<drctl_core::Actor>,
}

impl Handle {
    /// A run this server just created: driven at once (a scan leaves a created run alone
    /// for a moment, in case its creator drives it in the foreground).
    pub fn submitted(&self, run: &RunId) {
        let _ = self.0.send(Request {
            run: run.clone(),
            resume: None,
        });
    }

    /// A run an operator resumed, or one with a command waiting and nobody to drive it
    /// (a paused run cancelled): driven, resuming it, recorded as resumed by `by`.
    pub fn resume(&self, run: &RunId, by: &drctl_core::Actor) {
        let _ = self.0.send(Request {
            run: run.clone(),
            resume: Some(by.clone()),
        });
    }
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Supervisor {
    pub fn new(
        engine: Engine,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        limits: ServeConfig,
        report: impl Fn(Activity) + Send + Sync + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            engine,
            store,
            clock,
            limits,
            handle: Handle(tx),
            requests: Mutex::new(rx),
            report: Box::new(report),
        }
    }

    /// For the API: asks for a run to be driven now.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    fn spawn(
        &self,
        tasks: &mut JoinSet<(RunId, Result<RunEnd, EngineError>)>,
        stop: &CancellationToken,
        run: RunId,
        resumed_by: Option<drctl_core::Actor>,
    ) {
        let engine = self.engine.clone();
        let opts = DriveOptions {
            resume: resumed_by.is_some(),
            resumed_by,
            release: stop.child_token(),
            ..DriveOptions::default()
        };
        tasks.spawn(async move {
            let end = engine.drive(&run, opts).await;
            (run, end)
        });
    }

    /// Drives runs until `stop` is cancelled, then hands back every run it drives (each
    /// attempt under way gets the engine's grace period) and returns.
    pub async fn run(&self, stop: CancellationToken) {
        let mut requests = self.requests.lock().await;
        let mut tasks: JoinSet<(RunId, Result<RunEnd, EngineError>)> = JoinSet::new();
        let mut driving: HashSet<RunId> = HashSet::new();
        let mut backoff: HashMap<RunId, (Timestamp, Duration)> = HashMap::new();
        // Runs this server was asked to drive (started or resumed through the API), in
        // the order asked, waiting for a slot: ahead of what a scan finds.
        let mut asked: VecDeque<Request> = VecDeque::new();
        while !stop.is_cancelled() {
            // A run parked at an approval gate holds no action: it does not take a slot,
            // or a week of pending approvals would starve every other run.
            let parked = self.parked(&driving).await;
            let busy = |driving: &HashSet<RunId>| driving.len().saturating_sub(parked);
            while busy(&driving) < self.limits.max_runs
                && let Some(Request { run, resume }) = asked.pop_front()
            {
                if driving.insert(run.clone()) {
                    backoff.remove(&run);
                    let why = match &resume {
                        Some(by) => format!("resumed by {by}"),
                        None => "submitted".to_owned(),
                    };
                    (self.report)(Activity::Driving {
                        run: run.clone(),
                        why,
                    });
                    self.spawn(&mut tasks, &stop, run, resume);
                }
            }
            if busy(&driving) < self.limits.max_runs {
                match self.needing_a_driver().await {
                    Ok(found) => {
                        let now = self.clock.now();
                        for (row, why) in found {
                            if busy(&driving) >= self.limits.max_runs {
                                break;
                            }
                            if driving.contains(&row.id)
                                || backoff.get(&row.id).is_some_and(|(at, _)| *at > now)
                            {
                                continue;
                            }
                            driving.insert(row.id.clone());
                            (self.report)(Activity::Driving {
                                run: row.id.clone(),
                                why,
                            });
                            self.spawn(&mut tasks, &stop, row.id, None);
                        }
                    }
                    Err(e) => (self.report)(Activity::ScanFailed(e.to_string())),
                }
            }
            tokio::select! {
                () = stop.cancelled() => {}
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    self.settle(joined, &mut driving, &mut backoff);
                }
                () = tokio::time::sleep(self.limits.scan()) => {}
                Some(request) = requests.recv() => {
                    // Taken in order on the next turn, within the limit.
                    if !driving.contains(&request.run)
                        && !asked.iter().any(|a| a.run == request.run)
                    {
                        asked.push_back(request);
                    }
                }
            }
        }
        while let Some(joined) = tasks.join_next().await {
            self.settle(joined, &mut driving, &mut backoff);
        }
    }

    fn settle(
        &self,
        joined: Result<(RunId, Result<RunEnd, EngineError>), tokio::task::JoinError>,
        driving: &mut HashSet<RunId>,
        backoff: &mut HashMap<RunId, (Timestamp, Duration)>,
    ) {
        let Ok((run, end)) = joined else {
            // A drive's task panicked: the run stays claimed until its lease ends, then
            // it is found again like any run whose driver died.
            (self.report)(Activity::ScanFailed("a drive stopped unexpectedly".into()));
            return;
        };
        driving.remove(&run);
        match end {
            Ok(end) => {
                backoff.remove(&run);
                (self.report)(Activity::Ended { run, end });
            }
            // Another live process drives it: nothing to do, nothing to report.
            Err(EngineError::Store(StoreError::Leased { .. })) => {}
            Err(e) => {
                let wait = backoff
                    .get(&run)
                    .map_or(FIRST_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                backoff.insert(run.clone(), (self.clock.now().plus(wait), wait));
                (self.report)(Activity::Failed {
                    run,
                    error: e.to_string(),
                    retry_in: wait,
                });
            }
        }
    }

    /// How many of the runs driven here wait only for people: a step awaiting approval,
    /// and none with an action in flight.
    async fn parked(&self, driving: &HashSet<RunId>) -> usize {
        let mut parked = 0;
        for run in driving {
            let Ok(steps) = self.store.steps(run).await else {
                continue;
            };
            let waits = steps.iter().any(|s| s.status == "awaiting approval");
            let acts = steps.iter().any(|s| {
                matches!(
                    s.status.as_str(),
                    "running" | "verifying" | "retrying" | "sleeping"
                )
            });
            if waits && !acts {
                parked += 1;
            }
        }
        parked
    }

    /// The top-level runs nobody drives, oldest first, with why each needs a driver.
    async fn needing_a_driver(&self) -> Result<Vec<(RunRow, String)>, StoreError> {
        let now = self.clock.now();
        let mut found = Vec::new();
        for status in [RunStatus::Created, RunStatus::Running, RunStatus::Waiting] {
            let rows = self
                .store
                .list_runs(&RunFilter {
                    status: Some(status),
                    runbook: None,
                    top_level: true,
                    limit: usize::MAX >> 1,
                    ..RunFilter::default()
                })
                .await?;
            found.extend(
                rows.into_iter()
                    .filter_map(|row| needs_driver(&row, now, &self.limits).map(|why| (row, why))),
            );
        }
        found.sort_by_key(|(row, _)| row.created_at);
        Ok(found)
    }
}

/// Why nobody drives this run and somebody should, or `None`.
pub fn needs_driver(row: &RunRow, now: Timestamp, limits: &ServeConfig) -> Option<String> {
    if !matches!(
        row.status,
        RunStatus::Created | RunStatus::Running | RunStatus::Waiting
    ) {
        return None;
    }
    if row.status == RunStatus::Created && row.owner.is_none() {
        return (now.since(row.created_at) >= limits.unclaimed())
            .then(|| "submitted, not yet claimed".to_owned());
    }
    liveness::undriven(row.owner.as_deref(), row.lease_until, now)
}
