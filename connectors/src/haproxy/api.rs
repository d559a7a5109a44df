//! HAProxy's runtime API: one command per connection, on a unix socket or TCP.
//!
//! HAProxy answers a command in non-interactive mode and closes the connection, so a
//! reply is everything read until EOF. `set` commands answer nothing on success and a
//! sentence on refusal ("No such server.").

use std::path::Path;
use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::wait::cancellable;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `command` and returns HAProxy's reply.
pub(crate) async fn send(
    ctx: &ActionCtx,
    socket: &str,
    command: &str,
) -> Result<String, ActionError> {
    let exchange = async {
        if let Some(path) = socket.strip_prefix("unix:") {
            if !Path::new(path).exists() {
                // A missing socket is a configuration problem, not a passing one.
                return Err(ActionError::Permanent(format!(
                    "HAProxy runtime API socket {path} does not exist: is HAProxy running with \
                     `stats socket {path} level admin`?"
                )));
            }
            let stream = tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| ActionError::Retryable(format!("HAProxy runtime API {path}: {e}")))?;
            talk(stream, socket, command).await
        } else {
            let stream = tokio::net::TcpStream::connect(socket).await.map_err(|e| {
                ActionError::Retryable(format!("HAProxy runtime API {socket}: {e}"))
            })?;
            talk(stream, socket, command).await
        }
    };
    match cancellable(ctx, tokio::time::timeout(TIMEOUT, exchange)).await? {
        Ok(reply) => reply,
        Err(_) => Err(ActionError::Retryable(format!(
            "HAProxy runtime API {socket}: no answer to `{command}` within {} s",
            TIMEOUT.as_secs()
        ))),
    }
}

async fn talk<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    socket: &str,
    command: &str,
) -> Result<String, ActionError> {
    let io =
        |e: std::io::Error| ActionError::Retryable(format!("HAProxy runtime API {socket}: {e}"));
    stream
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(io)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.map_err(io)?;
    Ok(reply)
}

/// Sends a `set` command: any text in the reply is HAProxy refusing it.
pub(crate) async fn set(ctx: &ActionCtx, socket: &str, command: &str) -> Result<(), ActionError> {
    let reply = send(ctx, socket, command).await?;
    let reply = reply.trim();
    if reply.is_empty() {
        Ok(())
    } else {
        Err(ActionError::Permanent(format!(
            "HAProxy refused `{command}`: {reply}"
        )))
    }
}

/// `get weight BACKEND/SERVER`: the current weight.
pub(crate) async fn weight(
    ctx: &ActionCtx,
    socket: &str,
    backend: &str,
    server: &str,
) -> Result<u64, ActionError> {
    let command = format!("get weight {backend}/{server}");
    let reply = send(ctx, socket, &command).await?;
    // "20 (initial 100)"
    reply
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| {
            ActionError::Permanent(format!("HAProxy refused `{command}`: {}", reply.trim()))
        })
}

/// `show stat` as objects keyed by the CSV header, numbers as numbers, empty fields left
/// out; only the rows of `backend` (and `server`) when given.
pub(crate) async fn stats(
    ctx: &ActionCtx,
    socket: &str,
    backend: Option<&str>,
    server: Option<&str>,
) -> Result<Vec<Value>, ActionError> {
    let reply = send(ctx, socket, "show stat").await?;
    let mut lines = reply.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| ActionError::Permanent(format!("`show stat` answered: {}", reply.trim())))?;
    let names: Vec<&str> = header.split(',').collect();
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut row = Map::new();
        for (name, field) in names.iter().zip(line.split(',')) {
            if name.is_empty() || field.is_empty() {
                continue;
            }
            let v = field
                .parse::<i64>()
                .map_or_else(|_| json!(field), |n| json!(n));
            row.insert((*name).to_owned(), v);
        }
        let px = row.get("pxname").and_then(Value::as_str);
        let sv = row.get("svname").and_then(Value::as_str);
        if backend.is_some_and(|b| px != Some(b)) || server.is_some_and(|s| sv != Some(s)) {
            continue;
        }
        rows.push(Value::Object(row));
    }
    Ok(rows)
}
