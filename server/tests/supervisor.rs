//! The supervisor on the in-memory store and tokio's paused time: it finds detached runs
//! and runs whose driver died, keeps to its limit, leaves paused runs alone, and hands
//! every run back when it stops.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drctl_connectors::Registry;
use drctl_core::{Clock as _, RunId};
use drctl_engine::clock::SystemClock;
use drctl_engine::{DriveOptions, Engine, EngineConfig, NewRunRequest};
use drctl_runbook::Source;
use drctl_server::{Activity, ServeConfig, Supervisor};
use drctl_store::{Claim, MemoryStore, Store};
use serde_json::Map;
use tokio_util::sync::CancellationToken;

const SLOW: &str = "runbook: slow\nsteps:\n  - { id: wait, action: sleep, with: { duration: 10s } }\n  - { id: after, needs: [wait], action: log, with: { message: done } }\n";

fn engine(store: &Arc<dyn Store>, worker: &str) -> Engine {
    Engine::new(
        store.clone(),
        Arc::new(Registry::builtin()),
        Arc::new(SystemClock::new()),
        EngineConfig {
            worker: worker.into(),
            cancel_grace: Duration::from_secs(5),
            ..EngineConfig::default()
        },
    )
}

async fn create(e: &Engine, yaml: &str) -> RunId {
    e.create_run(NewRunRequest {
        source: Source::new("t.yaml", yaml),
        callees: Vec::new(),
        params: Map::new(),
        actor: drctl_core::Actor::from_stored("alice"),
        trigger: drctl_core::Trigger::Manual,
        drill: false,
        parent: None,
    })
    .await
    .unwrap()
}

struct Host {
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
    log: Arc<Mutex<Vec<String>>>,
    handle: drctl_server::Handle,
}

fn serve(store: &Arc<dyn Store>, worker: &str, max_runs: usize) -> Host {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let supervisor = Supervisor::new(
        engine(store, worker),
        store.clone(),
        Arc::new(SystemClock::new()),
        ServeConfig {
            max_runs,
            ..ServeConfig::default()
        },
        move |a: Activity| seen.lock().unwrap().push(format!("{a:?}")),
    );
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = supervisor.handle();
    let done = tokio::spawn(async move { supervisor.run(token).await });
    Host {
        stop,
        done,
        log,
        handle,
    }
}

async fn status(store: &Arc<dyn Store>, run: &RunId) -> String {
    store.run(run).await.unwrap().unwrap().status.to_string()
}

#[tokio::test(start_paused = true)]
async fn detached_runs_are_driven_within_the_limit_and_finish() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(&store, "cli");
    let (a, b) = (create(&e, SLOW).await, create(&e, SLOW).await);
    let host = serve(&store, "serve-1", 1);
    // Not at once: a foreground `drctl run` claims what it creates within milliseconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        (status(&store, &a).await, status(&store, &b).await),
        ("created".into(), "created".into())
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    // One at a time (both were created in the same millisecond: either may go first).
    let mut now = [status(&store, &a).await, status(&store, &b).await];
    now.sort();
    assert_eq!(now, ["created", "running"]);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        (status(&store, &a).await, status(&store, &b).await),
        ("succeeded".into(), "succeeded".into())
    );
    host.stop.cancel();
    host.done.await.unwrap();
    let log = host.log.lock().unwrap().join("\n");
    assert_eq!(log.matches("Driving").count(), 2, "{log}");
}

#[tokio::test(start_paused = true)]
async fn stopping_hands_runs_back_and_the_next_start_continues_them() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(&store, "cli");
    let run = create(&e, SLOW).await;
    let first = serve(&store, "serve-1", 8);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(status(&store, &run).await, "running");
    first.stop.cancel();
    // The sleep step outlasts the grace (5 s): the stop takes the grace, no longer.
    let t = tokio::time::Instant::now();
    first.done.await.unwrap();
    assert!(t.elapsed() <= Duration::from_secs(6), "{:?}", t.elapsed());
    let row = store.run(&run).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.owner.as_deref()),
        ("running", None)
    );
    // The next start takes it at once (no lease to wait out) and finishes it.
    let second = serve(&store, "serve-2", 8);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(status(&store, &run).await, "succeeded");
    second.stop.cancel();
    second.done.await.unwrap();
    assert!(
        first
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Released"))
    );
}

#[tokio::test(start_paused = true)]
async fn runs_of_a_dead_driver_are_recovered_and_paused_or_live_ones_left_alone() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(&store, "cli");
    // A run claimed by a driver that stopped renewing: taken once its lease expires.
    let orphan = create(&e, SLOW).await;
    let now = SystemClock::new().now();
    store
        .claim(&Claim {
            run: orphan.clone(),
            owner: "other-host:1:0".into(),
            now,
            ttl: Duration::from_secs(30),
            take_over_from: None,
        })
        .await
        .unwrap();
    // A paused run: an operator resumes it, not the server.
    let paused = create(&e, SLOW).await;
    let opts = DriveOptions::default();
    opts.pause.cancel();
    e.drive(&paused, opts).await.unwrap();
    assert_eq!(status(&store, &paused).await, "paused");

    let host = serve(&store, "serve-1", 8);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        status(&store, &orphan).await,
        "created",
        "its lease still holds"
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(status(&store, &orphan).await, "succeeded");
    assert_eq!(status(&store, &paused).await, "paused");
    host.stop.cancel();
    host.done.await.unwrap();
}

#[test]
fn what_needs_a_driver() {
    use drctl_core::Timestamp;
    use drctl_server::supervisor::needs_driver;
    let limits = ServeConfig::default();
    let now = Timestamp::from_millis(100_000);
    let row =
        |status: &str, owner: Option<&str>, until: Option<i64>, created: i64| drctl_store::RunRow {
            id: "run_01JD3ZZZZZZZZZZZZZZZZZZZZZ".parse().unwrap(),
            runbook: "r".into(),
            source_name: "r.yaml".into(),
            digest: String::new(),
            parent: None,
            parent_step: None,
            actor: drctl_core::Actor::from_stored("alice"),
            status: drctl_store::RunStatus::parse(status).unwrap(),
            detail: None,
            created_at: Timestamp::from_millis(created),
            updated_at: Timestamp::from_millis(created),
            finished_at: None,
            version: 1,
            head_hash: String::new(),
            owner: owner.map(str::to_owned),
            lease_until: until.map(Timestamp::from_millis),
            drill: false,
            trigger: drctl_core::Trigger::Manual,
            rto: None,
        };
    assert!(needs_driver(&row("created", None, None, 99_000), now, &limits).is_none());
    assert!(needs_driver(&row("created", None, None, 97_000), now, &limits).is_some());
    assert!(
        needs_driver(
            &row("running", Some("h:1:0"), Some(100_500), 0),
            now,
            &limits
        )
        .is_none()
    );
    assert!(
        needs_driver(
            &row("running", Some("h:1:0"), Some(99_999), 0),
            now,
            &limits
        )
        .is_some()
    );
    assert!(needs_driver(&row("waiting", None, None, 0), now, &limits).is_some());
    for done in ["paused", "succeeded", "failed", "cancelled"] {
        assert!(
            needs_driver(&row(done, None, None, 0), now, &limits).is_none(),
            "{done}"
        );
    }
}

/// A run waiting for people holds no action: it does not take one of the slots.
#[tokio::test(start_paused = true)]
async fn runs_waiting_at_a_gate_do_not_take_a_slot() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(&store, "cli");
    let gated = "runbook: gated\nsteps:\n  - id: gate\n    approval: { approvers: [bob] }\n  - { id: after, needs: [gate], action: log, with: { message: done } }\n";
    let (g1, g2) = (create(&e, gated).await, create(&e, gated).await);
    let host = serve(&store, "serve-1", 1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let quick = create(
        &e,
        "runbook: quick\nsteps:\n  - { id: a, action: log, with: { message: hi } }\n",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(status(&store, &quick).await, "succeeded");
    for g in [&g1, &g2] {
        let steps = store.steps(g).await.unwrap();
        assert_eq!(steps[0].status, "awaiting approval", "{steps:?}");
    }
    host.stop.cancel();
    host.done.await.unwrap();
}

/// Runs started through the API are driven at once, but within the limit too.
#[tokio::test(start_paused = true)]
async fn submitted_runs_start_at_once_within_the_limit() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(&store, "api");
    let host = serve(&store, "serve-1", 1);
    let (a, b) = (create(&e, SLOW).await, create(&e, SLOW).await);
    host.handle.submitted(&a);
    host.handle.submitted(&b);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        (status(&store, &a).await, status(&store, &b).await),
        ("running".into(), "created".into())
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        (status(&store, &a).await, status(&store, &b).await),
        ("succeeded".into(), "succeeded".into())
    );
    host.stop.cancel();
    host.done.await.unwrap();
}
