//! Redis with Sentinel.

//!
//! - [`conn`]: one connection, one command, errors sorted into retryable and permanent.
//! - [`role`]: the `redis.role` action.
//! - [`sentinel`]: `redis.sentinel_failover`, `redis.wait_master`.
//! - [`preview`]: what each action would do now, for `drctl plan --live`; reads only.

mod conn;
mod preview;
mod role;
mod sentinel;

use std::sync::Arc;

use drctl_core::{Action, ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// The implemented Redis actions, for the specs given.
pub(crate) fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    for s in specs {
        let spec = s.clone();
        match s.name.as_str() {
            "redis.role" => out.push(Arc::new(role::Role { spec })),
            "redis.sentinel_failover" => out.push(Arc::new(sentinel::Failover { spec })),
            "redis.wait_master" => out.push(Arc::new(sentinel::WaitMaster { spec })),
            _ => {}
        }
    }
    out
}

const SENTINELS: &str = "Sentinel addresses, host:port";
const PASSWORD: &str = "password (AUTH); pass it through `secrets`";

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "redis.sentinel_failover",
            "Ask the Sentinels to fail a master over to a replica",
            // A second SENTINEL FAILOVER would move the master again.
            false,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("sentinels", Ty::list(Ty::String), SENTINELS)
                .req("master", Ty::String, "the monitored master's name")
                .opt(
                    "from",
                    Ty::String,
                    "the master's address (host:port) before the failover: a master already \
                     elsewhere is not moved again, and a crash can be reconciled",
                )
                .opt(
                    "quorum",
                    Ty::int_range(1, 100),
                    "how many Sentinels must name the new master (default: a majority)",
                )
                .opt_secret("password", Ty::String, PASSWORD)
                .opt(
                    "timeout",
                    Ty::Duration,
                    "until a new master is announced (default 30s)",
                ),
        ),
        spec(
            "redis.role",
            "The role of a Redis server (master or replica) and its replication offset",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("address", Ty::String, "host:port")
                .opt_secret("password", Ty::String, PASSWORD),
        ),
        spec(
            "redis.wait_master",
            "Wait until a quorum of Sentinels agree on the master's address",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("sentinels", Ty::list(Ty::String), SENTINELS)
                .req("master", Ty::String, "the monitored master's name")
                .opt(
                    "expect",
                    Ty::String,
                    "the address (host:port) they must agree on",
                )
                .opt(
                    "quorum",
                    Ty::int_range(1, 100),
                    "how many must agree (default: a majority)",
                )
                .opt_secret("password", Ty::String, PASSWORD)
                .opt(
                    "timeout",
                    Ty::Duration,
                    "give up after this long (default 60s)",
                ),
        ),
    ]
}
