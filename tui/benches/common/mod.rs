//! What the console's benchmarks share: a real wide run, and percentiles.

#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use drctl_connectors::Registry;
use drctl_core::{Actor, ManualClock, RunId, Timestamp, Trigger};
use drctl_engine::{DriveOptions, Engine, EngineConfig, NewRunRequest};
use drctl_runbook::Source;
use drctl_store::{MemoryStore, Store};

/// The size asked for (`DRCTL_BENCH_STEPS`), 2,000 steps by default.
pub(crate) fn steps() -> usize {
    std::env::var("DRCTL_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Layers of 50 `log` steps, each step needing the one above it.
fn runbook(steps: usize) -> String {
    let width = 50;
    let mut y = String::from("runbook: wide\nsteps:\n");
    for i in 0..steps {
        let needs = if i < width {
            String::new()
        } else {
            format!(", needs: [s{}]", i - width)
        };
        y.push_str(&format!(
            "  - {{ id: s{i}, action: log, with: {{ message: \"step {i}\" }}{needs} }}\n"
        ));
    }
    y
}

/// A run of `steps` steps, created and driven to its end by the engine on the in-memory
/// store, on a manual clock.
pub(crate) async fn wide_run(registry: &Registry, steps: usize) -> (Engine, Arc<dyn Store>, RunId) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(Timestamp::from_millis(1_793_613_600_000));
    let engine = Engine::new(
        store.clone(),
        Arc::new(registry.clone()),
        Arc::new(clock),
        EngineConfig {
            max_parallel: 64,
            ..EngineConfig::default()
        },
    );
    let id = engine
        .create_run(NewRunRequest {
            source: Source::new("wide.yaml", runbook(steps)),
            callees: Vec::new(),
            params: serde_json::Map::new(),
            actor: Actor::from_stored("bench"),
            trigger: Trigger::Manual,
            drill: false,
            parent: None,
        })
        .await
        .unwrap();
    engine.drive(&id, DriveOptions::default()).await.unwrap();
    (engine, store, id)
}

/// Median (p50), p99 and max of `ms`, and how many `what` they were.
pub(crate) fn stats(mut ms: Vec<f64>, what: &str) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} {what})",
        at(0.5),
        at(0.99),
        at(1.0),
        ms.len()
    )
}
