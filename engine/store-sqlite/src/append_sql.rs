//! An append's writes as one multi-statement query: the events, the run's row, the step
//! rows and, at the end of a run, its locks. Each statement sent to sqlx is a round trip
//! to the thread that owns the SQLite connection (two thread wake-ups), so one query
//! instead of one per row or table takes several of those off every step. sqlx binds a
//! multi-statement query's values in order across its statements.

use drctl_core::{RunId, Timestamp};
use drctl_store::{Projection, StepRow, StoredEvent};
use sqlx::sqlite::{Sqlite, SqliteArguments};

use crate::codec::{i64_of, item_column};

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments>;

/// Rows per `INSERT`, well under SQLite's limit of 32,766 bound values per statement.
const ROWS_PER_STATEMENT: usize = 256;

const EVENTS: &str = "INSERT INTO events (run_id, seq, at, actor, kind, body, prev_hash, hash)";
const STEPS: &str = "INSERT INTO steps (run_id, position, item, step, block, status, attempts, started_at, finished_at, output, error)";
const STEPS_UPSERT: &str = " ON CONFLICT (run_id, position, item) DO UPDATE SET status = excluded.status, \
    attempts = excluded.attempts, started_at = excluded.started_at, finished_at = excluded.finished_at, \
    output = excluded.output, error = excluded.error";
const RUN: &str = "UPDATE runs SET version = ?, head_hash = ?, status = ?, detail = ?, finished_at = ?, \
    rto_started_at = ?, rto_ended_at = ?, rto_objective_ms = ?, rto_measured = ?, updated_at = ? WHERE id = ?";

/// `INSERT ... VALUES (?, ...), (?, ...)` statements for `rows` rows, `;`-terminated.
fn inserts(sql: &mut String, head: &str, columns: usize, rows: usize, tail: &str) {
    let one = format!("({})", vec!["?"; columns].join(", "));
    let mut left = rows;
    while left > 0 {
        let n = left.min(ROWS_PER_STATEMENT);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        sql.push_str(&vec![one.as_str(); n].join(", "));
        sql.push_str(tail);
        sql.push_str(";\n");
        left -= n;
    }
}

/// The events of a new run or an append.
pub(crate) fn events_sql(events: usize) -> String {
    let mut sql = String::new();
    inserts(&mut sql, EVENTS, 8, events, "");
    sql
}

pub(crate) fn bind_events<'q>(mut q: Query<'q>, events: &'q [StoredEvent]) -> Query<'q> {
    for e in events {
        q = q
            .bind(e.run.as_str())
            .bind(i64_of(e.seq))
            .bind(e.at.as_millis())
            .bind(e.actor.to_string())
            .bind(e.kind.as_str())
            .bind(e.body.as_str())
            .bind(e.prev_hash.as_str())
            .bind(e.hash.as_str());
    }
    q
}

/// Everything an append writes after its checks, in one query.
pub(crate) struct AppendWrites<'a> {
    pub run: &'a RunId,
    pub events: &'a [StoredEvent],
    pub version: u64,
    pub head: &'a str,
    pub now: Timestamp,
    pub projection: &'a Projection,
}

impl<'a> AppendWrites<'a> {
    pub(crate) fn sql(&self) -> String {
        let mut sql = events_sql(self.events.len());
        sql.push_str(RUN);
        sql.push_str(";\n");
        inserts(
            &mut sql,
            STEPS,
            11,
            self.projection.steps.len(),
            STEPS_UPSERT,
        );
        if self.projection.release_locks {
            sql.push_str("DELETE FROM locks WHERE run_id = ?;\n");
        }
        sql
    }

    /// Binds the values in the order of [`Self::sql`].
    pub(crate) fn bind(&self, q: Query<'a>) -> Query<'a> {
        let p = self.projection;
        let mut q = bind_events(q, self.events)
            .bind(i64_of(self.version))
            .bind(self.head)
            .bind(p.status.as_str())
            .bind(p.detail.as_deref())
            .bind(p.finished_at.map(Timestamp::as_millis))
            .bind(p.rto.map(|r| r.started_at.as_millis()))
            .bind(p.rto.and_then(|r| r.ended_at).map(Timestamp::as_millis))
            .bind(p.rto.and_then(|r| r.objective_ms).map(i64_of))
            .bind(p.rto.is_some_and(|r| r.measured))
            .bind(self.now.as_millis())
            .bind(self.run.as_str());
        for s in &p.steps {
            q = bind_step(q, self.run, s);
        }
        if p.release_locks {
            q = q.bind(self.run.as_str());
        }
        q
    }
}

fn bind_step<'q>(q: Query<'q>, run: &'q RunId, s: &'q StepRow) -> Query<'q> {
    q.bind(run.as_str())
        .bind(i64::from(s.position))
        .bind(item_column(s.item))
        .bind(s.step.as_str())
        .bind(s.block.as_str())
        .bind(s.status.as_str())
        .bind(i64::from(s.attempts))
        .bind(s.started_at.map(Timestamp::as_millis))
        .bind(s.finished_at.map(Timestamp::as_millis))
        .bind(s.output.as_ref().map(serde_json::Value::to_string))
        .bind(s.error.as_deref())
}
