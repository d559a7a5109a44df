//! Live output of running attempts (see drctl-store's `LiveOutputs`): one row per
//! attempt, replaced in place. A plain statement on the writer, no transaction around it:
//! each write stands alone.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
use drctl_store::{LiveOutputs, LiveRow, StoreError};
use sqlx::Row;

use crate::codec::item_column;
use crate::{SqliteStore, db};

#[async_trait]
impl LiveOutputs for SqliteStore {
    async fn put_live(&self, run: &RunId, row: &LiveRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO live_output (run_id, step, item, attempt, stdout, stderr, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (run_id, step, item, attempt) DO UPDATE SET \
             stdout = excluded.stdout, stderr = excluded.stderr, updated_at = excluded.updated_at",
        )
        .bind(run.as_str())
        .bind(&row.step)
        .bind(item_column(row.item))
        .bind(i64::from(row.attempt))
        .bind(&row.stdout)
        .bind(&row.stderr)
        .bind(row.at.as_millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn live(&self, run: &RunId, step: &str) -> Result<Vec<LiveRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT item, attempt, stdout, stderr, updated_at FROM live_output \
             WHERE run_id = ? AND step = ? ORDER BY attempt, item",
        )
        .bind(run.as_str())
        .bind(step)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(LiveRow {
                    step: step.to_owned(),
                    item: u32::try_from(r.try_get::<i64, _>("item").map_err(db)?).ok(),
                    attempt: u32::try_from(r.try_get::<i64, _>("attempt").map_err(db)?)
                        .unwrap_or(0),
                    stdout: r.try_get("stdout").map_err(db)?,
                    stderr: r.try_get("stderr").map_err(db)?,
                    at: Timestamp::from_millis(r.try_get("updated_at").map_err(db)?),
                })
            })
            .collect()
    }

    async fn clear_live(&self, run: &RunId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM live_output WHERE run_id = ?")
            .bind(run.as_str())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn drop_live(
        &self,
        run: &RunId,
        (step, item, attempt): (&str, Option<u32>, u32),
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM live_output WHERE run_id = ? AND step = ? AND item = ? AND attempt = ?",
        )
        .bind(run.as_str())
        .bind(step)
        .bind(item_column(item))
        .bind(i64::from(attempt))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }
}
