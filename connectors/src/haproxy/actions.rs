//! `haproxy.set_weight`, `haproxy.set_state`, `haproxy.stats`.
//!
//! The two `set` actions are not repeated blindly after a crash: reconcile reads the
//! server's weight or state back and says whether the change is already there. Their
//! `plan` reads the same values (`get weight`, `show stat`) and never sets anything.

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use serde_json::{Value, json};

use super::api::{set, stats, weight};
use crate::input::{opt_str, str_of};

/// The (server, weight) pairs a `set_weight` asks for, in order.
fn wanted(input: &Value) -> Result<Vec<(String, u64)>, ActionError> {
    if let Some(list) = input.get("weights").and_then(Value::as_array) {
        return list
            .iter()
            .map(|w| {
                Ok((
                    str_of(w, "server")?.to_owned(),
                    w["weight"].as_u64().ok_or_else(|| {
                        ActionError::Permanent("`weight` must be 0 to 256".into())
                    })?,
                ))
            })
            .collect();
    }
    let weight = input["weight"]
        .as_u64()
        .ok_or_else(|| ActionError::Permanent("`weight` must be 0 to 256".into()))?;
    Ok(vec![(str_of(input, "server")?.to_owned(), weight)])
}

pub(crate) struct SetWeight {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for SetWeight {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let socket = str_of(&input, "socket")?;
        let backend = str_of(&input, "backend")?;
        let mut moves = Vec::new();
        let mut changes = false;
        for (server, to) in wanted(&input)? {
            let now = weight(ctx, socket, backend, &server).await?;
            changes |= now != to;
            moves.push((server, now, to));
        }
        let summary = moves
            .iter()
            .map(|(server, now, to)| format!("{backend}/{server} weight {now} -> {to}"))
            .collect::<Vec<_>>()
            .join(", ");
        let observed = moves
            .iter()
            .map(|(server, now, to)| json!({ "server": server, "weight": now, "wanted": to }))
            .collect();
        let outlook = if changes {
            Outlook::Change
        } else {
            Outlook::NoChange
        };
        Ok(Some(Preview::new(outlook, summary, Value::Array(observed))))
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let socket = str_of(&input, "socket")?;
        let backend = str_of(&input, "backend")?;
        let mut done = Vec::new();
        for (server, to) in wanted(&input)? {
            let previous = weight(ctx, socket, backend, &server).await?;
            set(
                ctx,
                socket,
                &format!("set server {backend}/{server} weight {to}"),
            )
            .await?;
            done.push(json!({ "server": server, "weight": to, "previous": previous }));
        }
        Ok(json!({ "backend": backend, "weights": done }))
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let socket = str_of(&input, "socket")?;
        let backend = str_of(&input, "backend")?;
        let mut seen = Vec::new();
        for (server, to) in wanted(&input)? {
            let now = weight(ctx, socket, backend, &server).await?;
            if now != to {
                return Ok(Observed::NotDone);
            }
            seen.push(json!({ "server": server, "weight": now }));
        }
        Ok(Observed::Done(
            json!({ "backend": backend, "weights": seen, "observed": true }),
        ))
    }
}

pub(crate) struct SetState {
    pub(crate) spec: ActionSpec,
}

/// The administrative state a `show stat` status shows: MAINT and DRAIN are set by an
/// operator; any other status (UP, DOWN, NOLB...) is a server in `ready` state.
fn admin_state(status: &str) -> &'static str {
    if status.starts_with("MAINT") {
        "maint"
    } else if status.starts_with("DRAIN") {
        "drain"
    } else {
        "ready"
    }
}

async fn state_of(
    ctx: &ActionCtx,
    socket: &str,
    backend: &str,
    server: &str,
) -> Result<(String, &'static str), ActionError> {
    let rows = stats(ctx, socket, Some(backend), Some(server)).await?;
    let status = rows
        .first()
        .and_then(|r| r["status"].as_str())
        .ok_or_else(|| ActionError::Permanent(format!("HAProxy has no server {backend}/{server}")))?
        .to_owned();
    let state = admin_state(&status);
    Ok((status, state))
}

#[async_trait]
impl Action for SetState {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let backend = str_of(&input, "backend")?;
        let server = str_of(&input, "server")?;
        let to = str_of(&input, "state")?;
        let (status, now) = state_of(ctx, str_of(&input, "socket")?, backend, server).await?;
        let outlook = if now == to {
            Outlook::NoChange
        } else {
            Outlook::Change
        };
        let summary = format!("{backend}/{server} {now} -> {to} (status {status})");
        let observed = json!({ "server": server, "state": now, "status": status });
        Ok(Some(Preview::new(outlook, summary, observed)))
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let socket = str_of(&input, "socket")?;
        let backend = str_of(&input, "backend")?;
        let server = str_of(&input, "server")?;
        let to = str_of(&input, "state")?;
        let (_, previous) = state_of(ctx, socket, backend, server).await?;
        set(
            ctx,
            socket,
            &format!("set server {backend}/{server} state {to}"),
        )
        .await?;
        let (status, _) = state_of(ctx, socket, backend, server).await?;
        Ok(json!({ "server": server, "state": to, "previous": previous, "status": status }))
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let socket = str_of(&input, "socket")?;
        let backend = str_of(&input, "backend")?;
        let server = str_of(&input, "server")?;
        let (status, state) = state_of(ctx, socket, backend, server).await?;
        Ok(if state == str_of(&input, "state")? {
            Observed::Done(
                json!({ "server": server, "state": state, "status": status, "observed": true }),
            )
        } else {
            Observed::NotDone
        })
    }
}

/// A `show stat` row of a server, not a proxy's FRONTEND or BACKEND summary.
fn is_server(row: &Value) -> bool {
    !matches!(row["svname"].as_str(), Some("FRONTEND" | "BACKEND"))
}

pub(crate) struct Stats {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Stats {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let rows = stats(
            ctx,
            str_of(&input, "socket")?,
            opt_str(&input, "backend"),
            opt_str(&input, "server"),
        )
        .await?;
        let servers: Vec<String> = rows
            .iter()
            .filter(|r| is_server(r))
            .map(|r| {
                format!(
                    "{}/{} {} weight {}",
                    r["pxname"].as_str().unwrap_or("?"),
                    r["svname"].as_str().unwrap_or("?"),
                    r["status"].as_str().unwrap_or("?"),
                    r["weight"]
                )
            })
            .collect();
        let summary = format!("{} rows now: {}", rows.len(), servers.join(", "));
        Ok(Some(Preview::new(
            Outlook::Reads,
            summary,
            json!({ "rows": rows.len() }),
        )))
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let socket = str_of(&input, "socket")?;
        let rows = stats(
            ctx,
            socket,
            opt_str(&input, "backend"),
            opt_str(&input, "server"),
        )
        .await?;
        // Servers by name too, so templates can say `servers.b.status`.
        let servers: serde_json::Map<String, Value> = rows
            .iter()
            .filter(|r| is_server(r))
            .filter_map(|r| Some((r["svname"].as_str()?.to_owned(), r.clone())))
            .collect();
        Ok(json!({ "rows": rows, "servers": servers }))
    }
}
