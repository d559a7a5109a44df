//! drctl's Azure actions. Azure's Rust SDK has no management-plane crates, so these are
//! Azure Resource Manager REST calls with each service's documented `api-version`, sent
//! through drctl's shared HTTP client, with tokens from `azure_identity`. The specs are
//! in `drctl-connectors` (`drctl_connectors::azure`); this crate adds what runs them,
//! behind the `drctl` binary's default `azure` feature.
//!
//! - [`auth`]: the token of a call: `AZURE_ACCESS_TOKEN`, else a service principal's
//!   secret, workload identity, managed identity, or the Azure CLI's login.
//! - [`arm`]: one Resource Manager request, its errors sorted into retryable and
//!   permanent, and long-running operations followed through `Azure-AsyncOperation` or
//!   `Location`, honouring `Retry-After`, within the step's `timeout`.
//! - [`trafficmanager`]: `set_endpoint` (status, weight, priority), read back.
//! - [`cosmos`]: `failover_priority_change`, waiting until the account settles.
//! - [`postgres`]: `promote_replica` of a flexible server.
//!
//! Every action answers `plan` with reads only; the promotion, the one call that is not
//! idempotent, first reads the server, so after a crash a retry or `reconcile` waits for
//! a promotion under way instead of asking again.

mod arm;
mod auth;
mod cosmos;
mod postgres;
mod trafficmanager;

use std::sync::Arc;

use drctl_connectors::wait::Cancellable;
use drctl_core::{Action, ActionSpec};

use crate::auth::Auth;

/// The implementations of the Azure specs given (those of `drctl_connectors::azure`).
pub fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    build(specs, Auth::from_env())
}

/// Like [`actions`], with this Resource Manager access token: for tests, which cannot
/// set environment variables in their own process.
pub fn actions_with_token(specs: &[ActionSpec], token: &str) -> Vec<Arc<dyn Action>> {
    build(specs, Auth::with_token(token))
}

fn build(specs: &[ActionSpec], auth: Auth) -> Vec<Arc<dyn Action>> {
    let auth = Arc::new(auth);
    specs
        .iter()
        .filter_map(|spec| {
            let s = spec.clone();
            let a = auth.clone();
            let action: Arc<dyn Action> = match spec.name.as_str() {
                "azure.trafficmanager.set_endpoint" => Arc::new(trafficmanager::SetEndpoint(s, a)),
                "azure.cosmosdb.failover_priority_change" => {
                    Arc::new(cosmos::FailoverPriorityChange(s, a))
                }
                "azure.postgres.promote_replica" => Arc::new(postgres::PromoteReplica(s, a)),
                _ => return None,
            };
            Some(Arc::new(Cancellable(action)) as Arc<dyn Action>)
        })
        .collect()
}
