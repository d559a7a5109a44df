//! Webhook deliveries (see drctl-store's `Deliveries`). A sender's delivery id is unique
//! per hook (a partial unique index): the insert that finds it taken is a replay.

use async_trait::async_trait;
use drctl_core::{RunId, Timestamp};
use drctl_store::{
    Deliveries, DeliveryRow, DeliveryVerdict, NewEvent, NewRun, Settled, StoreError,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::codec::i64_of;
use crate::writer::insert_run;
use crate::{SqliteStore, db};

#[async_trait]
impl Deliveries for SqliteStore {
    async fn claim_delivery(
        &self,
        hook: &str,
        id: Option<&str>,
        (at, peer): (Timestamp, &str),
    ) -> Result<Result<u64, DeliveryRow>, StoreError> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO deliveries (hook, delivery_id, at, peer, verdict) VALUES (?, ?, ?, ?, 'pending') \
             ON CONFLICT (hook, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING",
        )
        .bind(hook)
        .bind(id)
        .bind(at.as_millis())
        .bind(peer)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if inserted.rows_affected() == 1 {
            let seq = u64::try_from(inserted.last_insert_rowid()).unwrap_or(0);
            tx.commit().await.map_err(db)?;
            return Ok(Ok(seq));
        }
        let earlier = sqlx::query(
            "SELECT seq, hook, delivery_id, at, peer, verdict, run_id, dedup_key, detail \
             FROM deliveries WHERE hook = ? AND delivery_id = ?",
        )
        .bind(hook)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Err(row(&earlier)?))
    }

    async fn settle_delivery(&self, seq: u64, s: &Settled) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET verdict = ?, run_id = ?, dedup_key = ?, detail = ? WHERE seq = ?",
        )
        .bind(s.verdict.as_str())
        .bind(s.run.as_ref().map(|r| r.as_str().to_owned()))
        .bind(&s.key)
        .bind(&s.detail)
        .bind(i64_of(seq))
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn start_delivery(
        &self,
        seq: u64,
        key: Option<&str>,
        (run, first): (&NewRun, &NewEvent),
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let marked = sqlx::query(
            "UPDATE deliveries SET verdict = 'started', run_id = ?, dedup_key = ?, detail = NULL \
             WHERE seq = ? AND verdict = 'pending'",
        )
        .bind(run.id.as_str())
        .bind(key)
        .bind(i64_of(seq))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("delivery {seq}")));
        }
        insert_run(&mut tx, run, first).await?;
        tx.commit().await.map_err(db)
    }

    async fn retake_delivery(
        &self,
        seq: u64,
        (verdict, at): (DeliveryVerdict, Timestamp),
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "UPDATE deliveries SET verdict = 'pending', at = ? WHERE seq = ? AND verdict = ? AND at = ?",
        )
        .bind(now.as_millis())
        .bind(i64_of(seq))
        .bind(verdict.as_str())
        .bind(at.as_millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(taken.rows_affected() == 1)
    }

    async fn keyed_run(&self, hook: &str, key: &str) -> Result<Option<RunId>, StoreError> {
        let run: Option<String> = sqlx::query_scalar(
            "SELECT run_id FROM deliveries WHERE hook = ? AND dedup_key = ? AND verdict = 'started' \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(hook)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .flatten();
        run.map(|id| {
            id.parse()
                .map_err(|_| StoreError::Corrupt(format!("a delivery of the bad run id `{id}`")))
        })
        .transpose()
    }

    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, hook, delivery_id, at, peer, verdict, run_id, dedup_key, detail \
             FROM deliveries WHERE hook = ? ORDER BY seq DESC LIMIT ?",
        )
        .bind(hook)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(row).collect()
    }
}

fn row(r: &SqliteRow) -> Result<DeliveryRow, StoreError> {
    let verdict: String = r.try_get("verdict").map_err(db)?;
    let run: Option<String> = r.try_get("run_id").map_err(db)?;
    Ok(DeliveryRow {
        seq: u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
        hook: r.try_get("hook").map_err(db)?,
        id: r.try_get("delivery_id").map_err(db)?,
        at: Timestamp::from_millis(r.try_get("at").map_err(db)?),
        peer: r.try_get("peer").map_err(db)?,
        verdict: DeliveryVerdict::parse(&verdict).ok_or_else(|| {
            StoreError::Corrupt(format!("a delivery with the unknown verdict `{verdict}`"))
        })?,
        run: run
            .map(|id| {
                id.parse().map_err(|_| {
                    StoreError::Corrupt(format!("a delivery of the bad run id `{id}`"))
                })
            })
            .transpose()?,
        key: r.try_get("dedup_key").map_err(db)?,
        detail: r.try_get("detail").map_err(db)?,
    })
}
