//! A gradual rollout on tokio's paused time: each stage holds its `verify` window before the
//! next one starts, and a check that fails inside a window rolls every stage back.

#![allow(clippy::unwrap_used)]

mod common;
mod fakes;

use std::sync::Arc;

use common::*;
use drctl_engine::DriveOptions;
use drctl_run::Outcome;
use drctl_store::{MemoryStore, Store};
use fakes::Fakes;
use serde_json::{Map, Value};

/// "Traffic moved 20% at a time, each stage verified for 60 s with a check every 30 s,
/// automatic rollback when the error rate passes 5%." The fake service's error rate is 1%
/// until half the traffic has moved and 12% after, so stage 3 (60%) fails its check.
const ROLLOUT: &str = r#"
runbook: rollout
steps:
  - id: shift
    for_each: [20, 40, 60, 80, 100]
    max_parallel: 1
    action: exec
    with: { argv: [weight, "{{ item }}"] }
    verify:
      action: exec
      with: { argv: [error-rate, "5"] }
      for: 60s
      every: 30s
    compensate:
      action: exec
      with: { argv: [weight, "{{ item - 20 }}"] }
"#;

/// Seconds since the first call, and what was called.
fn timeline(fakes: &Fakes) -> Vec<(u64, String)> {
    let calls = fakes.timeline.lock().unwrap();
    let t0 = calls[0].0;
    calls
        .iter()
        .map(|(at, input)| {
            let argv: Vec<&str> = input["argv"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (at.duration_since(t0).as_secs(), argv.join(" "))
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn each_stage_holds_its_window_and_a_failing_check_rolls_every_stage_back() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let run = create(&e, ROLLOUT, Map::new()).await;
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();

    let Outcome::Failed { reason } = finished(&end) else {
        panic!("the rollout must fail: {end:?}");
    };
    assert!(
        reason.contains("`shift` (item 2)") && reason.contains("error rate 12.0%"),
        "the failure names the stage and the measured rate: {reason}"
    );
    let expected: Vec<(u64, String)> = [
        // Stage 1 (20%): checked at once, after 30 s and at the window's end.
        (0, "weight 20"),
        (0, "error-rate 5"),
        (30, "error-rate 5"),
        (60, "error-rate 5"),
        // Stage 2 starts only once stage 1 has held for 60 s.
        (60, "weight 40"),
        (60, "error-rate 5"),
        (90, "error-rate 5"),
        (120, "error-rate 5"),
        // Stage 3's first check sees 12%: no later stage starts, and the compensations
        // restore the weights, latest first.
        (120, "weight 60"),
        (120, "error-rate 5"),
        (120, "weight 40"),
        (120, "weight 20"),
        (120, "weight 0"),
    ]
    .into_iter()
    .map(|(t, s)| (t, s.to_owned()))
    .collect();
    assert_eq!(timeline(&fakes), expected);
    let items: Vec<(Option<u32>, String)> = store
        .steps(&run)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.item, r.status))
        .collect();
    let statuses: Vec<&str> = items.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["succeeded", "succeeded", "failed", "skipped", "skipped"],
        "{items:?}"
    );
}

/// A check that spans the window itself (a health check with its own sampling window)
/// counts once: it starts with the window and ends after it.
#[tokio::test(start_paused = true)]
async fn a_check_that_spans_the_window_runs_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = r#"
runbook: span
steps:
  - id: shift
    for_each: [1, 2]
    max_parallel: 1
    action: exec
    with: { argv: [weight, "{{ item }}"] }
    verify:
      action: exec
      with: { argv: ["sleep:61000"] }
      for: 60s
      every: 10s
"#;
    let run = create(&e, yaml, Map::new()).await;
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let got: Vec<(u64, String)> = timeline(&fakes);
    assert_eq!(
        got,
        [
            (0, "weight 1".to_owned()),
            (0, "sleep:61000".to_owned()),
            (61, "weight 2".to_owned()),
            (61, "sleep:61000".to_owned()),
        ]
    );
}
