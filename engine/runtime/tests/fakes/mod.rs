//! Fake actions driven by their inputs, on the real action specs.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drctl_connectors::Registry;
use drctl_core::{
    Action, ActionCatalog, ActionCtx, ActionError, ActionRegistry, ActionSpec, Observed,
};
use serde_json::{Value, json};

/// `log`'s `message` says what to do: `hang` (until cancelled), `stubborn` (ignores the
/// cancel), `flaky:N` (fails N times, retryable), `broken` (permanent), anything else echoes.
/// `exec`'s first argv word does the same; its reconcile check answers `argv[0]` of
/// `reconcile`: `done`, `not-done`, or unknown.
pub struct Fakes {
    registry: Registry,
    pub calls: Arc<Mutex<Vec<(String, Value)>>>,
    /// When each call began, on tokio's (paused) clock, with its input.
    pub timeline: Arc<Mutex<Vec<(tokio::time::Instant, Value)>>>,
    counters: Arc<Mutex<HashMap<String, u32>>>,
}

impl Fakes {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            registry: Registry::builtin(),
            calls: Arc::default(),
            timeline: Arc::default(),
            counters: Arc::default(),
        })
    }

    pub fn calls_of(&self, action: &str) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| a == action)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

impl ActionCatalog for Fakes {
    fn spec(&self, name: &str) -> Option<&ActionSpec> {
        self.registry.spec(name)
    }
    fn names(&self) -> Vec<&str> {
        self.registry.names()
    }
}

impl ActionRegistry for Fakes {
    fn action(&self, name: &str) -> Option<Arc<dyn Action>> {
        let spec = self.registry.spec(name)?.clone();
        Some(Arc::new(Fake {
            spec,
            calls: self.calls.clone(),
            timeline: self.timeline.clone(),
            counters: self.counters.clone(),
        }))
    }
}

struct Fake {
    spec: ActionSpec,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    timeline: Arc<Mutex<Vec<(tokio::time::Instant, Value)>>>,
    counters: Arc<Mutex<HashMap<String, u32>>>,
}

static STUBBORN: AtomicU32 = AtomicU32::new(0);

#[async_trait]
impl Action for Fake {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        self.calls
            .lock()
            .unwrap()
            .push((self.spec.name.to_string(), input.clone()));
        self.timeline
            .lock()
            .unwrap()
            .push((tokio::time::Instant::now(), input.clone()));
        let word = input["message"]
            .as_str()
            .or_else(|| input["argv"][0].as_str())
            .or_else(|| input["url"].as_str())
            .unwrap_or("")
            .to_owned();
        match word.as_str() {
            "hang" => {
                ctx.cancel.cancelled().await;
                Err(ActionError::Cancelled)
            }
            "stubborn" => {
                STUBBORN.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_secs(86_400)).await;
                Ok(json!("never"))
            }
            "broken" => Err(ActionError::Permanent("it is broken".into())),
            w if w.starts_with("flaky:") => {
                let n: u32 = w[6..].parse().unwrap_or(1);
                let mut counters = self.counters.lock().unwrap();
                let c = counters.entry(format!("{}:{}", ctx.step, w)).or_default();
                *c += 1;
                if *c <= n {
                    Err(ActionError::Retryable(format!("try {c} failed")))
                } else {
                    Ok(json!({"tries": *c}))
                }
            }
            // A health check that took 2N ms and first saw the service healthy after N.
            w if w.starts_with("healthy:") => {
                let ms: u64 = w[8..].parse().unwrap_or(10);
                tokio::time::sleep(std::time::Duration::from_millis(2 * ms)).await;
                Ok(json!({"first_healthy_ms": ms}))
            }
            // A write probe's report: `rpo LOST SECONDS`.
            "rpo" => Ok(json!({
                "lost_writes": input["argv"][1].as_str().and_then(|n| n.parse::<u64>().ok()),
                "lost_seconds": input["argv"][2].as_str().and_then(|n| n.parse::<f64>().ok()),
            })),
            w if w.starts_with("sleep:") => {
                let ms: u64 = w[6..].parse().unwrap_or(10);
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                Ok(json!({"slept": ms}))
            }
            // A load balancer's weight: `weight N` sets it.
            "weight" => {
                let w = input["argv"][1]
                    .as_str()
                    .and_then(|n| n.parse::<u64>().ok());
                *self
                    .counters
                    .lock()
                    .unwrap()
                    .entry("weight".into())
                    .or_default() = w.unwrap_or(0) as u32;
                Ok(json!({ "weight": w }))
            }
            // The error rate of the service behind it: 1% until half the traffic has
            // moved, 12% from then on; over the 5% the argument names, the check fails.
            "error-rate" => {
                let limit: f64 = input["argv"][1]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(5.0);
                let weight = self
                    .counters
                    .lock()
                    .unwrap()
                    .get("weight")
                    .copied()
                    .unwrap_or(0);
                let rate = if weight >= 50 { 12.0 } else { 1.0 };
                if rate > limit {
                    Err(ActionError::Permanent(format!(
                        "error rate {rate:.1}% is over {limit}% at weight {weight}"
                    )))
                } else {
                    Ok(json!({ "error_rate": rate }))
                }
            }
            _ => Ok(json!({ "echo": input })),
        }
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        match input["reconcile"]["argv"][0].as_str() {
            Some("done") => Ok(Observed::Done(json!({"reconciled": true}))),
            Some("not-done") => Ok(Observed::NotDone),
            _ => Ok(Observed::Unknown("cannot tell".into())),
        }
    }
}
