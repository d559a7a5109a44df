//! Where the RTO window went: in actions (connector calls, health checks), in deliberate
//! waits (approval gates, retry backoff, the pauses of a `verify` soak), or in drctl itself (deciding, recording events,
//! starting tasks). drctl's share is the window minus everything else.
//!
//! A `call` step's attempt is not counted as one action: its sub-run's own actions and
//! waits are, so drctl's time inside the sub-run shows too.

use std::collections::{HashMap, HashSet};

use drctl_core::{StepId, Timestamp};
use drctl_run::event::{AttemptResult, EventKind, Phase};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Action,
    Wait,
}

/// Busy intervals gathered from a run and its sub-runs.
#[derive(Debug, Default)]
pub(crate) struct Covered {
    spans: Vec<(Timestamp, Timestamp, Busy)>,
}

/// The breakdown of one window.
#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    pub window_ms: u64,
    pub actions_ms: u64,
    pub waits_ms: u64,
    pub drctl_ms: u64,
    /// drctl's share of the window, in percent.
    pub drctl_percent: f64,
}

type Key = (StepId, Option<u32>, Phase);

impl Covered {
    pub(crate) fn add_run(&mut self, events: &[drctl_run::Event]) {
        let calls: HashSet<(StepId, Option<u32>)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::ChildStarted { step, item, .. } => Some((step.clone(), *item)),
                _ => None,
            })
            .collect();
        let mut started: HashMap<(Key, u32), Timestamp> = HashMap::new();
        let mut ended_at: HashMap<Key, Timestamp> = HashMap::new();
        let mut asked: HashMap<StepId, Timestamp> = HashMap::new();
        for e in events {
            match &e.kind {
                EventKind::AttemptStarted(a) => {
                    let key = (a.step.clone(), a.item, a.phase);
                    // The pause between two attempts of the same thing is scheduled: retry
                    // backoff, or the interval between a `verify` check's soak rounds.
                    if let Some(t) = ended_at.remove(&key) {
                        self.spans.push((t, e.at, Busy::Wait));
                    }
                    started.insert((key, a.attempt), e.at);
                }
                EventKind::AttemptFinished {
                    step,
                    item,
                    phase,
                    attempt,
                    result,
                } => {
                    let key = (step.clone(), *item, *phase);
                    if let Some(t) = started.remove(&(key.clone(), *attempt))
                        && !(*phase == Phase::Action && calls.contains(&(step.clone(), *item)))
                    {
                        self.spans.push((t, e.at, Busy::Action));
                    }
                    if !matches!(result, AttemptResult::Cancelled) {
                        ended_at.insert(key, e.at);
                    }
                }
                EventKind::AttemptInterrupted {
                    step,
                    item,
                    phase,
                    attempt,
                    ..
                } => {
                    if let Some(t) = started.remove(&((step.clone(), *item, *phase), *attempt)) {
                        self.spans.push((t, e.at, Busy::Action));
                    }
                }
                EventKind::ApprovalRequested { step, .. } => {
                    asked.entry(step.clone()).or_insert(e.at);
                }
                EventKind::ApprovalDecided { step, .. }
                | EventKind::ApprovalTimedOut { step, .. } => {
                    if let Some(t) = asked.remove(step) {
                        self.spans.push((t, e.at, Busy::Wait));
                    }
                }
                _ => {}
            }
        }
    }

    /// The breakdown of `[start, end]`.
    pub(crate) fn within(&self, start: Timestamp, end: Timestamp) -> Overhead {
        let clip = |only: Option<Busy>| {
            let mut spans: Vec<(i64, i64)> = self
                .spans
                .iter()
                .filter(|(_, _, b)| only.is_none_or(|o| o == *b))
                .map(|(s, e, _)| {
                    (
                        s.as_millis().max(start.as_millis()),
                        e.as_millis().min(end.as_millis()),
                    )
                })
                .filter(|(s, e)| s < e)
                .collect();
            union_len(&mut spans)
        };
        let window = u64::try_from(end.as_millis() - start.as_millis()).unwrap_or(0);
        let busy = clip(None);
        let actions = clip(Some(Busy::Action));
        let drctl = window.saturating_sub(busy);
        Overhead {
            window_ms: window,
            actions_ms: actions,
            waits_ms: busy.saturating_sub(actions),
            drctl_ms: drctl,
            drctl_percent: if window == 0 {
                0.0
            } else {
                drctl as f64 * 100.0 / window as f64
            },
        }
    }
}

/// The length covered by possibly overlapping intervals.
fn union_len(spans: &mut [(i64, i64)]) -> u64 {
    spans.sort_unstable();
    let mut total = 0i64;
    let mut current: Option<(i64, i64)> = None;
    for &(s, e) in spans.iter() {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    u64::try_from(total).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_spans_count_once() {
        let mut spans = vec![(0, 10), (5, 15), (20, 30), (29, 31)];
        assert_eq!(union_len(&mut spans), 26);
    }
}
