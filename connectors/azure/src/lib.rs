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
//! - [`keyvault`]: Key Vault keys through `azure_security_keyvault_keys`: `get_key`
//!   (every version) and `rotate_key`, guarded by the version it replaces.
//!
//! Every action answers `plan` with reads only. The two calls that are not idempotent
//! read first: the promotion reads the server, so after a crash a retry or `reconcile`
//! waits for a promotion under way instead of asking again; the rotation runs only while
//! the version it replaces is current.

mod arm;
mod auth;
mod cosmos;
mod keyvault;
mod postgres;
mod trafficmanager;

use std::sync::Arc;

use drctl_connectors::wait::Cancellable;
use drctl_core::{Action, ActionSpec};

use crate::auth::Auth;

/// The implementations of the Azure specs given (those of `drctl_connectors::azure`).
pub fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    build(specs, Auth::from_env(), None)
}

/// Like [`actions`], with this access token (for the Resource Manager and Key Vault):
/// for tests, which cannot set environment variables in their own process.
pub fn actions_with_token(specs: &[ActionSpec], token: &str) -> Vec<Arc<dyn Action>> {
    build(specs, Auth::with_token(token), None)
}

/// Like [`actions_with_token`], with Key Vault calls through `http`: for tests, whose
/// vault has a certificate of their own authority.
pub fn actions_with_client(
    specs: &[ActionSpec],
    token: &str,
    http: reqwest::Client,
) -> Vec<Arc<dyn Action>> {
    build(specs, Auth::with_token(token), Some(http))
}

fn build(specs: &[ActionSpec], auth: Auth, http: Option<reqwest::Client>) -> Vec<Arc<dyn Action>> {
    let auth = Arc::new(auth);
    let vault = Arc::new(keyvault::Conn {
        auth: auth.clone(),
        http,
    });
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
                "azure.keyvault.get_key" => Arc::new(keyvault::GetKey(s, vault.clone())),
                "azure.keyvault.rotate_key" => Arc::new(keyvault::RotateKey(s, vault.clone())),
                _ => return None,
            };
            Some(Arc::new(Cancellable(action)) as Arc<dyn Action>)
        })
        .collect()
}
