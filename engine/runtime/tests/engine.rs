//! The driver on the in-memory store and tokio's paused time: timeouts, cancellation,
//! pause and resume, crash recovery, locks, sub-runs, secrets.

#![allow(clippy::unwrap_used)]

mod common;
mod fakes;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use drctl_core::{Clock, RunId};
use drctl_engine::clock::SystemClock;
use drctl_engine::{DriveOptions, Engine, NewRunRequest, OperatorCommand, RunEnd};
use drctl_run::Outcome;
use drctl_run::event::{AttemptResult, EventKind, FailureClass, PauseReason};
use drctl_runbook::Source;
use drctl_store::{MemoryStore, Store};
use fakes::Fakes;
use serde_json::{Map, Value, json};

#[tokio::test(start_paused = true)]
async fn a_run_succeeds_and_its_log_and_rows_agree() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: a, action: log, with: { message: hi } }\n  - { id: b, needs: [a], action: log, with: { message: \"{{ steps.a.output.echo.message }} again\" } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(fakes.calls_of("log")[1]["message"], "hi again");
    let row = store.run(&run).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.owner),
        ("succeeded", None),
        "the lease is released"
    );
    let steps = store.steps(&run).await.unwrap();
    assert_eq!(
        steps.iter().map(|s| s.status.as_str()).collect::<Vec<_>>(),
        ["succeeded", "succeeded"]
    );
    assert_eq!(
        steps[1].output,
        Some(json!({"echo": {"message": "hi again"}}))
    );
    drctl_store::chain::verify(&run, &store.events(&run, 0).await.unwrap()).unwrap();
    // Driving a finished run again does nothing.
    assert_eq!(
        finished(&e.drive(&run, DriveOptions::default()).await.unwrap()),
        &Outcome::Succeeded
    );
    assert_eq!(fakes.calls_of("log").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_step_timeout_cancels_the_action_and_aborts_it_after_the_grace() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(store.clone(), Fakes::new(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: polite, action: log, with: { message: hang }, timeout: 10s, continue_on_failure: true }\n  - { id: rude, action: log, with: { message: stubborn }, timeout: 10s, continue_on_failure: true }\n";
    let run = create(&e, yaml, Map::new()).await;
    let started = tokio::time::Instant::now();
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let steps = store.steps(&run).await.unwrap();
    assert_eq!(steps[0].error.as_deref(), Some("timed out after 10s"));
    assert_eq!(steps[1].error.as_deref(), Some("timed out after 10s"));
    // The polite one stopped at 10s; the stubborn one was aborted at 10s + 5s of grace.
    assert_eq!(started.elapsed(), Duration::from_secs(15));
    let finished_attempts: Vec<_> = e
        .events(&run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|ev| match ev.kind {
            EventKind::AttemptFinished {
                result: AttemptResult::Failed { class, .. },
                ..
            } => Some((class, ev.at.as_millis() - T0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        finished_attempts,
        [
            (FailureClass::Timeout, 10_000),
            (FailureClass::Timeout, 15_000)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_wait_their_backoff_on_the_clock() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: a, action: log, with: { message: \"flaky:2\" }, retry: { attempts: 3, initial: 4s } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let started = tokio::time::Instant::now();
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(4 + 8),
        "exponential: 4s then 8s"
    );
    assert_eq!(store.steps(&run).await.unwrap()[0].attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_command_stops_running_actions_and_runs_finally() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: long, action: log, with: { message: hang } }\nfinally:\n  - { id: tidy, action: log, with: { message: tidy } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let driving = spawn_drive(&e, &run, DriveOptions::default());
    tokio::time::sleep(Duration::from_secs(3)).await;
    send(
        &e,
        &run,
        "bob",
        &OperatorCommand::Cancel {
            reason: "wrong region".into(),
        },
    )
    .await;
    let end = driving.await.unwrap().unwrap();
    assert_eq!(finished(&end), &Outcome::Cancelled);
    assert_eq!(fakes.calls_of("log").last().unwrap()["message"], "tidy");
    let events = e.events(&run).await.unwrap();
    let cancel = events
        .iter()
        .find(|ev| ev.kind.name() == "cancel_requested")
        .unwrap();
    assert_eq!(cancel.actor, "bob", "every event records who caused it");
}

#[tokio::test(start_paused = true)]
async fn pausing_leaves_running_attempts_to_recovery_and_resume_finishes_the_run() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: slow, action: log, with: { message: \"sleep:60000\" } }\n  - { id: next, needs: [slow], action: log, with: { message: next } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let opts = DriveOptions::default();
    let pause = opts.pause.clone();
    let driving = spawn_drive(&e, &run, opts);
    tokio::time::sleep(Duration::from_secs(1)).await;
    pause.cancel();
    let end = driving.await.unwrap().unwrap();
    assert_eq!(end, RunEnd::Paused(PauseReason::Operator));
    assert_eq!(store.run(&run).await.unwrap().unwrap().status, "paused");
    // Not resumed: driving returns at once.
    assert_eq!(
        e.drive(&run, DriveOptions::default()).await.unwrap(),
        RunEnd::Paused(PauseReason::Operator)
    );
    // Resumed: `log` is idempotent, so the interrupted attempt runs again.
    let end = e.drive(&run, DriveOptions::resuming()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let k = kinds(&e, &run).await;
    assert!(
        k.contains(&"attempt_interrupted") && k.contains(&"resumed"),
        "{k:?}"
    );
    assert_eq!(fakes.calls_of("log").len(), 3);
}

/// A server going down hands its runs back: the attempt under way finishes within the
/// grace, nothing new starts, nothing is recorded as a pause, and the lease is free at
/// once, so another process continues the run without waiting for it to expire.
#[tokio::test(start_paused = true)]
async fn releasing_lets_the_attempt_finish_and_another_process_continue_at_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let first = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: short, action: log, with: { message: \"sleep:2000\" } }\n  - { id: long, needs: [short], action: log, with: { message: \"sleep:60000\" } }\n  - { id: last, needs: [long], action: log, with: { message: last } }\n";
    let run = create(&first, yaml, Map::new()).await;
    let opts = DriveOptions::default();
    let release = opts.release.clone();
    let driving = spawn_drive(&first, &run, opts);
    tokio::time::sleep(Duration::from_secs(1)).await;
    release.cancel();
    assert_eq!(driving.await.unwrap().unwrap(), RunEnd::Released);
    let k = kinds(&first, &run).await;
    assert!(!k.contains(&"paused"), "{k:?}");
    assert_eq!(
        fakes.calls_of("log").len(),
        1,
        "`long` did not start while releasing"
    );
    let row = store.run(&run).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.owner), ("running", None));
    // Another process, at once (the lease was 30 s): `short` is not run again.
    let second = engine(store.clone(), fakes.clone(), "w2");
    let end = second.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(fakes.calls_of("log").len(), 3);

    // An attempt longer than the grace is cut short and left to the crash rules: `log`
    // is idempotent, so the next driver runs it again.
    let run = create(&first, yaml, Map::new()).await;
    let opts = DriveOptions::default();
    let release = opts.release.clone();
    let driving = spawn_drive(&first, &run, opts);
    tokio::time::sleep(Duration::from_secs(3)).await;
    release.cancel();
    let started = tokio::time::Instant::now();
    assert_eq!(driving.await.unwrap().unwrap(), RunEnd::Released);
    assert!(
        started.elapsed() <= Duration::from_secs(6),
        "the grace is 5 s"
    );
    let end = second.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let k = kinds(&second, &run).await;
    assert!(
        k.contains(&"attempt_interrupted") && !k.contains(&"paused"),
        "{k:?}"
    );
}

/// A driver that dies: its task is aborted mid-attempt, as a SIGKILL would. Its lease
/// stays until it expires; a successor then recovers.
#[tokio::test(start_paused = true)]
async fn after_a_crash_idempotent_steps_rerun_and_others_reconcile_or_pause() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let first = engine(store.clone(), fakes.clone(), "dead-host:1:0");
    let yaml = r#"
runbook: t
steps:
  - { id: idem, action: log, with: { message: "sleep:60000" } }
  - { id: done_already, action: exec, with: { argv: ["sleep:60000"], reconcile: { argv: [done] } } }
  - { id: blind, action: exec, with: { argv: ["sleep:60000"] } }
"#;
    let run = create(&first, yaml, Map::new()).await;
    crash_after(&first, &run, Duration::from_secs(1)).await;
    assert_eq!(fakes.calls.lock().unwrap().len(), 3);
    // Another process: refused while the dead one's lease lasts...
    let second = engine(store.clone(), fakes.clone(), "w2");
    assert!(second.drive(&run, DriveOptions::default()).await.is_err());
    tokio::time::sleep(Duration::from_secs(30)).await;
    // ...then it recovers: `done_already` is reconciled (no new call), and `blind`, which
    // cannot tell, stops the whole run for an operator; `idem` waits to be run again.
    let end = second.drive(&run, DriveOptions::default()).await.unwrap();
    assert!(
        matches!(&end, RunEnd::Paused(PauseReason::Interrupted { step, .. }) if step.as_str() == "blind"),
        "{end:?}"
    );
    let calls = fakes.calls.lock().unwrap().len();
    assert_eq!(
        calls, 3,
        "nothing ran again while the run waits for the operator"
    );
    let steps = store.steps(&run).await.unwrap();
    let status: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s.step.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(
        status,
        [
            ("idem", "retrying"),
            ("done_already", "succeeded"),
            ("blind", "interrupted")
        ]
    );
    // The operator checks and decides; resume finishes without calling `blind` again.
    send(
        &second,
        &run,
        "bob",
        &OperatorCommand::Step {
            step: "blind".parse().unwrap(),
            item: None,
            decision: drctl_run::event::Decision::Skip,
            output: None,
        },
    )
    .await;
    let end = second.drive(&run, DriveOptions::resuming()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(fakes.calls.lock().unwrap().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_sleep_survives_a_restart_without_starting_over() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let first = engine(store.clone(), fakes.clone(), "dead-host:1:0");
    let yaml = "runbook: t\nsteps:\n  - { id: nap, action: sleep, with: { duration: 1h } }\n  - { id: after, needs: [nap], action: log, with: { message: up } }\n";
    let run = create(&first, yaml, Map::new()).await;
    let started = tokio::time::Instant::now();
    crash_after(&first, &run, Duration::from_secs(40 * 60)).await;
    // The dead process was on another host: its lease must expire first.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let second = engine(store.clone(), fakes.clone(), "w2");
    let end = second.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(3600),
        "woke at the stored deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn a_held_lock_makes_a_second_run_wait_or_fail_at_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(store.clone(), Fakes::new(), "w1");
    let yaml = "runbook: t\nparams: { region: { type: string, default: a } }\nlock: \"failover/{{ params.region }}\"\nsteps:\n  - { id: a, action: log, with: { message: \"sleep:5000\" } }\n";
    let one = create(&e, yaml, Map::new()).await;
    let two = create(&e, yaml, Map::new()).await;
    let driving = spawn_drive(&e, &one, DriveOptions::default());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = e
        .drive(
            &two,
            DriveOptions {
                no_wait: true,
                ..DriveOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        refused,
        RunEnd::LockHeld {
            lock: "failover/a".into(),
            holder: one.clone()
        }
    );
    let row = store.run(&two).await.unwrap().unwrap();
    assert_eq!(
        row.detail.as_deref(),
        Some(format!("lock `failover/a` is held by run {one}").as_str())
    );
    let three = create(&e, yaml, Map::new()).await;
    let end = e.drive(&three, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(
        finished(&driving.await.unwrap().unwrap()),
        &Outcome::Succeeded
    );
    let k = kinds(&e, &three).await;
    assert_eq!(&k[..3], ["run_created", "lock_waiting", "lock_acquired"]);
}

#[tokio::test(start_paused = true)]
async fn a_call_step_runs_a_pinned_sub_run_linked_to_its_parent() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let child = "runbook: child\nparams: { region: { type: string, required: true } }\nsteps:\n  - { id: hello, action: log, with: { message: \"in {{ params.region }}\" } }\n";
    let parent = "runbook: parent\nsteps:\n  - { id: sub, call: { runbook: child.yaml, params: { region: b } } }\n  - { id: after, needs: [sub], action: log, with: { message: \"{{ steps.sub.output.steps.hello.echo.message }}\" } }\n";
    let run = e
        .create_run(NewRunRequest {
            source: Source::new("dir/parent.yaml", parent),
            callees: vec![(
                "dir/child.yaml".into(),
                Source::new("dir/child.yaml", child),
            )],
            params: Map::new(),
            actor: drctl_core::Actor::from_stored("alice"),
            trigger: drctl_core::Trigger::Manual,
            drill: false,
            parent: None,
        })
        .await
        .unwrap();
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(fakes.calls_of("log").last().unwrap()["message"], "in b");
    let children = store.children(&run).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(
        (children[0].runbook.as_str(), children[0].status.as_str()),
        ("child", "succeeded")
    );
    assert_eq!(children[0].parent_step.as_deref(), Some("sub"));
}

/// `drctl resume CHILD` and `drctl resume PARENT` at the same moment: the parent's `call`
/// step waits for the sub-run that another process drives, instead of failing ("owned by")
/// and running its `on_failure` while the sub-run succeeds.
#[tokio::test(start_paused = true)]
async fn a_parent_waits_for_a_sub_run_that_another_process_drives() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let first = engine(store.clone(), fakes.clone(), "w1");
    let child = "runbook: child\nsteps:\n  - { id: slow, action: log, with: { message: \"sleep:5000\" } }\n";
    let parent = "runbook: parent\nsteps:\n  - { id: sub, call: { runbook: child.yaml } }\n  - { id: after, needs: [sub], action: log, with: { message: after } }\non_failure:\n  - { id: cleanup, action: log, with: { message: cleanup } }\n";
    let run = first
        .create_run(NewRunRequest {
            source: Source::new("dir/parent.yaml", parent),
            callees: vec![(
                "dir/child.yaml".into(),
                Source::new("dir/child.yaml", child),
            )],
            params: Map::new(),
            actor: drctl_core::Actor::from_stored("alice"),
            trigger: drctl_core::Trigger::Manual,
            drill: false,
            parent: None,
        })
        .await
        .unwrap();
    // Both die mid-way; their leases run out.
    crash_after(&first, &run, Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_secs(31)).await;
    let child_run = store.children(&run).await.unwrap()[0].id.clone();
    let (for_child, for_parent) = (
        engine(store.clone(), fakes.clone(), "w2"),
        engine(store.clone(), fakes.clone(), "w3"),
    );
    let child_end = spawn_drive(&for_child, &child_run, DriveOptions::resuming());
    tokio::time::sleep(Duration::from_millis(10)).await;
    let parent_end = spawn_drive(&for_parent, &run, DriveOptions::resuming());
    assert_eq!(
        finished(&child_end.await.unwrap().unwrap()),
        &Outcome::Succeeded
    );
    assert_eq!(
        finished(&parent_end.await.unwrap().unwrap()),
        &Outcome::Succeeded
    );
    let messages: Vec<Value> = fakes
        .calls_of("log")
        .into_iter()
        .map(|c| c["message"].clone())
        .collect();
    assert!(!messages.contains(&json!("cleanup")), "{messages:?}");
    assert_eq!(messages.last(), Some(&json!("after")));
}

struct Fixed;
impl drctl_engine::SecretReader for Fixed {
    fn read(&self, _: &str, _: &drctl_runbook::model::SecretSource) -> Result<String, String> {
        Ok("s3cr3t-value".into())
    }
}

#[tokio::test(start_paused = true)]
async fn secrets_reach_the_action_only_and_are_scrubbed_from_what_returns() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1").with_secrets(Arc::new(Fixed));
    let yaml = "runbook: t\nsecrets: { token: { env: NOPE } }\nsteps:\n  - { id: a, action: http.request, with: { url: \"http://x\", headers: { Authorization: \"Bearer {{ secrets.token }}\" } } }\n";
    let run = create(&e, yaml, Map::new()).await;
    e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(
        fakes.calls_of("http.request")[0]["headers"]["Authorization"],
        "Bearer s3cr3t-value"
    );
    let stored = store.events(&run, 0).await.unwrap();
    let all: String = stored.iter().map(|e| e.body.clone()).collect();
    assert!(!all.contains("s3cr3t"), "{all}");
    assert!(all.contains("Bearer ***"));
    let steps = serde_json::to_string(&store.steps(&run).await.unwrap()).unwrap();
    assert!(
        !steps.contains("s3cr3t") && steps.contains("***"),
        "{steps}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_timeout_fails_the_run() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(store.clone(), Fakes::new(), "w1");
    let yaml =
        "runbook: t\ntimeout: 1m\nsteps:\n  - { id: a, action: log, with: { message: hang } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let started = tokio::time::Instant::now();
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert!(
        matches!(finished(&end), Outcome::Failed { reason } if reason.contains("timeout of 1m"))
    );
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    let _ = SystemClock::new().now();
}

#[tokio::test(start_paused = true)]
async fn an_approval_timeout_escalates_across_a_restart_and_the_next_level_decides() {
    use drctl_run::event::{TimeoutOutcome, Verdict};
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let first = engine(store.clone(), fakes.clone(), "dead-host:1:0");
    let yaml = "runbook: t\nsteps:\n  - id: gate\n    approval: { approvers: [bob], timeout: 10m, on_timeout: escalate, escalate: [[carol]] }\n  - { id: after, needs: [gate], action: log, with: { message: go } }\n";
    let run = create(&first, yaml, Map::new()).await;
    let started = tokio::time::Instant::now();
    // The engine dies 4 minutes into the wait; nobody drives the run for 20 minutes.
    crash_after(&first, &run, Duration::from_secs(4 * 60)).await;
    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
    let second = engine(store.clone(), fakes.clone(), "w2");
    let driving = spawn_drive(&second, &run, DriveOptions::default());
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The stored deadline (10 minutes after the request) had passed: escalated at once.
    let events = second.events(&run).await.unwrap();
    let escalated = events
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                EventKind::ApprovalTimedOut {
                    outcome: TimeoutOutcome::Escalated,
                    ..
                }
            )
        })
        .expect("escalated");
    let requested = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::ApprovalRequested { level: 0, .. }))
        .unwrap();
    assert!(
        escalated.at.since(requested.at) >= Duration::from_secs(24 * 60),
        "escalated when the new engine took over (nobody drove the run before)"
    );
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::ApprovalRequested { level: 1, approvers, .. } if approvers == &["bob", "carol"]
    )));
    let decide = |who: &str| OperatorCommand::Approval {
        step: drctl_core::StepId::new("gate").unwrap(),
        verdict: Verdict::Approve,
        comment: "ok".into(),
        on_behalf_of: vec![who.into()],
    };
    send(&second, &run, "carol", &decide("carol")).await;
    let end = driving.await.unwrap().unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let events = second.events(&run).await.unwrap();
    let approved = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::ApprovalDecided { .. }))
        .unwrap();
    assert_eq!(approved.actor, "carol");
    assert!(started.elapsed() < Duration::from_secs(25 * 60));
}

/// `(kind, notice about, seconds since T0)` of each notice the run recorded.
async fn notices(e: &Engine, run: &RunId) -> Vec<(String, Value, i64)> {
    e.events(run)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|ev| match ev.kind {
            EventKind::NoticeQueued { on, about, .. } => Some((
                on.as_str().to_owned(),
                about,
                (ev.at.as_millis() - T0) / 1000,
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn notices_are_retried_on_the_clock_and_told_before_the_run_ends() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    // `flaky:2`: each notice's delivery fails twice (retryable), then goes through.
    let yaml = r#"runbook: t
notify:
  - on: [step_failed, run_finished]
    action: notify.webhook
    with: { url: "flaky:2", body: { text: "{{ notice.summary }}", kind: "{{ notice.kind }}" } }
    retry: { attempts: 3, initial: 4s }
steps:
  - { id: a, action: log, with: { message: broken }, continue_on_failure: true }
"#;
    let run = create(&e, yaml, Map::new()).await;
    let started = tokio::time::Instant::now();
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(started.elapsed(), Duration::from_secs(4 + 8));
    let told = notices(&e, &run).await;
    assert_eq!(
        told.iter()
            .map(|(k, _, at)| (k.as_str(), *at))
            .collect::<Vec<_>>(),
        [("step_failed", 0), ("run_finished", 0)]
    );
    let sent: Vec<Value> = fakes
        .calls_of("notify.webhook")
        .into_iter()
        .map(|c| c["body"].clone())
        .collect();
    assert_eq!(sent.len(), 6, "three tries each");
    assert_eq!(sent[5]["kind"], "run_finished");
    let texts: Vec<&str> = sent.iter().filter_map(|b| b["text"].as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("step `a` failed: it is broken")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.ends_with("succeeded after 0s")),
        "{texts:?}"
    );
    // Every delivery is settled before the run's last event.
    let k = kinds(&e, &run).await;
    assert_eq!(k.last(), Some(&"run_finished"));
    assert_eq!(k.iter().filter(|k| **k == "notice_attempted").count(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_failed_notice_fails_the_run_only_when_required() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(store.clone(), Fakes::new(), "w1");
    for (required, expected) in [("false", "succeeded"), ("true", "failed")] {
        let yaml = format!(
            "runbook: t\nnotify:\n  - {{ on: run_finished, action: notify.webhook, with: {{ url: broken, body: {{}} }}, required: {required} }}\nsteps:\n  - {{ id: a, action: log, with: {{ message: fine }} }}\n"
        );
        let run = create(&e, &yaml, Map::new()).await;
        let end = e.drive(&run, DriveOptions::default()).await.unwrap();
        let outcome = finished(&end);
        assert_eq!(outcome.as_str(), expected, "required: {required}");
        if let Outcome::Failed { reason } = outcome {
            assert!(
                reason.contains(
                    "required `run_finished` notification (notify.webhook) failed: it is broken"
                ),
                "{reason}"
            );
        }
        // A permanent failure is not retried.
        assert_eq!(
            kinds(&e, &run)
                .await
                .iter()
                .filter(|k| **k == "notice_attempted")
                .count(),
            1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn approval_requests_and_an_rto_breach_are_told_when_they_happen() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = r#"runbook: t
objectives: { rto: 1m }
notify:
  - on: [approval_requested, rto_breached]
    action: notify.webhook
    with: { url: "https://hooks.example/dr", body: { text: "{{ notice.summary }}", step: "{{ notice.step }}" } }
steps:
  - { id: promote, action: log, with: { message: promoted }, marks: [rto_start] }
  - id: gate
    needs: [promote]
    approval: { message: "Shift traffic?", approvers: [bob], timeout: 5m, on_timeout: approve }
  - { id: shift, needs: [gate], action: log, with: { message: shifted }, marks: [rto_end] }
"#;
    let run = create(&e, yaml, Map::new()).await;
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let told = notices(&e, &run).await;
    assert_eq!(
        told.iter()
            .map(|(k, _, at)| (k.as_str(), *at))
            .collect::<Vec<_>>(),
        [("approval_requested", 0), ("rto_breached", 60)],
        "the breach is a stored deadline: told at rto_start + 1m, not when the run ends"
    );
    assert_eq!(told[0].1["approvers"], json!(["bob"]));
    assert_eq!(told[0].1["message"], "Shift traffic?");
    assert!(
        told[1].1["summary"]
            .as_str()
            .unwrap()
            .contains("RTO objective of 1m")
    );
    assert_eq!(fakes.calls_of("notify.webhook").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_run_records_the_rto_and_rpo_its_marked_steps_measured() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(store, Fakes::new(), "w1");
    let yaml = r#"runbook: t
objectives: { rto: 1m, rpo: 1s }
steps:
  - { id: fault, action: exec, with: { argv: ["sleep:2000"] }, marks: [rto_start] }
  - { id: healthy, needs: [fault], action: http.check, with: { url: "healthy:500" }, marks: [rto_end] }
  - { id: lost, needs: [healthy], action: exec, with: { argv: [rpo, "3", "0.25"] }, marks: [rpo] }
"#;
    let run = create(&e, yaml, Map::new()).await;
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let events = e.events(&run).await.unwrap();
    let Some(EventKind::RunFinished {
        measured: Some(m), ..
    }) = events.last().map(|ev| &ev.kind)
    else {
        panic!("run_finished carries no measurement: {:?}", events.last());
    };
    // 2 s of fault, then a check that took 1 s and first saw health 0.5 s in.
    assert_eq!((m.rto_ms, m.healthy_ms), (Some(3000), Some(2500)));
    assert_eq!((m.lost_writes, m.lost_seconds), (Some(3), Some(0.25)));
    assert_eq!((m.rto_met(), m.rpo_met()), (Some(true), Some(true)));
}

#[tokio::test(start_paused = true)]
async fn the_rto_ends_with_the_last_item_of_a_for_each_step_and_a_failed_recovery_measures_nothing()
{
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let e = engine(store.clone(), Fakes::new(), "w1");
    let yaml = r#"runbook: t
objectives: { rto: 1m }
steps:
  - { id: fault, action: exec, with: { argv: ["sleep:1000"] }, marks: [rto_start] }
  - id: shift
    needs: [fault]
    for_each: [a, b, c]
    max_parallel: 1
    action: exec
    with: { argv: ["sleep:2000"] }
    marks: [rto_end]
"#;
    let run = create(&e, yaml, Map::new()).await;
    e.drive(&run, DriveOptions::default()).await.unwrap();
    let row = store.run(&run).await.unwrap().unwrap();
    let rto = row.rto.expect("the row keeps the clock");
    // From the fault's start to the third item's end: 1 s + 3 x 2 s.
    assert_eq!(
        rto.elapsed(rto.started_at),
        std::time::Duration::from_secs(7)
    );
    assert!(rto.measured && !rto.unmeasured(), "{rto:?}");
    let events = e.events(&run).await.unwrap();
    let Some(EventKind::RunFinished {
        measured: Some(m), ..
    }) = events.last().map(|ev| &ev.kind)
    else {
        panic!("{:?}", events.last());
    };
    assert_eq!(m.rto_ms, Some(7000), "the report's figure is the row's");
    // The recovery fails: the run ends, and its clock says nothing was measured.
    let failing = yaml.replace("sleep:2000", "broken");
    let run = create(&e, &failing, Map::new()).await;
    e.drive(&run, DriveOptions::default()).await.unwrap();
    let rto = store.run(&run).await.unwrap().unwrap().rto.unwrap();
    assert!(rto.unmeasured(), "{rto:?}");
}

#[tokio::test(start_paused = true)]
async fn an_approval_policy_approves_a_drill_as_a_recorded_approver_and_leaves_other_runs_to_people()
 {
    use drctl_engine::policy::ApprovalPolicy;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let policy = |on_behalf_of: &str| ApprovalPolicy {
        name: "drills".into(),
        runbooks: vec!["t".into()],
        drills_only: true,
        triggers: Vec::new(),
        on_behalf_of: on_behalf_of.into(),
    };
    let e = engine(store.clone(), fakes.clone(), "w1")
        .with_approval_policies(vec![policy("group:sre")]);
    let yaml = "runbook: t\nsteps:\n  - id: gate\n    approval: { approvers: [group:sre], timeout: 1m, on_timeout: reject }\n  - { id: after, needs: [gate], action: log, with: { message: go } }\n";
    let start = |drill: bool| NewRunRequest {
        source: Source::new("t.yaml", yaml),
        callees: Vec::new(),
        params: Map::new(),
        actor: drctl_core::Actor::from_stored("alice"),
        trigger: drctl_core::Trigger::Schedule(String::new()),
        drill,
        parent: None,
    };
    // A drill: approved at once by the policy, recorded as its decision.
    let drill = e.create_run(start(true)).await.unwrap();
    let end = e.drive(&drill, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let events = e.events(&drill).await.unwrap();
    let decided = events
        .iter()
        .find(|ev| matches!(ev.kind, EventKind::ApprovalDecided { .. }))
        .expect("the policy decided");
    assert_eq!(decided.actor, "policy:drills");
    assert!(
        matches!(&decided.kind, EventKind::ApprovalDecided { comment, on_behalf_of, .. }
        if comment.contains("drill") && on_behalf_of == &["group:sre"])
    );
    // Not a drill: the gate waits for a person, and times out here.
    let real = e.create_run(start(false)).await.unwrap();
    let end = e.drive(&real, DriveOptions::default()).await.unwrap();
    assert!(matches!(finished(&end), Outcome::Failed { .. }), "{end:?}");
    assert!(!kinds(&e, &real).await.contains(&"approval_decided"));
    // A policy that is not among the gate's approvers does not approve.
    let e = engine(store.clone(), fakes.clone(), "w2")
        .with_approval_policies(vec![policy("group:dba")]);
    let other = e.create_run(start(true)).await.unwrap();
    let end = e.drive(&other, DriveOptions::default()).await.unwrap();
    assert!(matches!(finished(&end), Outcome::Failed { .. }), "{end:?}");
    assert!(!kinds(&e, &other).await.contains(&"approval_decided"));
    // A policy naming a webhook, for real runs: it passes the gate of a run that webhook
    // started, and of no other.
    let hooked = ApprovalPolicy {
        name: "auto-failover".into(),
        drills_only: false,
        triggers: vec![drctl_core::Trigger::Webhook("region-down".into())],
        ..policy("group:sre")
    };
    let e = engine(store, fakes, "w3").with_approval_policies(vec![hooked]);
    let by_hook = e
        .create_run(NewRunRequest {
            trigger: drctl_core::Trigger::Webhook("region-down".into()),
            ..start(false)
        })
        .await
        .unwrap();
    let end = e.drive(&by_hook, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let events = e.events(&by_hook).await.unwrap();
    assert!(events.iter().any(|ev| ev.actor == "policy:auto-failover"
        && matches!(&ev.kind, EventKind::ApprovalDecided { comment, .. } if comment.contains("started by webhook:region-down"))));
    let by_hand = e.create_run(start(false)).await.unwrap();
    let end = e.drive(&by_hand, DriveOptions::default()).await.unwrap();
    assert!(matches!(finished(&end), Outcome::Failed { .. }), "{end:?}");
}

#[tokio::test(start_paused = true)]
async fn a_renewal_the_store_does_not_answer_is_tried_again_while_the_lease_holds() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let e = engine(store.clone(), Fakes::new(), "w1");
    // One attempt of 45 s: the lease (30 s, renewed every 10 s) must hold through it.
    let yaml = "runbook: t\nsteps:\n  - { id: long, action: log, with: { message: hang }, timeout: 45s, continue_on_failure: true }\n";
    let run = create(&e, yaml, Map::new()).await;
    memory.fail_renewals(3);
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let steps = store.steps(&run).await.unwrap();
    assert_eq!(steps[0].error.as_deref(), Some("timed out after 45s"));
}

#[tokio::test(start_paused = true)]
async fn a_driver_that_cannot_renew_stops_before_its_lease_ends() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let e = engine(store.clone(), Fakes::new(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: long, action: log, with: { message: hang }, timeout: 10m }\n";
    let run = create(&e, yaml, Map::new()).await;
    memory.fail_renewals(usize::MAX);
    let started = tokio::time::Instant::now();
    let err = e.drive(&run, DriveOptions::default()).await.unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    // Claimed at 0 for 30 s: given up at least the cancel grace (5 s) before it ends.
    assert!(
        started.elapsed() <= Duration::from_secs(25)
            && started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn action_slots_limit_the_actions_running_at_once_across_runs() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1").with_action_slots(1);
    let yaml = "runbook: t\nsteps:\n  - { id: long, action: log, with: { message: hang }, timeout: 10s, continue_on_failure: true }\n";
    let (a, b) = (
        create(&e, yaml, Map::new()).await,
        create(&e, yaml, Map::new()).await,
    );
    let (da, db) = (
        spawn_drive(&e, &a, DriveOptions::default()),
        spawn_drive(&e, &b, DriveOptions::default()),
    );
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(fakes.calls_of("log").len(), 1, "one action at a time");
    for d in [da, db] {
        assert_eq!(finished(&d.await.unwrap().unwrap()), &Outcome::Succeeded);
    }
    // The second attempt was recorded as started only when the slot was free: each had
    // its whole 10 s, one after the other, and neither was cut short by the wait.
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    for run in [&a, &b] {
        let steps = store.steps(run).await.unwrap();
        let took = steps[0]
            .finished_at
            .unwrap()
            .since(steps[0].started_at.unwrap());
        assert_eq!(took, Duration::from_secs(10), "{steps:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_append_the_store_does_not_commit_is_offered_again_as_built() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - { id: a, action: log, with: { message: one } }\n  - { id: b, needs: [a], action: log, with: { message: two } }\n  - { id: c, needs: [b], action: log, with: { message: three } }\n";
    let run = create(&e, yaml, Map::new()).await;
    memory.fail_appends(4);
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(fakes.calls_of("log").len(), 3, "each step ran once");
    let events = store.events(&run, 0).await.unwrap();
    drctl_store::chain::verify(&run, &events).unwrap();
    let started = events
        .iter()
        .filter(|e| e.kind == "attempt_started")
        .count();
    assert_eq!(started, 3, "no event stored twice");
    // A store that never answers ends the drive, after its tries.
    let again = create(&e, yaml, Map::new()).await;
    memory.fail_appends(usize::MAX);
    assert!(e.drive(&again, DriveOptions::default()).await.is_err());
    memory.fail_appends(0);
}
