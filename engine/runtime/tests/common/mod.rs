//! What the driver's tests share: one clock, an engine per "process", runs, sends.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{RunId, Timestamp};
use drctl_engine::clock::SystemClock;
use drctl_engine::{
    DriveOptions, Engine, EngineConfig, NewRunRequest, OperatorCommand, RunEnd, Submitted,
};
use drctl_run::Outcome;
use drctl_runbook::Source;
use drctl_store::Store;
use serde_json::{Map, Value};

use crate::fakes::Fakes;

pub const T0: i64 = 1_800_000_000_000;

/// One clock per test, shared by every "process" in it, as the wall clock is.
pub fn clock() -> Arc<SystemClock> {
    thread_local! {
        static CLOCK: Arc<SystemClock> = Arc::new(SystemClock::starting_at(Timestamp::from_millis(T0)));
    }
    CLOCK.with(Clone::clone)
}

pub fn engine(store: Arc<dyn Store>, fakes: Arc<Fakes>, worker: &str) -> Engine {
    let config = EngineConfig {
        worker: worker.into(),
        actor: drctl_core::Actor::from_stored("tester"),
        lease_ttl: Duration::from_secs(30),
        heartbeat: Duration::from_secs(10),
        cancel_grace: Duration::from_secs(5),
        poll: Duration::from_millis(200),
        max_parallel: 8,
        approval_policies: Vec::new(),
        fault: None,
    };
    Engine::new(store, fakes, clock(), config)
}

/// Leaves a command that must be accepted.
pub async fn send(e: &Engine, run: &RunId, actor: &str, command: &OperatorCommand) {
    let submitted = e
        .submit(
            run,
            &drctl_core::Actor::from_stored(actor),
            command,
            &|_| Ok(()),
        )
        .await
        .unwrap();
    assert!(
        matches!(submitted, Submitted::Accepted { .. }),
        "{submitted:?}"
    );
}

pub async fn create(e: &Engine, yaml: &str, params: Map<String, Value>) -> RunId {
    e.create_run(NewRunRequest {
        source: Source::new("t.yaml", yaml),
        callees: Vec::new(),
        params,
        actor: drctl_core::Actor::from_stored("alice"),
        trigger: drctl_core::Trigger::Manual,
        drill: false,
        parent: None,
    })
    .await
    .unwrap()
}

pub fn finished(end: &RunEnd) -> &Outcome {
    match end {
        RunEnd::Finished { outcome, .. } => outcome,
        other => panic!("{other:?}"),
    }
}

/// Drives a run in its own task, as another process would.
pub fn spawn_drive(
    e: &Engine,
    run: &RunId,
    opts: DriveOptions,
) -> tokio::task::JoinHandle<Result<RunEnd, drctl_engine::EngineError>> {
    let (e, run) = (e.clone(), run.clone());
    tokio::spawn(async move { e.drive(&run, opts).await })
}

/// A process that drives the run for `d`, then dies: its task is gone, its lease stays.
pub async fn crash_after(e: &Engine, run: &RunId, d: Duration) {
    let driving = spawn_drive(e, run, DriveOptions::default());
    tokio::time::sleep(d).await;
    driving.abort();
    let _ = driving.await;
}

pub async fn kinds(e: &Engine, run: &RunId) -> Vec<&'static str> {
    e.events(run)
        .await
        .unwrap()
        .iter()
        .map(|ev| ev.kind.name())
        .collect()
}
