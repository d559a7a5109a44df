//! Operators' commands on the in-memory store and tokio's paused time: a command the
//! store accepted is applied exactly once, however the driver dies; one that no longer
//! applies is refused on the record; a skip sent before its step is ready holds.

#![allow(clippy::unwrap_used)]

mod common;
mod fakes;

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{RunId, StepId};
use drctl_engine::{DriveOptions, Engine, Fault, OperatorCommand};
use drctl_run::Outcome;
use drctl_run::event::{Decision, EventKind, Verdict};
use drctl_store::{CommandOutcome, MemoryStore, Store};
use serde_json::{Map, json};

use common::*;
use fakes::Fakes;

const GATE: &str = "runbook: t\nsteps:\n  - id: gate\n    approval: { approvers: [bob], timeout: 1h }\n  - { id: after, needs: [gate], action: log, with: { message: go } }\n";
const LONG: &str = "runbook: t\nsteps:\n  - { id: long, action: log, with: { message: hang } }\n  - { id: danger, needs: [long], action: log, with: { message: danger } }\nfinally:\n  - { id: tidy, action: log, with: { message: tidy } }\n";
const TWO: &str = "runbook: t\nsteps:\n  - { id: first, action: log, with: { message: \"sleep:100\" } }\n  - { id: second, needs: [first], action: log, with: { message: second } }\n";

fn step(id: &str) -> StepId {
    StepId::new(id).unwrap()
}

fn faulty(store: Arc<dyn Store>, fakes: Arc<Fakes>) -> Engine {
    let e = engine(store.clone(), fakes.clone(), "w-faulty");
    let mut config = e.config().clone();
    config.fault = Some(Fault::FailAfterInboxRead);
    Engine::new(store, fakes, clock(), config)
}

/// Each kind of command, with the runbook it applies to, the event that records it, and
/// the outcome the run must reach once it is applied.
fn cases() -> Vec<(&'static str, &'static str, OperatorCommand, Outcome)> {
    let approval = |verdict| OperatorCommand::Approval {
        step: step("gate"),
        verdict,
        comment: "checked".into(),
        on_behalf_of: vec!["bob".into()],
    };
    vec![
        (
            LONG,
            "cancel_requested",
            OperatorCommand::Cancel {
                reason: "wrong region".into(),
            },
            Outcome::Cancelled,
        ),
        (
            GATE,
            "approval_decided",
            approval(Verdict::Approve),
            Outcome::Succeeded,
        ),
        (
            GATE,
            "approval_decided",
            approval(Verdict::Reject),
            Outcome::Failed {
                reason: String::new(),
            },
        ),
        (
            LONG,
            "operator_decision",
            OperatorCommand::Step {
                step: step("danger"),
                item: None,
                decision: Decision::Skip,
                output: None,
            },
            Outcome::Cancelled,
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn a_command_read_by_a_driver_that_dies_before_recording_it_is_applied_exactly_once() {
    for (yaml, kind, command, outcome) in cases() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let fakes = Fakes::new();
        let dying = faulty(store.clone(), fakes.clone());
        let run = create(&dying, yaml, Map::new()).await;
        let driving = spawn_drive(&dying, &run, DriveOptions::default());
        tokio::time::sleep(Duration::from_secs(1)).await;
        send(&dying, &run, "bob", &command).await;
        let died = driving.await.unwrap();
        assert!(died.is_err(), "{kind}: the fault ends the drive: {died:?}");
        assert!(
            store.has_commands(&run).await.unwrap(),
            "{kind}: the command still waits"
        );

        let next = engine(store.clone(), fakes.clone(), "w2");
        let driving = spawn_drive(&next, &run, DriveOptions::resuming());
        if matches!(command, OperatorCommand::Step { .. }) {
            // The skip holds while `long` hangs; a cancel ends the run.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let cancel = OperatorCommand::Cancel {
                reason: "done".into(),
            };
            send(&next, &run, "bob", &cancel).await;
        }
        let end = driving.await.unwrap().unwrap();
        let got = finished(&end);
        assert_eq!(
            std::mem::discriminant(got),
            std::mem::discriminant(&outcome),
            "{kind}: {got:?}"
        );
        let recorded = kinds(&next, &run)
            .await
            .into_iter()
            .filter(|k| *k == kind)
            .count();
        assert_eq!(recorded, 1, "{kind} recorded once");
        assert_eq!(
            calls(&fakes, "danger"),
            0,
            "{kind}: the dangerous step never ran"
        );
        assert!(!store.has_commands(&run).await.unwrap());
    }
}

fn calls(fakes: &Fakes, message: &str) -> usize {
    fakes
        .calls_of("log")
        .iter()
        .filter(|c| c["message"] == message)
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_skip_sent_before_its_step_is_ready_is_carried_out_when_it_becomes_ready() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let run = create(&e, TWO, Map::new()).await;
    let driving = spawn_drive(&e, &run, DriveOptions::default());
    // `first` ends at 100 ms, before the inbox's next poll (200 ms): the append that
    // records its end must see the skip and apply it before `second` is decided.
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(
        &e,
        &run,
        "bob",
        &OperatorCommand::Step {
            step: step("second"),
            item: None,
            decision: Decision::Skip,
            output: None,
        },
    )
    .await;
    let end = driving.await.unwrap().unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    assert_eq!(calls(&fakes, "second"), 0, "the skipped step never ran");
    let steps = store.steps(&run).await.unwrap();
    assert_eq!(steps[1].status, "skipped", "{steps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_command_that_no_longer_applies_is_refused_on_the_record() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let run = create(&e, TWO, Map::new()).await;
    // Left without a check, as an older drctl or a stale client would: `first` is not
    // waiting for anyone's decision.
    let body = serde_json::to_value(OperatorCommand::Step {
        step: step("first"),
        item: None,
        decision: Decision::Retry,
        output: None,
    })
    .unwrap();
    let id = store
        .push_command(
            &run,
            clock_now(),
            &drctl_core::Actor::from_stored("mallory"),
            &body,
            None,
        )
        .await
        .unwrap();
    let unreadable = store
        .push_command(
            &run,
            clock_now(),
            &drctl_core::Actor::from_stored("eve"),
            &json!({"command": "explode"}),
            None,
        )
        .await
        .unwrap();
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    let events = e.events(&run).await.unwrap();
    let refused: Vec<(String, String)> = events
        .iter()
        .filter_map(|ev| match &ev.kind {
            EventKind::CommandRefused { asked, reason } => {
                Some((ev.actor.to_string(), format!("{asked}: {reason}")))
            }
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[0].0, "mallory");
    assert!(
        refused[0].1.starts_with("retry step first: ") && refused[0].1.contains("not waiting"),
        "{refused:?}"
    );
    assert_eq!(refused[1].0, "eve");
    match e.command_outcome(id).await.unwrap() {
        Some(CommandOutcome::Refused { reason, .. }) => {
            assert!(reason.contains("not waiting"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        e.command_outcome(unreadable).await.unwrap(),
        Some(CommandOutcome::Refused { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn submit_checks_against_the_state_the_run_will_apply_it_to() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let run: RunId = create(&e, TWO, Map::new()).await;
    let end = e.drive(&run, DriveOptions::default()).await.unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
    // The run ended: nothing more can be asked of it.
    let late = e
        .submit(
            &run,
            &drctl_core::Actor::from_stored("bob"),
            &OperatorCommand::Cancel {
                reason: "late".into(),
            },
            &|_| Ok(()),
        )
        .await
        .unwrap();
    assert!(
        matches!(&late, drctl_engine::Submitted::Refused(why) if why.contains("ended")),
        "{late:?}"
    );
}

fn clock_now() -> drctl_core::Timestamp {
    drctl_core::Clock::now(clock().as_ref())
}

#[tokio::test(start_paused = true)]
async fn a_gate_without_a_timeout_waits_for_its_decision() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1");
    let yaml = "runbook: t\nsteps:\n  - id: gate\n    approval: { approvers: [bob] }\n  - { id: after, needs: [gate], action: log, with: { message: go } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let driving = spawn_drive(&e, &run, DriveOptions::default());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!driving.is_finished(), "nothing but a decision can move it");
    let approve = OperatorCommand::Approval {
        step: step("gate"),
        verdict: Verdict::Approve,
        comment: "after an hour".into(),
        on_behalf_of: vec!["bob".into()],
    };
    send(&e, &run, "bob", &approve).await;
    let end = driving.await.unwrap().unwrap();
    assert_eq!(finished(&end), &Outcome::Succeeded);
}

/// Reads every secret as one fixed value.
struct Fixed(&'static str);

impl drctl_engine::SecretReader for Fixed {
    fn read(
        &self,
        _name: &str,
        _source: &drctl_runbook::model::SecretSource,
    ) -> Result<String, String> {
        Ok(self.0.to_owned())
    }
}

#[tokio::test(start_paused = true)]
async fn a_secret_an_operator_pastes_into_a_command_is_masked_in_the_log() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    let e = engine(store.clone(), fakes.clone(), "w1")
        .with_secrets(Arc::new(Fixed("pasted-secret-123")));
    let yaml = "runbook: t\nsecrets:\n  tok: { env: TOK }\nsteps:\n  - { id: long, action: log, with: { message: hang } }\n  - { id: use, needs: [long], action: exec, with: { argv: [\"{{ secrets.tok }}\"] } }\n";
    let run = create(&e, yaml, Map::new()).await;
    let driving = spawn_drive(&e, &run, DriveOptions::default());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cancel = OperatorCommand::Cancel {
        reason: "rotated pasted-secret-123 by hand".into(),
    };
    let submitted = e
        .submit(
            &run,
            &drctl_core::Actor::from_stored("bob"),
            &cancel,
            &|_| Ok(()),
        )
        .await
        .unwrap();
    let drctl_engine::Submitted::Accepted { command } = submitted else {
        panic!("{submitted:?}");
    };
    let end = driving.await.unwrap().unwrap();
    assert_eq!(finished(&end), &Outcome::Cancelled);
    let events = e.events(&run).await.unwrap();
    let reason = events
        .iter()
        .find_map(|ev| match &ev.kind {
            EventKind::CancelRequested { reason } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(reason, "rotated *** by hand");
    assert!(matches!(
        e.command_outcome(command).await.unwrap(),
        Some(CommandOutcome::Applied { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_command_submitted_in_the_drivers_process_is_taken_at_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let fakes = Fakes::new();
    // The store is polled every minute: only the in-process wake can make it quick.
    let e = engine(store.clone(), fakes.clone(), "w1");
    let mut config = e.config().clone();
    config.poll = Duration::from_secs(60);
    let e = Engine::new(store.clone(), fakes, clock(), config);
    let run = create(&e, GATE, Map::new()).await;
    let drive = spawn_drive(&e, &run, DriveOptions::default());
    tokio::time::sleep(Duration::from_secs(61)).await;
    let approve = OperatorCommand::Approval {
        step: step("gate"),
        verdict: Verdict::Approve,
        comment: "checked".into(),
        on_behalf_of: vec!["bob".into()],
    };
    let started = tokio::time::Instant::now();
    let id = match e
        .submit(
            &run,
            &drctl_core::Actor::from_stored("bob"),
            &approve,
            &|_| Ok(()),
        )
        .await
        .unwrap()
    {
        drctl_engine::Submitted::Accepted { command } => command,
        other => panic!("{other:?}"),
    };
    let outcome = e
        .await_outcome(&run, id, Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        matches!(outcome, Some(drctl_store::CommandOutcome::Applied { .. })),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        finished(&drive.await.unwrap().unwrap()),
        &Outcome::Succeeded
    );
}
