//! The command inbox.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
use drctl_store::{Command, CommandInbox, StoreError};
use sqlx::Row;

use crate::{SqliteStore, db};

#[async_trait]
impl CommandInbox for SqliteStore {
    async fn push_command(
        &self,
        run: &RunId,
        at: Timestamp,
        actor: &str,
        body: &serde_json::Value,
    ) -> Result<u64, StoreError> {
        let done =
            sqlx::query("INSERT INTO commands (run_id, at, actor, body) VALUES (?, ?, ?, ?)")
                .bind(run.as_str())
                .bind(at.as_millis())
                .bind(actor)
                .bind(body.to_string())
                .execute(&self.pool)
                .await
                .map_err(db)?;
        Ok(u64::try_from(done.last_insert_rowid()).unwrap_or(0))
    }

    async fn take_commands(&self, run: &RunId) -> Result<Vec<Command>, StoreError> {
        let mut tx = self.write().await?;
        let rows = sqlx::query(
            "SELECT id, at, actor, body FROM commands WHERE run_id = ? AND taken = 0 ORDER BY id",
        )
        .bind(run.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query("UPDATE commands SET taken = 1 WHERE run_id = ? AND taken = 0")
            .bind(run.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body").map_err(db)?;
                Ok(Command {
                    id: u64::try_from(r.try_get::<i64, _>("id").map_err(db)?).unwrap_or(0),
                    run: run.clone(),
                    at: Timestamp::from_millis(r.try_get("at").map_err(db)?),
                    actor: r.try_get("actor").map_err(db)?,
                    body: serde_json::from_str(&body)
                        .map_err(|e| StoreError::Corrupt(format!("command: {e}")))?,
                })
            })
            .collect()
    }
}
