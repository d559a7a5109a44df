//! `postgres.replication_status` and `postgres.wait_caught_up`: read-only looks at where a
//! server stands in replication.

use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Preview};
use serde_json::{Value, json};

use super::conn::{Pg, classify, connect};
use super::preview;
use crate::input::{duration_or, opt_str, str_of};
use crate::wait::{Deadline, cancellable, pause};

/// One server's replication state, as the output reports it.
const STATUS: &str = "SELECT pg_is_in_recovery(), \
    (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text, \
    pg_last_wal_receive_lsn()::text, \
    COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::bigint, \
    (CASE WHEN NOT pg_is_in_recovery() THEN 0 \
          WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
          ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END)::float8, \
    (SELECT status FROM pg_stat_wal_receiver LIMIT 1)";

/// The replicas a primary streams to.
const REPLICAS: &str = "SELECT application_name, client_addr::text, state, replay_lsn::text, \
    COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, \
    COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 \
    FROM pg_stat_replication ORDER BY application_name";

/// Role, LSNs and lag of one server. A replica's `lag_bytes` is WAL received but not yet
/// replayed, and `lag_seconds` is the age of the last replayed transaction while WAL is
/// still waiting (0 when everything received is replayed: an idle primary is not lag).
pub(crate) async fn status(ctx: &ActionCtx, pg: &Pg) -> Result<Value, ActionError> {
    let row = cancellable(ctx, pg.client.query_one(STATUS, &[]))
        .await?
        .map_err(|e| classify(&pg.target, "replication status", &e))?;
    let get = |e: tokio_postgres::Error| ActionError::Permanent(format!("{}: {e}", pg.target));
    let replica: bool = row.try_get(0).map_err(get)?;
    let mut out = json!({
        "server": pg.target,
        "role": if replica { "replica" } else { "primary" },
        "lsn": row.try_get::<_, Option<String>>(1).map_err(get)?,
        "receive_lsn": row.try_get::<_, Option<String>>(2).map_err(get)?,
        "lag_bytes": row.try_get::<_, i64>(3).map_err(get)?,
        "lag_seconds": row.try_get::<_, f64>(4).map_err(get)?,
        "wal_receiver": row.try_get::<_, Option<String>>(5).map_err(get)?,
    });
    if !replica {
        let rows = cancellable(ctx, pg.client.query(REPLICAS, &[]))
            .await?
            .map_err(|e| classify(&pg.target, "pg_stat_replication", &e))?;
        let mut replicas = Vec::new();
        for r in rows {
            replicas.push(json!({
                "name": r.try_get::<_, Option<String>>(0).map_err(get)?,
                "address": r.try_get::<_, Option<String>>(1).map_err(get)?,
                "state": r.try_get::<_, Option<String>>(2).map_err(get)?,
                "replay_lsn": r.try_get::<_, Option<String>>(3).map_err(get)?,
                "lag_bytes": r.try_get::<_, i64>(4).map_err(get)?,
                "lag_seconds": r.try_get::<_, f64>(5).map_err(get)?,
            }));
        }
        out["replicas"] = json!(replicas);
    }
    Ok(out)
}

pub(crate) struct Status {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Status {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::replication(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let pg = connect(ctx, str_of(&input, "dsn")?).await?;
        status(ctx, &pg).await
    }
}

pub(crate) struct WaitCaughtUp {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for WaitCaughtUp {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::caught_up(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let interval = duration_or(&input, "interval", Duration::from_secs(1))?;
        let deadline = Deadline::after(duration_or(&input, "timeout", Duration::from_secs(300))?);
        let max_bytes = input
            .get("max_lag_bytes")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let max_lag = match input.get("max_lag") {
            Some(_) => Some(duration_or(&input, "max_lag", Duration::ZERO)?.as_secs_f64()),
            None => None,
        };
        let replica = connect(ctx, str_of(&input, "dsn")?).await?;
        let primary = match opt_str(&input, "primary_dsn") {
            Some(dsn) => Some(connect(ctx, dsn).await?),
            None => None,
        };
        let mut checks = 0u64;
        loop {
            checks += 1;
            let mut seen = status(ctx, &replica).await?;
            if seen["role"] != "replica" {
                return Err(ActionError::Permanent(format!(
                    "{} is not a replica (it is a primary): nothing to catch up",
                    replica.target
                )));
            }
            if let Some(primary) = &primary {
                // Behind the primary's current position, not only behind what was received.
                let lsn: String = primary
                    .one(ctx, "SELECT pg_current_wal_lsn()::text")
                    .await?;
                let sql =
                    "SELECT pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn())::bigint";
                let row = cancellable(ctx, replica.client.query_one(sql, &[&lsn]))
                    .await?
                    .map_err(|e| classify(&replica.target, "lag behind the primary", &e))?;
                let behind: i64 = row.get(0);
                seen["lag_bytes"] = json!(behind.max(0));
                seen["primary_lsn"] = json!(lsn);
            }
            let bytes = seen["lag_bytes"].as_i64().unwrap_or(i64::MAX);
            let seconds = seen["lag_seconds"].as_f64().unwrap_or(f64::MAX);
            if bytes <= max_bytes && max_lag.is_none_or(|m| seconds <= m) {
                seen["checks"] = json!(checks);
                seen["waited_ms"] = json!(deadline.elapsed_ms());
                return Ok(seen);
            }
            if deadline.passed_before(interval) {
                // Lag passes; the step's retry policy decides whether to wait longer.
                return Err(ActionError::Retryable(format!(
                    "{} is still {bytes} bytes ({seconds:.1} s) behind after {} checks; \
                     the limit is {max_bytes} bytes{}",
                    replica.target,
                    checks,
                    max_lag.map_or(String::new(), |m| format!(" and {m} s")),
                )));
            }
            pause(ctx, interval).await?;
        }
    }
}
