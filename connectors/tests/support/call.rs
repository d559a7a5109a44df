//! Calling one built-in action outside the engine, as the engine would.

#![allow(dead_code, unreachable_pub)]

use drctl_connectors::Registry;
use drctl_core::{
    ActionCtx, ActionError, ActionRegistry, Observed, Outlook, Preview, RunId, StepId, Timestamp,
};
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
        live: None,
    }
}

pub async fn run(action: &str, input: Value) -> Result<Value, ActionError> {
    Registry::builtin()
        .action(action)
        .unwrap()
        .run(&ctx(), input)
        .await
}

pub fn retryable(r: Result<Value, ActionError>, what: &str) -> String {
    match r {
        Err(ActionError::Retryable(m)) => m,
        other => panic!("{what}: expected a retryable error, got {other:?}"),
    }
}

pub fn permanent(r: Result<Value, ActionError>, what: &str) -> String {
    match r {
        Err(ActionError::Permanent(m)) => m,
        other => panic!("{what}: expected a permanent error, got {other:?}"),
    }
}

pub async fn reconcile(action: &str, input: Value) -> Observed {
    Registry::builtin()
        .action(action)
        .unwrap()
        .reconcile(&ctx(), input)
        .await
        .unwrap()
}

/// The live preview of `action`: what it would do now. Only reads.
pub async fn plan(action: &str, input: Value) -> Result<Preview, ActionError> {
    let preview = Registry::builtin()
        .action(action)
        .unwrap()
        .plan(&ctx(), input)
        .await?;
    Ok(preview.unwrap_or_else(|| panic!("{action} has no live plan")))
}

/// A preview that must have been read, with its outlook.
pub async fn preview(action: &str, input: Value, outlook: Outlook) -> String {
    let p = plan(action, input).await.unwrap();
    assert_eq!(p.outlook, outlook, "{action}: {}", p.summary);
    p.summary
}
