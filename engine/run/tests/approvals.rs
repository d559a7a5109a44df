//! Approval gates on the pure state machine with a hand-moved clock: each policy (M of N,
//! distinct groups, four-eyes, required comment, expiry) and each `on_timeout`.

#![allow(clippy::unwrap_used)]

mod sim;

use std::time::Duration;

use drctl_core::StepId;
use drctl_run::approval::{check_decision, entries_for};
use drctl_run::event::{TimeoutOutcome, Verdict};
use drctl_run::state::ItemStatus;
use drctl_run::{EventKind, Outcome, RunStatus};
use serde_json::json;
use sim::{Sim, ok_json};

fn id(s: &str) -> StepId {
    StepId::new(s).unwrap()
}

/// A gate between two steps; `policy` is the inside of `approval: { ... }`.
fn gated(policy: &str) -> Sim {
    let yaml = format!(
        "runbook: gated\nsteps:\n  - {{ id: before, action: log, with: {{ message: b }} }}\n  - id: gate\n    needs: [before]\n    approval: {{ {policy} }}\n  - {{ id: after, needs: [gate], action: log, with: {{ message: \"by {{{{ steps.gate.output.approved_by[0].by }}}}\" }} }}\n"
    );
    let mut s = Sim::new(&yaml);
    s.settle();
    s.ok("before", ok_json());
    s
}

/// The configuration's groups in these tests.
fn groups_of(who: &str) -> Vec<String> {
    let groups: &[&str] = match who {
        "alice" | "bob" => &["sre"],
        "carol" => &["dba"],
        "dave" => &["sre", "dba"],
        "erin" => &["leads"],
        _ => &[],
    };
    groups.iter().map(|g| (*g).to_owned()).collect()
}

impl Sim {
    fn entries(&self) -> Vec<drctl_core::Approver> {
        match &self.state.steps[&id("gate")].items[0].status {
            ItemStatus::Awaiting { approvers, .. } => approvers.clone(),
            other => panic!("not awaiting: {other:?}"),
        }
    }

    fn approvers(&self) -> Vec<String> {
        match &self.state.steps[&id("gate")].items[0].status {
            ItemStatus::Awaiting { approvers, .. } => {
                approvers.iter().map(ToString::to_string).collect()
            }
            other => panic!("not awaiting: {other:?}"),
        }
    }

    /// Checks the decision as the driver does, then records it; the error if refused.
    fn decide_as(&mut self, who: &str, verdict: Verdict, comment: &str) -> Result<(), String> {
        let actor = drctl_core::Actor::from_stored(who);
        let on_behalf_of = entries_for(&self.entries(), &actor, &groups_of(who));
        check_decision(
            &self.state,
            &id("gate"),
            &actor,
            verdict,
            comment,
            &on_behalf_of,
            self.now,
        )?;
        self.push_as(
            who,
            EventKind::ApprovalDecided {
                step: id("gate"),
                verdict,
                comment: comment.into(),
                on_behalf_of,
            },
        );
        self.settle();
        Ok(())
    }

    fn approve(&mut self, who: &str) -> Result<(), String> {
        self.decide_as(who, Verdict::Approve, "looks right")
    }
}

#[test]
fn a_gate_waits_for_m_of_n_distinct_people() {
    let mut s = gated("approvers: [alice, bob, carol], min: 2, message: \"Fail over?\"");
    assert_eq!(s.status("gate"), "running");
    assert_eq!(s.approvers(), ["alice", "bob", "carol"]);
    assert!(s.running().is_empty(), "a gate is not an attempt");
    s.approve("alice").unwrap();
    assert_eq!(s.status("gate"), "running", "1 of 2");
    let again = s.approve("alice").unwrap_err();
    assert!(again.contains("already approved"), "{again}");
    let stranger = s.approve("mallory").unwrap_err();
    assert!(stranger.contains("not among the approvers"), "{stranger}");
    s.approve("bob").unwrap();
    assert_eq!(s.status("gate"), "succeeded");
    let out = s.state.steps[&id("gate")].items[0]
        .output()
        .unwrap()
        .clone();
    assert_eq!(out["approved_by"][0]["by"], "alice");
    assert_eq!(out["approved_by"][1]["by"], "bob");
    assert_eq!(out["approved_by"][1]["comment"], "looks right");
    assert_eq!(s.running(), ["after#1"]);
    assert_eq!(
        s.input_of("after", drctl_run::Phase::Action),
        json!({"message": "by alice"})
    );
    s.check_replay();
}

#[test]
fn distinct_groups_need_approvals_standing_for_different_groups() {
    let mut s = gated("approvers: [group:sre, group:dba], min: 2, distinct_groups: true");
    s.approve("alice").unwrap();
    s.approve("bob").unwrap();
    assert_eq!(s.status("gate"), "running", "two SREs are one group");
    s.approve("dave").unwrap();
    // dave is in both groups; alice holds `sre`, so dave stands for `dba`.
    assert_eq!(s.status("gate"), "succeeded");
    s.check_replay();

    // One person in both groups cannot fill both.
    let mut s = gated("approvers: [group:sre, group:dba], min: 2, distinct_groups: true");
    s.approve("dave").unwrap();
    assert_eq!(s.status("gate"), "running");
    s.approve("carol").unwrap();
    assert_eq!(s.status("gate"), "succeeded");
}

#[test]
fn whoever_started_the_run_cannot_approve_it_unless_the_runbook_allows() {
    // The simulated run was started by `tester`.
    let mut s = gated("approvers: [tester, alice]");
    let refused = s.approve("tester").unwrap_err();
    assert!(refused.contains("four-eyes"), "{refused}");
    // Recording it anyway is refused by the state machine too.
    let event = drctl_run::Event {
        at: s.now,
        actor: drctl_core::Actor::from_stored("tester"),
        kind: EventKind::ApprovalDecided {
            step: id("gate"),
            verdict: Verdict::Approve,
            comment: "me".into(),
            on_behalf_of: vec![drctl_core::Approver::parse("tester")],
        },
    };
    assert!(s.state.clone().apply(&event).is_err());
    s.approve("alice").unwrap();
    assert_eq!(s.status("gate"), "succeeded");

    let mut s = gated("approvers: [tester], allow_self_approval: true");
    s.approve("tester").unwrap();
    assert_eq!(s.status("gate"), "succeeded");
}

#[test]
fn a_comment_is_required_unless_the_runbook_says_otherwise() {
    let mut s = gated("approvers: [alice]");
    let refused = s.decide_as("alice", Verdict::Approve, "  ").unwrap_err();
    assert!(refused.contains("needs a comment"), "{refused}");
    s.decide_as("alice", Verdict::Approve, "checked the lag")
        .unwrap();
    assert_eq!(s.status("gate"), "succeeded");

    let mut s = gated("approvers: [alice], require_comment: false");
    s.decide_as("alice", Verdict::Approve, "").unwrap();
    assert_eq!(s.status("gate"), "succeeded");
}

#[test]
fn one_rejection_fails_the_gate_and_the_run() {
    let mut s = gated("approvers: [alice, bob], min: 2");
    s.approve("alice").unwrap();
    s.decide_as("bob", Verdict::Reject, "replica is 5 minutes behind")
        .unwrap();
    assert_eq!(s.status("gate"), "failed");
    assert_eq!(s.status("after"), "skipped");
    match s.state.status {
        RunStatus::Finished {
            outcome: Outcome::Failed { ref reason },
        } => assert!(
            reason.contains("rejected by bob: replica is 5 minutes behind"),
            "{reason}"
        ),
        ref other => panic!("{other:?}"),
    }
    s.check_replay();
}

#[test]
fn approvals_older_than_expires_no_longer_count() {
    let mut s = gated("approvers: [alice, bob], min: 2, expires: 10m");
    s.approve("alice").unwrap();
    s.advance(Duration::from_secs(11 * 60));
    s.approve("bob").unwrap();
    assert_eq!(s.status("gate"), "running", "alice's approval expired");
    // Her approval no longer counts, so she may give it again.
    s.approve("alice").unwrap();
    assert_eq!(s.status("gate"), "succeeded");
    s.check_replay();
}

#[test]
fn on_timeout_reject_fails_the_gate_at_its_deadline() {
    let mut s = gated("approvers: [alice], timeout: 15m");
    s.advance(Duration::from_secs(14 * 60));
    assert_eq!(s.status("gate"), "running");
    s.advance(Duration::from_secs(60));
    assert_eq!(s.status("gate"), "failed");
    assert!(s.kinds().contains(&"approval_timed_out"));
    assert!(matches!(
        s.state.status,
        RunStatus::Finished {
            outcome: Outcome::Failed { .. }
        }
    ));
    s.check_replay();
}

#[test]
fn on_timeout_approve_passes_the_gate_and_says_so() {
    let mut s = gated("approvers: [alice], timeout: 5m, on_timeout: approve");
    s.advance(Duration::from_secs(5 * 60));
    assert_eq!(s.status("gate"), "succeeded");
    let out = s.state.steps[&id("gate")].items[0]
        .output()
        .unwrap()
        .clone();
    assert_eq!(out["auto_approved"], "timeout");
    assert_eq!(out["approved_by"], json!([]));
    s.check_replay();
}

#[test]
fn on_timeout_escalate_asks_each_level_then_rejects() {
    let mut s = gated(
        "approvers: [group:sre], timeout: 10m, on_timeout: escalate, escalate: [[group:leads], [cto]]",
    );
    assert_eq!(s.approvers(), ["group:sre"]);
    let early = s.approve("erin").unwrap_err();
    assert!(early.contains("not among the approvers"), "{early}");
    s.advance(Duration::from_secs(10 * 60));
    assert_eq!(s.approvers(), ["group:sre", "group:leads"]);
    s.advance(Duration::from_secs(10 * 60));
    assert_eq!(s.approvers(), ["group:sre", "group:leads", "cto"]);
    let timeouts: Vec<_> = s
        .log
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ApprovalTimedOut { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        timeouts,
        [TimeoutOutcome::Escalated, TimeoutOutcome::Escalated]
    );
    s.advance(Duration::from_secs(10 * 60));
    assert_eq!(s.status("gate"), "failed", "nobody left to ask");
    s.check_replay();

    // Someone from an escalation level may decide once it is asked.
    let mut s = gated(
        "approvers: [group:sre], timeout: 10m, on_timeout: escalate, escalate: [[group:leads]]",
    );
    s.advance(Duration::from_secs(10 * 60));
    s.approve("erin").unwrap();
    assert_eq!(s.status("gate"), "succeeded");
    let out = s.state.steps[&id("gate")].items[0]
        .output()
        .unwrap()
        .clone();
    assert_eq!(out["level"], 1);
}
