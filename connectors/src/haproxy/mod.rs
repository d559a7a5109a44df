//! HAProxy through its runtime API.

//!
//! - [`api`]: one command per connection (unix socket or TCP), `show stat` parsed.
//! - [`actions`]: the actions, with reconcile for the two that change things.

mod actions;
mod api;

use std::sync::Arc;

use drctl_core::{Action, ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::spec::spec;

/// The implemented HAProxy actions, for the specs given.
pub(crate) fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    for s in specs {
        let spec = s.clone();
        match s.name.as_str() {
            "haproxy.set_weight" => out.push(Arc::new(actions::SetWeight { spec })),
            "haproxy.set_state" => out.push(Arc::new(actions::SetState { spec })),
            "haproxy.stats" => out.push(Arc::new(actions::Stats { spec })),
            _ => {}
        }
    }
    out
}

const SOCKET: &str = "runtime API: `unix:/path/to/socket` or `host:port`";

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "haproxy.set_weight",
            "Set the weight of one server, or of several in one go (traffic shifts)",
            // A traffic change is read back after a crash, never repeated blindly.
            false,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("socket", Ty::String, SOCKET)
                .req("backend", Ty::String, "backend name")
                .opt("server", Ty::String, "server name (with `weight`)")
                .opt(
                    "weight",
                    Ty::int_range(0, 256),
                    "new weight, 0 to 256 (with `server`)",
                )
                .opt(
                    "weights",
                    Ty::list(Ty::Object(
                        ObjectSchema::new()
                            .req("server", Ty::String, "server name")
                            .req("weight", Ty::int_range(0, 256), "new weight, 0 to 256"),
                    )),
                    "several servers, set in this order (e.g. new region up, old region down)",
                )
                .exclusive(&["server", "weights"])
                .exclusive(&["weight", "weights"])
                .at_least_one(&["server", "weights"])
                .at_least_one(&["weight", "weights"]),
        ),
        spec(
            "haproxy.set_state",
            "Set a server's administrative state",
            false,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("socket", Ty::String, SOCKET)
                .req("backend", Ty::String, "backend name")
                .req("server", Ty::String, "server name")
                .req(
                    "state",
                    Ty::one_of_strings(&["ready", "drain", "maint"]),
                    "new state",
                ),
        ),
        spec(
            "haproxy.stats",
            "Read `show stat` for a backend or server",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("socket", Ty::String, SOCKET)
                .opt("backend", Ty::String, "only this backend")
                .opt("server", Ty::String, "only this server"),
        ),
    ]
}
