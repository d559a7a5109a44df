//! Schedules and their firings (see drctl-store's `Schedules`). A firing's primary key is
//! its (runbook, trigger, nominal time): the insert that finds it taken writes nothing,
//! and the run it would have created is rolled back with it.

use async_trait::async_trait;
use drctl_core::{Actor, Timestamp};
use drctl_store::schedules::apply_change;
use drctl_store::{
    ChangeRow, FiringOutcome, FiringRow, NewEvent, NewFiring, NewRun, Pause, ReadinessRow,
    ScheduleRow, Schedules, StoreError, Waiver,
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
        // Read first: every view and tick asks, and only the first sighting writes.
        let known = sqlx::query(SCHEDULE)
            .bind(runbook)
            .bind(trigger)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        if let Some(row) = known {
            return schedule_row(&row);
        }
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
        let row = sqlx::query(SCHEDULE)
            .bind(runbook)
            .bind(trigger)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        schedule_row(&row)
    }

    async fn change_schedule(&self, change: &ChangeRow) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(SCHEDULE)
            .bind(&change.runbook)
            .bind(&change.trigger)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or_else(|| {
                StoreError::NotFound(format!("schedule {} of {}", change.trigger, change.runbook))
            })?;
        let mut row = schedule_row(&row)?;
        apply_change(&mut row, change);
        let (p, w) = (row.paused.as_ref(), row.waiver.as_ref());
        sqlx::query(
            "UPDATE schedules SET paused_by = ?, paused_at = ?, paused_reason = ?, \
             waived_by = ?, waived_at = ?, waived_until = ?, waived_reason = ? \
             WHERE runbook = ? AND trigger = ?",
        )
        .bind(p.map(|p| p.by.to_string()))
        .bind(p.map(|p| p.at.as_millis()))
        .bind(p.map(|p| p.reason.clone()))
        .bind(w.map(|w| w.by.to_string()))
        .bind(w.map(|w| w.at.as_millis()))
        .bind(w.map(|w| w.until.as_millis()))
        .bind(w.map(|w| w.reason.clone()))
        .bind(&change.runbook)
        .bind(&change.trigger)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let body = serde_json::to_string(&change.change)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO schedule_changes (runbook, trigger, at, actor, change) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&change.runbook)
        .bind(&change.trigger)
        .bind(change.at.as_millis())
        .bind(change.by.to_string())
        .bind(body)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn schedule_changes(
        &self,
        runbook: &str,
        trigger: &str,
        limit: u32,
    ) -> Result<Vec<ChangeRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, change FROM schedule_changes WHERE runbook = ? AND trigger = ? \
             ORDER BY id DESC LIMIT ?",
        )
        .bind(runbook)
        .bind(trigger)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| change_row(r, runbook.to_owned(), trigger.to_owned()))
            .collect()
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

    async fn record_readiness(&self, check: &ReadinessRow) -> Result<(), StoreError> {
        let findings = serde_json::to_string(&check.findings)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO readiness (runbook, at, ready, findings) VALUES (?, ?, ?, ?)")
            .bind(&check.runbook)
            .bind(check.at.as_millis())
            .bind(i64::from(check.ready))
            .bind(findings)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn last_readiness(&self, runbook: &str) -> Result<Option<ReadinessRow>, StoreError> {
        let row = sqlx::query(
            "SELECT at, ready, findings FROM readiness WHERE runbook = ? ORDER BY id DESC LIMIT 1",
        )
        .bind(runbook)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|r| {
            let findings: String = r.try_get("findings").map_err(db)?;
            Ok(ReadinessRow {
                runbook: runbook.to_owned(),
                at: Timestamp::from_millis(r.try_get("at").map_err(db)?),
                ready: r.try_get::<i64, _>("ready").map_err(db)? != 0,
                findings: serde_json::from_str(&findings).map_err(|e| {
                    StoreError::Corrupt(format!("readiness findings that do not read: {e}"))
                })?,
            })
        })
        .transpose()
    }

    async fn claim_notice(&self, key: &str, at: Timestamp) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO service_notices (key, claimed_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(at.as_millis())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_notice(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM service_notices WHERE key = ?")
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn schedule_log(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<(Vec<ChangeRow>, Vec<FiringRow>), StoreError> {
        let (from, to) = (
            since.map_or(i64::MIN, Timestamp::as_millis),
            until.map_or(i64::MAX, Timestamp::as_millis),
        );
        // One read transaction: the changes and firings of one moment.
        let mut tx = self.pool.begin().await.map_err(db)?;
        let changes = sqlx::query(
            "SELECT runbook, trigger, at, actor, change FROM schedule_changes \
             WHERE at >= ? AND at < ? ORDER BY id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let firings = sqlx::query(
            "SELECT runbook, trigger, nominal, recorded_at, outcome, reason, run_id FROM firings \
             WHERE recorded_at >= ? AND recorded_at < ? ORDER BY recorded_at, runbook, trigger, nominal",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let changes = changes
            .iter()
            .map(|r| {
                change_row(
                    r,
                    r.try_get("runbook").map_err(db)?,
                    r.try_get("trigger").map_err(db)?,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok((
            changes,
            firings.iter().map(firing_row).collect::<Result<_, _>>()?,
        ))
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

fn change_row(r: &SqliteRow, runbook: String, trigger: String) -> Result<ChangeRow, StoreError> {
    let body: String = r.try_get("change").map_err(db)?;
    Ok(ChangeRow {
        runbook,
        trigger,
        at: Timestamp::from_millis(r.try_get("at").map_err(db)?),
        by: crate::codec::actor(r)?,
        change: serde_json::from_str(&body).map_err(|e| {
            StoreError::Corrupt(format!("a schedule change that does not read: {e}"))
        })?,
    })
}

const SCHEDULE: &str = "SELECT runbook, trigger, since, paused_by, paused_at, paused_reason, \
     waived_by, waived_at, waived_until, waived_reason FROM schedules WHERE runbook = ? AND trigger = ?";

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
        waiver: waiver(r)?,
    })
}

fn waiver(r: &SqliteRow) -> Result<Option<Waiver>, StoreError> {
    let by: Option<String> = r.try_get("waived_by").map_err(db)?;
    let at: Option<i64> = r.try_get("waived_at").map_err(db)?;
    let until: Option<i64> = r.try_get("waived_until").map_err(db)?;
    let reason: Option<String> = r.try_get("waived_reason").map_err(db)?;
    Ok(match (by, at, until) {
        (Some(by), Some(at), Some(until)) => Some(Waiver {
            by: Actor::from_stored(&by),
            at: Timestamp::from_millis(at),
            until: Timestamp::from_millis(until),
            reason: reason.unwrap_or_default(),
        }),
        _ => None,
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
