//! Waiting inside an action: every wait can be cut short by the engine (cancel, pause,
//! timeout), and a polling wait gives up at its own deadline with what it last saw.

use std::future::Future;
use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};

/// Runs `f` unless the engine cancels the action first.
pub async fn cancellable<F: Future>(ctx: &ActionCtx, f: F) -> Result<F::Output, ActionError> {
    tokio::select! {
        out = f => Ok(out),
        () = ctx.cancel.cancelled() => Err(ActionError::Cancelled),
    }
}

/// Sleeps for `d`, or returns `Cancelled` as soon as the engine asks.
pub async fn pause(ctx: &ActionCtx, d: Duration) -> Result<(), ActionError> {
    cancellable(ctx, tokio::time::sleep(d)).await
}

/// Where a polling loop stands against its deadline.
#[derive(Debug)]
pub struct Deadline {
    at: tokio::time::Instant,
    started: tokio::time::Instant,
}

impl Deadline {
    pub fn after(d: Duration) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            at: now + d,
            started: now,
        }
    }

    /// Whether another round, `interval` from now, would start past the deadline.
    pub fn passed_before(&self, interval: Duration) -> bool {
        tokio::time::Instant::now() + interval > self.at
    }

    /// Milliseconds since the wait began, for outputs.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}
