//! The actions drctl runbooks can call, grouped by the system they drive.
//!
//! Each module declares the [`ActionSpec`]s of one family: name, parameter schema,
//! whether the action is idempotent (safe to repeat after a crash) and whether it can
//! reconcile (tell after a crash whether an interrupted call took effect). The compiler
//! checks every `with:` against these schemas, so a runbook that validates here has its
//! inputs right before anything runs. Actions that touch a live system also answer
//! `plan`: a read-only preview of what a call would change now (`drctl plan --live`).
//!
//! # Layout
//! - [`core`]: `exec`, `http.request`, `http.check`, `sleep`, `log`, `assert`.
//! - [`postgres`]: promote, fence, replication status, wait until caught up, query,
//!   point-in-time restore, verify.
//! - [`redis`]: Sentinel failover, role, wait until the Sentinels agree.
//! - [`haproxy`]: weights, server state, stats through the runtime API.
//! - [`notify`]: Slack, PagerDuty Events v2, signed generic webhook.
//! - [`dns`]: PowerDNS record changes, DNS answer checks.
//! - [`vault`]: transit key rotation and rewrap, KV (Vault HTTP API; OpenBao in the lab).
//! - [`aws`]: the specs of Route 53, RDS, Auto Scaling, KMS and Secrets Manager actions;
//!   the `drctl-aws` crate implements them (the binary's default `aws` feature).
//! - [`azure`]: the specs of Traffic Manager, Cosmos DB and PostgreSQL flexible server
//!   actions; the `drctl-azure` crate implements them (the `azure` feature).
//! - [`gcp`]: the specs of Cloud SQL, Memorystore, Compute backend service, Cloud DNS and
//!   Cloud KMS actions; the `drctl-gcp` crate implements them (the `gcp` feature).
//! - [`k8s`]: the specs of Kubernetes actions (scale, rollout restart, patch, wait for a
//!   condition, cordon); the `drctl-k8s` crate implements them (the `k8s` feature).
//!
//! [`input`] and [`wait`] are the helpers every action uses (reading inputs, waiting
//! within the engine's cancel and deadlines), [`guard`] the "only if still at N"
//! check of key rotations, and [`sent`] the credentials a connector sent, masked from
//! the errors that echo them; they are public for connector crates built apart, such as
//! `drctl-aws`, `drctl-azure`, `drctl-gcp` and `drctl-k8s`.
//!
//! To add an action: declare its spec in the family's module and list it in that module's
//! `specs()`. The registry test checks every name and schema.

pub mod aws;
pub mod azure;
pub mod core;
pub mod dns;
pub mod gcp;
pub mod haproxy;
pub mod k8s;
pub mod notify;
pub mod postgres;
pub mod redis;
pub mod vault;

pub mod guard;
pub mod input;
pub mod sent;

pub use crate::core::kill_running_programs;
mod spec;
pub mod wait;

use std::sync::Arc;

use drctl_core::{Action, ActionCatalog, ActionRegistry, ActionSpec};
use indexmap::IndexMap;

/// The actions of this build, by name: every spec, and the implementations that exist.
#[derive(Clone, Default)]
pub struct Registry {
    specs: IndexMap<String, ActionSpec>,
    actions: IndexMap<String, Arc<dyn Action>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("specs", &self.specs.keys())
            .field("implemented", &self.actions.keys())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every action this build knows.
    pub fn builtin() -> Self {
        let mut r = Self::new();
        for spec in [
            core::specs(),
            postgres::specs(),
            redis::specs(),
            haproxy::specs(),
            notify::specs(),
            dns::specs(),
            vault::specs(),
            aws::specs(),
            azure::specs(),
            gcp::specs(),
            k8s::specs(),
        ]
        .into_iter()
        .flatten()
        {
            r.add(spec);
        }
        let specs: Vec<ActionSpec> = r.specs.values().cloned().collect();
        // One HTTP client (and one connection pool) for every action that speaks HTTP.
        let client = Arc::new(core::http::Client);
        for action in core::actions(&specs, &client)
            .into_iter()
            .chain(notify::actions(&specs, &client))
            .chain(postgres::actions(&specs))
            .chain(redis::actions(&specs))
            .chain(haproxy::actions(&specs))
            .chain(dns::actions(&specs, &client))
            .chain(vault::actions(&specs, &client))
        {
            r.implement(action);
        }
        r
    }

    /// Registers an implementation (its spec too, if new).
    pub fn implement(&mut self, action: Arc<dyn Action>) {
        let spec = action.spec().clone();
        self.actions.insert(spec.name.to_string(), action);
        self.specs.entry(spec.name.to_string()).or_insert(spec);
    }

    /// Whether this build can run the action (every action has a spec; some are not
    /// implemented yet, and `sleep` is run by the engine itself).
    pub fn is_implemented(&self, name: &str) -> bool {
        self.actions.contains_key(name) || name == "sleep"
    }

    /// Adds (or replaces) an action.
    pub fn add(&mut self, spec: ActionSpec) {
        self.specs.insert(spec.name.to_string(), spec);
    }

    /// All specs, in registration order.
    pub fn specs(&self) -> impl Iterator<Item = &ActionSpec> {
        self.specs.values()
    }
}

impl ActionRegistry for Registry {
    fn action(&self, name: &str) -> Option<Arc<dyn Action>> {
        self.actions.get(name).cloned()
    }
}

impl ActionCatalog for Registry {
    fn spec(&self, name: &str) -> Option<&ActionSpec> {
        self.specs.get(name)
    }

    fn names(&self) -> Vec<&str> {
        self.specs.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_spec_is_well_formed() {
        let r = Registry::builtin();
        let names = r.names();
        // The actions the runbook issues name; each must be declared.
        for required in [
            "exec",
            "http.request",
            "http.check",
            "sleep",
            "log",
            "assert",
            "postgres.promote",
            "postgres.replication_status",
            "postgres.wait_caught_up",
            "postgres.fence",
            "postgres.query",
            "postgres.restore_pitr",
            "postgres.verify",
            "redis.sentinel_failover",
            "redis.role",
            "redis.wait_master",
            "haproxy.set_weight",
            "haproxy.set_state",
            "haproxy.stats",
            "notify.slack",
            "notify.pagerduty",
            "notify.webhook",
            "dns.powerdns.set_records",
            "dns.check",
            "vault.transit.read_key",
            "vault.transit.rotate",
            "vault.transit.rewrap",
            "vault.transit.set_min_decryption_version",
            "vault.kv.put",
            "vault.kv.get",
        ] {
            assert!(names.contains(&required), "{required} is not registered");
        }
        for spec in r.specs() {
            assert!(!spec.summary.is_empty(), "{}", spec.name);
            let mut seen = std::collections::HashSet::new();
            for f in &spec.params.fields {
                assert!(
                    seen.insert(&f.name),
                    "{}: duplicate field {}",
                    spec.name,
                    f.name
                );
                assert!(!f.doc.is_empty(), "{}.{} has no doc", spec.name, f.name);
            }
            for group in spec
                .params
                .exclusive
                .iter()
                .chain(&spec.params.at_least_one)
            {
                for key in group {
                    assert!(
                        spec.params.get(key).is_some(),
                        "{}: group names unknown field {key}",
                        spec.name
                    );
                }
            }
        }
    }
}
