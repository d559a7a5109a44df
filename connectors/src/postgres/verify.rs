//! `postgres.verify`: row counts and checksums of tables, against the values a step
//! expects or against another server.
//!
//! A table's checksum is the md5 of its rows as text, one per line, in a fixed order
//! (`order_by`, by default the row's own text), so two servers holding the same rows
//! agree whatever their physical layout. Table names are resolved by the server
//! (`to_regclass`), never spliced in as given. Every mismatch fails the step, with all
//! of them named; the output's `tables` has the shape of this action's own input, so a
//! later verify can expect what an earlier one measured.

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use serde_json::{Value, json};

use super::conn::{Pg, classify, connect};
use crate::input::{opt_str, str_of};
use crate::wait::cancellable;

pub(crate) struct Verify {
    pub(crate) spec: ActionSpec,
}

/// One table to check, as the step gives it.
struct Wanted {
    name: String,
    rows: Option<i64>,
    checksum: Option<String>,
    order_by: Option<String>,
}

fn wanted(input: &Value) -> Result<Vec<Wanted>, ActionError> {
    let tables = input["tables"]
        .as_array()
        .ok_or_else(|| ActionError::Permanent("`tables` must be a list".into()))?;
    tables
        .iter()
        .map(|t| match t {
            Value::String(name) => Ok(Wanted {
                name: name.clone(),
                rows: None,
                checksum: None,
                order_by: None,
            }),
            Value::Object(_) => Ok(Wanted {
                name: str_of(t, "name")?.to_owned(),
                rows: t.get("rows").and_then(Value::as_i64),
                checksum: opt_str(t, "checksum").map(str::to_owned),
                order_by: opt_str(t, "order_by").map(str::to_owned),
            }),
            other => Err(ActionError::Permanent(format!(
                "a table is a name or {{name, rows, checksum}}, not {other}"
            ))),
        })
        .collect()
}

/// What one server holds in one table.
#[derive(Debug, PartialEq)]
struct Measure {
    rows: i64,
    checksum: String,
}

async fn measure(ctx: &ActionCtx, pg: &Pg, t: &Wanted) -> Result<Option<Measure>, ActionError> {
    let resolved = cancellable(
        ctx,
        pg.client
            .query_one("SELECT to_regclass($1)::text", &[&t.name]),
    )
    .await?
    .map_err(|e| classify(&pg.target, "resolve a table", &e))?;
    let Some(table) = resolved.get::<_, Option<String>>(0) else {
        return Ok(None);
    };
    let order = t.order_by.as_deref().unwrap_or("t::text");
    let sql = format!(
        "SELECT count(*)::bigint, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {order}), '')) \
         FROM {table} t"
    );
    let row = cancellable(ctx, pg.client.query_one(&sql, &[]))
        .await?
        .map_err(|e| classify(&pg.target, &format!("checksum of {}", t.name), &e))?;
    Ok(Some(Measure {
        rows: row.get(0),
        checksum: row.get(1),
    }))
}

/// Every table measured on `dsn`, and (with `compare_dsn`) on the other server; the
/// output and the list of mismatches.
async fn check(ctx: &ActionCtx, input: &Value) -> Result<(Value, Vec<String>), ActionError> {
    let tables = wanted(input)?;
    let pg = connect(ctx, str_of(input, "dsn")?).await?;
    let other = match opt_str(input, "compare_dsn") {
        Some(dsn) => Some(connect(ctx, dsn).await?),
        None => None,
    };
    let mut measured = Vec::new();
    let mut checks = Vec::new();
    let mut mismatches = Vec::new();
    for t in &tables {
        let here = measure(ctx, &pg, t).await?;
        let expected = match &other {
            Some(o) => match measure(ctx, o, t).await? {
                Some(m) => (Some(m.rows), Some(m.checksum)),
                None => {
                    mismatches.push(format!("{}: missing on {}", t.name, o.target));
                    (None, None)
                }
            },
            None => (t.rows, t.checksum.clone()),
        };
        let Some(here) = here else {
            mismatches.push(format!("{}: no such table on {}", t.name, pg.target));
            checks.push(json!({ "name": t.name, "exists": false }));
            continue;
        };
        let mut wrong = Vec::new();
        if let Some(rows) = expected.0.filter(|r| *r != here.rows) {
            wrong.push(format!("{} rows, expected {rows}", here.rows));
        }
        if expected
            .1
            .as_ref()
            .is_some_and(|c| !c.eq_ignore_ascii_case(&here.checksum))
        {
            wrong.push("checksum differs".to_owned());
        }
        let compared = expected.0.is_some() || expected.1.is_some();
        if !wrong.is_empty() {
            mismatches.push(format!("{}: {}", t.name, wrong.join(", ")));
        }
        let mut entry = json!({ "name": t.name, "rows": here.rows, "checksum": here.checksum });
        if let Some(order) = &t.order_by {
            entry["order_by"] = json!(order);
        }
        measured.push(entry);
        checks.push(json!({
            "name": t.name,
            "exists": true,
            "rows": here.rows,
            "checksum": here.checksum,
            "expected_rows": expected.0,
            "expected_checksum": expected.1,
            "matches": compared.then_some(wrong.is_empty()),
        }));
    }
    let out = json!({
        "server": pg.target,
        "compared_with": other.as_ref().map(|o| o.target.clone()),
        "tables": measured,
        "checks": checks,
        "rows": checks.iter().filter_map(|c| c["rows"].as_i64()).sum::<i64>(),
    });
    Ok((out, mismatches))
}

#[async_trait]
impl Action for Verify {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let (out, mismatches) = check(ctx, &input).await?;
        if mismatches.is_empty() {
            Ok(out)
        } else {
            Err(ActionError::Permanent(format!(
                "verification failed on {}: {}",
                out["server"].as_str().unwrap_or("?"),
                mismatches.join("; ")
            )))
        }
    }

    /// The same reads as a run: what each table holds now, and whether it would pass.
    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let (out, mismatches) = check(ctx, &input).await?;
        let (outlook, summary) = if mismatches.is_empty() {
            (
                Outlook::Reads,
                format!(
                    "{} tables, {} rows: as expected",
                    out["tables"].as_array().map_or(0, Vec::len),
                    out["rows"]
                ),
            )
        } else {
            (Outlook::WouldFail, mismatches.join("; "))
        };
        Ok(Some(Preview::new(outlook, summary, out)))
    }
}
