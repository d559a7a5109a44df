//! Live progress for `drctl run` and `drctl resume`: a line per event, with how long each
//! attempt took. Sub-runs are indented under their parent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use drctl_core::StepId;
use drctl_core::{Timestamp, format_duration};
use drctl_engine::Observer;
use drctl_run::event::EventKind;
use drctl_run::state::ItemStatus;
use drctl_run::{Event, RunState};

use super::eventfmt::line;

pub(crate) struct Printer {
    /// When each attempt started: (run, step, item, phase, attempt).
    started: Mutex<HashMap<String, Timestamp>>,
}

impl Printer {
    pub(crate) fn new() -> Self {
        Self {
            started: Mutex::new(HashMap::new()),
        }
    }
}

impl Observer for Printer {
    fn on_event(&self, run: &RunState, event: &Event) {
        let key = |step: &str, item: Option<u32>, phase, attempt: u32| {
            format!("{}/{step}/{item:?}/{phase:?}/{attempt}", run.id)
        };
        let mut text = match line(event) {
            Some(l) => l,
            None => return,
        };
        if let Ok(mut started) = self.started.lock() {
            match &event.kind {
                EventKind::AttemptStarted(a) => {
                    started.insert(key(a.step.as_str(), a.item, a.phase, a.attempt), event.at);
                }
                EventKind::AttemptFinished {
                    step,
                    item,
                    phase,
                    attempt,
                    ..
                } => {
                    if let Some(t0) = started.remove(&key(step.as_str(), *item, *phase, *attempt)) {
                        text.push_str(&format!("  {}", took(event.at.since(t0))));
                    }
                    text.push_str(&retry_note(run, step, *item, event.at));
                }
                _ => {}
            }
        }
        // A lock is freed only by its run ending: say how, for a holder nobody drives.
        if let EventKind::LockWaiting { held_by, .. } = &event.kind {
            text.push_str(&format!(
                "\n              `drctl show {held_by}` says who drives it; if it reads `interrupted`, \
                 `drctl resume {held_by}` finishes it, or `drctl cancel {held_by}` then `drctl resume {held_by}` stops it"
            ));
        }
        if let EventKind::ApprovalRequested { step, .. } = &event.kind {
            text.push_str(&format!(
                "\n              decide with `drctl approve|reject {} {step} -m \"why\"`",
                run.id
            ));
            super::inline::offer(&run.id, step);
        }
        if let (EventKind::RunFinished { .. }, Some(t0)) = (&event.kind, run.started_at) {
            text.push_str(&format!(" after {}", took(event.at.since(t0))));
        }
        let indent = if run.created.parent.is_some() {
            format!("    {} │ ", run.created.runbook)
        } else {
            String::new()
        };
        let time = event.at.to_rfc3339();
        let clock = time.get(11..23).unwrap_or(&time);
        super::inline::emit(&format!("{clock}  {indent}{text}\n"));
    }

    fn notice(&self, _run: &RunState, message: &str) {
        super::inline::emit(&format!("! {message}\n"));
    }
}

/// ` — retrying in 2.00s (attempt 3 of 5)` when the failed attempt will be retried, so an
/// operator watching knows the step is not over.
fn retry_note(run: &RunState, step: &StepId, item: Option<u32>, now: Timestamp) -> String {
    let Some(state) = run.steps.get(step) else {
        return String::new();
    };
    let Some(it) = state.items.get(item.unwrap_or(0) as usize) else {
        return String::new();
    };
    match &it.status {
        ItemStatus::Backoff {
            attempt, retry_at, ..
        } => {
            let of = run
                .runbook
                .step(step.as_str())
                .and_then(|s| s.retry.as_ref())
                .map(|r| format!(" of {}", r.attempts))
                .unwrap_or_default();
            format!(
                " — retrying in {} (attempt {}{of})",
                took(retry_at.since(now)),
                attempt + 1
            )
        }
        _ => String::new(),
    }
}

/// `0.21s` under a minute, else `1m30s`.
fn took(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format_duration(d)
    }
}
