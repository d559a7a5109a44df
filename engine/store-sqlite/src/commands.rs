//! The command inbox. A command is read by its run's owner inside the owner's `append`
//! transaction and marked taken there, with the event that records it (see `writer`).

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
use drctl_store::{Checked, Command, CommandInbox, CommandOutcome, StoreError, Taken};
use sqlx::Row;

use crate::codec::i64_of;
use crate::{SqliteStore, db};

type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

#[async_trait]
impl CommandInbox for SqliteStore {
    async fn push_command(
        &self,
        run: &RunId,
        at: Timestamp,
        actor: &drctl_core::Actor,
        body: &serde_json::Value,
        checked: Option<Checked>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT version, finished_at FROM runs WHERE id = ?")
            .bind(run.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(run.to_string()))?;
        if row
            .try_get::<Option<i64>, _>("finished_at")
            .map_err(db)?
            .is_some()
        {
            return Err(StoreError::Finished(run.clone()));
        }
        let version = u64::try_from(row.try_get::<i64, _>("version").map_err(db)?).unwrap_or(0);
        if let Some(c) = checked {
            let newest: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(id), 0) FROM commands WHERE run_id = ? AND taken = 0",
            )
            .bind(run.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if version != c.version || u64::try_from(newest).unwrap_or(0) != c.newest_waiting {
                return Err(StoreError::VersionConflict {
                    run: run.clone(),
                    expected: c.version,
                    actual: version,
                });
            }
        }
        let done =
            sqlx::query("INSERT INTO commands (run_id, at, actor, body) VALUES (?, ?, ?, ?)")
                .bind(run.as_str())
                .bind(at.as_millis())
                .bind(actor.to_string())
                .bind(body.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(u64::try_from(done.last_insert_rowid()).unwrap_or(0))
    }

    async fn has_commands(&self, run: &RunId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM commands WHERE run_id = ? AND taken = 0 LIMIT 1")
            .bind(run.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    async fn waiting_commands(&self, run: &RunId) -> Result<Vec<Command>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        waiting_on(&mut conn, run).await
    }

    async fn command_outcome(&self, id: u64) -> Result<Option<CommandOutcome>, StoreError> {
        let row = sqlx::query("SELECT taken, outcome, seq, detail FROM commands WHERE id = ?")
            .bind(i64_of(id))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(format!("command {id}")))?;
        if row.try_get::<i64, _>("taken").map_err(db)? == 0 {
            return Ok(None);
        }
        let seq = row
            .try_get::<Option<i64>, _>("seq")
            .map_err(db)?
            .and_then(|s| u64::try_from(s).ok())
            // Taken before outcomes were recorded (migration 0003).
            .unwrap_or(0);
        let outcome: Option<String> = row.try_get("outcome").map_err(db)?;
        Ok(Some(match outcome.as_deref() {
            Some("refused") => CommandOutcome::Refused {
                seq,
                reason: row
                    .try_get::<Option<String>, _>("detail")
                    .map_err(db)?
                    .unwrap_or_default(),
            },
            _ => CommandOutcome::Applied { seq },
        }))
    }
}

/// The run's commands not taken yet, oldest first, read in the owner's transaction.
pub(crate) async fn waiting_commands(tx: &mut Tx, run: &RunId) -> Result<Vec<Command>, StoreError> {
    waiting_on(&mut *tx, run).await
}

async fn waiting_on(
    conn: &mut sqlx::SqliteConnection,
    run: &RunId,
) -> Result<Vec<Command>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, body FROM commands WHERE run_id = ? AND taken = 0 ORDER BY id",
    )
    .bind(run.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            let body: String = r.try_get("body").map_err(db)?;
            Ok(Command {
                id: u64::try_from(r.try_get::<i64, _>("id").map_err(db)?).unwrap_or(0),
                run: run.clone(),
                at: Timestamp::from_millis(r.try_get("at").map_err(db)?),
                actor: crate::codec::actor(r)?,
                // A body this build cannot read is handed on as text: the driver records
                // it as refused, and one bad command never stops a run.
                body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
            })
        })
        .collect()
}

/// Marks commands taken with their outcome, in the transaction that records them.
pub(crate) async fn settle_commands(
    tx: &mut Tx,
    run: &RunId,
    taken: &[Taken],
) -> Result<(), StoreError> {
    for t in taken {
        let (outcome, seq, detail) = match &t.outcome {
            CommandOutcome::Applied { seq } => ("applied", *seq, None),
            CommandOutcome::Refused { seq, reason } => ("refused", *seq, Some(reason.as_str())),
        };
        let done = sqlx::query(
            "UPDATE commands SET taken = 1, outcome = ?, seq = ?, detail = ?, body = COALESCE(?, body) \
             WHERE id = ? AND run_id = ? AND taken = 0",
        )
        .bind(outcome)
        .bind(i64_of(seq))
        .bind(detail)
        .bind(t.body.as_ref().map(serde_json::Value::to_string))
        .bind(i64_of(t.id))
        .bind(run.as_str())
        .execute(&mut **tx)
        .await
        .map_err(db)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Corrupt(format!(
                "command {} is not waiting for run {run}",
                t.id
            )));
        }
    }
    Ok(())
}
