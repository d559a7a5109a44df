//! DNS: change records and check what a server answers.
//!
//! - [`powerdns`]: `dns.powerdns.set_records`, record sets replaced through the PowerDNS
//!   HTTP API (REPLACE is idempotent: a repeated call changes nothing more).
//! - [`check`]: `dns.check`, one question sent straight to the given server (no cache, no
//!   recursion of our own) until its answer is exactly the expected records.

mod check;
mod powerdns;

use std::sync::Arc;

use drctl_core::{Action, ActionSpec, ObjectSchema, Reconcile, Ty};

use crate::core::http::Client;
use crate::spec::spec;

/// The implemented DNS actions, for the specs given.
pub(crate) fn actions(specs: &[ActionSpec], client: &Arc<Client>) -> Vec<Arc<dyn Action>> {
    let mut out: Vec<Arc<dyn Action>> = Vec::new();
    for s in specs {
        let spec = s.clone();
        match s.name.as_str() {
            "dns.powerdns.set_records" => out.push(Arc::new(powerdns::SetRecords {
                spec,
                client: client.clone(),
            })),
            "dns.check" => out.push(Arc::new(check::Check { spec })),
            _ => {}
        }
    }
    out
}

fn record_type() -> Ty {
    Ty::one_of_strings(&["A", "AAAA", "CNAME", "TXT", "SRV", "MX", "NS", "PTR"])
}

pub(crate) fn specs() -> Vec<ActionSpec> {
    vec![
        spec(
            "dns.powerdns.set_records",
            "Replace record sets in a PowerDNS zone through its HTTP API",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req(
                    "api_url",
                    Ty::String,
                    "base URL of the PowerDNS API, e.g. http://127.0.0.1:8081",
                )
                .req_secret("api_key", Ty::String, "X-API-Key")
                .opt("server_id", Ty::String, "default localhost")
                .req("zone", Ty::String, "zone name, e.g. example.org.")
                .req(
                    "records",
                    Ty::list(Ty::Object(
                        ObjectSchema::new()
                            .req(
                                "name",
                                Ty::String,
                                "fully qualified name, e.g. app.example.org.",
                            )
                            .req("type", record_type(), "record type")
                            .opt("ttl", Ty::int_range(0, 604_800), "seconds (default 60)")
                            .req("content", Ty::list(Ty::String), "the new records"),
                    )),
                    "record sets to replace",
                ),
        ),
        spec(
            "dns.check",
            "Resolve a name against a server until the answer is the expected one",
            true,
            Reconcile::Supported,
            ObjectSchema::new()
                .req("name", Ty::String, "name to resolve")
                .opt("type", record_type(), "default A")
                .req("server", Ty::String, "resolver address, host:port")
                .req(
                    "expect",
                    Ty::list(Ty::String),
                    "the answer must be exactly these records",
                )
                .opt("interval", Ty::Duration, "between queries (default 1s)")
                .opt(
                    "timeout",
                    Ty::Duration,
                    "give up after this long (default 2m)",
                ),
        ),
    ]
}
