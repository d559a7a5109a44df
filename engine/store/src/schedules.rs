//! Schedules and their firings.
//!
//! Every nominal time of a runbook's schedule is recorded once, under the unique key
//! (runbook, trigger, nominal time), in the same transaction as the run it starts. So a
//! restart, or two servers on one database, never fire a nominal time twice: the second
//! to try finds the key taken and writes nothing. Nothing else coordinates schedulers.

use async_trait::async_trait;
use drctl_core::{Actor, RunId, Timestamp};
use serde::Serialize;

use crate::error::StoreError;
use crate::rows::{NewEvent, NewRun};

/// What became of one nominal time of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FiringOutcome {
    /// A run started.
    Started,
    /// Not run: the schedule's previous run was still going (`overlap: skip`), or a
    /// firing already waited (`buffer_one`).
    Skipped,
    /// Waits for the schedule's running run to end (`overlap: buffer_one`).
    Buffered,
    /// Not run: it fell due while nothing was firing (downtime, a pause) and a later one
    /// ran instead, or it was older than the catch-up window.
    Missed,
}

impl FiringOutcome {
    pub const ALL: [FiringOutcome; 4] = [
        FiringOutcome::Started,
        FiringOutcome::Skipped,
        FiringOutcome::Buffered,
        FiringOutcome::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FiringOutcome::Started => "started",
            FiringOutcome::Skipped => "skipped",
            FiringOutcome::Buffered => "buffered",
            FiringOutcome::Missed => "missed",
        }
    }

    /// The outcome a stored text names.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// A firing to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFiring {
    pub runbook: String,
    /// The schedule's name (empty for a runbook's one unnamed schedule).
    pub trigger: String,
    /// The time the schedule named, before any jitter.
    pub nominal: Timestamp,
    /// When it was recorded.
    pub at: Timestamp,
    pub outcome: FiringOutcome,
    /// Why it did not start a run, for people.
    pub reason: Option<String>,
}

/// A firing as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FiringRow {
    pub runbook: String,
    pub trigger: String,
    pub nominal: Timestamp,
    pub at: Timestamp,
    pub outcome: FiringOutcome,
    pub reason: Option<String>,
    /// The run it started.
    pub run: Option<RunId>,
}

/// Who paused a schedule, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub by: Actor,
    pub at: Timestamp,
    pub reason: String,
}

/// Who waived a drill obligation, until when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    pub by: Actor,
    pub at: Timestamp,
    pub until: Timestamp,
    pub reason: String,
}

/// A schedule as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleRow {
    pub runbook: String,
    pub trigger: String,
    /// When a scheduler first saw it: no firing before this time is owed.
    pub since: Timestamp,
    pub paused: Option<Pause>,
    pub waiver: Option<Waiver>,
}

/// A change to a schedule by a person, recorded with the row it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Pause { reason: String },
    Resume { reason: String },
    Waive { until: Timestamp, reason: String },
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Pause { .. } => "pause",
            Change::Resume { .. } => "resume",
            Change::Waive { .. } => "waive",
        }
    }
}

/// A change as the schedule's log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRow {
    pub runbook: String,
    pub trigger: String,
    pub at: Timestamp,
    pub by: Actor,
    pub change: Change,
}

/// A step that would not work now, and why (a readiness finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    pub step: String,
    pub why: String,
}

/// One readiness check of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadinessRow {
    pub runbook: String,
    pub at: Timestamp,
    pub ready: bool,
    /// Why not, step by step (empty when ready).
    pub findings: Vec<Finding>,
}

/// The schedules' part of the store.
#[async_trait]
pub trait Schedules: Send + Sync {
    /// The schedule's row, made with `since = now` the first time a scheduler asks.
    async fn schedule(
        &self,
        runbook: &str,
        trigger: &str,
        now: Timestamp,
    ) -> Result<ScheduleRow, StoreError>;
    /// Applies a person's change to a schedule that [`Schedules::schedule`] made and
    /// logs it, in one transaction.
    async fn change_schedule(&self, change: &ChangeRow) -> Result<(), StoreError>;
    /// A schedule's changes, newest first.
    async fn schedule_changes(
        &self,
        runbook: &str,
        trigger: &str,
        limit: u32,
    ) -> Result<Vec<ChangeRow>, StoreError>;
    /// Records a firing and, with `run`, creates the run it starts, in one transaction.
    /// `false` when that nominal time was recorded already (by this process or another
    /// node): nothing is written.
    async fn record_firing(
        &self,
        firing: &NewFiring,
        run: Option<(&NewRun, &NewEvent)>,
    ) -> Result<bool, StoreError>;
    /// Starts the run of a buffered firing, marking it started, in one transaction.
    /// `false` when it is no longer buffered (another node started it).
    async fn start_buffered(
        &self,
        firing: &FiringRow,
        run: (&NewRun, &NewEvent),
    ) -> Result<bool, StoreError>;
    /// Claims a service notice's key: `true` for the first to claim it, who sends it.
    async fn claim_notice(&self, key: &str, at: Timestamp) -> Result<bool, StoreError>;
    /// Gives a claimed key back (its notice could not be sent; the next claim sends it).
    async fn release_notice(&self, key: &str) -> Result<(), StoreError>;
    /// Records a readiness check.
    async fn record_readiness(&self, check: &ReadinessRow) -> Result<(), StoreError>;
    /// The newest readiness check of a runbook.
    async fn last_readiness(&self, runbook: &str) -> Result<Option<ReadinessRow>, StoreError>;
    /// Every schedule change and every firing recorded in `[since, until)`, oldest first
    /// (the audit export).
    async fn schedule_log(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<(Vec<ChangeRow>, Vec<FiringRow>), StoreError>;
    /// A schedule's firings, newest nominal time first.
    async fn firings(
        &self,
        runbook: &str,
        trigger: &str,
        limit: u32,
    ) -> Result<Vec<FiringRow>, StoreError>;
}

/// What a change does to a schedule's row (every backend the same).
pub fn apply_change(row: &mut ScheduleRow, c: &ChangeRow) {
    match &c.change {
        Change::Pause { reason } => {
            row.paused = Some(Pause {
                by: c.by.clone(),
                at: c.at,
                reason: reason.clone(),
            });
        }
        Change::Resume { .. } => row.paused = None,
        Change::Waive { until, reason } => {
            row.waiver = Some(Waiver {
                by: c.by.clone(),
                at: c.at,
                until: *until,
                reason: reason.clone(),
            });
        }
    }
}
