//! Calling one built-in action outside the engine, as the engine would.

#![allow(dead_code, unreachable_pub)]

use drctl_connectors::Registry;
use drctl_core::{ActionCtx, ActionError, ActionRegistry, RunId, StepId, Timestamp};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// The context of attempt 1 of step `s` of one fixed run.
pub fn ctx() -> ActionCtx {
    ActionCtx {
        run: RunId::from_parts(Timestamp::from_millis(1), 1),
        step: StepId::new("s").unwrap(),
        item: None,
        attempt: 1,
        cancel: CancellationToken::new(),
    }
}

pub async fn run(action: &str, input: Value) -> Result<Value, ActionError> {
    Registry::builtin()
        .action(action)
        .unwrap()
        .run(&ctx(), input)
        .await
}
