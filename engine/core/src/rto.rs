//! A run's RTO clock as every view shows it: when it started, when it stopped, and the
//! objective it runs against. The engine keeps it on the run's row (so a list of runs
//! shows each clock without reading events) and the console reads the same figure.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// From the first start of a step marked `rto_start` (else the run's start, when the
/// runbook has an objective) to the success of the first step marked `rto_end` (else the
/// run's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtoSpan {
    pub started_at: Timestamp,
    /// `None` while the clock runs.
    pub ended_at: Option<Timestamp>,
    /// The runbook's `objectives.rto`, in milliseconds.
    pub objective_ms: Option<u64>,
    /// Stopped by a step marked `rto_end` that succeeded: the figure the report gives.
    /// `false` while the clock runs, and when the run ended without one (a failed or
    /// cancelled recovery measured nothing).
    #[serde(default)]
    pub measured: bool,
}

impl RtoSpan {
    /// Time on the clock at `now` (or when it stopped).
    pub fn elapsed(&self, now: Timestamp) -> Duration {
        self.ended_at.unwrap_or(now).since(self.started_at)
    }

    pub fn objective(&self) -> Option<Duration> {
        self.objective_ms.map(Duration::from_millis)
    }

    /// Whether the clock has passed the objective at `now`.
    pub fn breached(&self, now: Timestamp) -> bool {
        self.objective().is_some_and(|o| self.elapsed(now) > o)
    }

    pub fn stopped(&self) -> bool {
        self.ended_at.is_some()
    }

    /// The run ended, but no `rto_end` step succeeded: there is no RTO to compare.
    pub fn unmeasured(&self) -> bool {
        self.stopped() && !self.measured
    }
}
