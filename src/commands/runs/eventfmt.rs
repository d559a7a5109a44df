//! One line per event, for `drctl run`'s progress and for `drctl logs`.

use drctl_run::event::{
    AttemptResult, EventKind, NoticeResult, Reconciliation, Recovery, TimeoutOutcome, Verdict,
};
use drctl_run::{Event, Outcome, Phase};

/// `step`, `step[2]`, `step verify`, `step compensate`.
pub(super) fn label(step: &str, item: Option<u32>, phase: Phase) -> String {
    let mut s = step.to_owned();
    if let Some(i) = item {
        s.push_str(&format!("[{i}]"));
    }
    match phase {
        Phase::Action => {}
        Phase::Verify => s.push_str(" verify"),
        Phase::Compensate => s.push_str(" compensate"),
    }
    s
}

/// The event as a line (without time), or `None` for events not worth a line.
pub(super) fn line(event: &Event) -> Option<String> {
    Some(match &event.kind {
        EventKind::RunCreated(c) => format!(
            "created by {} ({}, {}){}",
            event.actor,
            c.source.name,
            c.trigger,
            c.confirmed.as_ref().map_or_else(String::new, |p| format!(
                ", confirming what webhook {} proposed at {} (delivery {}): {}",
                p.hook,
                p.proposed_at.to_rfc3339(),
                p.delivery,
                p.reason
            ))
        ),
        EventKind::LockWaiting { lock, held_by } => {
            format!("… waiting for lock `{lock}`, held by run {held_by}")
        }
        EventKind::LockAcquired { lock } => format!("lock `{lock}` taken"),
        EventKind::RunStarted { .. } => "started".to_owned(),
        EventKind::ItemsExpanded { step, items } => format!("{step}: {} items", items.len()),
        EventKind::StepSkipped { step, reason } => format!("- {step} skipped: {reason}"),
        EventKind::StepFailed {
            step,
            item,
            message,
        } => format!(
            "✗ {}: {message}",
            label(step.as_str(), *item, Phase::Action)
        ),
        EventKind::AttemptStarted(a) => {
            let what = label(a.step.as_str(), a.item, a.phase);
            match a.wait_until {
                Some(until) => format!("• {what} sleeping until {until}"),
                // A verify's later attempts are the checks of its `for` window.
                None if a.attempt > 1 && a.phase == Phase::Verify => {
                    format!("• {what} (check {})", a.attempt)
                }
                None if a.attempt > 1 => format!("• {what} (attempt {})", a.attempt),
                None => format!("• {what}"),
            }
        }
        EventKind::AttemptFinished {
            step,
            item,
            phase,
            result,
            ..
        } => {
            let what = label(step.as_str(), *item, *phase);
            match result {
                AttemptResult::Succeeded { .. } => format!("✓ {what}"),
                AttemptResult::Failed { class, message } => {
                    format!("✗ {what} ({class:?}): {message}")
                        .replace("(Retryable)", "(retryable)")
                        .replace("(Permanent)", "(permanent)")
                        .replace("(Timeout)", "(timeout)")
                }
                AttemptResult::Cancelled => format!("■ {what} cancelled"),
            }
        }
        EventKind::AttemptInterrupted {
            step,
            item,
            phase,
            attempt,
            next,
        } => {
            let then = match next {
                Recovery::Retry => "running it again",
                Recovery::Reconcile => "asking whether it took effect",
                Recovery::Pause => "waiting for an operator",
            };
            format!(
                "! {} attempt {attempt} was interrupted; {then}",
                label(step.as_str(), *item, *phase)
            )
        }
        EventKind::Reconciled {
            step,
            item,
            phase,
            observed,
            ..
        } => {
            let found = match observed {
                Reconciliation::Done { .. } => "it had taken effect: done".to_owned(),
                Reconciliation::NotDone => "it had not taken effect: running it again".to_owned(),
                Reconciliation::Unknown { reason } => format!("cannot tell ({reason})"),
            };
            format!("? {}: {found}", label(step.as_str(), *item, *phase))
        }
        EventKind::ChildStarted { step, child, .. } => format!("↳ {step}: sub-run {child}"),
        EventKind::Paused { reason } => format!(
            "⏸ paused: {}",
            drctl_engine::projection::describe_pause(reason)
        ),
        EventKind::Resumed => format!("▶ resumed by {}", event.actor),
        EventKind::OperatorDecision {
            step,
            item,
            decision,
            output,
        } => format!(
            "{} decided: {} {}{}",
            event.actor,
            decision.as_str(),
            label(step.as_str(), *item, Phase::Action),
            if output.is_some() {
                " (it took effect; output given)"
            } else {
                ""
            }
        ),
        EventKind::CancelRequested { reason } => {
            format!("■ cancel requested by {}: {reason}", event.actor)
        }
        EventKind::CommandRefused { asked, reason } => {
            format!("✗ {}'s command refused ({asked}): {reason}", event.actor)
        }
        EventKind::DeliveryAttached {
            hook,
            delivery,
            id,
            peer,
            key,
        } => {
            let id = id
                .as_ref()
                .map(|i| format!(" (id {i})"))
                .unwrap_or_default();
            let key = key
                .as_ref()
                .map(|k| format!(", key {k}"))
                .unwrap_or_default();
            format!("↪ webhook {hook} delivery {delivery}{id} from {peer} joined the run{key}")
        }
        EventKind::ApprovalRequested {
            step,
            level,
            approvers,
            message,
            deadline,
        } => {
            let mut text = format!(
                "⏳ {step} waits for approval from {}",
                drctl_run::approval::join(approvers)
            );
            if *level > 0 {
                text.push_str(&format!(" (escalated, level {level})"));
            }
            if let Some(d) = deadline {
                text.push_str(&format!(" until {d}"));
            }
            if let Some(m) = message {
                text.push_str(&format!(": {m}"));
            }
            text
        }
        EventKind::ApprovalDecided {
            step,
            verdict,
            comment,
            on_behalf_of,
        } => format!(
            "{} {} {step} ({}): {comment}",
            event.actor,
            match verdict {
                Verdict::Approve => "approved",
                Verdict::Reject => "rejected",
            },
            drctl_run::approval::join(on_behalf_of)
        ),
        EventKind::ApprovalTimedOut {
            step,
            level,
            outcome,
        } => {
            let then = match outcome {
                TimeoutOutcome::Rejected => "rejected",
                TimeoutOutcome::Approved => "approved, as the runbook says",
                TimeoutOutcome::Escalated => "escalating",
            };
            format!("⏱ {step}: no decision in time at level {level}: {then}")
        }
        EventKind::TimedOut => "⏱ the run's timeout expired".to_owned(),
        EventKind::NoticeQueued {
            notice, on, action, ..
        } => format!("✉ notice {notice}: {} via {action}", on.as_str()),
        EventKind::NoticeAttempted {
            notice,
            attempt,
            result,
        } => match result {
            NoticeResult::Delivered { .. } => format!("✉ notice {notice} delivered"),
            NoticeResult::Failed { message, .. } => {
                format!("✉ notice {notice}: attempt {attempt} failed: {message}")
            }
        },
        EventKind::RunFinished { outcome, .. } => match outcome {
            Outcome::Succeeded => "✓ run succeeded".to_owned(),
            Outcome::Failed { reason } => format!("✗ run failed: {reason}"),
            Outcome::Cancelled => "■ run cancelled".to_owned(),
        },
    })
}
