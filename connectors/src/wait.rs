//! Waiting inside an action: every wait can be cut short by the engine (cancel, pause,
//! timeout), and a polling wait gives up at its own deadline with what it last saw.

use std::future::Future;
use std::time::Duration;

use std::sync::Arc;

use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Preview};
use serde_json::Value;

use crate::input::duration_or;

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

    /// How long until the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.at
            .saturating_duration_since(tokio::time::Instant::now())
    }

    /// Milliseconds since the wait began, for outputs.
    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// What one check of a polling wait found.
#[derive(Debug)]
pub enum Seen<T> {
    /// The state waited for, with what to report.
    Ready(T),
    /// Not yet: what was seen, for the message if time runs out.
    NotYet(String),
}

/// The shortest pause between two checks of a polling wait, whatever the step's
/// `interval` says (`0s` validates): the cloud APIs these waits read throttle a whole
/// account or project, and a tight loop of reads would only get every other call
/// throttled too.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Checks until `check` says ready, or the step's `timeout` (default `default`) passes,
/// pausing the step's `interval` (default 5 s, at least [`MIN_INTERVAL`]) between checks. A wait that runs out says
/// what it saw last, and is retryable: the change may still complete.
pub async fn until<T, F, Fut>(
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
    let interval = duration_or(input, "interval", Duration::from_secs(5))?.max(MIN_INTERVAL);
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
pub fn wants_wait(input: &Value, default: bool) -> bool {
    input
        .get("wait")
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// An action whose calls end as soon as the engine cancels them (cancel, pause, step
/// timeout): a cloud SDK's request is dropped mid-flight, as the other connectors drop
/// theirs. A call that may have reached the provider is then settled by the action's
/// retry or reconcile, like any interrupted call.
pub struct Cancellable(pub Arc<dyn Action>);

impl std::fmt::Debug for Cancellable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cancellable")
            .field(&self.0.spec().name)
            .finish()
    }
}

#[async_trait::async_trait]
impl Action for Cancellable {
    fn spec(&self) -> &ActionSpec {
        self.0.spec()
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        cancellable(ctx, self.0.run(ctx, input)).await?
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        cancellable(ctx, self.0.plan(ctx, input)).await?
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        cancellable(ctx, self.0.reconcile(ctx, input)).await?
    }
}
