//! Schedules: runbooks fired by cron in their time zone, and drills tracked as
//! obligations.
//!
//! - [`cadence`]: a schedule's nominal times as instants (croner; daylight-saving rules).
//! - [`plan`]: what the firings owed now become (started, skipped, buffered, missed).
//! - [`readiness`]: the live plan of each runbook with `readiness:`, on its schedule:
//!   ready, or which steps would fail and why.
//! - [`obligation`]: ok, due, overdue, failed, waived or stale.
//! - [`scheduler`]: the loop of `drctl serve` that looks at every schedule of the
//!   runbooks folder and records each decision in the store, once per nominal time.
//! - [`view`]: what `drctl schedules` and the API show per schedule.
//! - [`notices`]: `[[serve.notify]]`: a drill overdue or failed, a firing missed, each
//!   sent once through a notify action.
//! - [`manage`]: pause, resume, waive and fire now, each stored with who and why.

pub mod cadence;

/// How commands name a schedule: `RUNBOOK` for a runbook's unnamed one, else
/// `RUNBOOK/NAME`.
pub fn schedule_id(runbook: &str, name: &str) -> String {
    if name.is_empty() {
        runbook.to_owned()
    } else {
        format!("{runbook}/{name}")
    }
}

pub mod manage;
pub mod notices;
pub mod obligation;
pub mod plan;
pub mod readiness;
pub mod scheduler;
pub mod view;
