//! Rows ↔ columns.

use drctl_core::{RunId, Timestamp};
use drctl_store::{RunRow, StepRow, StoreError, StoredEvent};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db;

/// The columns of a run row, as a literal so that queries stay `&'static str`.
macro_rules! run_columns {
    () => {
        "id, runbook, source_name, digest, parent, parent_step, actor, status, detail, \
         created_at, updated_at, finished_at, version, head_hash, owner, lease_until, drill, \
         trigger, rto_started_at, rto_ended_at, rto_objective_ms, rto_measured"
    };
}
pub(crate) use run_columns;

/// A row's `actor` column: every text reads as some actor (see `drctl_core::Actor`).
pub(crate) fn actor(r: &sqlx::sqlite::SqliteRow) -> Result<drctl_core::Actor, StoreError> {
    let text: &str = r.try_get("actor").map_err(db)?;
    Ok(drctl_core::Actor::from_stored(text))
}

/// A stored run status; a text no drctl wrote is a corrupt row, named.
pub(crate) fn run_status(s: &str) -> Result<drctl_store::RunStatus, StoreError> {
    drctl_store::RunStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("a run with the unknown status `{s}`")))
}

pub(crate) fn run_id(s: &str) -> Result<RunId, StoreError> {
    s.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))
}

pub(crate) fn ts(ms: Option<i64>) -> Option<Timestamp> {
    ms.map(Timestamp::from_millis)
}

pub(crate) fn item_column(item: Option<u32>) -> i64 {
    item.map_or(-1, i64::from)
}

pub(crate) fn run_row(r: &SqliteRow) -> Result<RunRow, StoreError> {
    let id: String = r.try_get("id").map_err(db)?;
    let parent: Option<String> = r.try_get("parent").map_err(db)?;
    Ok(RunRow {
        id: run_id(&id)?,
        runbook: r.try_get("runbook").map_err(db)?,
        source_name: r.try_get("source_name").map_err(db)?,
        digest: r.try_get("digest").map_err(db)?,
        parent: parent.as_deref().map(run_id).transpose()?,
        parent_step: r.try_get("parent_step").map_err(db)?,
        actor: actor(r)?,
        status: run_status(&r.try_get::<String, _>("status").map_err(db)?)?,
        detail: r.try_get("detail").map_err(db)?,
        created_at: Timestamp::from_millis(r.try_get("created_at").map_err(db)?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at").map_err(db)?),
        finished_at: ts(r.try_get("finished_at").map_err(db)?),
        version: u64::try_from(r.try_get::<i64, _>("version").map_err(db)?).unwrap_or(0),
        head_hash: r.try_get("head_hash").map_err(db)?,
        owner: r.try_get("owner").map_err(db)?,
        lease_until: ts(r.try_get("lease_until").map_err(db)?),
        drill: r.try_get::<i64, _>("drill").map_err(db)? != 0,
        trigger: {
            let text: String = r.try_get("trigger").map_err(db)?;
            drctl_core::Trigger::parse(&text).ok_or_else(|| {
                StoreError::Corrupt(format!("a run with the unknown trigger `{text}`"))
            })?
        },
        rto: match ts(r.try_get("rto_started_at").map_err(db)?) {
            Some(started_at) => Some(drctl_core::RtoSpan {
                started_at,
                ended_at: ts(r.try_get("rto_ended_at").map_err(db)?),
                objective_ms: r
                    .try_get::<Option<i64>, _>("rto_objective_ms")
                    .map_err(db)?
                    .and_then(|ms| u64::try_from(ms).ok()),
                measured: r.try_get::<i64, _>("rto_measured").map_err(db)? != 0,
            }),
            None => None,
        },
    })
}

pub(crate) fn step_row(r: &SqliteRow) -> Result<StepRow, StoreError> {
    let item: i64 = r.try_get("item").map_err(db)?;
    let output: Option<String> = r.try_get("output").map_err(db)?;
    Ok(StepRow {
        position: u32::try_from(r.try_get::<i64, _>("position").map_err(db)?).unwrap_or(0),
        step: r.try_get("step").map_err(db)?,
        item: u32::try_from(item).ok(),
        block: r.try_get("block").map_err(db)?,
        status: r.try_get("status").map_err(db)?,
        attempts: u32::try_from(r.try_get::<i64, _>("attempts").map_err(db)?).unwrap_or(0),
        started_at: ts(r.try_get("started_at").map_err(db)?),
        finished_at: ts(r.try_get("finished_at").map_err(db)?),
        output: output
            .map(|o| {
                serde_json::from_str(&o)
                    .map_err(|e| StoreError::Corrupt(format!("step output: {e}")))
            })
            .transpose()?,
        error: r.try_get("error").map_err(db)?,
    })
}

pub(crate) fn event_row(r: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let run: String = r.try_get("run_id").map_err(db)?;
    Ok(StoredEvent {
        run: run_id(&run)?,
        seq: u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
        at: Timestamp::from_millis(r.try_get("at").map_err(db)?),
        actor: actor(r)?,
        kind: r.try_get("kind").map_err(db)?,
        body: r.try_get("body").map_err(db)?,
        prev_hash: r.try_get("prev_hash").map_err(db)?,
        hash: r.try_get("hash").map_err(db)?,
    })
}

pub(crate) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
