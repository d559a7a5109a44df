//! PostgreSQL: promotion, fencing, replication, queries, point-in-time restore.

//!
//! - [`conn`]: connecting, and SQLSTATEs sorted into retryable and permanent errors.
//! - [`promote`]: `postgres.promote` and `postgres.fence`, which reconcile after a crash.
//! - [`replication`]: `postgres.replication_status`, `postgres.wait_caught_up`.
//! - [`query`]: the `postgres.query` action.
//! - [`restore`]: `postgres.restore_pitr`, a base backup and archived WAL recovered to a
//!   point in time on a new server.
//! - [`verify`]: `postgres.verify`, row counts and checksums against expected values or
//!   another server.
//! - [`preview`]: what each action would do now, for `drctl plan --live`; reads only.
//!
//! The driver is tokio-postgres without TLS: the lab and the tests run on loopback.

mod conn;
mod preview;
mod promote;
mod query;
mod replication;
mod restore;
mod verify;

use std::sync::Arc;

use drctl_core::{Action, ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// The implemented PostgreSQL actions, for the specs given.
pub(crate) fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    for s in specs {
        let spec = s.clone();
        match s.name.as_str() {
            "postgres.promote" => out.push(Arc::new(promote::Promote { spec })),
            "postgres.fence" => out.push(Arc::new(promote::Fence { spec })),
            "postgres.replication_status" => out.push(Arc::new(replication::Status { spec })),
            "postgres.wait_caught_up" => out.push(Arc::new(replication::WaitCaughtUp { spec })),
            "postgres.query" => out.push(Arc::new(query::Query { spec })),
            "postgres.restore_pitr" => out.push(Arc::new(restore::RestorePitr { spec })),
            "postgres.verify" => out.push(Arc::new(verify::Verify { spec })),
            _ => {}
        }
    }
    out
}

const DSN: &str = "connection string (libpq keyword/value or URI); pass it through `secrets`";

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "postgres.promote",
            "Promote a streaming replica (pg_promote) and wait until it accepts writes",
            // Never repeated blindly: after a crash, reconcile looks whether the server
            // is already out of recovery.
            false,
            Reconcile::Supported,
            ObjectSchema::new()
                .req_secret("dsn", Ty::String, DSN)
                .opt("wait", Ty::Duration, "how long to wait for read-write (default 60s)"),
        ),
        spec(
            "postgres.fence",
            "Stop a primary from accepting writes: read-only by default, sessions terminated",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req_secret("dsn", Ty::String, DSN)
                .opt("terminate_sessions", Ty::Boolean, "end open sessions so none keeps writing (default true)")
                .opt(
                    "if_unreachable",
                    Ty::one_of_strings(&["fail", "assume_down"]),
                    "an unreachable server is an error (`fail`, the default) or taken as down \
                     (`assume_down`: it must then come back only as a replica)",
                ),
        ),
        spec(
            "postgres.replication_status",
            "Role, replay LSN and lag (bytes and seconds) of a server",
            true,
            Reconcile::Supported,
            ObjectSchema::new().req_secret("dsn", Ty::String, DSN),
        ),
        spec(
            "postgres.wait_caught_up",
            "Wait until a replica has replayed everything up to a limit of lag",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req_secret("dsn", Ty::String, DSN)
                .opt_secret("primary_dsn", Ty::String, "the primary, to compare LSNs; without it the replica's own lag is used")
                .opt("max_lag_bytes", Ty::int_min(0), "acceptable lag in bytes (default 0)")
                .opt("max_lag", Ty::Duration, "acceptable replay delay")
                .opt("interval", Ty::Duration, "between checks (default 1s)")
                .opt("timeout", Ty::Duration, "give up after this long (default 5m)"),
        ),
        spec(
            "postgres.query",
            "Run one SQL statement and return its rows",
            false,
            Reconcile::Unsupported,
            ObjectSchema::new()
                .req_secret("dsn", Ty::String, DSN)
                .req("sql", Ty::String, "the statement; use `$1`, `$2` with `args` instead of templates for values")
                .opt("args", Ty::list(Ty::Any), "statement parameters")
                .opt("timeout", Ty::Duration, "statement timeout (default 30s)"),
        ),
        spec(
            "postgres.restore_pitr",
            "Restore a base backup plus archived WAL to a point in time, and start it",
            false,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("base_backup", Ty::String, "directory of the base backup")
                .req("wal_archive", Ty::String, "directory of archived WAL")
                .req("data_dir", Ty::String, "new data directory (must not exist)")
                .opt("target_time", Ty::String, "recover up to this time (RFC 3339)")
                .opt("target_lsn", Ty::String, "recover up to this LSN")
                .opt("port", Ty::int_range(1, 65535), "port of the restored server (default: a free one)")
                .opt("bin_dir", Ty::String, "directory of pg_ctl (default: the backup's version under /usr/lib/postgresql, or PATH)")
                .opt("os_user", Ty::String, "OS account that runs the restored server (required when drctl runs as root)")
                .opt("user", Ty::String, "database user to check the restored server with (default postgres)")
                .opt("timeout", Ty::Duration, "until consistent (default 10m)")
                .exclusive(&["target_time", "target_lsn"])
                .at_least_one(&["target_time", "target_lsn"]),
        ),
        spec(
            "postgres.verify",
            "Compare row counts and checksums of tables with expected values or another server",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req_secret("dsn", Ty::String, DSN)
                .req(
                    "tables",
                    Ty::list(Ty::OneOf(vec![
                        Ty::String,
                        Ty::Object(
                            ObjectSchema::new()
                                .req("name", Ty::String, "schema-qualified table name")
                                .opt("rows", Ty::int_min(0), "expected row count")
                                .opt("checksum", Ty::String, "expected checksum (md5 of the ordered rows)")
                                .opt("order_by", Ty::String, "column list that orders rows for the checksum"),
                        ),
                    ])),
                    "tables to check: names (compared with `compare_dsn`) or {name, rows, checksum}",
                )
                .opt_secret("compare_dsn", Ty::String, "another server holding the expected data"),
        ),
    ]
}
