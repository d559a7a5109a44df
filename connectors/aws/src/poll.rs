//! Waiting for an AWS resource to reach a state: check, pause, check again, within the
//! step's `interval` and `timeout` and the engine's cancel. A wait that runs out says what
//! it saw last, and is retryable: the change may still complete.

use std::future::Future;
use std::time::Duration;

use drctl_connectors::input::duration_or;
use drctl_connectors::wait::{Deadline, pause};
use drctl_core::{ActionCtx, ActionError};
use serde_json::Value;

/// What one check found.
pub(crate) enum Seen<T> {
    /// The state waited for, with what to report.
    Ready(T),
    /// Not yet: what was seen, for the message if time runs out.
    NotYet(String),
}

/// Checks until `check` says ready, or the step's `timeout` (default `default`) passes.
pub(crate) async fn until<T, F, Fut>(
    ctx: &ActionCtx,
    input: &Value,
    default: Duration,
    what: &str,
    mut check: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Seen<T>, ActionError>>,
{
    let interval = duration_or(input, "interval", Duration::from_secs(5))?;
    let deadline = Deadline::after(duration_or(input, "timeout", default)?);
    loop {
        match check().await? {
            Seen::Ready(t) => return Ok(t),
            Seen::NotYet(seen) if deadline.passed_before(interval) => {
                return Err(ActionError::Retryable(format!(
                    "{what}: not reached after {} ms; last seen: {seen}",
                    deadline.elapsed_ms()
                )));
            }
            Seen::NotYet(_) => pause(ctx, interval).await?,
        }
    }
}

/// Whether the step asked to wait (`wait`, default `default`).
pub(crate) fn wants_wait(input: &Value, default: bool) -> bool {
    input
        .get("wait")
        .and_then(Value::as_bool)
        .unwrap_or(default)
}
