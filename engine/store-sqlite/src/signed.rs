//! Signatures over ledger heads (see drctl-store's `SignedHeads`).

use async_trait::async_trait;
use drctl_core::Timestamp;
use drctl_store::ledger::LedgerEntry;
use drctl_store::{SignedHead, SignedHeads, StoreError};
use sqlx::Row;

use crate::codec::{i64_of, run_id};
use crate::reader::{LEDGER_AFTER, ledger_entry};
use crate::{SqliteStore, db};

#[async_trait]
impl SignedHeads for SqliteStore {
    async fn ledger_after(&self, after: u64, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(LEDGER_AFTER)
            .bind(i64_of(after))
            .bind(i64_of(limit as u64))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(ledger_entry).collect()
    }

    async fn add_signed_heads(&self, heads: &[SignedHead]) -> Result<(), StoreError> {
        if heads.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db)?;
        for h in heads {
            // Two servers with one key sign an entry alike; the first row stays.
            sqlx::query(
                "INSERT INTO signed_heads (seq, key, run_id, hash, signature, signed_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (seq, key) DO NOTHING",
            )
            .bind(i64_of(h.seq))
            .bind(&h.key)
            .bind(h.run.as_str())
            .bind(&h.hash)
            .bind(&h.signature)
            .bind(h.signed_at.as_millis())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn signed_heads(&self) -> Result<Vec<SignedHead>, StoreError> {
        let rows = sqlx::query(SIGNED)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(signed_head).collect()
    }

    async fn last_signed(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT max(seq) FROM signed_heads WHERE key = ?")
                .bind(key)
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        Ok(last.and_then(|s| u64::try_from(s).ok()))
    }
}

pub(crate) const SIGNED: &str =
    "SELECT seq, key, run_id, hash, signature, signed_at FROM signed_heads ORDER BY seq, key";

pub(crate) fn signed_head(r: &sqlx::sqlite::SqliteRow) -> Result<SignedHead, StoreError> {
    Ok(SignedHead {
        seq: u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
        run: run_id(&r.try_get::<String, _>("run_id").map_err(db)?)?,
        key: r.try_get("key").map_err(db)?,
        hash: r.try_get("hash").map_err(db)?,
        signature: r.try_get("signature").map_err(db)?,
        signed_at: Timestamp::from_millis(r.try_get("signed_at").map_err(db)?),
    })
}
