//! Webhook deliveries (see drctl-store's `Deliveries`). A sender's delivery id is unique
//! per hook (a partial unique index): the insert that finds it taken is a replay.

use async_trait::async_trait;
use drctl_core::{Actor, RunId, Timestamp};
use drctl_store::{
    Dedup, Deliveries, DeliveryRow, DeliveryVerdict, Holder, NewEvent, NewRun, Placed, Proposal,
    Settled, StoreError, deliveries::EXPIRED,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::codec::i64_of;
use crate::writer::insert_run;
use crate::{SqliteStore, db};

/// The columns [`row`] reads.
macro_rules! columns {
    () => {
        "seq, hook, runbook, delivery_id, at, peer, verdict, run_id, dedup_key, detail, expires, decided_by"
    };
}

#[async_trait]
impl Deliveries for SqliteStore {
    async fn claim_delivery(
        &self,
        (hook, runbook): (&str, &str),
        id: Option<&str>,
        (at, peer): (Timestamp, &str),
    ) -> Result<Result<u64, DeliveryRow>, StoreError> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO deliveries (hook, runbook, delivery_id, at, peer, verdict) \
             VALUES (?, ?, ?, ?, ?, 'pending') \
             ON CONFLICT (hook, delivery_id) WHERE delivery_id IS NOT NULL DO NOTHING",
        )
        .bind(hook)
        .bind(runbook)
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
        let earlier = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM deliveries WHERE hook = ? AND delivery_id = ?"
        ))
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
        dedup: Option<Dedup<'_>>,
        (run, first): (&NewRun, &NewEvent),
    ) -> Result<Placed, StoreError> {
        let mut tx = self.write().await?;
        if let Some(held) = held_by(&mut tx, seq, dedup).await? {
            tx.commit().await.map_err(db)?;
            return Ok(held);
        }
        let marked = sqlx::query(
            "UPDATE deliveries SET verdict = 'started', run_id = ?, dedup_key = ?, detail = NULL \
             WHERE seq = ? AND verdict = 'pending'",
        )
        .bind(run.id.as_str())
        .bind(dedup.map(|d| d.key))
        .bind(i64_of(seq))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("delivery {seq}")));
        }
        insert_run(&mut tx, run, first).await?;
        tx.commit().await.map_err(db)?;
        Ok(Placed::New)
    }

    async fn propose_delivery(
        &self,
        seq: u64,
        dedup: Option<Dedup<'_>>,
        proposal: &Proposal,
    ) -> Result<Placed, StoreError> {
        let mut tx = self.write().await?;
        if let Some(held) = held_by(&mut tx, seq, dedup).await? {
            tx.commit().await.map_err(db)?;
            return Ok(held);
        }
        let marked = sqlx::query(
            "UPDATE deliveries SET verdict = 'proposed', run_id = ?, dedup_key = ?, detail = NULL, \
             proposal = ?, expires = ? WHERE seq = ? AND verdict = 'pending'",
        )
        .bind(proposal.run.as_str())
        .bind(dedup.map(|d| d.key))
        .bind(&proposal.body)
        .bind(proposal.expires.as_millis())
        .bind(i64_of(seq))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if marked.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("delivery {seq}")));
        }
        tx.commit().await.map_err(db)?;
        Ok(Placed::New)
    }

    async fn proposal(&self, run: &RunId) -> Result<Option<(DeliveryRow, String)>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", proposal FROM deliveries WHERE run_id = ? AND proposal IS NOT NULL"
        ))
        .bind(run.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        found.as_ref().map(with_proposal).transpose()
    }

    async fn proposals(&self, now: Timestamp) -> Result<Vec<(DeliveryRow, String)>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            ", proposal FROM deliveries WHERE verdict = 'proposed' AND expires > ? ORDER BY seq"
        ))
        .bind(now.as_millis())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(with_proposal).collect()
    }

    async fn settle_proposal(
        &self,
        proposed: &RunId,
        (now, by, detail): (Timestamp, &Actor, &str),
        run: Option<(&NewRun, &NewEvent)>,
    ) -> Result<Option<DeliveryVerdict>, StoreError> {
        let mut tx = self.write().await?;
        let expires: Option<i64> = sqlx::query_scalar(
            "SELECT expires FROM deliveries WHERE run_id = ? AND verdict = 'proposed'",
        )
        .bind(proposed.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .flatten();
        let Some(expires) = expires else {
            return Ok(None);
        };
        let verdict = match run {
            _ if now.as_millis() >= expires => DeliveryVerdict::Expired,
            Some(_) => DeliveryVerdict::Started,
            None => DeliveryVerdict::Rejected,
        };
        // A refused attempt (too late) is no decision: nobody is named.
        let (by, detail) = match verdict {
            DeliveryVerdict::Expired => (None, EXPIRED.to_owned()),
            _ => (Some(by.to_string()), detail.to_owned()),
        };
        sqlx::query(
            "UPDATE deliveries SET verdict = ?, detail = ?, decided_by = ? \
             WHERE run_id = ? AND verdict = 'proposed'",
        )
        .bind(verdict.as_str())
        .bind(detail)
        .bind(by)
        .bind(proposed.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if verdict == DeliveryVerdict::Started
            && let Some((row, first)) = run
        {
            insert_run(&mut tx, row, first).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Some(verdict))
    }

    async fn expire_proposals(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE deliveries SET verdict = 'expired', detail = ? \
             WHERE verdict = 'proposed' AND expires <= ?",
        )
        .bind(EXPIRED)
        .bind(now.as_millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
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

    async fn holder(&self, hook: &str, key: &str) -> Result<Option<Holder>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        holder(&mut conn, hook, key).await
    }

    async fn deliveries_between(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM deliveries WHERE at >= ? AND at < ? ORDER BY seq"
        ))
        .bind(since.map_or(i64::MIN, Timestamp::as_millis))
        .bind(until.map_or(i64::MAX, Timestamp::as_millis))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(row).collect()
    }

    async fn deliveries(&self, hook: &str, limit: u32) -> Result<Vec<DeliveryRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM deliveries WHERE hook = ? ORDER BY seq DESC LIMIT ?"
        ))
        .bind(hook)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(row).collect()
    }
}

/// The run that another delivery of `seq`'s hook and key holds at `dedup.now`; `seq` is
/// then recorded attached to it (in the caller's transaction).
async fn held_by(
    tx: &mut sqlx::SqliteConnection,
    seq: u64,
    dedup: Option<Dedup<'_>>,
) -> Result<Option<Placed>, StoreError> {
    let Some(dedup) = dedup else {
        return Ok(None);
    };
    let hook: Option<String> =
        sqlx::query_scalar("SELECT hook FROM deliveries WHERE seq = ? AND verdict = 'pending'")
            .bind(i64_of(seq))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    let Some(hook) = hook else {
        return Err(StoreError::NotFound(format!("delivery {seq}")));
    };
    let Some(h) = holder(tx, &hook, dedup.key).await? else {
        return Ok(None);
    };
    if !h.holds(dedup.window, dedup.now) {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE deliveries SET verdict = 'attached', run_id = ?, dedup_key = ?, detail = NULL \
         WHERE seq = ?",
    )
    .bind(h.run.as_str())
    .bind(dedup.key)
    .bind(i64_of(seq))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    Ok(Some(Placed::Attached(h.run)))
}

async fn holder(
    conn: &mut sqlx::SqliteConnection,
    hook: &str,
    key: &str,
) -> Result<Option<Holder>, StoreError> {
    let found = sqlx::query(
        "SELECT d.run_id, d.verdict, d.expires, r.finished_at FROM deliveries d \
         LEFT JOIN runs r ON r.id = d.run_id \
         WHERE d.hook = ? AND d.dedup_key = ? AND d.verdict IN ('started', 'proposed') \
         ORDER BY d.seq DESC LIMIT 1",
    )
    .bind(hook)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(r) = found else {
        return Ok(None);
    };
    let run: String = r.try_get("run_id").map_err(db)?;
    let verdict: String = r.try_get("verdict").map_err(db)?;
    Ok(Some(Holder {
        run: run_of(Some(run))?
            .ok_or_else(|| StoreError::Corrupt("a keyed delivery without a run".into()))?,
        verdict: DeliveryVerdict::parse(&verdict).unwrap_or(DeliveryVerdict::Failed),
        expires: r
            .try_get::<Option<i64>, _>("expires")
            .map_err(db)?
            .map(Timestamp::from_millis),
        finished: r
            .try_get::<Option<i64>, _>("finished_at")
            .map_err(db)?
            .map(Timestamp::from_millis),
    }))
}

fn run_of(id: Option<String>) -> Result<Option<RunId>, StoreError> {
    id.map(|id| {
        id.parse()
            .map_err(|_| StoreError::Corrupt(format!("a delivery of the bad run id `{id}`")))
    })
    .transpose()
}

/// A proposing delivery's row and its proposal's body.
fn with_proposal(r: &SqliteRow) -> Result<(DeliveryRow, String), StoreError> {
    Ok((row(r)?, r.try_get("proposal").map_err(db)?))
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
        run: run_of(run)?,
        key: r.try_get("dedup_key").map_err(db)?,
        detail: r.try_get("detail").map_err(db)?,
        expires: r
            .try_get::<Option<i64>, _>("expires")
            .map_err(db)?
            .map(Timestamp::from_millis),
        runbook: r.try_get("runbook").map_err(db)?,
        by: r
            .try_get::<Option<String>, _>("decided_by")
            .map_err(db)?
            .map(|a| Actor::from_stored(&a)),
    })
}
