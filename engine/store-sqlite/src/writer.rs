//! The write path: create, append, leases. Each is one `BEGIN IMMEDIATE` transaction.

use async_trait::async_trait;
use drctl_core::Timestamp;
use drctl_store::chain::{GENESIS, link};
use drctl_store::ledger::{self, LedgerKind};
use drctl_store::{BuildBatch, Claim, Lease, NewEvent, NewRun, RunWriter, StoreError};
use sqlx::Row;

use crate::append_sql::{AppendWrites, bind_events, events_sql};
use crate::codec::i64_of;
use crate::commands::{settle_commands, waiting_commands};
use crate::{SqliteStore, db};

#[async_trait]
impl RunWriter for SqliteStore {
    async fn create_run(&self, run: &NewRun, first: &NewEvent) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        insert_run(&mut tx, run, first).await?;
        tx.commit().await.map_err(db)
    }

    async fn append(
        &self,
        lease: &Lease,
        now: Timestamp,
        build: &mut BuildBatch<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let run = &lease.run;
        let mut tx = self.write().await?;
        // One statement reads the run and whether a command waits: each statement is a
        // round trip to SQLite's thread, and commands are rare.
        let row = sqlx::query(
            "SELECT version, head_hash, owner, fence, finished_at, \
             EXISTS (SELECT 1 FROM commands WHERE run_id = runs.id AND taken = 0) AS waiting \
             FROM runs WHERE id = ?",
        )
        .bind(run.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(run.to_string()))?;
        let version = u64::try_from(row.try_get::<i64, _>("version").map_err(db)?).unwrap_or(0);
        let head: String = row.try_get("head_hash").map_err(db)?;
        let owner: Option<String> = row.try_get("owner").map_err(db)?;
        let fence = u64::try_from(row.try_get::<i64, _>("fence").map_err(db)?).unwrap_or(0);
        let was_finished = row
            .try_get::<Option<i64>, _>("finished_at")
            .map_err(db)?
            .is_some();
        if owner.as_deref() != Some(lease.owner.as_str()) || fence != lease.fence {
            return Err(StoreError::LeaseLost(run.clone()));
        }
        let waiting = if row.try_get::<bool, _>("waiting").map_err(db)? {
            waiting_commands(&mut tx, run).await?
        } else {
            Vec::new()
        };
        // Dropping `tx` rolls back: nothing was written.
        let Some(a) = build(&waiting) else {
            return Ok(None);
        };
        if version != a.expected {
            return Err(StoreError::VersionConflict {
                run: run.clone(),
                expected: a.expected,
                actual: version,
            });
        }
        let stored = link(run, &head, a.expected + 1, &a.events);
        let new_version = a.expected + a.events.len() as u64;
        let new_head = stored.last().map_or(head, |e| e.hash.clone());
        let p = &a.projection;
        let writes = AppendWrites {
            run,
            events: &stored,
            version: new_version,
            head: &new_head,
            now,
            projection: p,
        };
        // Built from constants and counts of `?` markers; every value is bound.
        writes
            .bind(sqlx::query(sqlx::AssertSqlSafe(writes.sql())))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        settle_commands(&mut tx, run, &a.taken).await?;
        if !was_finished && p.finished_at.is_some() {
            enter_ledger(&mut tx, run, LedgerKind::Finished, new_version, &new_head).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(Some(new_version))
    }

    async fn claim(&self, c: &Claim) -> Result<Lease, StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT owner, lease_until, fence FROM runs WHERE id = ?")
            .bind(c.run.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(c.run.to_string()))?;
        let owner: Option<String> = row.try_get("owner").map_err(db)?;
        let until: Option<i64> = row.try_get("lease_until").map_err(db)?;
        let fence = u64::try_from(row.try_get::<i64, _>("fence").map_err(db)?).unwrap_or(0);
        if !c.may_take(owner.as_deref(), until.map(Timestamp::from_millis)) {
            return Err(StoreError::Leased {
                run: c.run.clone(),
                owner: owner.unwrap_or_default(),
                until: Timestamp::from_millis(until.unwrap_or(0)),
            });
        }
        let lease = c.lease(fence + 1);
        sqlx::query("UPDATE runs SET owner = ?, lease_until = ?, fence = ? WHERE id = ?")
            .bind(&c.owner)
            .bind(lease.until.as_millis())
            .bind(i64_of(lease.fence))
            .bind(c.run.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(lease)
    }

    async fn renew(
        &self,
        lease: &Lease,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<Lease, StoreError> {
        let until = now.plus(ttl);
        let done =
            sqlx::query("UPDATE runs SET lease_until = ? WHERE id = ? AND owner = ? AND fence = ?")
                .bind(until.as_millis())
                .bind(lease.run.as_str())
                .bind(&lease.owner)
                .bind(i64_of(lease.fence))
                .execute(&self.writer)
                .await
                .map_err(db)?;
        if done.rows_affected() == 1 {
            Ok(Lease {
                until,
                ..lease.clone()
            })
        } else {
            Err(StoreError::LeaseLost(lease.run.clone()))
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET owner = NULL, lease_until = NULL WHERE id = ? AND owner = ? AND fence = ?")
            .bind(lease.run.as_str())
            .bind(&lease.owner)
            .bind(i64_of(lease.fence))
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}

async fn insert_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    events: &[drctl_store::StoredEvent],
) -> Result<(), StoreError> {
    bind_events(
        sqlx::query(sqlx::AssertSqlSafe(events_sql(events.len()))),
        events,
    )
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// Appends a run's heads to the store-wide ledger, in the caller's transaction. The
/// transaction began `IMMEDIATE`, so no other writer can take the same `seq`.
async fn enter_ledger(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    run: &drctl_core::RunId,
    kind: LedgerKind,
    version: u64,
    head: &str,
) -> Result<(), StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    let last = match &last {
        Some(r) => Some((
            u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
            r.try_get::<String, _>("hash").map_err(db)?,
        )),
        None => None,
    };
    let e = ledger::next(
        last.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        run,
        kind,
        version,
        head,
    );
    sqlx::query(
        "INSERT INTO ledger (seq, run_id, kind, version, head, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(i64_of(e.seq))
    .bind(e.run.as_str())
    .bind(e.kind.as_str())
    .bind(i64_of(e.version))
    .bind(&e.head)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

/// A new run with its first event and its ledger entry, in the caller's transaction.
pub(crate) async fn insert_run(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    run: &NewRun,
    first: &NewEvent,
) -> Result<(), StoreError> {
    let exists = sqlx::query("SELECT 1 FROM runs WHERE id = ?")
        .bind(run.id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?;
    if exists.is_some() {
        return Err(StoreError::Exists(run.id.clone()));
    }
    let events = link(&run.id, GENESIS, 1, std::slice::from_ref(first));
    sqlx::query(
        "INSERT INTO runs (id, runbook, source_name, digest, parent, parent_step, actor, status, \
         created_at, updated_at, version, head_hash, drill, trigger) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, 1, ?, ?, ?)",
    )
    .bind(run.id.as_str())
    .bind(&run.runbook)
    .bind(&run.source_name)
    .bind(&run.digest)
    .bind(run.parent.as_ref().map(|p| p.as_str().to_owned()))
    .bind(&run.parent_step)
    .bind(run.actor.to_string())
    .bind(run.created_at.as_millis())
    .bind(run.created_at.as_millis())
    .bind(&events[0].hash)
    .bind(i64::from(run.drill))
    .bind(run.trigger.to_string())
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    insert_events(tx, &events).await?;
    enter_ledger(tx, &run.id, LedgerKind::Created, 1, &events[0].hash).await?;
    Ok(())
}
