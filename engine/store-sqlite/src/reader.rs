//! The read path.

use async_trait::async_trait;
use drctl_core::RunId;
use drctl_store::ledger::{LedgerEntry, LedgerKind};
use drctl_store::{
    EventBody, RunFilter, RunReader, RunRow, Snapshot, StepRow, StoreError, StoredEvent,
    resolve_matches,
};
use sqlx::Row;

use crate::codec::{event_row, i64_of, run_columns, run_id, run_row, step_row};
use crate::{SqliteStore, db};

#[async_trait]
impl RunReader for SqliteStore {
    async fn run(&self, id: &RunId) -> Result<Option<RunRow>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE id = ?"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.as_ref().map(run_row).transpose()
    }

    async fn resolve(&self, prefix: &str) -> Result<RunId, StoreError> {
        // Escape LIKE wildcards: ids never contain them, but a typo might.
        let pattern = format!(
            "{}%",
            prefix
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows =
            sqlx::query("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6")
                .bind(pattern)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        let ids: Vec<RunId> = rows
            .iter()
            .map(|r| {
                r.try_get::<String, _>("id")
                    .map_err(db)
                    .and_then(|s| run_id(&s))
            })
            .collect::<Result<_, _>>()?;
        resolve_matches(prefix, &ids.iter().collect::<Vec<_>>())
    }

    async fn list_runs(&self, f: &RunFilter) -> Result<Vec<RunRow>, StoreError> {
        let mut sql = String::from(concat!("SELECT ", run_columns!(), " FROM runs WHERE 1 = 1"));
        if f.status.is_some() {
            sql.push_str(" AND status = ?");
        }
        if f.runbook.is_some() {
            sql.push_str(" AND runbook = ?");
        }
        if f.top_level {
            sql.push_str(" AND parent IS NULL");
        }
        if f.drill.is_some() {
            sql.push_str(" AND drill = ?");
        }
        if f.since.is_some() {
            sql.push_str(" AND created_at >= ?");
        }
        if f.before.is_some() {
            sql.push_str(" AND (created_at < ? OR (created_at = ? AND id < ?))");
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        // Built only from the constant fragments above; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(s) = &f.status {
            q = q.bind(s.as_str());
        }
        if let Some(b) = &f.runbook {
            q = q.bind(b);
        }
        if let Some(d) = f.drill {
            q = q.bind(i64::from(d));
        }
        if let Some(t) = f.since {
            q = q.bind(t.as_millis());
        }
        if let Some((at, id)) = &f.before {
            q = q
                .bind(at.as_millis())
                .bind(at.as_millis())
                .bind(id.as_str());
        }
        let limit = if f.limit == 0 {
            -1
        } else {
            i64_of(f.limit as u64)
        };
        let rows = q.bind(limit).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(run_row).collect()
    }

    async fn children(&self, parent: &RunId) -> Result<Vec<RunRow>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs WHERE parent = ? ORDER BY created_at, id"
        ))
        .bind(parent.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(run_row).collect()
    }

    async fn steps(&self, run: &RunId) -> Result<Vec<StepRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT position, item, step, block, status, attempts, started_at, finished_at, output, error \
             FROM steps WHERE run_id = ? ORDER BY position, item",
        )
        .bind(run.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(step_row).collect()
    }

    async fn events(&self, run: &RunId, after: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, seq, at, actor, kind, body, prev_hash, hash FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(run.as_str())
        .bind(i64_of(after))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(event_row).collect()
    }

    /// One row that joins every body: sqlx hands each row of a result from its SQLite
    /// thread to the caller's with two thread wake-ups, which for the 18,000 events of a
    /// 10,000-step run cost 100 ms of the 120 ms a row per event took; SQLite itself reads
    /// them in 20. The separators are ASCII's record and unit separators, which a body
    /// (compact JSON, whose strings escape every control character) never contains.
    async fn event_bodies(
        &self,
        run: &RunId,
        after: u64,
        upto: u64,
    ) -> Result<Vec<EventBody>, StoreError> {
        let joined: Option<String> = sqlx::query_scalar(
            "SELECT group_concat(seq || char(31) || body, char(30) ORDER BY seq) \
             FROM events WHERE run_id = ? AND seq > ? AND seq <= ?",
        )
        .bind(run.as_str())
        .bind(i64_of(after))
        .bind(i64_of(upto))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        let Some(joined) = joined else {
            return Ok(Vec::new());
        };
        joined
            .split('\u{1e}')
            .map(|record| {
                record
                    .split_once('\u{1f}')
                    .and_then(|(seq, body)| {
                        Some(EventBody {
                            seq: seq.parse().ok()?,
                            body: body.to_owned(),
                        })
                    })
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!(
                            "an event of {run} holds a control character its body cannot"
                        ))
                    })
            })
            .collect()
    }

    async fn feed(
        &self,
        cursor: u64,
        run: Option<&RunId>,
        limit: usize,
    ) -> Result<Vec<(u64, StoredEvent)>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.cursor, e.run_id, e.seq, e.at, e.actor, e.kind, e.body, e.prev_hash, e.hash \
             FROM feed f JOIN events e ON e.run_id = f.run_id AND e.seq = f.seq \
             WHERE f.cursor > ? AND (? IS NULL OR f.run_id = ?) ORDER BY f.cursor LIMIT ?",
        )
        .bind(i64_of(cursor))
        .bind(run.map(RunId::as_str))
        .bind(run.map(RunId::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let cursor: i64 = r.try_get("cursor").map_err(db)?;
                Ok((u64::try_from(cursor).unwrap_or(0), event_row(r)?))
            })
            .collect()
    }

    async fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(LEDGER)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(ledger_entry).collect()
    }

    async fn snapshot(&self, only: Option<&RunId>) -> Result<Snapshot, StoreError> {
        self.read_snapshot(only).await
    }
}

const LEDGER: &str =
    "SELECT seq, run_id, kind, version, head, prev_hash, hash FROM ledger ORDER BY seq";

pub(crate) const LEDGER_AFTER: &str = "SELECT seq, run_id, kind, version, head, prev_hash, hash FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?";

pub(crate) fn ledger_entry(r: &sqlx::sqlite::SqliteRow) -> Result<LedgerEntry, StoreError> {
    let kind: String = r.try_get("kind").map_err(db)?;
    let run: String = r.try_get("run_id").map_err(db)?;
    Ok(LedgerEntry {
        seq: u64::try_from(r.try_get::<i64, _>("seq").map_err(db)?).unwrap_or(0),
        run: run_id(&run)?,
        kind: LedgerKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("ledger entry of unknown kind `{kind}`")))?,
        version: u64::try_from(r.try_get::<i64, _>("version").map_err(db)?).unwrap_or(0),
        head: r.try_get("head").map_err(db)?,
        prev_hash: r.try_get("prev_hash").map_err(db)?,
        hash: r.try_get("hash").map_err(db)?,
    })
}

impl SqliteStore {
    /// Reads a [`Snapshot`] in one read transaction, so that runs appending meanwhile are
    /// seen either before or after an append, never half-way: an audit that reads row,
    /// events and ledger separately would take a live run for a tampered one.
    pub(crate) async fn read_snapshot(&self, only: Option<&RunId>) -> Result<Snapshot, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // One run (an export of `--run`) reads that run's rows alone, by their indexes.
        const ALL_RUNS: &str = concat!(
            "SELECT ",
            run_columns!(),
            " FROM runs ORDER BY created_at, id"
        );
        const ONE_RUN: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = ?");
        const ALL_EVENTS: &str = "SELECT run_id, seq, at, actor, kind, body, prev_hash, hash \
             FROM events ORDER BY run_id, seq";
        const ONE_RUNS_EVENTS: &str = "SELECT run_id, seq, at, actor, kind, body, prev_hash, hash \
             FROM events WHERE run_id = ? ORDER BY seq";
        let (rows, events) = match only {
            None => (
                sqlx::query(ALL_RUNS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?,
                sqlx::query(ALL_EVENTS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?,
            ),
            Some(id) => (
                sqlx::query(ONE_RUN)
                    .bind(id.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?,
                sqlx::query(ONE_RUNS_EVENTS)
                    .bind(id.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db)?,
            ),
        };
        let ledger = sqlx::query(LEDGER).fetch_all(&mut *tx).await.map_err(db)?;
        let signed = sqlx::query(crate::signed::SIGNED)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        tx.rollback().await.map_err(db)?;
        let mut by_run: std::collections::HashMap<String, Vec<StoredEvent>> =
            std::collections::HashMap::new();
        for r in &events {
            let run: String = r.try_get("run_id").map_err(db)?;
            by_run.entry(run).or_default().push(event_row(r)?);
        }
        let runs = rows
            .iter()
            .map(|r| {
                let row = run_row(r)?;
                let log = by_run.remove(row.id.as_str()).unwrap_or_default();
                Ok((row, log))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Snapshot {
            runs,
            ledger: ledger.iter().map(ledger_entry).collect::<Result<_, _>>()?,
            signed: signed
                .iter()
                .map(crate::signed::signed_head)
                .collect::<Result<_, _>>()?,
        })
    }
}
