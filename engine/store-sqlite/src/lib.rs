//! drctl's SQLite store: the embedded default, one file on disk.
//!
//! - WAL journal, `synchronous = FULL`: a committed event survives a crash of drctl *and*
//!   of the machine. An fsync costs about 0.1 ms on this project's machine (`strace -c`,
//!   see bench/README.md); a step is about one commit.
//! - Every write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up
//!   front instead of failing half-way with SQLITE_BUSY; a busy timeout covers waits.
//! - Migrations in `migrations/sqlite/` are applied on open.
//! - sqlx errors are mapped to `StoreError` here: nothing above sees a database type.
//!
//! # Layout
//! - `writer`: create, append (version + lease checked, hash-chained, projection updated,
//!   one transaction), claim / renew / release leases.
//! - `locks`, `commands`: named locks and the command inbox.
//! - `reader`: the read path.
//! - `codec`: rows ↔ columns.

mod codec;
mod commands;
mod locks;
mod reader;
mod writer;

use std::path::Path;
use std::time::Duration;

use drctl_store::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot migrate {}: {e}", path.display()))
            })?;
        Ok(Self { pool })
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }
}

/// Any driver error: the store cannot do its job right now.
// By value because it is used as `.map_err(db)`.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
