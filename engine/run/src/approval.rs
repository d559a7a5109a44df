//! Approval steps: who may decide, when a gate is satisfied, what its timeout does.
//!
//! A gate asks its `approvers` (level 0); each timeout with `on_timeout: escalate` adds
//! the next list of `escalate` (the earlier approvers stay entitled, and approvals already
//! given still count). A rejection from anyone entitled fails the step at once. Approvals
//! count once per person, only while younger than `expires`, and with `distinct_groups`
//! each must stand for a different approver entry (a bipartite matching, so that one
//! person in two groups cannot fill both).
//!
//! The driver checks a decision with [`check_decision`] before recording it, and `apply`
//! checks it again: the log never holds a decision that did not count.

use std::collections::{HashMap, HashSet};

use drctl_core::{Actor, Approver, StepId, Timestamp};
use drctl_runbook::model::{Approval, OnTimeout, Step, StepKind};
use drctl_runbook::template::render::Secrets;
use serde_json::{Value, json};

use crate::TransitionError;
use crate::context::Scope;
use crate::decide::DecideCtx;
use crate::event::{EventKind, TimeoutOutcome, Verdict};
use crate::state::{GivenApproval, ItemStatus, RunState, StepStatus};

/// Who may decide at `level`: the approvers, then each escalation level's, in order.
pub fn approvers_at(a: &Approval, level: u32) -> Vec<Approver> {
    let mut out: Vec<Approver> = Vec::new();
    let levels = std::iter::once(&a.approvers).chain(a.escalate.iter().take(level as usize));
    for who in levels.flatten() {
        if !out.contains(who) {
            out.push(who.clone());
        }
    }
    out
}

/// A list of approver entries as a person reads it: `alice, group:dba`.
pub fn join(entries: &[Approver]) -> String {
    entries
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entries of `approvers` that `actor`, a member of `groups`, answers for.
pub fn entries_for(approvers: &[Approver], actor: &Actor, groups: &[String]) -> Vec<Approver> {
    approvers
        .iter()
        .filter(|e| e.covers(actor, groups))
        .cloned()
        .collect()
}

/// The approvals that count at `now`: each person's latest, if it has not expired.
fn counting<'a>(
    a: &Approval,
    given: &'a [GivenApproval],
    now: Timestamp,
) -> Vec<&'a GivenApproval> {
    let mut out: Vec<&GivenApproval> = Vec::new();
    for g in given.iter().rev() {
        if out.iter().any(|o| o.by == g.by) {
            continue;
        }
        if a.expires.is_some_and(|e| now >= g.at.plus(e)) {
            continue;
        }
        out.push(g);
    }
    out
}

/// Whether the approvals that count at `now` meet `min` (and `distinct_groups`).
pub fn satisfied(a: &Approval, given: &[GivenApproval], now: Timestamp) -> bool {
    let valid = counting(a, given, now);
    let min = a.min.get() as usize;
    if a.distinct_groups {
        max_matching(&valid) >= min
    } else {
        valid.len() >= min
    }
}

/// The largest set of approvals that each stand for a different entry (Kuhn's algorithm;
/// gates have a handful of approvers).
fn max_matching(approvals: &[&GivenApproval]) -> usize {
    let mut owner: HashMap<&Approver, usize> = HashMap::new();
    (0..approvals.len())
        .filter(|&i| augment(i, approvals, &mut owner, &mut HashSet::new()))
        .count()
}

fn augment<'a>(
    i: usize,
    approvals: &[&'a GivenApproval],
    owner: &mut HashMap<&'a Approver, usize>,
    seen: &mut HashSet<&'a Approver>,
) -> bool {
    for entry in &approvals[i].on_behalf_of {
        if !seen.insert(entry) {
            continue;
        }
        let free = match owner.get(entry).copied() {
            None => true,
            Some(j) => augment(j, approvals, owner, seen),
        };
        if free {
            owner.insert(entry, i);
            return true;
        }
    }
    false
}

/// Why `actor` may not give this decision on `step` now, if they may not.
pub fn check_decision(
    state: &RunState,
    step: &StepId,
    actor: &Actor,
    verdict: Verdict,
    comment: &str,
    on_behalf_of: &[Approver],
    now: Timestamp,
) -> Result<(), String> {
    let def = state
        .definition(step.as_str())
        .ok_or_else(|| format!("the run has no step `{step}`"))?;
    let StepKind::Approval(a) = &def.kind else {
        return Err(format!("step `{step}` is not an approval step"));
    };
    let it = state
        .steps
        .get(step)
        .and_then(|s| s.items.first())
        .ok_or_else(|| format!("the run has no step `{step}`"))?;
    let ItemStatus::Awaiting {
        approvers,
        approvals,
        ..
    } = &it.status
    else {
        return Err(format!(
            "step `{step}` is not waiting for approval (it is {})",
            it.status.as_str()
        ));
    };
    if on_behalf_of.is_empty() || on_behalf_of.iter().any(|e| !approvers.contains(e)) {
        return Err(format!(
            "{actor} is not among the approvers of `{step}` ({})",
            join(approvers)
        ));
    }
    if verdict == Verdict::Approve && *actor == state.created_by && !a.allow_self_approval {
        return Err(format!(
            "{actor} started this run and so cannot approve it (four-eyes); the runbook \
             would need `allow_self_approval: true`"
        ));
    }
    if a.require_comment && comment.trim().is_empty() {
        return Err(format!("step `{step}` needs a comment with each decision"));
    }
    if verdict == Verdict::Approve && counting(a, approvals, now).iter().any(|g| g.by == *actor) {
        return Err(format!("{actor} has already approved `{step}`"));
    }
    Ok(())
}

impl RunState {
    /// The first `ApprovalRequested` of a ready approval step.
    pub(crate) fn request_approval(
        &self,
        def: &Step,
        a: &Approval,
        now: Timestamp,
        cx: &DecideCtx<'_>,
    ) -> EventKind {
        let message = a.message.as_ref().map(|t| {
            let ctx = self.context(now, &t.refs, Secrets::Masked(&[]), Scope::default());
            cx.env
                .render(&t.source, &ctx)
                .unwrap_or_else(|e| format!("(the message could not be rendered: {})", e.message))
        });
        EventKind::ApprovalRequested {
            step: def.id.clone(),
            level: 0,
            approvers: approvers_at(a, 0),
            message,
            deadline: a.timeout.map(|t| now.plus(t)),
        }
    }

    /// What a passed deadline of a waiting gate does.
    pub(crate) fn approval_timeout(
        def: &Step,
        a: &Approval,
        level: u32,
        message: Option<String>,
        now: Timestamp,
    ) -> Vec<EventKind> {
        let timed_out = |outcome| EventKind::ApprovalTimedOut {
            step: def.id.clone(),
            level,
            outcome,
        };
        match a.on_timeout {
            OnTimeout::Approve => vec![timed_out(TimeoutOutcome::Approved)],
            OnTimeout::Escalate if (level as usize) < a.escalate.len() => vec![
                timed_out(TimeoutOutcome::Escalated),
                EventKind::ApprovalRequested {
                    step: def.id.clone(),
                    level: level + 1,
                    approvers: approvers_at(a, level + 1),
                    message,
                    deadline: a.timeout.map(|t| now.plus(t)),
                },
            ],
            // Nobody left to ask: a gate that nobody passed stays closed.
            OnTimeout::Escalate | OnTimeout::Reject => vec![timed_out(TimeoutOutcome::Rejected)],
        }
    }

    /// Applies the three approval events.
    pub(crate) fn apply_approval(
        &mut self,
        actor: &Actor,
        kind: &EventKind,
        at: Timestamp,
        index: u64,
        name: &'static str,
    ) -> Result<(), TransitionError> {
        let invalid = |message: String| TransitionError::Invalid {
            index,
            kind: name,
            message,
        };
        match kind {
            EventKind::ApprovalRequested {
                step,
                level,
                approvers,
                message,
                deadline,
            } => {
                let it = self.item_mut(step, None, index, name)?;
                let approvals = match &it.status {
                    ItemStatus::Pending => Vec::new(),
                    ItemStatus::Awaiting { approvals, .. } => approvals.clone(),
                    other => {
                        return Err(invalid(format!(
                            "step `{step}` cannot wait for approval: it is {}",
                            other.as_str()
                        )));
                    }
                };
                it.started_at.get_or_insert(at);
                it.status = ItemStatus::Awaiting {
                    level: *level,
                    approvers: approvers.clone(),
                    message: message.clone(),
                    deadline: *deadline,
                    approvals,
                };
                self.step_mut(step, index, name)?.status = StepStatus::Active;
            }
            EventKind::ApprovalDecided {
                step,
                verdict,
                comment,
                on_behalf_of,
            } => {
                check_decision(self, step, actor, *verdict, comment, on_behalf_of, at)
                    .map_err(invalid)?;
                if *verdict == Verdict::Reject {
                    let why = format!("rejected by {actor}: {comment}");
                    return self.fail_item(step, None, why, at, index, name);
                }
                // The runbook is shared: holding it does not borrow the state.
                let runbook = self.runbook.clone();
                let policy = match runbook.step(step.as_str()).map(|d| &d.kind) {
                    Some(StepKind::Approval(a)) => Some(a),
                    _ => None,
                };
                let it = self.item_mut(step, None, index, name)?;
                let ItemStatus::Awaiting {
                    level, approvals, ..
                } = &mut it.status
                else {
                    return Err(invalid(format!(
                        "step `{step}` is not waiting for approval"
                    )));
                };
                approvals.push(GivenApproval {
                    by: actor.clone(),
                    on_behalf_of: on_behalf_of.clone(),
                    comment: comment.clone(),
                    at,
                });
                let level = *level;
                let approvals = approvals.clone();
                if policy.is_some_and(|a| satisfied(a, &approvals, at)) {
                    let output = approved_output(&approvals, level, None);
                    self.succeed_item(step, None, output, at, index, name)?;
                }
            }
            EventKind::ApprovalTimedOut {
                step,
                level,
                outcome,
            } => {
                let it = self.item_mut(step, None, index, name)?;
                let ItemStatus::Awaiting { approvals, .. } = &it.status else {
                    return Err(invalid(format!(
                        "step `{step}` is not waiting for approval"
                    )));
                };
                let approvals = approvals.clone();
                match outcome {
                    TimeoutOutcome::Approved => {
                        let output = approved_output(&approvals, *level, Some("timeout"));
                        self.succeed_item(step, None, output, at, index, name)?;
                    }
                    TimeoutOutcome::Rejected => {
                        let why = format!("no decision before the timeout (level {level})");
                        self.fail_item(step, None, why, at, index, name)?;
                    }
                    // The next `ApprovalRequested` moves the gate on.
                    TimeoutOutcome::Escalated => {}
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The output of a passed gate: who approved, with their comments.
fn approved_output(approvals: &[GivenApproval], level: u32, auto: Option<&str>) -> Value {
    let by: Vec<Value> = approvals
        .iter()
        .map(|g| {
            json!({
                "by": g.by,
                "on_behalf_of": g.on_behalf_of,
                "comment": g.comment,
                "at": g.at.to_rfc3339(),
            })
        })
        .collect();
    let mut out = json!({ "approved_by": by, "level": level });
    if let Some(how) = auto {
        out["auto_approved"] = json!(how);
    }
    out
}
