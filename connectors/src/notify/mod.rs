//! Telling people: Slack, PagerDuty, any webhook.
//!
//! - [`slack`]: an incoming webhook (`{"text": ...}`), answered `ok`;
//! - [`pagerduty`]: Events API v2 (`/v2/enqueue`): trigger, acknowledge, resolve, with a
//!   dedup key that defaults to the run id, so one run's trigger and resolve meet;
//! - [`webhook`]: any JSON body, signed `sha256=<hex HMAC-SHA256 of the exact body>`.
//!
//! Every call is one POST through the shared HTTP client: 5xx, 429 and network errors are
//! retryable, any other refusal is permanent. Webhook URLs and keys are credentials, so no
//! error message carries a URL.

mod pagerduty;
mod slack;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, ObjectSchema, Reconcile, Ty};
use serde_json::Value;

use crate::core::http::{Client, exchange, short, status_error};
use crate::spec::spec;

/// The implementations of this family.
pub(crate) fn actions(specs: &[ActionSpec], client: &Arc<Client>) -> Vec<Arc<dyn Action>> {
    let find = |name: &str| specs.iter().find(|s| s.name.as_str() == name).cloned();
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    if let Some(spec) = find("notify.slack") {
        out.push(Arc::new(slack::Slack {
            spec,
            client: client.clone(),
        }));
    }
    if let Some(spec) = find("notify.pagerduty") {
        out.push(Arc::new(pagerduty::PagerDuty {
            spec,
            client: client.clone(),
        }));
    }
    if let Some(spec) = find("notify.webhook") {
        out.push(Arc::new(webhook::Webhook {
            spec,
            client: client.clone(),
        }));
    }
    out
}

/// POSTs a JSON body; a status outside `accepted` is an error naming `who`.
async fn post(
    ctx: &ActionCtx,
    who: &str,
    request: reqwest::RequestBuilder,
    accepted: impl Fn(u16) -> bool,
) -> Result<(u16, Value), ActionError> {
    let (status, body) = exchange(ctx, request).await.map_err(|e| prefixed(who, e))?;
    if !accepted(status) {
        return Err(status_error(
            status,
            format!("{who} answered HTTP {status}: {}", short(&body)),
        ));
    }
    Ok((status, body))
}

/// A JSON POST to `url` with drctl's headers.
fn json_post(
    client: &Client,
    url: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<reqwest::RequestBuilder, ActionError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        // Never echo the URL: for Slack it is the credential.
        return Err(ActionError::Permanent(
            "the URL must start with https:// or http://".into(),
        ));
    }
    Ok(client
        .get()?
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body))
}

fn prefixed(who: &str, e: ActionError) -> ActionError {
    match e {
        ActionError::Retryable(m) => ActionError::Retryable(format!("{who}: {m}")),
        ActionError::Permanent(m) => ActionError::Permanent(format!("{who}: {m}")),
        ActionError::Cancelled => ActionError::Cancelled,
    }
}

fn encode(body: &Value) -> Result<Vec<u8>, ActionError> {
    serde_json::to_vec(body)
        .map_err(|e| ActionError::Permanent(format!("cannot encode the body: {e}")))
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "notify.slack",
            "Post a message through a Slack incoming webhook",
            false,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req_secret(
                    "webhook",
                    Ty::String,
                    "the incoming-webhook URL; it is a credential",
                )
                .req("text", Ty::String, "message text (Slack mrkdwn)")
                .opt("channel", Ty::String, "override the webhook's channel")
                .opt("timeout", Ty::Duration, "default 10s"),
        ),
        spec(
            "notify.pagerduty",
            "Send a PagerDuty Events API v2 event (trigger, acknowledge, resolve)",
            // Events with the same dedup key collapse into one incident.
            true,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req_secret("routing_key", Ty::String, "integration key of the service")
                .req(
                    "event_action",
                    Ty::one_of_strings(&["trigger", "acknowledge", "resolve"]),
                    "what to do",
                )
                .opt(
                    "dedup_key",
                    Ty::String,
                    "identifies the incident across events (default: the run id)",
                )
                .opt(
                    "summary",
                    Ty::String,
                    "one-line description, required to trigger",
                )
                .opt("source", Ty::String, "affected system (default drctl)")
                .opt(
                    "severity",
                    Ty::one_of_strings(&["critical", "error", "warning", "info"]),
                    "default error",
                )
                .opt("component", Ty::String, "component of the source")
                .opt("group", Ty::String, "logical grouping")
                .opt("class", Ty::String, "class or type of the event")
                .opt("timeout", Ty::Duration, "default 10s")
                .opt("custom_details", Ty::Any, "free-form details")
                .opt(
                    "url",
                    Ty::String,
                    "Events API endpoint (default https://events.pagerduty.com/v2/enqueue)",
                ),
        ),
        spec(
            "notify.webhook",
            "POST a JSON body to a URL, signed with HMAC-SHA256",
            false,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req("url", Ty::String, "absolute http or https URL")
                .req("body", Ty::Any, "JSON body")
                .opt_secret("hmac_secret", Ty::String, "key for the signature header")
                .opt(
                    "signature_header",
                    Ty::String,
                    "header carrying `sha256=<hex>` (default X-Drctl-Signature)",
                )
                .opt_secret("headers", Ty::map(Ty::String), "extra headers")
                .opt("timeout", Ty::Duration, "default 10s"),
        ),
    ]
}
