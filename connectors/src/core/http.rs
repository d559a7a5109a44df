//! `http.request` and `http.check`.
//!
//! Errors are classed for retries: connection failures, timeouts, 5xx and 429 are
//! retryable; other unexpected statuses are permanent. One HTTP client (rustls) is made on
//! first use and shared, so `validate` and `plan` never build one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use serde_json::{Value, json};

use crate::input::{accepted_statuses, duration_or, opt_str, str_of, u64_or};

/// The shared client.
#[derive(Debug, Default)]
pub(crate) struct Client;

impl Client {
    pub(crate) fn get(&self) -> Result<&'static reqwest::Client, ActionError> {
        shared()
    }
}

/// The process's one HTTP client (rustls, one connection pool), made on first use: for
/// every action that speaks HTTP, in this crate and in connector crates built apart
/// (Azure Resource Manager's REST calls).
pub fn shared() -> Result<&'static reqwest::Client, ActionError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let client = reqwest::Client::builder()
        .user_agent(concat!("drctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ActionError::Permanent(format!("cannot build an HTTP client: {e}")))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Largest response body kept in an output.
const MAX_BODY: usize = 1024 * 1024;

pub(crate) struct Request {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

#[async_trait]
impl Action for Request {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let timeout = duration_or(&input, "timeout", Duration::from_secs(30))?;
        let request = build(self.client.get()?, &input, timeout)?;
        let (status, body) = exchange(ctx, request).await?;
        let ok = match accepted_statuses(&input, "expect_status") {
            Some(codes) => codes.contains(&status),
            None => (200..300).contains(&status),
        };
        if !ok {
            let message = format!(
                "HTTP {status} from {}: {}",
                str_of(&input, "url")?,
                short(&body)
            );
            return Err(status_error(status, message));
        }
        Ok(json!({ "status": status, "body": body }))
    }
}

pub(crate) struct Check {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

/// What `http.check` waits for.
enum Goal {
    Successes(u64),
    Failures(u64),
    ErrorRate { max: f64, window: Duration },
}

impl Goal {
    /// What a streak goal waits for, for the deadline message. An error-rate goal has no
    /// deadline of its own: its window ends it.
    fn streak(&self) -> Option<String> {
        match self {
            Self::Successes(n) => Some(format!("{n} healthy answers in a row")),
            Self::Failures(n) => Some(format!("{n} failed checks in a row")),
            Self::ErrorRate { .. } => None,
        }
    }
}

#[async_trait]
impl Action for Check {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    /// One probe, now, when the check only reads (GET or HEAD): a plan shows whether the
    /// service answers healthy at this moment, e.g. that an outage to confirm is not one.
    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let method = opt_str(&input, "method").unwrap_or("GET");
        if !method.eq_ignore_ascii_case("GET") && !method.eq_ignore_ascii_case("HEAD") {
            return Ok(None);
        }
        let timeout = duration_or(&input, "timeout", Duration::from_secs(5))?;
        let (ok, last) = probe(self.client.get()?, &input, timeout, ctx).await?;
        let seen = last["status"].as_u64().map_or_else(
            || last["error"].as_str().unwrap_or("?").to_owned(),
            |s| format!("status {s}"),
        );
        let summary = match (ok, opt_str(&input, "expect_body")) {
            (true, _) => format!("one probe now: healthy ({seen})"),
            (false, Some(needle)) if last["status"].is_u64() => {
                format!("one probe now: unhealthy ({seen}; the body must contain `{needle}`)")
            }
            (false, _) => format!("one probe now: unhealthy ({seen})"),
        };
        Ok(Some(Preview::new(Outlook::Reads, summary, last)))
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = self.client.get()?;
        let interval = duration_or(&input, "interval", Duration::from_secs(5))?;
        let timeout = duration_or(&input, "timeout", Duration::from_secs(5))?;
        let goal = if let Some(n) = input.get("consecutive_failures").and_then(Value::as_u64) {
            Goal::Failures(n)
        } else if let Some(max) = input.get("max_error_rate").and_then(Value::as_f64) {
            Goal::ErrorRate {
                max,
                window: duration_or(&input, "window", Duration::from_secs(30))?,
            }
        } else {
            Goal::Successes(u64_or(&input, "consecutive_successes", 1))
        };
        let default_deadline = match goal {
            Goal::ErrorRate { window, .. } => window,
            _ => Duration::from_secs(600),
        };
        let deadline =
            tokio::time::Instant::now() + duration_or(&input, "deadline", default_deadline)?;
        let window_end = match goal {
            Goal::ErrorRate { window, .. } => Some(tokio::time::Instant::now() + window),
            _ => None,
        };
        let (mut probes, mut healthy, mut streak_ok, mut streak_bad) = (0u64, 0u64, 0u64, 0u64);
        let began = tokio::time::Instant::now();
        // When the current healthy streak began: the moment the service came back, which
        // the run reports as its time to healthy.
        let mut streak_began = began;
        loop {
            let sent_at = tokio::time::Instant::now();
            let (ok, last) = probe(client, &input, timeout, ctx).await?;
            probes += 1;
            if ok {
                if streak_ok == 0 {
                    streak_began = sent_at;
                }
                healthy += 1;
                streak_ok += 1;
                streak_bad = 0;
            } else {
                streak_bad += 1;
                streak_ok = 0;
            }
            let summary = || {
                json!({
                    "probes": probes,
                    "healthy": healthy,
                    "unhealthy": probes - healthy,
                    "error_rate": (probes - healthy) as f64 / probes as f64,
                    "last": last,
                    "first_healthy_ms": (streak_ok > 0).then(|| {
                        u64::try_from(streak_began.duration_since(began).as_millis()).unwrap_or(u64::MAX)
                    }),
                })
            };
            match goal {
                Goal::Successes(n) if streak_ok >= n => return Ok(summary()),
                Goal::Failures(n) if streak_bad >= n => return Ok(summary()),
                Goal::ErrorRate { max, .. } => {
                    let rate = (probes - healthy) as f64 / probes as f64;
                    // The window ends the check: when the next probe would fall past it,
                    // wait for its end and evaluate. A check of a window lasts that long,
                    // so a `verify` whose `for` it spans sees it cover the whole window.
                    if let Some(end) =
                        window_end.filter(|end| tokio::time::Instant::now() + interval > *end)
                    {
                        tokio::select! {
                            () = tokio::time::sleep_until(end) => {}
                            () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
                        }
                        return if rate <= max {
                            Ok(summary())
                        } else {
                            Err(ActionError::Permanent(format!(
                                "error rate {:.1}% over {probes} probes is above {:.1}%",
                                rate * 100.0,
                                max * 100.0
                            )))
                        };
                    }
                }
                _ => {}
            }
            if let Some(what) = goal.streak()
                && tokio::time::Instant::now() + interval > deadline
            {
                return Err(ActionError::Permanent(format!(
                    "no {what} before the deadline: {healthy} of {probes} probes healthy; last: {last}"
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
            }
        }
    }
}

/// One probe: healthy or not, and what was seen.
async fn probe(
    client: &reqwest::Client,
    input: &Value,
    timeout: Duration,
    ctx: &ActionCtx,
) -> Result<(bool, Value), ActionError> {
    let request = build(client, input, timeout)?;
    let sent = tokio::select! {
        r = request.send() => r,
        () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
    };
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Ok((false, json!({ "error": transport(e).to_string() }))),
    };
    let status = response.status().as_u16();
    let wanted = accepted_statuses(input, "expect_status").unwrap_or_else(|| vec![200]);
    let body = response.text().await.unwrap_or_default();
    let body_ok = opt_str(input, "expect_body").is_none_or(|needle| body.contains(needle));
    Ok((
        wanted.contains(&status) && body_ok,
        json!({ "status": status }),
    ))
}

fn build(
    client: &reqwest::Client,
    input: &Value,
    timeout: Duration,
) -> Result<reqwest::RequestBuilder, ActionError> {
    let url = str_of(input, "url")?;
    let method = opt_str(input, "method").unwrap_or("GET");
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| ActionError::Permanent(format!("`{method}` is not an HTTP method")))?;
    let mut request = client.request(method, url).timeout(timeout);
    if let Some(headers) = input.get("headers").and_then(Value::as_object) {
        for (k, v) in headers {
            request = request.header(
                k.as_str(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            );
        }
    }
    if let Some(body) = input.get("json") {
        request = request.json(body);
    } else if let Some(body) = opt_str(input, "body") {
        request = request.body(body.to_owned());
    }
    Ok(request)
}

/// An unwanted status: 5xx and 429 may pass, anything else will not.
pub(crate) fn status_error(status: u16, message: String) -> ActionError {
    if status >= 500 || status == 429 {
        ActionError::Retryable(message)
    } else {
        ActionError::Permanent(message)
    }
}

fn transport(e: reqwest::Error) -> ActionError {
    // Without the URL's query (it may hold a token), and retryable: the network may recover.
    ActionError::Retryable(e.without_url().to_string())
}

/// Sends a request unless the call is cancelled first: the status, and the body (JSON
/// when it is JSON). Shared by every action that makes one HTTP request.
pub(crate) async fn exchange(
    ctx: &ActionCtx,
    request: reqwest::RequestBuilder,
) -> Result<(u16, Value), ActionError> {
    let response = tokio::select! {
        r = request.send() => r.map_err(transport)?,
        () = ctx.cancel.cancelled() => return Err(ActionError::Cancelled),
    };
    let status = response.status().as_u16();
    Ok((status, read_body(response).await?))
}

/// The body as JSON when it is JSON, else as text, cut at `MAX_BODY`.
async fn read_body(response: reqwest::Response) -> Result<Value, ActionError> {
    let bytes = response.bytes().await.map_err(transport)?;
    let bytes = &bytes[..bytes.len().min(MAX_BODY)];
    Ok(serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned())))
}

pub(crate) fn short(body: &Value) -> String {
    let text = body
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned);
    let mut cut: String = text.chars().take(200).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}
