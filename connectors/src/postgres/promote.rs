//! `postgres.promote` and `postgres.fence`: the two calls that decide which server takes
//! writes. Neither is blindly repeated after a crash: both reconcile by looking at the
//! server.

use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Preview};
use serde_json::{Value, json};

use super::conn::{OTHER_CLIENTS, Pg, connect};
use super::preview;
use crate::input::{duration_or, opt_str, str_of};
use crate::wait::{Deadline, pause};

pub(crate) struct Promote {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Promote {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::promote(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let wait = duration_or(&input, "wait", Duration::from_secs(60))?;
        let deadline = Deadline::after(wait);
        let pg = connect(ctx, str_of(&input, "dsn")?).await?;
        if !pg.in_recovery(ctx).await? {
            let mut out = read_write(ctx, &pg).await?;
            out["promoted"] = json!(false);
            out["already_primary"] = json!(true);
            return Ok(out);
        }
        let seconds = wait.as_secs().clamp(1, i32::MAX as u64);
        let sql = format!("SELECT pg_promote(true, {seconds})");
        if !pg.one::<bool>(ctx, &sql).await? {
            return Err(ActionError::Retryable(format!(
                "{}: promotion did not finish within {seconds} s",
                pg.target
            )));
        }
        // pg_promote returns once recovery has ended; the server accepts writes when it
        // is out of recovery and not fenced read-only.
        while pg.in_recovery(ctx).await? {
            if deadline.passed_before(Duration::from_millis(50)) {
                return Err(ActionError::Retryable(format!(
                    "{}: still in recovery after {} ms",
                    pg.target,
                    deadline.elapsed_ms()
                )));
            }
            pause(ctx, Duration::from_millis(50)).await?;
        }
        let mut out = read_write(ctx, &pg).await?;
        out["promoted"] = json!(true);
        out["took_ms"] = json!(deadline.elapsed_ms());
        Ok(out)
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let pg = connect(ctx, str_of(&input, "dsn")?).await?;
        if pg.in_recovery(ctx).await? {
            return Ok(Observed::NotDone);
        }
        let mut out = read_write(ctx, &pg).await?;
        out["promoted"] = json!(true);
        out["observed"] = json!(true);
        Ok(Observed::Done(out))
    }
}

/// Makes sure a primary takes writes: a server promoted after it was once fenced still
/// carries `default_transaction_read_only = on`, and a primary that refuses writes is no
/// promotion. Returns what the output reports about the server.
async fn read_write(ctx: &ActionCtx, pg: &Pg) -> Result<Value, ActionError> {
    let unfenced = pg.fenced(ctx).await?;
    if unfenced {
        // ALTER SYSTEM cannot share a (implicit) transaction with anything else.
        pg.batch(ctx, "ALTER SYSTEM RESET default_transaction_read_only")
            .await?;
        pg.batch(ctx, "SELECT pg_reload_conf()").await?;
    }
    let lsn: String = pg.one(ctx, "SELECT pg_current_wal_lsn()::text").await?;
    Ok(json!({ "server": pg.target, "lsn": lsn, "unfenced": unfenced }))
}

pub(crate) struct Fence {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Fence {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::fence(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let pg = match reach(ctx, &input).await? {
            Reached::Up(pg) => pg,
            Reached::AssumedDown(out) => return Ok(out),
        };
        let role = pg.role(ctx).await?;
        // Read-only for every new transaction; libpq clients that ask for
        // `target_session_attrs=read-write` skip the server from now on.
        // ALTER SYSTEM cannot share a (implicit) transaction with anything else.
        pg.batch(ctx, "ALTER SYSTEM SET default_transaction_read_only = on")
            .await?;
        pg.batch(ctx, "SELECT pg_reload_conf()").await?;
        let mut tries = 0;
        while !pg.fenced(ctx).await? {
            tries += 1;
            if tries > 40 {
                return Err(ActionError::Retryable(format!(
                    "{}: the read-only setting was not applied within 2 s",
                    pg.target
                )));
            }
            pause(ctx, Duration::from_millis(50)).await?;
        }
        let terminate = input
            .get("terminate_sessions")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let terminated: i64 = if terminate {
            pg.one(
                ctx,
                &format!("SELECT count(pg_terminate_backend(pid)) FROM {OTHER_CLIENTS}"),
            )
            .await?
        } else {
            0
        };
        Ok(json!({
            "fenced": true,
            "reachable": true,
            "server": pg.target,
            "role": role,
            "sessions_terminated": terminated,
        }))
    }

    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let pg = match reach(ctx, &input).await? {
            Reached::Up(pg) => pg,
            Reached::AssumedDown(out) => return Ok(Observed::Done(out)),
        };
        Ok(if pg.fenced(ctx).await? {
            Observed::Done(json!({
                "fenced": true,
                "reachable": true,
                "server": pg.target,
                "observed": true,
            }))
        } else {
            Observed::NotDone
        })
    }
}

pub(super) enum Reached {
    Up(Pg),
    /// Unreachable, and the step said to take that as down.
    AssumedDown(Value),
}

/// Connects to the server to fence. An unreachable server is an error unless the step
/// says `if_unreachable: assume_down`: during an outage the old primary is usually gone,
/// and whoever restarts it must bring it back as a replica (the lab's `pg-rejoin`).
pub(super) async fn reach(ctx: &ActionCtx, input: &Value) -> Result<Reached, ActionError> {
    let assume = opt_str(input, "if_unreachable") == Some("assume_down");
    match connect(ctx, str_of(input, "dsn")?).await {
        Ok(pg) => Ok(Reached::Up(pg)),
        Err(ActionError::Retryable(why)) if assume => Ok(Reached::AssumedDown(json!({
            "fenced": false,
            "reachable": false,
            "assumed_down": true,
            "why": why,
        }))),
        Err(e) => Err(e),
    }
}
