//! Whether anybody drives a run that says `running`: a run's row keeps the status its
//! driver last stored, so a driver that died (killed, its machine gone, a second Ctrl-C)
//! leaves `running` behind. Lists, `show`, `logs -f` and reports tell the truth with
//! [`interrupted`]: a run whose lease has expired, or whose owner is a process of this host
//! that no longer runs, is `interrupted` until someone resumes it.

use drctl_core::Timestamp;
use drctl_store::{RunRow, RunStatus};

use crate::worker;

/// The word shown for a run whose row says it is driven but nobody drives it.
pub const INTERRUPTED: &str = "interrupted";

/// Why nobody drives this run, if the row says it is driven (running, or waiting for a
/// lock) and nobody does. `None` for a run that is driven, paused, created or finished.
pub fn interrupted(row: &RunRow, now: Timestamp) -> Option<String> {
    if !matches!(row.status, RunStatus::Running | RunStatus::Waiting) {
        return None;
    }
    undriven(row.owner.as_deref(), row.lease_until, now)
}

/// Why a run with this owner and lease has nobody driving it at `now`, or `None` while
/// its owner lives and holds the lease (whatever the run's status).
pub fn undriven(
    owner: Option<&str>,
    lease_until: Option<Timestamp>,
    now: Timestamp,
) -> Option<String> {
    match (owner, lease_until) {
        (None, _) => Some("no process drives it".to_owned()),
        (Some(owner), _) if worker::is_dead_local(owner) => {
            Some(format!("the process that drove it ({owner}) is gone"))
        }
        (Some(owner), Some(until)) if until < now => Some(format!(
            "the lease of {owner} expired at {until} without being renewed"
        )),
        _ => None,
    }
}

/// The status to show: the stored one, or [`INTERRUPTED`].
pub fn shown_status(row: &RunRow, now: Timestamp) -> &str {
    if interrupted(row, now).is_some() {
        INTERRUPTED
    } else {
        row.status.as_str()
    }
}
