//! drctl's SQLite store: the embedded default, one file on disk.
//!
//! - WAL journal, `synchronous = FULL`: a committed event survives a crash of drctl *and*
//!   of the machine. An fsync costs about 0.1 ms on this project's machine (`strace -c`,
//!   see bench/README.md); a step is about one commit.
//! - Every write transaction starts with `BEGIN IMMEDIATE`, so it takes the write lock up
//!   front instead of failing half-way with SQLITE_BUSY; a busy timeout covers waits.
//! - Migrations in `migrations/sqlite/` are applied on open, one process at a time.
//! - Only `Create::IfMissing` creates a database; `close` checkpoints the WAL into it.
//! - sqlx errors are mapped to `StoreError` here: nothing above sees a database type.
//!
//! # Layout
//! - `writer`: create, append (version + lease checked, hash-chained, projection updated,
//!   one transaction), claim / renew / release leases.
//! - `append_sql`: an append's writes as one multi-statement query (one round trip to
//!   the connection's thread instead of one per row).
//! - `locks`, `commands`: named locks and the command inbox.
//! - `reader`: the read path.
//! - `signed`: signatures over ledger heads.
//! - `deliveries`: webhook deliveries, a sender's id taken once per hook.
//! - `live`: what running attempts printed so far, one row each, replaced.
//! - `schedules`: schedules and their firings, one per nominal time.
//! - `codec`: rows ↔ columns.

mod append_sql;
mod codec;
mod commands;
mod deliveries;
mod live;
mod locks;
mod reader;
mod schedules;
mod signed;
mod writer;

pub use drctl_store::Snapshot;

use std::path::Path;
use std::time::Duration;

use drctl_store::StoreError;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Reads.
    pool: SqlitePool,
    /// Writes, on one connection: SQLite takes one writer at a time anyway, and a
    /// connection that sees only its own commits keeps its page cache, where writes
    /// spread over several connections made each one re-read the pages the others
    /// changed (about ten reads per step).
    writer: SqlitePool,
}

/// Whether opening may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Commands that record runs.
    IfMissing,
    /// Every other command: a missing file is an error naming the path.
    Never,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Create::IfMissing).await
    }

    /// Opens the database at `path`, creating it only when `create` allows, and applies
    /// migrations. Migrations are serialised across processes (see [`MigrationLock`]):
    /// two processes opening a fresh file at once would otherwise both create its tables.
    pub async fn open_with(path: &Path, create: Create) -> Result<Self, StoreError> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("cannot {what} {}: {e}", path.display()))
        };
        match (create, std::fs::metadata(path)) {
            (_, Ok(m)) if !m.is_file() => {
                return Err(StoreError::Unavailable(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            (Create::Never, Err(_)) => {
                return Err(StoreError::NoDatabase(path.display().to_string()));
            }
            _ => {}
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if create == Create::IfMissing {
            std::fs::create_dir_all(dir).map_err(|e| unavailable("create", &e))?;
        }
        let lock = MigrationLock::take(dir).map_err(|e| unavailable("lock the folder of", &e))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create == Create::IfMissing)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| unavailable("open", &e))?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| match e {
                // A newer drctl went first: this one must not write to it.
                sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Unavailable(format!(
                    "{} was changed by a newer drctl (it has migration {v}, which this build does not know): use that version of drctl",
                    path.display()
                )),
                e => unavailable("migrate", &e),
            })?;
        drop(lock);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| unavailable("open", &e))?;
        Ok(Self { pool, writer })
    }

    /// Moves the write-ahead log into the database file, then closes the pool: a copy of
    /// the `.db` file alone then holds every run. Best effort: another process that has
    /// the file open keeps its own view, and its own exit checkpoints again.
    pub async fn close(&self) {
        self.pool.close().await;
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await;
        self.writer.close().await;
    }

    pub(crate) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }
}

/// An exclusive `flock` on the database's folder while migrations run. On the folder,
/// not the file: closing any descriptor of the database file would drop the POSIX locks
/// SQLite holds on it in this process, and a separate lock file would be left behind.
struct MigrationLock(#[allow(dead_code)] rustix::fd::OwnedFd);

impl MigrationLock {
    fn take(dir: &Path) -> std::io::Result<Self> {
        use rustix::fs::{FlockOperation, Mode, OFlags, flock, open};
        let fd = open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        // Blocks for as long as another process migrates: milliseconds.
        flock(&fd, FlockOperation::LockExclusive)?;
        Ok(Self(fd))
    }
}

/// Any driver error: the store cannot do its job right now.
// By value because it is used as `.map_err(db)`.
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
