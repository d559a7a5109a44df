//! One Azure Resource Manager request, and the long-running operations it may start.
//!
//! Errors follow ARM's documented shape (`{"error": {"code", "message"}}`): 429
//! (throttled), 5xx, a 409 that says another operation is in progress, and no answer are
//! retryable, quoting `Retry-After`; the rest ARM said (401, 403 `AuthorizationFailed`, 404
//! `ResourceNotFound`, 400 `InvalidApiVersionParameter`, other 409s) are permanent.
//!
//! A 201 or 202 with `Azure-AsyncOperation` is followed by polling that URL until its
//! `status` is `Succeeded` (or `Failed`, `Canceled`: permanent, with ARM's error); with
//! only `Location`, by polling it until it answers something else than 202. Between
//! polls the step waits what `Retry-After` says, else its `interval` (at least 200 ms, at
//! most 60 s), within its `timeout`: a wait that would end past the deadline is cut to
//! it, so the step asks once more before it says the operation still runs. Status URLs on another host than the Resource Manager are refused, so a
//! token is never sent anywhere else.

use std::time::Duration;

use drctl_connectors::input::{duration_or, error_chain, opt_str, str_of};
use drctl_connectors::wait::{Deadline, MIN_INTERVAL, pause};
use drctl_core::scrub::Scrubber;
use drctl_core::{ActionCtx, ActionError};
use reqwest::Method;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use crate::auth::Auth;

/// Azure's public Resource Manager.
const ARM: &str = "https://management.azure.com";
/// The longest wait `Retry-After` may ask between two polls.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What ARM answered.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

/// The Resource Manager of one step: its base, the resource group, a token.
pub(crate) struct Arm {
    http: &'static reqwest::Client,
    base: String,
    token: String,
    /// The token in every form a body may spell it, masked from what ARM answers.
    scrub: Scrubber,
    group: String,
}

impl Arm {
    pub(crate) async fn new(auth: &Auth, input: &Value) -> Result<Self, ActionError> {
        let base = endpoint(opt_str(input, "endpoint").filter(|e| !e.trim().is_empty()))?;
        let token = auth.bearer(&format!("{base}/.default")).await?;
        Ok(Self {
            http: drctl_connectors::core::http::shared()?,
            group: format!(
                "/subscriptions/{}/resourceGroups/{}/providers",
                segment(str_of(input, "subscription_id")?)?,
                segment(str_of(input, "resource_group")?)?
            ),
            base,
            scrub: Scrubber::new([token.as_str()]),
            token,
        })
    }

    /// Whether `url` (an operation's status URL) is on this step's Resource Manager: the
    /// same scheme, host and port, under its path.
    fn ours(&self, url: &str) -> bool {
        match (reqwest::Url::parse(url), reqwest::Url::parse(&self.base)) {
            (Ok(u), Ok(b)) => {
                u.origin() == b.origin()
                    && u.path().starts_with(b.path().trim_end_matches('/'))
                    && u.username().is_empty()
                    && u.password().is_none()
            }
            _ => false,
        }
    }

    /// The URL of a resource of the group: `provider_path` after `providers/`.
    pub(crate) fn url(&self, provider_path: &str, api_version: &str) -> String {
        format!(
            "{}{}/{provider_path}?api-version={api_version}",
            self.base, self.group
        )
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, ActionError> {
        let answer = self.exchange(method, url, body, what).await?;
        if answer.status >= 400 {
            return Err(classify(what, answer.status, &answer.headers, &answer.body));
        }
        Ok(answer)
    }

    /// One request and its answer, whatever its status.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Answer, ActionError> {
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            let text = format!("Azure {what}: {}", error_chain(&e));
            // A request that cannot even be built (a malformed `endpoint`, a token with a
            // control character) fails the same way every time.
            if e.is_builder() {
                ActionError::Permanent(format!(
                    "{text} (check the step's `endpoint` and the Azure token in the environment)"
                ))
            } else {
                ActionError::Retryable(text)
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| ActionError::Retryable(format!("Azure {what}: {}", error_chain(&e))))?;
        // An error body may echo the request back, Authorization header included; the
        // token must not reach the step's error and the run's events with it. Masked in
        // the raw text first, in every form it may take (a body that is not JSON, or JSON
        // cut short, is kept cut to 500 characters, and a cut token would no longer
        // match), then in every string and key of the parsed JSON.
        let text = self.scrub.text(&text);
        let mut body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.chars().take(500).collect()))
        };
        self.scrub.value(&mut body);
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// A resource, or None when ARM says it is not there (its group or subscription
    /// missing is an error that says so).
    pub(crate) async fn get(&self, url: &str, what: &str) -> Result<Option<Value>, ActionError> {
        let a = self.exchange(Method::GET, url, None, what).await?;
        let code = a.body["error"]["code"].as_str().unwrap_or("");
        if a.status == 404 && !matches!(code, "ResourceGroupNotFound" | "SubscriptionNotFound") {
            return Ok(None);
        }
        if a.status >= 400 {
            return Err(classify(what, a.status, &a.headers, &a.body));
        }
        Ok(Some(a.body))
    }

    /// Follows a long-running operation to its end, if the answer started one.
    pub(crate) async fn follow(
        &self,
        ctx: &ActionCtx,
        input: &Value,
        answer: &Answer,
        default: Duration,
        what: &str,
    ) -> Result<(), ActionError> {
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (url, async_op) = match (header("Azure-AsyncOperation"), header("Location")) {
            (Some(u), _) => (u, true),
            (None, Some(u)) if answer.status == 202 || answer.status == 201 => (u, false),
            _ => return Ok(()),
        };
        if !self.ours(&url) {
            return Err(ActionError::Permanent(format!(
                "Azure {what}: the operation's status URL is not on {}; not following it",
                self.base
            )));
        }
        let interval = duration_or(input, "interval", Duration::from_secs(5))?;
        let deadline = Deadline::after(duration_or(input, "timeout", default)?);
        let mut last = answer.headers.clone();
        loop {
            let wait = retry_after(&last)
                .unwrap_or(interval)
                .clamp(MIN_INTERVAL, MAX_RETRY_AFTER)
                .min(deadline.remaining());
            pause(ctx, wait).await?;
            let polled = self
                .send(Method::GET, &url, None, &format!("{what} (status)"))
                .await?;
            if async_op {
                match polled.body["status"].as_str().unwrap_or("") {
                    "Succeeded" => return Ok(()),
                    "Failed" | "Canceled" | "Cancelled" => {
                        let e = &polled.body["error"];
                        return Err(ActionError::Permanent(format!(
                            "Azure {what}: the operation ended {}: {}: {}",
                            polled.body["status"].as_str().unwrap_or("?"),
                            e["code"].as_str().unwrap_or("no code"),
                            e["message"].as_str().unwrap_or("")
                        )));
                    }
                    _ => {}
                }
            } else if polled.status != 202 {
                return Ok(());
            }
            if deadline.remaining().is_zero() {
                return Err(ActionError::Retryable(format!(
                    "Azure {what}: still running after {} ms",
                    deadline.elapsed_ms()
                )));
            }
            last = polled.headers;
        }
    }
}

/// The Resource Manager's base URL from the step's `endpoint` (default Azure's public
/// one), as the URL parser reads it: what the requests go to and what an operation's
/// status URL must be on. Only `http` and `https` with a host, no user or query.
fn endpoint(given: Option<&str>) -> Result<String, ActionError> {
    let raw = given.unwrap_or(ARM);
    // The value is quoted back only when it cannot hold a password or a key (no `@`,
    // query or fragment).
    let bad = |why: &str| {
        ActionError::Permanent(if raw.contains(['@', '?', '#']) {
            format!("endpoint (not shown: it has a user part, a query or a fragment): {why}")
        } else {
            format!("endpoint `{}`: {why}", raw.escape_debug())
        })
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(bad("not an http(s) URL with a host"));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad("a base URL takes no user, query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// A path segment from the step: names only, never `/`, `?`, `#` or `..`.
fn segment(s: &str) -> Result<&str, ActionError> {
    // `%` too: the URL parser would decode `%2e%2e` into `..` and drop a segment.
    if s.is_empty()
        || s.chars().all(|c| c == '.')
        || s.contains(['/', '?', '#', '\\', '%'])
        || s.chars().any(char::is_control)
    {
        return Err(ActionError::Permanent(format!(
            "`{s}` is not a name Azure takes in a resource path"
        )));
    }
    Ok(s)
}

pub(crate) fn name(input: &Value, key: &str) -> Result<String, ActionError> {
    segment(str_of(input, key)?).map(str::to_owned)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// An ARM error as an [`ActionError`].
fn classify(what: &str, status: u16, headers: &HeaderMap, body: &Value) -> ActionError {
    let error = &body["error"];
    let code = error["code"].as_str().unwrap_or("no error code");
    // A gateway's JSON that is not ARM's error shape is quoted, cut, rather than lost.
    let other = || {
        Some(body)
            .filter(|b| b.is_object() || b.is_array())
            .map(|b| b.to_string().chars().take(300).collect::<String>())
    };
    let message = error["message"]
        .as_str()
        .or_else(|| body.as_str())
        .map(str::to_owned)
        .or_else(other)
        .unwrap_or_default();
    let after = retry_after(headers)
        .map(|d| format!(" (Retry-After: {} s)", d.as_secs()))
        .unwrap_or_default();
    let text = format!("Azure {what}: {code} (HTTP {status}): {message}{after}");
    let busy = status == 409
        && matches!(
            code,
            "AnotherOperationInProgress" | "OperationInProgress" | "Conflict"
        );
    if status == 429 || status >= 500 || busy {
        ActionError::Retryable(text)
    } else {
        ActionError::Permanent(text)
    }
}
