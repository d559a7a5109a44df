//! `notify.slack`: a message through an incoming webhook. Slack answers 200 `ok`, or a
//! 4xx with a short reason (`invalid_payload`, `channel_not_found`, `no_service`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec};
use serde_json::{Map, Value, json};

use super::{encode, json_post, post};
use crate::core::http::Client;
use crate::input::{duration_or, opt_str, str_of};

pub(crate) struct Slack {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

/// The message Slack documents for incoming webhooks: `text`, optionally `channel`.
pub(crate) fn message(input: &Value) -> Result<Value, ActionError> {
    let text = str_of(input, "text")?;
    if text.trim().is_empty() {
        return Err(ActionError::Permanent("`text` is empty".into()));
    }
    let mut body = Map::new();
    body.insert("text".into(), json!(text));
    if let Some(channel) = opt_str(input, "channel") {
        body.insert("channel".into(), json!(channel));
    }
    Ok(Value::Object(body))
}

#[async_trait]
impl Action for Slack {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let body = encode(&message(&input)?)?;
        let timeout = duration_or(&input, "timeout", Duration::from_secs(10))?;
        let request = json_post(&self.client, str_of(&input, "webhook")?, body, timeout)?;
        let (status, _) = post(ctx, "Slack", request, |s| s == 200).await?;
        Ok(json!({ "status": status }))
    }
}
