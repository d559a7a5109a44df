//! Approval policies: gates a configured policy approves on its own, as a recorded
//! approver, never by skipping the gate.
//!
//! A policy stands for one approver entry of the gate (`group:sre-oncall`), so the gate's
//! own rules still hold: the policy must be among the gate's approvers, it counts as one
//! approval (a gate with `min: 2` still needs a person), and its decision is an ordinary
//! `approval_decided` event by the actor `policy:NAME`, with a comment that says why. The
//! typical use is a scheduled drill that must run unattended while a real failover keeps
//! its human gate: `drills_only` limits a policy to runs started as drills (and their
//! sub-runs).

use drctl_run::RunState;
use drctl_run::event::{EventKind, Verdict};
use drctl_run::state::ItemStatus;
use drctl_runbook::model::StepKind;

/// One policy, as drctl.toml's `[[approval_policy]]` gives it. `drills_only` defaults to
/// true: a policy that approves real failovers must say so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    pub name: String,
    /// Runbook names it applies to; empty for all.
    #[serde(default)]
    pub runbooks: Vec<String>,
    /// Only runs started as drills.
    #[serde(default = "yes")]
    pub drills_only: bool,
    /// What must have started the run (`webhook:region-down`, `schedule:monthly`); empty
    /// for any trigger. With `drills_only = false`, a policy naming a webhook is fully
    /// automatic failover: the alert starts the run and the policy passes its gate.
    #[serde(default)]
    pub triggers: Vec<drctl_core::Trigger>,
    /// The approver entry it approves for; it must be one of the gate's approvers.
    pub on_behalf_of: drctl_core::Approver,
}

fn yes() -> bool {
    true
}

impl ApprovalPolicy {
    /// The actor its decisions are recorded under.
    pub fn actor(&self) -> drctl_core::Actor {
        drctl_core::Actor::Policy(self.name.clone())
    }

    fn applies_to(&self, state: &RunState) -> bool {
        (!self.drills_only || state.created.drill)
            && (self.triggers.is_empty() || self.triggers.contains(&state.created.trigger))
            && (self.runbooks.is_empty()
                || self
                    .runbooks
                    .iter()
                    .any(|r| r == state.runbook.name.as_str()))
    }
}

/// The approvals the policies owe the run now: `(actor, event)` for each waiting gate a
/// policy applies to and has not approved yet.
pub(crate) fn owed(
    policies: &[ApprovalPolicy],
    state: &RunState,
) -> Vec<(drctl_core::Actor, EventKind)> {
    let mut out = Vec::new();
    if policies.is_empty() {
        return out;
    }
    // A waiting gate is an active step: the others cannot owe anything.
    for (id, st) in state.active_steps() {
        let Some(def) = state.definition(id.as_str()) else {
            continue;
        };
        if !matches!(def.kind, StepKind::Approval(_)) {
            continue;
        }
        let Some(ItemStatus::Awaiting {
            approvers,
            approvals,
            ..
        }) = st.items.first().map(|it| &it.status)
        else {
            continue;
        };
        for p in policies.iter().filter(|p| p.applies_to(state)) {
            let actor = p.actor();
            if approvals.iter().any(|a| a.by == actor) || !approvers.contains(&p.on_behalf_of) {
                continue;
            }
            let why = if !p.triggers.is_empty() {
                format!("a run started by {}", state.created.trigger)
            } else if state.created.drill {
                "a drill run".to_owned()
            } else {
                "its runbook".to_owned()
            };
            out.push((
                actor,
                EventKind::ApprovalDecided {
                    step: id.clone(),
                    verdict: Verdict::Approve,
                    comment: format!("approved by policy `{}` for {why}", p.name),
                    on_behalf_of: vec![p.on_behalf_of.clone()],
                },
            ));
        }
    }
    out
}
