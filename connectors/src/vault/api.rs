//! One Vault session for one action call: the address, the namespace and a token, either
//! given (token auth) or got from an AppRole login and revoked again when the call ends.
//!
//! Refusals are sorted as Vault documents its status codes: 400 (bad request), 403
//! (permission denied, or a bad token) and 404 are permanent; 412 (a standby not yet
//! consistent), 429 (rate limited), 5xx (sealed, standby, internal) and the network are
//! retryable. A message quotes Vault's `errors` and never a token or a secret id.

use std::sync::Arc;
use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};
use serde_json::{Value, json};

use crate::core::http::{Client, exchange, short, status_error};
use crate::input::{opt_str, str_of};

const TIMEOUT: Duration = Duration::from_secs(15);

pub(super) struct Session<'a> {
    client: &'a reqwest::Client,
    base: String,
    namespace: Option<&'a str>,
    token: String,
    /// A token drctl logged in for: revoked when the call ends.
    own_token: bool,
}

/// What Vault said when it refused, for messages: its `errors`, else the body.
fn said(body: &Value) -> String {
    match body["errors"].as_array() {
        Some(errors) if !errors.is_empty() => errors
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("; "),
        _ => short(body),
    }
}

/// A refusal as an error of the right kind.
pub(super) fn refused(what: &str, status: u16, body: &Value) -> ActionError {
    let meaning = match status {
        400 => "bad request",
        401 | 403 => "permission denied (token or policy)",
        404 => "not found",
        412 => "not yet consistent on this node",
        429 => "rate limited",
        503 => "sealed, in standby or in maintenance",
        _ if status >= 500 => "server error",
        _ => "unexpected answer",
    };
    let message = format!("Vault {what}: HTTP {status}, {meaning}: {}", said(body));
    // HTTP's rule (5xx and 429 may pass), and Vault's 412: a standby catching up.
    if status == 412 {
        ActionError::Retryable(message)
    } else {
        status_error(status, message)
    }
}

impl<'a> Session<'a> {
    /// Opens a session with the step's credentials: `token`, or `role_id` + `secret_id`.
    pub(super) async fn open(
        ctx: &ActionCtx,
        client: &'a Arc<Client>,
        input: &'a Value,
    ) -> Result<Session<'a>, ActionError> {
        let base = str_of(input, "address")?.trim_end_matches('/').to_owned();
        let mut session = Session {
            client: client.get()?,
            base,
            namespace: opt_str(input, "namespace"),
            token: String::new(),
            own_token: false,
        };
        if let Some(token) = opt_str(input, "token") {
            session.token = token.to_owned();
            return Ok(session);
        }
        let role_id = str_of(input, "role_id")?;
        let secret_id = opt_str(input, "secret_id").ok_or_else(|| {
            ActionError::Permanent("AppRole auth needs `secret_id` beside `role_id`".into())
        })?;
        let mount = opt_str(input, "auth_mount").unwrap_or("approle");
        let (status, body) = session
            .send(
                ctx,
                reqwest::Method::POST,
                &format!("auth/{mount}/login"),
                Some(json!({ "role_id": role_id, "secret_id": secret_id })),
            )
            .await?;
        if status != 200 {
            return Err(refused("AppRole login", status, &body));
        }
        session.token = body["auth"]["client_token"]
            .as_str()
            .ok_or_else(|| {
                ActionError::Permanent("Vault's AppRole login answered without a token".into())
            })?
            .to_owned();
        session.own_token = true;
        Ok(session)
    }

    async fn send(
        &self,
        ctx: &ActionCtx,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), ActionError> {
        let mut request = self
            .client
            .request(method, format!("{}/v1/{path}", self.base))
            .timeout(TIMEOUT);
        if !self.token.is_empty() {
            request = request.header("X-Vault-Token", &self.token);
        }
        if let Some(ns) = self.namespace {
            request = request.header("X-Vault-Namespace", ns);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        exchange(ctx, request).await
    }

    /// A call that must succeed: its `data` (or `null` for 204), else the refusal.
    pub(super) async fn call(
        &self,
        ctx: &ActionCtx,
        what: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ActionError> {
        let (status, answer) = self.send(ctx, method, path, body).await?;
        match status {
            200 => Ok(answer["data"].clone()),
            204 => Ok(Value::Null),
            _ => Err(refused(what, status, &answer)),
        }
    }

    /// Like `call`, but a 404 is `None`: reads of something that may not exist yet.
    pub(super) async fn read(
        &self,
        ctx: &ActionCtx,
        what: &str,
        path: &str,
    ) -> Result<Option<Value>, ActionError> {
        let (status, answer) = self.send(ctx, reqwest::Method::GET, path, None).await?;
        match status {
            200 => Ok(Some(answer["data"].clone())),
            404 => Ok(None),
            _ => Err(refused(what, status, &answer)),
        }
    }

    /// Revokes a token drctl logged in for. A failure is ignored: the token expires with
    /// its TTL anyway.
    pub(super) async fn close(self, ctx: &ActionCtx) {
        if self.own_token {
            let _ = self
                .send(ctx, reqwest::Method::POST, "auth/token/revoke-self", None)
                .await;
        }
    }
}

/// Runs `body` (an expression that may use `?`) in a session, and closes the session
/// whatever the body returned.
macro_rules! with_session {
    ($ctx:expr, $client:expr, $input:expr, |$s:ident| $body:expr) => {{
        let $s = $crate::vault::api::Session::open($ctx, $client, $input).await?;
        let out: Result<_, drctl_core::ActionError> = async { $body }.await;
        $s.close($ctx).await;
        out
    }};
}
pub(super) use with_session;
