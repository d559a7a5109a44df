//! A local stand-in for Slack, PagerDuty and a webhook consumer. It checks every request
//! against what the provider documents and answers as the provider does, so a payload
//! drctl gets wrong is refused here just as it would be there:
//!
//! - Slack incoming webhooks (`POST /services/...`): a JSON object whose `text` is a
//!   non-empty string, only documented top-level fields; `200 ok`, else `400 invalid_payload`.
//! - PagerDuty Events API v2 (`POST /v2/enqueue`): `routing_key` (32 characters),
//!   `event_action` trigger | acknowledge | resolve, `dedup_key` up to 255 characters
//!   (required to acknowledge or resolve), and for a trigger a `payload` with `summary`
//!   (1 to 1024 characters), `source` and `severity` critical | error | warning | info;
//!   `202 {"status":"success","message":"Event processed","dedup_key":...}`, else `400`
//!   with `errors`.
//! - A webhook consumer (`POST /hook`): recomputes HMAC-SHA256 of the raw body with
//!   [`HOOK_SECRET`] and compares it in constant time with `X-Drctl-Signature`
//!   (`sha256=<hex>`); `401` when it does not match.
//!
//! `fail_next(n)` makes the next `n` requests answer `503`, as a provider in trouble does.
//! `GET /echo?...` answers `400` with the request's path and query as it arrived
//! (percent-encoded), as many APIs quote a bad request back.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The key the webhook consumer shares with the runbook.
pub const HOOK_SECRET: &str = "whsec-7f3a91c2e4b5d6a8";

/// One request the receiver accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Value,
    pub headers: HeaderMap,
}

#[derive(Default)]
struct Inner {
    accepted: Mutex<Vec<Received>>,
    refused: Mutex<Vec<String>>,
    fail_next: AtomicUsize,
    requests: AtomicUsize,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, inner }
    }

    /// The next `n` requests get `503`.
    pub fn fail_next(&self, n: usize) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.inner.accepted.lock().unwrap().clone()
    }

    /// Why requests were refused (documented-format violations, bad signatures).
    pub fn refused(&self) -> Vec<String> {
        self.inner.refused.lock().unwrap().clone()
    }

    /// Every request seen, including the ones answered `503`.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    if inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response();
    }
    let path = uri.path().to_owned();
    if path == "/echo" {
        return (StatusCode::BAD_REQUEST, format!("bad request: {uri}")).into_response();
    }
    let refuse = |why: String, answer: Response| {
        inner.refused.lock().unwrap().push(format!("{path}: {why}"));
        answer
    };
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        let why = "Content-Type is not application/json".to_owned();
        return refuse(
            why,
            (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
        );
    }
    let body: Value = match serde_json::from_slice(&raw) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                format!("not JSON: {e}"),
                (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
            );
        }
    };
    let verdict = if path.starts_with("/services/") {
        slack(&body)
            .map(|()| (StatusCode::OK, "ok".to_owned()).into_response())
            .map_err(|why| {
                (
                    why,
                    (StatusCode::BAD_REQUEST, "invalid_payload").into_response(),
                )
            })
    } else if path == "/v2/enqueue" {
        pagerduty(&body)
            .map(|key| {
                let answer = json!({"status": "success", "message": "Event processed", "dedup_key": key});
                (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
            })
            .map_err(|why| {
                let answer = json!({"status": "invalid event", "message": "Event object is invalid", "errors": [why.clone()]});
                (why, (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response())
            })
    } else if path == "/hook" {
        signed(&headers, &raw)
            .map(|()| (StatusCode::OK, axum::Json(json!({"received": true}))).into_response())
            .map_err(|why| {
                (
                    why,
                    (StatusCode::UNAUTHORIZED, "bad signature").into_response(),
                )
            })
    } else {
        Err((
            "unknown path".to_owned(),
            StatusCode::NOT_FOUND.into_response(),
        ))
    };
    match verdict {
        Ok(response) => {
            inner.accepted.lock().unwrap().push(Received {
                path,
                body,
                headers,
            });
            response
        }
        Err((why, response)) => refuse(why, response),
    }
}

const SLACK_FIELDS: &[&str] = &[
    "text",
    "channel",
    "blocks",
    "attachments",
    "username",
    "icon_emoji",
    "icon_url",
    "thread_ts",
    "mrkdwn",
    "unfurl_links",
    "unfurl_media",
];

fn slack(body: &Value) -> Result<(), String> {
    let object = body.as_object().ok_or("the body is not an object")?;
    if let Some(unknown) = object.keys().find(|k| !SLACK_FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field `{unknown}`"));
    }
    match object.get("text") {
        Some(Value::String(t)) if !t.trim().is_empty() => Ok(()),
        _ => Err("`text` must be a non-empty string".into()),
    }
}

const PD_FIELDS: &[&str] = &[
    "routing_key",
    "event_action",
    "dedup_key",
    "payload",
    "images",
    "links",
    "client",
    "client_url",
];
const PD_PAYLOAD_FIELDS: &[&str] = &[
    "summary",
    "source",
    "severity",
    "timestamp",
    "component",
    "group",
    "class",
    "custom_details",
];

/// Checks an Events API v2 event; returns its dedup key.
fn pagerduty(body: &Value) -> Result<String, String> {
    let object = body.as_object().ok_or("the body is not an object")?;
    if let Some(unknown) = object.keys().find(|k| !PD_FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field `{unknown}`"));
    }
    match object.get("routing_key") {
        Some(Value::String(k)) if k.len() == 32 => {}
        _ => return Err("`routing_key` must be a 32-character integration key".into()),
    }
    let action = object
        .get("event_action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        return Err(format!(
            "`event_action` `{action}` is not trigger, acknowledge or resolve"
        ));
    }
    let key = match object.get("dedup_key") {
        Some(Value::String(k)) if !k.is_empty() && k.chars().count() <= 255 => Some(k.clone()),
        Some(_) => return Err("`dedup_key` must be a string of 1 to 255 characters".into()),
        None => None,
    };
    if action != "trigger" {
        return key.ok_or_else(|| format!("`dedup_key` is required to {action}"));
    }
    let payload = object
        .get("payload")
        .and_then(Value::as_object)
        .ok_or("a trigger needs a `payload` object")?;
    if let Some(unknown) = payload
        .keys()
        .find(|k| !PD_PAYLOAD_FIELDS.contains(&k.as_str()))
    {
        return Err(format!("unknown payload field `{unknown}`"));
    }
    match payload.get("summary") {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 1024 => {}
        _ => return Err("`payload.summary` must have 1 to 1024 characters".into()),
    }
    match payload.get("source") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err("`payload.source` is required".into()),
    }
    let severity = payload
        .get("severity")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !["critical", "error", "warning", "info"].contains(&severity) {
        return Err(format!(
            "`payload.severity` `{severity}` is not critical, error, warning or info"
        ));
    }
    Ok(key.unwrap_or_else(|| "generated-by-pagerduty".into()))
}

fn signed(headers: &HeaderMap, raw: &[u8]) -> Result<(), String> {
    let given = headers
        .get("x-drctl-signature")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .ok_or("no `X-Drctl-Signature: sha256=...` header")?;
    let given = hex::decode(given).map_err(|_| "the signature is not hex".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
    mac.update(raw);
    mac.verify_slice(&given)
        .map_err(|_| "the signature does not match the body".to_owned())
}
