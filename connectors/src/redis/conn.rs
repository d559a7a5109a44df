//! Talking to one Redis server or Sentinel: connect with timeouts, send one command,
//! read replies, and sort errors into retryable and permanent.

use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisConnectionInfo, Value};

use crate::wait::cancellable;

const TIMEOUT: Duration = Duration::from_secs(3);

/// A connection and the address it reached, for messages.
pub(crate) struct Conn {
    pub(crate) addr: String,
    conn: MultiplexedConnection,
}

/// `host:port` split; the port is required.
fn split(addr: &str) -> Result<(String, u16), ActionError> {
    let bad = || ActionError::Permanent(format!("`{addr}` is not host:port"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

pub(crate) async fn connect(
    ctx: &ActionCtx,
    addr: &str,
    password: Option<&str>,
) -> Result<Conn, ActionError> {
    let (host, port) = split(addr)?;
    let info = ConnectionInfo {
        addr: ConnectionAddr::Tcp(host, port),
        redis: RedisConnectionInfo {
            password: password.map(str::to_owned),
            ..RedisConnectionInfo::default()
        },
    };
    let client =
        redis::Client::open(info).map_err(|e| ActionError::Permanent(format!("{addr}: {e}")))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT);
    let conn = cancellable(
        ctx,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await?
    .map_err(|e| classify(addr, "cannot connect", &e))?;
    Ok(Conn {
        addr: addr.to_owned(),
        conn,
    })
}

impl Conn {
    /// Sends one command (its words) and returns the reply.
    pub(crate) async fn call(
        &mut self,
        ctx: &ActionCtx,
        words: &[&str],
    ) -> Result<Value, ActionError> {
        let mut cmd = redis::cmd(words[0]);
        for w in &words[1..] {
            cmd.arg(*w);
        }
        cancellable(ctx, cmd.query_async::<Value>(&mut self.conn))
            .await?
            .map_err(|e| classify(&self.addr, &words.join(" "), &e))
    }
}

/// Retryable: the network (refused, timed out, dropped) and the conditions Redis and
/// Sentinel report as passing (loading, busy, no quorum, no good replica yet, a failover
/// in progress). Permanent: authentication and anything else the server refused.
pub(crate) fn classify(addr: &str, what: &str, e: &redis::RedisError) -> ActionError {
    let text = format!("{addr}: {what}: {e}");
    if e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped() {
        return ActionError::Retryable(text);
    }
    match e.code() {
        Some(
            "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "NOQUORUM" | "NOGOODSLAVE" | "INPROG",
        ) => ActionError::Retryable(text),
        _ => ActionError::Permanent(text),
    }
}

/// A reply as text (bulk or simple strings, integers).
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

pub(crate) fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

pub(crate) fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}
