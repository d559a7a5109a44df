//! Schedules and their firings (see drctl-store's `Schedules`). A firing's primary key is
//! its (runbook, trigger, nominal time): the insert that finds it taken writes nothing,
//! and the run it would have created is rolled back with it.

use async_trait::async_trait;
use drctl_core::{Actor, Timestamp};
use drctl_store::{
    FiringOutcome, FiringRow, NewEvent, NewFiring, NewRun, Pause, ScheduleRow, Schedules,
    StoreError,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::writer::insert_run;
use crate::{SqliteStore, db};

#[async_trait]
impl Schedules for SqliteStore {
    async fn schedule(
        &self,
        runbook: &str,
        trigger: &str,
        now: Timestamp,
    ) -> Result<ScheduleRow, StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO schedules (runbook, trigger, since) VALUES (?, ?, ?) \
             ON CONFLICT (runbook, trigger) DO NOTHING",
        )
        .bind(runbook)
        .bind(trigger)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query(
            "SELECT runbook, trigger, since, paused_by, paused_at, paused_reason \
             FROM schedules WHERE runbook = ? AND trigger = ?",
        )
        .bind(runbook)
        .bind(trigger)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        schedule_row(&row)
    }

    async fn set_paused(
        &self,
        runbook: &str,
        trigger: &str,
        pause: Option<&Pause>,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE schedules SET paused_by = ?, paused_at = ?, paused_reason = ? \
             WHERE runbook = ? AND trigger = ?",
        )
        .bind(pause.map(|p| p.by.to_string()))
        .bind(pause.map(|p| p.at.as_millis()))
        .bind(pause.map(|p| p.reason.clone()))
        .bind(runbook)
        .bind(trigger)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "schedule {trigger} of {runbook}"
            )));
        }
        Ok(())
    }

    async fn record_firing(
        &self,
        firing: &NewFiring,
        run: Option<(&NewRun, &NewEvent)>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO firings (runbook, trigger, nominal, recorded_at, outcome, reason, run_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (runbook, trigger, nominal) DO NOTHING",
        )
        .bind(&firing.runbook)
        .bind(&firing.trigger)
        .bind(firing.nominal.as_millis())
        .bind(firing.at.as_millis())
        .bind(firing.outcome.as_str())
        .bind(&firing.reason)
        .bind(run.map(|(r, _)| r.id.as_str().to_owned()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if inserted.rows_affected() == 0 {
            // Recorded already: by another node, or before a restart.
            return Ok(false);
        }
        if let Some((row, first)) = run {
            insert_run(&mut tx, row, first).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn start_buffered(
        &self,
        firing: &FiringRow,
        (row, first): (&NewRun, &NewEvent),
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let taken = sqlx::query(
            "UPDATE firings SET outcome = 'started', run_id = ? \
             WHERE runbook = ? AND trigger = ? AND nominal = ? AND outcome = 'buffered'",
        )
        .bind(row.id.as_str())
        .bind(&firing.runbook)
        .bind(&firing.trigger)
        .bind(firing.nominal.as_millis())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if taken.rows_affected() == 0 {
            return Ok(false);
        }
        insert_run(&mut tx, row, first).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn firings(
        &self,
        runbook: &str,
        trigger: &str,
        limit: u32,
    ) -> Result<Vec<FiringRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT runbook, trigger, nominal, recorded_at, outcome, reason, run_id FROM firings \
             WHERE runbook = ? AND trigger = ? ORDER BY nominal DESC LIMIT ?",
        )
        .bind(runbook)
        .bind(trigger)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(firing_row).collect()
    }
}

fn schedule_row(r: &SqliteRow) -> Result<ScheduleRow, StoreError> {
    let by: Option<String> = r.try_get("paused_by").map_err(db)?;
    let at: Option<i64> = r.try_get("paused_at").map_err(db)?;
    let reason: Option<String> = r.try_get("paused_reason").map_err(db)?;
    Ok(ScheduleRow {
        runbook: r.try_get("runbook").map_err(db)?,
        trigger: r.try_get("trigger").map_err(db)?,
        since: Timestamp::from_millis(r.try_get("since").map_err(db)?),
        paused: match (by, at) {
            (Some(by), Some(at)) => Some(Pause {
                by: Actor::from_stored(&by),
                at: Timestamp::from_millis(at),
                reason: reason.unwrap_or_default(),
            }),
            _ => None,
        },
    })
}

fn firing_row(r: &SqliteRow) -> Result<FiringRow, StoreError> {
    let outcome: String = r.try_get("outcome").map_err(db)?;
    let run: Option<String> = r.try_get("run_id").map_err(db)?;
    Ok(FiringRow {
        runbook: r.try_get("runbook").map_err(db)?,
        trigger: r.try_get("trigger").map_err(db)?,
        nominal: Timestamp::from_millis(r.try_get("nominal").map_err(db)?),
        at: Timestamp::from_millis(r.try_get("recorded_at").map_err(db)?),
        outcome: FiringOutcome::parse(&outcome).ok_or_else(|| {
            StoreError::Corrupt(format!("a firing with the unknown outcome `{outcome}`"))
        })?,
        reason: r.try_get("reason").map_err(db)?,
        run: run
            .map(|id| {
                id.parse()
                    .map_err(|_| StoreError::Corrupt(format!("a firing of the bad run id `{id}`")))
            })
            .transpose()?,
    })
}
