//! What a run measured against its `objectives`, from its own steps: recorded in its
//! `run_finished` event, so the figure is part of the audit trail and the report reads it
//! back instead of recomputing it.
//!
//! - RTO: from the first start of a step marked `rto_start` to the end of the first step
//!   marked `rto_end` that succeeded.
//! - Healthy: from the same start until the service first answered healthy, when the
//!   `rto_end` step is a health check that says when (`first_healthy_ms` in `http.check`'s
//!   output, counted from that step's start). It is the figure a user felt; RTO adds the
//!   confirmation the runbook asked for.
//! - RPO: the output of the step marked `rpo` (`lost_writes`, `lost_seconds`), e.g. the lab's
//!   write probe compared with the new primary, or those columns of the first row of a
//!   `postgres.query` marked `rpo` (the lab's restore counts what it brought back).

use drctl_runbook::model::Mark;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::{RunState, StepStatus};

/// The figures; each is absent when the runbook has no step to measure it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_objective_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_writes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_objective_ms: Option<u64>,
}

impl Measured {
    /// Whether the RTO met its objective (when both are known).
    pub fn rto_met(&self) -> Option<bool> {
        Some(self.rto_ms? <= self.rto_objective_ms?)
    }

    /// Whether the data lost stayed within the RPO (when both are known).
    pub fn rpo_met(&self) -> Option<bool> {
        Some(self.lost_seconds? * 1000.0 <= self.rpo_objective_ms? as f64)
    }

    fn is_empty(&self) -> bool {
        self.rto_ms.is_none() && self.healthy_ms.is_none() && self.lost_writes.is_none()
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl RunState {
    /// The figures so far; `None` when the run measured nothing.
    pub fn measured(&self) -> Option<Measured> {
        let start = self.rto_started();
        let (rto_ms, healthy_ms) = match (start, self.rto_end()) {
            (Some(start), Some((began, finished, output))) => {
                let healthy = output
                    .and_then(|o| o.get("first_healthy_ms"))
                    .and_then(Value::as_u64)
                    .map(|after| millis(began.since(start)) + after);
                (Some(millis(finished.since(start))), healthy)
            }
            _ => (None, None),
        };
        // The figures are the output's own fields, or the columns of a query's first row
        // (`postgres.query` answers `{rows, first, ...}`).
        let lost = self
            .marked(Mark::Rpo)
            .filter_map(|id| self.steps.get(id))
            .find_map(|st| st.items.first()?.output())
            .map(|o| match o.get("first") {
                Some(row) if o.get("lost_writes").is_none() && row.is_object() => row,
                _ => o,
            });
        let m = Measured {
            rto_ms,
            healthy_ms,
            rto_objective_ms: self.runbook.objectives.rto.map(millis),
            lost_writes: lost
                .and_then(|o| o.get("lost_writes"))
                .and_then(Value::as_u64),
            lost_seconds: lost
                .and_then(|o| o.get("lost_seconds"))
                .and_then(Value::as_f64),
            rpo_objective_ms: self.runbook.objectives.rpo.map(millis),
        };
        (!m.is_empty()).then_some(m)
    }

    /// The RTO window: from the first start of an `rto_start` step to the end of the first
    /// `rto_end` step that succeeded.
    pub fn rto_window(&self) -> Option<(drctl_core::Timestamp, drctl_core::Timestamp)> {
        Some((self.rto_started()?, self.rto_end()?.1))
    }

    /// The RTO clock as the views show it while the run goes on: from the first start of
    /// an `rto_start` step (or, with an objective and no such mark, from the run's start)
    /// to the first `rto_end` success (or the run's end). `None` when the runbook asks for
    /// no RTO, or its `rto_start` step has not started yet.
    pub fn rto_span(&self) -> Option<drctl_core::RtoSpan> {
        let objective = self.runbook.objectives.rto;
        let started_at = match self.rto_started() {
            Some(at) => at,
            None if objective.is_some() && self.marked(Mark::RtoStart).next().is_none() => {
                self.started_at?
            }
            None => return None,
        };
        let end = self.rto_end().map(|e| e.1);
        Some(drctl_core::RtoSpan {
            started_at,
            ended_at: end.or(self.finished_at),
            objective_ms: objective.map(millis),
            measured: end.is_some(),
        })
    }

    /// The first `rto_end` step to succeed: when it started and ended (a `for_each`
    /// step: its first item's start, its last item's end), and its first item's output.
    fn rto_end(&self) -> Option<(drctl_core::Timestamp, drctl_core::Timestamp, Option<&Value>)> {
        self.marked(Mark::RtoEnd)
            .filter_map(|id| self.steps.get(id))
            .filter(|st| st.status == StepStatus::Succeeded)
            .filter_map(|st| {
                let started = st.items.iter().filter_map(|i| i.started_at).min()?;
                let finished = st.items.iter().filter_map(|i| i.finished_at).max()?;
                Some((started, finished, st.items.first()?.output()))
            })
            .min_by_key(|(_, finished, _)| *finished)
    }

    /// The steps with a mark (approval steps never measure anything), from the run's
    /// shape: a few steps, not a walk over all of them.
    pub(crate) fn marked(&self, mark: Mark) -> impl Iterator<Item = &drctl_core::StepId> {
        self.shape
            .marked(mark)
            .filter_map(|p| self.steps.get_index(p).map(|(id, _)| id))
    }

    /// When the first `rto_start` step started.
    pub(crate) fn rto_started(&self) -> Option<drctl_core::Timestamp> {
        self.marked(Mark::RtoStart)
            .filter_map(|id| self.steps.get(id))
            .flat_map(|st| st.items.iter().filter_map(|i| i.started_at))
            .min()
    }
}
