//! `notify.pagerduty`: one Events API v2 event. PagerDuty answers 202 with the dedup key,
//! 400 for an invalid event (permanent), 429 when rate limited (retryable).
//!
//! The dedup key defaults to the run id: a runbook that triggers at its start and
//! resolves at its end needs no key of its own, and a retried trigger does not open a
//! second incident. No `timestamp` is sent: PagerDuty then uses the time it received
//! the event, which needs no trust in this host's clock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec};
use serde_json::{Map, Value, json};

use super::{encode, json_post, post};
use crate::core::http::Client;
use crate::input::{duration_or, opt_str, str_of};

/// The public endpoint of the Events API v2.
pub(crate) const ENDPOINT: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty's limits on `summary` and `dedup_key`.
const MAX_SUMMARY: usize = 1024;
const MAX_DEDUP_KEY: usize = 255;

pub(crate) struct PagerDuty {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

/// The event as the Events API v2 documents it.
pub(crate) fn event(input: &Value, run: &str) -> Result<Value, ActionError> {
    let action = str_of(input, "event_action")?;
    let dedup_key = opt_str(input, "dedup_key").unwrap_or(run);
    if dedup_key.is_empty() || dedup_key.chars().count() > MAX_DEDUP_KEY {
        return Err(ActionError::Permanent(format!(
            "`dedup_key` must have 1 to {MAX_DEDUP_KEY} characters"
        )));
    }
    let mut body = Map::new();
    body.insert("routing_key".into(), json!(str_of(input, "routing_key")?));
    body.insert("event_action".into(), json!(action));
    body.insert("dedup_key".into(), json!(dedup_key));
    if action == "trigger" {
        let summary = opt_str(input, "summary")
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ActionError::Permanent("a trigger needs a `summary`".into()))?;
        let mut payload = Map::new();
        payload.insert("summary".into(), json!(cut(summary, MAX_SUMMARY)));
        payload.insert(
            "source".into(),
            json!(opt_str(input, "source").unwrap_or("drctl")),
        );
        payload.insert(
            "severity".into(),
            json!(opt_str(input, "severity").unwrap_or("error")),
        );
        for key in ["component", "group", "class"] {
            if let Some(v) = opt_str(input, key) {
                payload.insert(key.into(), json!(v));
            }
        }
        if let Some(details) = input.get("custom_details") {
            payload.insert("custom_details".into(), details.clone());
        }
        body.insert("payload".into(), Value::Object(payload));
        body.insert("client".into(), json!("drctl"));
    }
    Ok(Value::Object(body))
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[async_trait]
impl Action for PagerDuty {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let event = event(&input, ctx.run.as_str())?;
        let timeout = duration_or(&input, "timeout", Duration::from_secs(10))?;
        let url = opt_str(&input, "url").unwrap_or(ENDPOINT);
        let request = json_post(&self.client, url, encode(&event)?, timeout)?;
        let (status, body) = post(ctx, "PagerDuty", request, |s| s == 202).await?;
        Ok(json!({
            "status": status,
            "dedup_key": body.get("dedup_key").cloned().unwrap_or(event["dedup_key"].clone()),
        }))
    }
}
