//! Live previews for `drctl plan --live`: what each PostgreSQL action would do now.
//!
//! Every function here only reads: `SHOW`, `pg_is_in_recovery()`, `pg_stat_*`, and a
//! statement prepared but never executed.

use drctl_core::{ActionCtx, ActionError, Outlook, Preview};
use serde_json::{Value, json};

use super::conn::{OTHER_CLIENTS, connect};
use super::promote::{Reached, reach};
use super::replication::status;
use crate::input::str_of;

/// `postgres.promote`: a replica would be promoted; a primary is left alone, unless a
/// leftover fence would be lifted.
pub(crate) async fn promote(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let pg = connect(ctx, str_of(input, "dsn")?).await?;
    let seen = status(ctx, &pg).await?;
    let target = &pg.target;
    Ok(if seen["role"] == "replica" {
        let summary = format!(
            "promote {target}: a replica at {}, {} bytes received but not replayed, WAL receiver {}",
            seen["lsn"].as_str().unwrap_or("?"),
            seen["lag_bytes"],
            seen["wal_receiver"].as_str().unwrap_or("stopped"),
        );
        Preview::new(Outlook::Change, summary, seen)
    } else if pg.fenced(ctx).await? {
        let summary = format!("{target} is already primary, but fenced: the fence would be lifted");
        Preview::new(Outlook::Change, summary, seen)
    } else {
        let summary = format!("{target} is already primary and takes writes");
        Preview::new(Outlook::NoChange, summary, seen)
    })
}

/// `postgres.fence`: how many sessions would be cut, or that the server is already fenced
/// or would be taken as down.
pub(crate) async fn fence(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let pg = match reach(ctx, input).await? {
        Reached::Up(pg) => pg,
        Reached::AssumedDown(out) => {
            let why = out["why"].as_str().unwrap_or_default();
            let summary = format!("unreachable, so it would be taken as down: {why}");
            return Ok(Preview::new(Outlook::NoChange, summary, out));
        }
    };
    let role = pg.role(ctx).await?;
    let target = &pg.target;
    if pg.fenced(ctx).await? {
        let summary = format!("{target} ({role}) is already read-only");
        return Ok(Preview::new(
            Outlook::NoChange,
            summary,
            json!({ "role": role, "fenced": true }),
        ));
    }
    let sessions: i64 = pg
        .one(ctx, &format!("SELECT count(*) FROM {OTHER_CLIENTS}"))
        .await?;
    let terminate = input.get("terminate_sessions").and_then(Value::as_bool) != Some(false);
    let summary = if terminate {
        format!("make {target} ({role}) read-only and end its {sessions} client sessions")
    } else {
        format!("make {target} ({role}) read-only; its {sessions} client sessions stay")
    };
    Ok(Preview::new(
        Outlook::Change,
        summary,
        json!({ "role": role, "fenced": false, "sessions": sessions }),
    ))
}

/// `postgres.replication_status`: the status, read now.
pub(crate) async fn replication(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let pg = connect(ctx, str_of(input, "dsn")?).await?;
    let seen = status(ctx, &pg).await?;
    let summary = describe(&seen);
    Ok(Preview::new(Outlook::Reads, summary, seen))
}

/// `postgres.wait_caught_up`: how far behind the replica is now.
pub(crate) async fn caught_up(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let pg = connect(ctx, str_of(input, "dsn")?).await?;
    let seen = status(ctx, &pg).await?;
    if seen["role"] != "replica" {
        let summary = format!("{} is a primary: nothing to catch up", pg.target);
        return Ok(Preview::new(Outlook::WouldFail, summary, seen));
    }
    let limit = input
        .get("max_lag_bytes")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let summary = format!(
        "{} is {} bytes ({:.1} s) behind what it received now; the limit is {limit} bytes",
        pg.target,
        seen["lag_bytes"],
        seen["lag_seconds"].as_f64().unwrap_or(0.0)
    );
    Ok(Preview::new(Outlook::Reads, summary, seen))
}

/// `postgres.query`: the statement is prepared (parsed and checked against the schema by
/// the server) but never executed, so a missing table or column shows up in the plan.
/// Whether it writes is judged from its first keyword.
pub(crate) async fn query(ctx: &ActionCtx, input: &Value) -> Result<Preview, ActionError> {
    let sql = str_of(input, "sql")?;
    let pg = connect(ctx, str_of(input, "dsn")?).await?;
    let role = pg.role(ctx).await?;
    let statement = pg.prepare(ctx, sql).await?;
    let args = input
        .get("args")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if args != statement.params().len() {
        let summary = format!(
            "the statement takes {} parameters and `args` has {args}",
            statement.params().len()
        );
        return Ok(Preview::new(
            Outlook::WouldFail,
            summary,
            json!({ "role": role }),
        ));
    }
    let first = sql
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let reads = matches!(
        first.as_str(),
        "select" | "show" | "values" | "table" | "explain"
    );
    let outlook = if reads {
        Outlook::Reads
    } else {
        Outlook::Change
    };
    let summary = format!(
        "run on {} ({role}): prepared, {} parameters, {} columns; not executed in a plan",
        pg.target,
        statement.params().len(),
        statement.columns().len()
    );
    Ok(Preview::new(outlook, summary, json!({ "role": role })))
}

/// One line about a replication status.
fn describe(seen: &Value) -> String {
    let server = seen["server"].as_str().unwrap_or("?");
    if seen["role"] == "replica" {
        return format!(
            "{server}: replica, {} bytes not replayed, WAL receiver {}",
            seen["lag_bytes"],
            seen["wal_receiver"].as_str().unwrap_or("stopped")
        );
    }
    let replicas: Vec<String> = seen["replicas"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} bytes behind",
                r["name"].as_str().unwrap_or("?"),
                r["state"].as_str().unwrap_or("?"),
                r["lag_bytes"]
            )
        })
        .collect();
    format!(
        "{server}: primary, {} replicas ({})",
        replicas.len(),
        replicas.join("; ")
    )
}
