//! Connecting to PostgreSQL, and turning its errors into retryable or permanent ones.
//!
//! Messages name the server as host:port, never the connection string: it may carry a
//! password.

use std::time::Duration;

use drctl_core::{ActionCtx, ActionError};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::input::error_chain;
use crate::wait::cancellable;

/// How long a connection attempt may take when the string does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An open session with the server it reached.
/// The other client sessions of a server: `postgres.fence` ends them, its preview counts
/// them.
pub(crate) const OTHER_CLIENTS: &str =
    "pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

pub(crate) struct Pg {
    pub(crate) client: Client,
    /// `host:port` as configured, for messages.
    pub(crate) target: String,
}

/// The servers a connection string names, as `host:port[,host:port]`.
pub(crate) fn target_of(config: &Config) -> String {
    let ports = config.get_ports();
    config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(h) => format!("{h}:{port}"),
                Host::Unix(p) => format!("{}:{port}", p.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn parse(dsn: &str) -> Result<Config, ActionError> {
    // The parser's message can quote the string: keep it out.
    dsn.parse::<Config>().map_err(|_| {
        ActionError::Permanent(
            "`dsn` is not a valid PostgreSQL connection string (keyword=value or postgres:// URI)"
                .into(),
        )
    })
}

/// Opens a session. Unreachable servers are retryable; a bad string or refused
/// credentials are permanent.
pub(crate) async fn connect(ctx: &ActionCtx, dsn: &str) -> Result<Pg, ActionError> {
    let mut config = parse(dsn)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("drctl");
    let target = target_of(&config);
    let (client, connection) = cancellable(ctx, config.connect(NoTls))
        .await?
        .map_err(|e| classify(&target, "cannot connect", &e))?;
    // The connection runs until the client is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Pg { client, target })
}

impl Pg {
    /// One row, one column.
    pub(crate) async fn one<T>(&self, ctx: &ActionCtx, sql: &str) -> Result<T, ActionError>
    where
        T: for<'a> tokio_postgres::types::FromSql<'a>,
    {
        let row = cancellable(ctx, self.client.query_one(sql, &[]))
            .await?
            .map_err(|e| classify(&self.target, sql, &e))?;
        row.try_get(0)
            .map_err(|e| ActionError::Permanent(format!("{}: {sql}: {e}", self.target)))
    }

    /// Statements without results, sent as one simple query.
    pub(crate) async fn batch(&self, ctx: &ActionCtx, sql: &str) -> Result<(), ActionError> {
        cancellable(ctx, self.client.batch_execute(sql))
            .await?
            .map_err(|e| classify(&self.target, sql, &e))
    }

    pub(crate) async fn in_recovery(&self, ctx: &ActionCtx) -> Result<bool, ActionError> {
        self.one(ctx, "SELECT pg_is_in_recovery()").await
    }

    /// Whether the server is fenced: new transactions are read-only
    /// (`default_transaction_read_only`, as `postgres.fence` sets it).
    pub(crate) async fn fenced(&self, ctx: &ActionCtx) -> Result<bool, ActionError> {
        Ok(self
            .one::<String>(ctx, "SHOW default_transaction_read_only")
            .await?
            == "on")
    }

    /// `primary` or `replica`, as outputs and previews name it.
    pub(crate) async fn role(&self, ctx: &ActionCtx) -> Result<&'static str, ActionError> {
        Ok(if self.in_recovery(ctx).await? {
            "replica"
        } else {
            "primary"
        })
    }

    /// Parses and plans a statement on the server without running it.
    pub(crate) async fn prepare(
        &self,
        ctx: &ActionCtx,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, ActionError> {
        cancellable(ctx, self.client.prepare(sql))
            .await?
            .map_err(|e| classify(&self.target, "prepare", &e))
    }
}

/// Retryable: no server answer at all (refused, timed out, closed), or a SQLSTATE of a
/// passing condition: connection exceptions (08), shutdown or start-up in progress
/// (57P01-57P03), serialization failures and deadlocks (40001, 40P01), lock not available
/// (55P03), insufficient resources (53). Anything else the server said is permanent.
pub(crate) fn classify(target: &str, what: &str, e: &tokio_postgres::Error) -> ActionError {
    match e.code() {
        Some(state) => {
            let code = state.code();
            let message = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned());
            let text = format!("{target}: {what}: {message} (SQLSTATE {code})");
            let passing = code.starts_with("08")
                || code.starts_with("53")
                || matches!(
                    code,
                    "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "55P03"
                );
            if passing {
                ActionError::Retryable(text)
            } else {
                ActionError::Permanent(text)
            }
        }
        None => ActionError::Retryable(format!("{target}: {what}: {}", error_chain(e))),
    }
}
