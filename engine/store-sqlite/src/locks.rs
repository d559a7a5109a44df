//! Named locks. A lock whose holder has finished is free (defence in depth: ending a run
//! releases its locks in the same transaction anyway).

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
use drctl_store::{LockOutcome, Locks, StoreError};
use sqlx::Row;

use crate::codec::run_id;
use crate::{SqliteStore, db};

#[async_trait]
impl Locks for SqliteStore {
    async fn try_lock(
        &self,
        name: &str,
        run: &RunId,
        now: Timestamp,
    ) -> Result<LockOutcome, StoreError> {
        let mut tx = self.write().await?;
        let holder = sqlx::query(
            "SELECT l.run_id, r.status FROM locks l JOIN runs r ON r.id = l.run_id WHERE l.name = ?",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(row) = holder {
            let holder: String = row.try_get("run_id").map_err(db)?;
            let status: String = row.try_get("status").map_err(db)?;
            let finished = matches!(status.as_str(), "succeeded" | "failed" | "cancelled");
            if holder != run.as_str() && !finished {
                return Ok(LockOutcome::HeldBy(run_id(&holder)?));
            }
        }
        sqlx::query("INSERT INTO locks (name, run_id, acquired_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET run_id = excluded.run_id, acquired_at = excluded.acquired_at")
            .bind(name)
            .bind(run.as_str())
            .bind(now.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(LockOutcome::Acquired)
    }

    async fn unlock(&self, name: &str, run: &RunId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM locks WHERE name = ? AND run_id = ?")
            .bind(name)
            .bind(run.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}
