//! The engine's rules, tested on the pure state machine with a hand-moved clock: every
//! executor feature of issue 3 has a test here (the driver's own tests cover timeouts of
//! real tasks, cancellation tokens and the store).

#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use drctl_core::StepId;
use drctl_run::event::{
    AttemptResult, Decision, FailureClass, PauseReason, Reconciliation, Recovery,
};
use drctl_run::{Effect, EventKind, Outcome, Phase, RunStatus, Stage};
use serde_json::json;
use sim::{Sim, ok_json};

fn id(s: &str) -> StepId {
    StepId::new(s).unwrap()
}

fn finished(sim: &Sim) -> Outcome {
    match &sim.state.status {
        RunStatus::Finished { outcome } => outcome.clone(),
        other => panic!("not finished: {other:?}"),
    }
}

const DIAMOND: &str = r#"
runbook: diamond
steps:
  - { id: a, action: log, with: { message: a } }
  - { id: b, needs: [a], action: log, with: { message: "after {{ steps.a.output.n }}" } }
  - { id: c, needs: [a], action: log, with: { message: c } }
  - { id: d, needs: [b, c], action: log, with: { message: d } }
"#;

#[test]
fn steps_start_when_their_needs_finish_and_run_in_parallel() {
    let mut s = Sim::new(DIAMOND);
    s.settle();
    assert_eq!(s.running(), ["a#1"]);
    s.ok("a", json!({"n": 7}));
    assert_eq!(s.running(), ["b#1", "c#1"]);
    // Outputs flow downstream through templates.
    assert_eq!(
        s.input_of("b", Phase::Action),
        json!({"message": "after 7"})
    );
    s.ok("b", ok_json());
    assert_eq!(s.running(), ["c#1"]);
    s.ok("c", ok_json());
    assert_eq!(s.running(), ["d#1"]);
    s.ok("d", ok_json());
    assert_eq!(finished(&s), Outcome::Succeeded);
    assert_eq!(s.state.stage, Stage::Done);
    s.check_replay();
}

#[test]
fn a_global_limit_caps_attempts_in_flight() {
    let yaml = "runbook: wide\nsteps:\n".to_owned()
        + &(0..5)
            .map(|i| format!("  - {{ id: s{i}, action: log, with: {{ message: x }} }}\n"))
            .collect::<String>();
    let mut s = Sim::new(&yaml);
    s.max_parallel = 2;
    s.settle();
    assert_eq!(s.running(), ["s0#1", "s1#1"]);
    s.ok("s0", ok_json());
    assert_eq!(s.running(), ["s1#1", "s2#1"]);
    s.check_replay();
}

#[test]
fn when_false_skips_the_step_and_dependents_still_run() {
    let yaml = r#"
runbook: cond
params: { drill: { type: boolean, default: false } }
steps:
  - { id: probe, action: log, with: { message: p } }
  - { id: only_in_drills, needs: [probe], when: "params.drill", action: log, with: { message: d } }
  - { id: small_lag, needs: [probe], when: "steps.probe.output.lag < 5", action: log, with: { message: s } }
  - { id: after, needs: [only_in_drills, small_lag], action: log, with: { message: "{{ steps.only_in_drills.status }}" } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    s.ok("probe", json!({"lag": 9}));
    assert_eq!(s.status("only_in_drills"), "skipped");
    assert_eq!(s.status("small_lag"), "skipped");
    assert_eq!(s.running(), ["after#1"]);
    assert_eq!(
        s.input_of("after", Phase::Action),
        json!({"message": "skipped"})
    );
    s.ok("after", ok_json());
    assert_eq!(finished(&s), Outcome::Succeeded);
    s.check_replay();
}

#[test]
fn for_each_runs_items_with_item_and_index_within_max_parallel() {
    let yaml = r#"
runbook: shift
steps:
  - id: shift
    for_each: [20, 40, 60]
    max_parallel: 1
    action: haproxy.set_weight
    with: { socket: "lb:1", backend: app, server: "b{{ index }}", weight: "{{ item }}" }
  - { id: report, needs: [shift], action: log, with: { message: "{{ steps.shift.output | map(attribute='w') | join(',') }}" } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    assert_eq!(s.running(), ["shift[0]#1"]);
    assert_eq!(
        s.input_of("shift", Phase::Action),
        json!({"socket": "lb:1", "backend": "app", "server": "b0", "weight": 20})
    );
    s.ok_item("shift", 0, json!({"w": 20}));
    assert_eq!(s.running(), ["shift[1]#1"]);
    s.ok_item("shift", 1, json!({"w": 40}));
    s.ok_item("shift", 2, json!({"w": 60}));
    assert_eq!(
        s.input_of("report", Phase::Action),
        json!({"message": "20,40,60"})
    );
    s.check_replay();
}

#[test]
fn retries_back_off_exponentially_for_retryable_errors_only() {
    let yaml = r#"
runbook: retry
steps:
  - id: flaky
    action: http.request
    with: { url: "http://x" }
    retry: { attempts: 3, backoff: exponential, initial: 2s, max: 3s }
  - id: stubborn
    action: http.request
    with: { url: "http://y" }
    retry: { attempts: 3 }
    continue_on_failure: true
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    assert_eq!(s.running(), ["flaky#1", "stubborn#1"]);
    s.fail("flaky", FailureClass::Retryable);
    assert_eq!(s.item_status("flaky", 0), "retrying");
    // Not before the backoff.
    s.advance(Duration::from_millis(1999));
    assert_eq!(s.running(), ["stubborn#1"]);
    s.advance(Duration::from_millis(1));
    assert_eq!(s.running(), ["flaky#2", "stubborn#1"]);
    s.fail("flaky", FailureClass::Retryable);
    // Doubled to 4s, capped at 3s.
    assert_eq!(
        s.state.next_wake(),
        Some(s.now.plus(Duration::from_secs(3)))
    );
    s.wake();
    assert_eq!(s.running(), ["flaky#3", "stubborn#1"]);
    s.ok("flaky", ok_json());
    // A permanent error is not retried under the default `on: [retryable]`.
    s.fail("stubborn", FailureClass::Permanent);
    assert_eq!(s.status("stubborn"), "failed");
    assert_eq!(
        finished(&s),
        Outcome::Succeeded,
        "continue_on_failure keeps the run going"
    );
    s.check_replay();
}

#[test]
fn retrying_on_timeouts_is_opt_in_and_attempts_are_bounded() {
    let yaml = r#"
runbook: slow
steps:
  - { id: slow, action: http.request, with: { url: "http://x" }, timeout: 5s, retry: { attempts: 2, on: [timeout], initial: 1s } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    let a = s.log.iter().rev().find_map(|e| match &e.kind {
        EventKind::AttemptStarted(a) => Some(a.deadline),
        _ => None,
    });
    assert_eq!(
        a,
        Some(Some(s.now.plus(Duration::from_secs(5)))),
        "the deadline is stored in the event"
    );
    s.fail("slow", FailureClass::Timeout);
    s.wake();
    assert_eq!(s.running(), ["slow#2"]);
    s.fail("slow", FailureClass::Timeout);
    assert!(matches!(finished(&s), Outcome::Failed { reason } if reason.contains("slow")));
    s.check_replay();
}

#[test]
fn the_run_timeout_fails_the_run_and_cancels_what_runs() {
    let yaml = r#"
runbook: bounded
timeout: 10s
steps:
  - { id: long, action: http.check, with: { url: "http://x" } }
finally:
  - { id: tidy, action: log, with: { message: tidy } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    s.advance(Duration::from_secs(10));
    assert!(s.kinds().contains(&"timed_out"));
    assert!(s.effects.contains(&Effect::CancelAll));
    // The running attempt ends cancelled; then `finally` runs; the run fails.
    s.finish("long", None, Phase::Action, AttemptResult::Cancelled);
    assert_eq!(s.running(), ["tidy#1"]);
    s.ok("tidy", ok_json());
    assert!(
        matches!(finished(&s), Outcome::Failed { reason } if reason.contains("timeout of 10s"))
    );
    s.check_replay();
}

#[test]
fn verify_must_keep_passing_for_its_soak_window() {
    let yaml = r#"
runbook: soak
steps:
  - id: shift
    action: log
    with: { message: shift }
    verify: { action: assert, with: { that: "{{ steps.shift.output.weight == 20 }}" }, for: 3s, every: 1s }
  - { id: next, needs: [shift], action: log, with: { message: "{{ steps.shift.output.weight }}" } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    s.ok("shift", json!({"weight": 20}));
    // The verify sees the action's own output.
    assert_eq!(s.input_of("shift", Phase::Verify), json!({"that": true}));
    assert_eq!(s.running(), ["shift/verify#1"]);
    for n in 1..=3 {
        s.finish(
            "shift",
            None,
            Phase::Verify,
            AttemptResult::Succeeded {
                output: json!(null),
            },
        );
        assert_eq!(
            s.status("shift"),
            "running",
            "still soaking after check {n}"
        );
        s.wake();
    }
    s.finish(
        "shift",
        None,
        Phase::Verify,
        AttemptResult::Succeeded {
            output: json!(null),
        },
    );
    assert_eq!(s.status("shift"), "succeeded");
    assert_eq!(s.input_of("next", Phase::Action), json!({"message": "20"}));
    s.check_replay();
}

#[test]
fn a_verified_item_holds_its_slot_until_its_window_has_held() {
    let yaml = r#"
runbook: soak
steps:
  - id: shift
    for_each: [1, 2, 3]
    max_parallel: 1
    action: log
    with: { message: "{{ item }}" }
    verify: { action: assert, with: { that: "{{ item > 0 }}" }, for: 1s }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    assert_eq!(s.running(), ["shift[0]#1"]);
    s.ok_item("shift", 0, ok_json());
    // The window starts when the action ends; the check runs at once.
    assert_eq!(s.running(), ["shift[0]/verify#1"]);
    let pass = || AttemptResult::Succeeded {
        output: json!(null),
    };
    s.advance(Duration::from_millis(300));
    s.finish("shift", Some(0), Phase::Verify, pass());
    assert_eq!(s.running(), Vec::<String>::new(), "item 1 holds its slot");
    // The last check starts at the window's end (the default interval is longer).
    assert_eq!(
        s.state.next_wake(),
        Some(s.now.plus(Duration::from_millis(700)))
    );
    s.wake();
    assert_eq!(s.running(), ["shift[0]/verify#2"]);
    s.advance(Duration::from_millis(300));
    s.finish("shift", Some(0), Phase::Verify, pass());
    assert_eq!(s.item_status("shift", 0), "succeeded");
    assert_eq!(
        s.running(),
        ["shift[1]#1"],
        "item 2 starts once item 1 has held"
    );
    s.check_replay();
}

#[test]
fn a_failed_check_compensates_the_item_whose_action_it_checked() {
    let yaml = r#"
runbook: soak
steps:
  - id: shift
    for_each: [20, 40]
    max_parallel: 1
    action: log
    with: { message: "{{ item }}" }
    verify: { action: log, with: { message: check }, for: 10s }
    compensate: { action: log, with: { message: "undo {{ item }}" } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    s.ok_item("shift", 0, ok_json());
    // Checks at 0, 5 and 10 s (the default interval is 5 s).
    for n in 0..3 {
        if n > 0 {
            s.wake();
        }
        s.finish(
            "shift",
            Some(0),
            Phase::Verify,
            AttemptResult::Succeeded {
                output: json!(null),
            },
        );
    }
    assert_eq!(s.item_status("shift", 0), "succeeded");
    s.ok_item("shift", 1, ok_json());
    s.finish(
        "shift",
        Some(1),
        Phase::Verify,
        AttemptResult::Failed {
            class: FailureClass::Permanent,
            message: "error rate 12%".into(),
        },
    );
    assert_eq!(
        s.running(),
        ["shift[1]/compensate#1"],
        "the failed stage first"
    );
    s.finish(
        "shift",
        Some(1),
        Phase::Compensate,
        AttemptResult::Succeeded {
            output: json!(null),
        },
    );
    assert_eq!(s.running(), ["shift[0]/compensate#1"]);
    s.finish(
        "shift",
        Some(0),
        Phase::Compensate,
        AttemptResult::Succeeded {
            output: json!(null),
        },
    );
    assert!(
        matches!(finished(&s), Outcome::Failed { reason } if reason.contains("error rate 12%"))
    );
    s.check_replay();
}

#[test]
fn a_failing_verify_fails_the_step() {
    let yaml = r#"
runbook: verify
steps:
  - { id: shift, action: log, with: { message: s }, verify: { action: http.check, with: { url: "http://x" } } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    s.ok("shift", ok_json());
    s.finish(
        "shift",
        None,
        Phase::Verify,
        AttemptResult::Failed {
            class: FailureClass::Permanent,
            message: "error rate 9%".into(),
        },
    );
    assert!(
        matches!(finished(&s), Outcome::Failed { reason } if reason.contains("verify failed: error rate 9%"))
    );
}

const COMPENSATE: &str = r#"
runbook: undo
steps:
  - { id: first, action: log, with: { message: one }, compensate: { action: log, with: { message: "undo first {{ steps.first.output.v }}" } } }
  - id: shift
    needs: [first]
    for_each: [20, 40]
    max_parallel: 1
    action: log
    with: { message: "{{ item }}" }
    compensate: { action: log, with: { message: "undo {{ item }}" } }
  - { id: breaks, needs: [shift], action: http.request, with: { url: "http://x" } }
  - { id: never, needs: [breaks], action: log, with: { message: never } }
on_failure:
  - { id: page, action: log, with: { message: "failed after {{ steps.breaks.status }}" } }
finally:
  - { id: report, action: log, with: { message: report } }
"#;

#[test]
fn a_failure_compensates_completed_steps_in_reverse_then_runs_on_failure_and_finally() {
    let mut s = Sim::new(COMPENSATE);
    s.settle();
    s.ok("first", json!({"v": 1}));
    s.ok_item("shift", 0, ok_json());
    s.ok_item("shift", 1, ok_json());
    s.fail("breaks", FailureClass::Permanent);
    assert_eq!(s.state.stage, Stage::Compensating);
    let mut undone = Vec::new();
    for _ in 0..3 {
        let running = s.running();
        assert_eq!(running.len(), 1, "one compensation at a time: {running:?}");
        let (step, item) = match running[0].as_str() {
            "shift[1]/compensate#1" => ("shift", Some(1)),
            "shift[0]/compensate#1" => ("shift", Some(0)),
            "first/compensate#1" => ("first", None),
            other => panic!("{other}"),
        };
        undone.push(
            s.input_of(step, Phase::Compensate)["message"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        s.finish(
            step,
            item,
            Phase::Compensate,
            AttemptResult::Succeeded { output: ok_json() },
        );
    }
    assert_eq!(undone, ["undo 40", "undo 20", "undo first 1"]);
    assert_eq!(s.running(), ["page#1"]);
    assert_eq!(
        s.input_of("page", Phase::Action),
        json!({"message": "failed after failed"})
    );
    s.ok("page", ok_json());
    assert_eq!(s.running(), ["report#1"]);
    s.ok("report", ok_json());
    assert_eq!(s.status("never"), "skipped");
    assert!(matches!(finished(&s), Outcome::Failed { reason } if reason.contains("breaks")));
    s.check_replay();
}

#[test]
fn cancelling_stops_new_work_cancels_running_attempts_and_still_runs_finally() {
    let mut s = Sim::new(COMPENSATE);
    s.settle();
    s.push_as(
        "alice",
        EventKind::CancelRequested {
            reason: "wrong region".into(),
        },
    );
    assert!(s.effects.contains(&Effect::CancelAll));
    s.finish("first", None, Phase::Action, AttemptResult::Cancelled);
    // No compensation, no on_failure; finally runs.
    assert_eq!(s.running(), ["report#1"]);
    s.ok("report", ok_json());
    assert_eq!(finished(&s), Outcome::Cancelled);
    assert_eq!(s.status("page"), "pending", "on_failure did not run");
    s.check_replay();
}

#[test]
fn sleep_is_a_stored_deadline_not_an_invocation() {
    let yaml = "runbook: nap\nsteps:\n  - { id: nap, action: sleep, with: { duration: 90s } }\n  - { id: after, needs: [nap], action: log, with: { message: up } }\n";
    let mut s = Sim::new(yaml);
    s.settle();
    assert!(s.invoked.is_empty(), "no task runs for a sleep");
    assert_eq!(s.item_status("nap", 0), "sleeping");
    assert_eq!(
        s.state.next_wake(),
        Some(s.now.plus(Duration::from_secs(90)))
    );
    s.advance(Duration::from_secs(89));
    assert_eq!(s.item_status("nap", 0), "sleeping");
    s.advance(Duration::from_secs(1));
    assert_eq!(s.running(), ["after#1"]);
    s.check_replay();
}

const CRASHY: &str = r#"
runbook: crashy
steps:
  - { id: idem, action: log, with: { message: x } }
  - { id: blind, action: exec, with: { argv: [touch, /tmp/x] } }
  - { id: checked, action: exec, with: { argv: [touch, /tmp/y], reconcile: { argv: [test, -e, /tmp/y] } } }
  - { id: forced, action: exec, with: { argv: [touch, /tmp/z] }, on_interrupt: retry }
"#;

#[test]
fn recovery_retries_idempotent_steps_reconciles_or_pauses_the_others() {
    let mut s = Sim::new(CRASHY);
    s.settle();
    assert_eq!(s.running().len(), 4);
    // The process dies here. A new one loads the log and recovers.
    let registry = drctl_connectors::Registry::builtin();
    let events = s.state.recover(&registry);
    let nexts: Vec<(String, Recovery)> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::AttemptInterrupted { step, next, .. } => Some((step.to_string(), *next)),
            _ => None,
        })
        .collect();
    assert_eq!(
        nexts,
        [
            ("idem".into(), Recovery::Retry),
            ("blind".into(), Recovery::Pause),
            ("checked".into(), Recovery::Reconcile),
            ("forced".into(), Recovery::Retry),
        ]
    );
    assert!(
        matches!(events.last(), Some(EventKind::Paused { reason: PauseReason::Interrupted { step, .. } }) if step.as_str() == "blind")
    );
    for e in events {
        s.push(e);
    }
    assert!(s.effects.contains(&Effect::Reconcile {
        step: id("checked"),
        item: None,
        phase: Phase::Action,
        attempt: 1
    }));
    assert!(matches!(s.state.status, RunStatus::Paused { .. }));
    // The reconcile check says it already happened: the step succeeds without a new call.
    s.push(EventKind::Reconciled {
        step: id("checked"),
        item: None,
        phase: Phase::Action,
        attempt: 1,
        observed: Reconciliation::Done {
            output: json!({"observed": true}),
        },
    });
    assert_eq!(s.status("checked"), "succeeded");
    // The operator looks at /tmp/x, finds it there, and skips the blind step.
    s.push_as(
        "bob",
        EventKind::OperatorDecision {
            step: id("blind"),
            item: None,
            decision: Decision::Skip,
            output: None,
        },
    );
    s.push_as("bob", EventKind::Resumed);
    s.settle();
    assert_eq!(
        s.running(),
        ["idem#2", "forced#2"],
        "only the retryable ones run again"
    );
    s.ok("idem", ok_json());
    s.ok("forced", ok_json());
    assert_eq!(finished(&s), Outcome::Succeeded);
    assert_eq!(s.status("blind"), "skipped");
    s.check_replay();
}

#[test]
fn a_reconciliation_cut_short_by_a_crash_is_asked_again() {
    let mut s = Sim::new(CRASHY);
    s.settle();
    let registry = drctl_connectors::Registry::builtin();
    assert!(s.state.unanswered_reconciliations().is_empty());
    for e in s.state.recover(&registry) {
        s.push(e);
    }
    // The process that asked `checked` to reconcile dies before the answer: the next
    // one finds the question open and asks again; nothing else is asked.
    assert_eq!(
        s.state.unanswered_reconciliations(),
        [Effect::Reconcile {
            step: id("checked"),
            item: None,
            phase: Phase::Action,
            attempt: 1
        }]
    );
    s.push(EventKind::Reconciled {
        step: id("checked"),
        item: None,
        phase: Phase::Action,
        attempt: 1,
        observed: Reconciliation::NotDone,
    });
    assert!(s.state.unanswered_reconciliations().is_empty());
}

#[test]
fn reconcile_not_done_runs_a_new_attempt_and_unknown_waits_for_an_operator() {
    let mut s = Sim::new(CRASHY);
    s.settle();
    let registry = drctl_connectors::Registry::builtin();
    for e in s.state.recover(&registry) {
        s.push(e);
    }
    s.push(EventKind::Reconciled {
        step: id("checked"),
        item: None,
        phase: Phase::Action,
        attempt: 1,
        observed: Reconciliation::NotDone,
    });
    s.push_as(
        "bob",
        EventKind::OperatorDecision {
            step: id("blind"),
            item: None,
            decision: Decision::Retry,
            output: None,
        },
    );
    s.push_as("bob", EventKind::Resumed);
    s.settle();
    assert_eq!(s.running(), ["idem#2", "blind#2", "checked#2", "forced#2"]);
    s.check_replay();
}

#[test]
fn an_operator_can_say_an_interrupted_step_took_effect_and_give_its_output() {
    let yaml = r#"
runbook: told
steps:
  - { id: blind, action: exec, with: { argv: [touch, /tmp/x] } }
  - { id: after, needs: [blind], action: log, with: { message: "code {{ steps.blind.output.code }}" } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    let registry = drctl_connectors::Registry::builtin();
    for e in s.state.recover(&registry) {
        s.push(e);
    }
    assert_eq!(s.item_status("blind", 0), "interrupted");
    s.push_as(
        "bob",
        EventKind::OperatorDecision {
            step: id("blind"),
            item: None,
            decision: Decision::Skip,
            output: Some(json!({"code": 7})),
        },
    );
    s.push_as("bob", EventKind::Resumed);
    s.settle();
    assert_eq!(s.status("blind"), "succeeded");
    assert_eq!(s.input_of("after", Phase::Action)["message"], "code 7");
    s.check_replay();
}

#[test]
fn operator_decisions_need_a_step_that_waits_for_one() {
    let mut s = Sim::new(DIAMOND);
    s.settle();
    let event = drctl_run::Event {
        at: s.now,
        actor: drctl_core::Actor::from_stored("bob"),
        kind: EventKind::OperatorDecision {
            step: id("a"),
            item: None,
            decision: Decision::Retry,
            output: None,
        },
    };
    let err = s.state.clone().apply(&event).unwrap_err();
    assert!(
        err.to_string().contains("not waiting for an operator"),
        "{err}"
    );
    // Skipping a step that has not started is a standing order: it is skipped when it
    // becomes ready, after what it needs, never run.
    let skip_d = EventKind::OperatorDecision {
        step: id("d"),
        item: None,
        decision: Decision::Skip,
        output: None,
    };
    s.push_as("bob", skip_d.clone());
    assert_eq!(s.status("d"), "pending");
    let twice = drctl_run::Event {
        at: s.now,
        actor: drctl_core::Actor::from_stored("carol"),
        kind: skip_d,
    };
    let err = s.state.clone().apply(&twice).unwrap_err();
    assert!(
        err.to_string().contains("already to be skipped by bob"),
        "{err}"
    );
    s.ok("a", json!({"n": 1}));
    assert_eq!(s.status("d"), "pending", "b and c come first");
    s.ok("b", ok_json());
    s.ok("c", ok_json());
    s.settle();
    assert_eq!(s.status("d"), "skipped");
    assert!(s.running().is_empty(), "{:?}", s.running());
    s.check_replay();
}

#[test]
fn an_approval_gate_cannot_be_skipped_or_failed_by_an_operator() {
    let mut s = Sim::new(
        "runbook: g\nsteps:\n  - { id: a, action: log, with: { message: a } }\n  - id: gate\n    needs: [a]\n    approval: { approvers: [bob] }\n",
    );
    s.settle();
    for decision in [Decision::Skip, Decision::Fail, Decision::Retry] {
        let event = drctl_run::Event {
            at: s.now,
            actor: drctl_core::Actor::from_stored("mallory"),
            kind: EventKind::OperatorDecision {
                step: id("gate"),
                item: None,
                decision,
                output: None,
            },
        };
        let err = s.state.clone().apply(&event).unwrap_err();
        assert!(
            err.to_string().contains("only its approvers decide it"),
            "{err}"
        );
    }
}

#[test]
fn recorded_inputs_mask_secrets_and_bad_inputs_fail_the_step() {
    let yaml = r#"
runbook: masked
params: { weight: { type: integer, default: 300 } }
secrets: { token: { env: TOKEN } }
steps:
  - { id: call, action: http.request, with: { url: "http://x", headers: { Authorization: "Bearer {{ secrets.token }}" } } }
  - { id: shift, action: haproxy.set_weight, with: { socket: "s", backend: b, server: s, weight: "{{ params.weight }}" } }
"#;
    let mut s = Sim::new(yaml);
    s.settle();
    assert_eq!(
        s.input_of("call", Phase::Action)["headers"]["Authorization"],
        "Bearer ***"
    );
    // 300 is out of range: caught before the call, the step fails without an attempt.
    assert_eq!(s.status("shift"), "failed");
    assert!(s.log.iter().any(|e| matches!(&e.kind, EventKind::StepFailed { message, .. } if message.contains("300 is out of range"))));
}

#[test]
fn events_that_do_not_fit_are_rejected() {
    let mut s = Sim::new(DIAMOND);
    s.settle();
    let bad = drctl_run::Event {
        at: s.now,
        actor: drctl_core::Actor::from_stored("drctl"),
        kind: EventKind::AttemptFinished {
            step: id("d"),
            item: None,
            phase: Phase::Action,
            attempt: 1,
            result: AttemptResult::Succeeded { output: json!(1) },
        },
    };
    assert!(s.state.apply(&bad).is_err(), "d never started");
    let unknown = drctl_run::Event {
        kind: EventKind::StepSkipped {
            step: id("zz"),
            reason: String::new(),
        },
        ..bad
    };
    assert!(s.state.apply(&unknown).is_err());
}
