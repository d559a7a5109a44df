//! `postgres.query`: one statement, its parameters bound (never spliced into the text),
//! its rows returned as JSON objects.

use std::time::Duration;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Preview};
use serde_json::{Map, Value, json};
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::conn::{classify, connect};
use super::preview;
use crate::input::{duration_or, str_of};
use crate::wait::cancellable;

/// Most rows an output keeps: outputs live in the event log.
const MAX_ROWS: usize = 1000;

pub(crate) struct Query {
    pub(crate) spec: ActionSpec,
}

#[async_trait]
impl Action for Query {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        preview::query(ctx, &input).await.map(Some)
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let sql = str_of(&input, "sql")?;
        let timeout = duration_or(&input, "timeout", Duration::from_secs(30))?;
        let pg = connect(ctx, str_of(&input, "dsn")?).await?;
        pg.batch(
            ctx,
            &format!("SET statement_timeout = {}", timeout.as_millis().max(1)),
        )
        .await?;
        let statement = pg.prepare(ctx, sql).await?;
        let args = input
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if args.len() != statement.params().len() {
            return Err(ActionError::Permanent(format!(
                "the statement takes {} parameters and `args` has {}",
                statement.params().len(),
                args.len()
            )));
        }
        let bound = args
            .iter()
            .zip(statement.params())
            .enumerate()
            .map(|(i, (v, ty))| bind(i + 1, v, ty))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| &**b as _).collect();
        if statement.columns().is_empty() {
            let affected = cancellable(ctx, pg.client.execute(&statement, &refs))
                .await?
                .map_err(|e| classify(&pg.target, "execute", &e))?;
            return Ok(json!({ "rows": [], "row_count": 0, "affected": affected }));
        }
        let rows = cancellable(ctx, pg.client.query(&statement, &refs))
            .await?
            .map_err(|e| classify(&pg.target, "query", &e))?;
        let count = rows.len();
        let objects = rows
            .iter()
            .take(MAX_ROWS)
            .map(row_json)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({
            "rows": objects,
            "row_count": count,
            "first": objects.first().cloned().unwrap_or(Value::Null),
            "truncated": count > MAX_ROWS,
        }))
    }
}

/// A JSON argument as the type the server expects for `$n`.
fn bind(n: usize, v: &Value, ty: &Type) -> Result<Box<dyn ToSql + Sync + Send>, ActionError> {
    let wrong = || {
        ActionError::Permanent(format!(
            "`args[{}]` is {v}, which does not fit ${n} of type {ty}",
            n - 1
        ))
    };
    if v.is_null() {
        return Ok(Box::new(Option::<String>::None));
    }
    Ok(match *ty {
        Type::BOOL => Box::new(v.as_bool().ok_or_else(wrong)?),
        Type::INT2 => Box::new(i16::try_from(v.as_i64().ok_or_else(wrong)?).map_err(|_| wrong())?),
        Type::INT4 => Box::new(i32::try_from(v.as_i64().ok_or_else(wrong)?).map_err(|_| wrong())?),
        Type::INT8 => Box::new(v.as_i64().ok_or_else(wrong)?),
        Type::FLOAT4 => Box::new(v.as_f64().ok_or_else(wrong)? as f32),
        Type::FLOAT8 => Box::new(v.as_f64().ok_or_else(wrong)?),
        Type::JSON | Type::JSONB => Box::new(v.clone()),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Box::new(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        }
        _ => {
            return Err(ActionError::Permanent(format!(
                "${n} has type {ty}, which `args` cannot fill: write `${n}::text` and pass text"
            )));
        }
    })
}

/// One row as `{column: value}`.
fn row_json(row: &Row) -> Result<Value, ActionError> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let bad = |e: tokio_postgres::Error| {
            ActionError::Permanent(format!("column `{}`: {e}", column.name()))
        };
        let v = match *column.type_() {
            Type::BOOL => json!(row.try_get::<_, Option<bool>>(i).map_err(bad)?),
            Type::INT2 => json!(row.try_get::<_, Option<i16>>(i).map_err(bad)?),
            Type::INT4 => json!(row.try_get::<_, Option<i32>>(i).map_err(bad)?),
            Type::INT8 => json!(row.try_get::<_, Option<i64>>(i).map_err(bad)?),
            Type::OID => json!(row.try_get::<_, Option<u32>>(i).map_err(bad)?),
            Type::FLOAT4 => json!(row.try_get::<_, Option<f32>>(i).map_err(bad)?),
            Type::FLOAT8 => json!(row.try_get::<_, Option<f64>>(i).map_err(bad)?),
            Type::JSON | Type::JSONB => row
                .try_get::<_, Option<Value>>(i)
                .map_err(bad)?
                .unwrap_or(Value::Null),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                json!(row.try_get::<_, Option<String>>(i).map_err(bad)?)
            }
            ref other => {
                return Err(ActionError::Permanent(format!(
                    "column `{}` has type {other}, which drctl does not convert: \
                     select it as `{}::text`",
                    column.name(),
                    column.name()
                )));
            }
        };
        out.insert(column.name().to_owned(), v);
    }
    Ok(Value::Object(out))
}
