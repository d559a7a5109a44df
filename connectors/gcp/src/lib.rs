//! drctl's GCP actions through Google's official Rust client libraries
//! (`google-cloud-*`, over HTTP/JSON, on reqwest and rustls). The specs, which validation
//! and plans need, are in `drctl-connectors` (`drctl_connectors::gcp`); this crate adds
//! what runs them, behind the `drctl` binary's default `gcp` feature, so that work on the
//! engine never rebuilds the client libraries.
//!
//! - [`config`]: the credentials (Application Default Credentials, or an access token)
//!   and one client per call, with the library's own retries off so that drctl's step
//!   `retry` decides and records every attempt.
//! - [`error`]: the libraries' errors sorted into retryable and permanent.
//! - [`sql`]: Cloud SQL `promote_replica`, `failover`, `clone_to_time`.
//! - [`redis`]: Memorystore for Redis `failover`.
//! - [`compute`]: a backend service's per-backend capacity (`set_backends`), the global
//!   load balancer's traffic shift between regions.
//! - [`dns`]: Cloud DNS `change_records`, with a precondition on the current values.
//! - [`kms`]: Cloud KMS `get_key`, `create_version`, `set_primary`, `disable_version`,
//!   `destroy_version`, `rewrap`.
//!
//! Every action answers `plan` with reads only. Long-running operations are polled to
//! their end within the step's `timeout`, and the calls that are not idempotent
//! (promote, failover, clone, a new key version) first look for an operation an earlier
//! attempt started, so that after a crash `reconcile` and a retry wait for it instead of
//! starting another.

mod compute;
mod config;
mod dns;
mod error;
mod kms;
mod redis;
mod sql;

use std::sync::Arc;

use drctl_connectors::wait::Cancellable;
use drctl_core::{Action, ActionSpec};

use crate::config::Conn;

/// The implementations of the GCP specs given (those of `drctl_connectors::gcp`), with
/// the access token of `GOOGLE_OAUTH_ACCESS_TOKEN` when it is set, else Application
/// Default Credentials.
pub fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    build(specs, Conn::from_env())
}

/// Like [`actions`], with this access token: for a program that holds a token itself,
/// and for tests, which cannot set environment variables in their own process.
pub fn actions_with_token(specs: &[ActionSpec], token: &str) -> Vec<Arc<dyn Action>> {
    build(specs, Conn::with_token(token))
}

fn build(specs: &[ActionSpec], conn: Conn) -> Vec<Arc<dyn Action>> {
    let conn = Arc::new(conn);
    specs
        .iter()
        .filter_map(|spec| {
            let s = spec.clone();
            let c = conn.clone();
            let action: Arc<dyn Action> = match spec.name.as_str() {
                "gcp.sql.promote_replica" => Arc::new(sql::PromoteReplica::new(s, c)),
                "gcp.sql.failover" => Arc::new(sql::Failover::new(s, c)),
                "gcp.sql.clone_to_time" => Arc::new(sql::CloneToTime::new(s, c)),
                "gcp.redis.failover" => Arc::new(redis::Failover::new(s, c)),
                "gcp.compute.set_backends" => Arc::new(compute::SetBackends::new(s, c)),
                "gcp.dns.change_records" => Arc::new(dns::ChangeRecords::new(s, c)),
                "gcp.kms.get_key" => Arc::new(kms::GetKey::new(s, c)),
                "gcp.kms.create_version" => Arc::new(kms::CreateVersion::new(s, c)),
                "gcp.kms.set_primary" => Arc::new(kms::SetPrimary::new(s, c)),
                "gcp.kms.disable_version" => Arc::new(kms::DisableVersion::new(s, c)),
                "gcp.kms.destroy_version" => Arc::new(kms::DestroyVersion::new(s, c)),
                "gcp.kms.rewrap" => Arc::new(kms::Rewrap::new(s, c)),
                _ => return None,
            };
            Some(Arc::new(Cancellable(action)) as Arc<dyn Action>)
        })
        .collect()
}

/// Declares an action type: its spec and the shared connection settings.
macro_rules! action {
    ($name:ident) => {
        pub(crate) struct $name {
            spec: drctl_core::ActionSpec,
            conn: std::sync::Arc<crate::config::Conn>,
        }

        impl $name {
            pub(crate) fn new(
                spec: drctl_core::ActionSpec,
                conn: std::sync::Arc<crate::config::Conn>,
            ) -> Self {
                Self { spec, conn }
            }
        }

        #[async_trait::async_trait]
        impl drctl_core::Action for $name {
            fn spec(&self) -> &drctl_core::ActionSpec {
                &self.spec
            }

            async fn run(
                &self,
                ctx: &drctl_core::ActionCtx,
                input: serde_json::Value,
            ) -> Result<serde_json::Value, drctl_core::ActionError> {
                self.run_(ctx, &input).await
            }

            async fn plan(
                &self,
                _ctx: &drctl_core::ActionCtx,
                input: serde_json::Value,
            ) -> Result<Option<drctl_core::Preview>, drctl_core::ActionError> {
                self.plan_(&input).await.map(Some)
            }

            async fn reconcile(
                &self,
                ctx: &drctl_core::ActionCtx,
                input: serde_json::Value,
            ) -> Result<drctl_core::Observed, drctl_core::ActionError> {
                self.reconcile_(ctx, &input).await
            }
        }
    };
}
pub(crate) use action;

/// Builds a client of one service for a step: its credentials, its `endpoint` if it
/// gives one, no retries of the library's own, and a bound on each call.
macro_rules! client {
    ($ty:ty, $conn:expr, $input:expr) => {{
        let mut builder = <$ty>::builder()
            .with_credentials($conn.credentials()?)
            .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry)
            .with_attempt_timeout(crate::config::CALL_TIMEOUT);
        // An empty `endpoint` (a runbook's default) means Google's own.
        if let Some(endpoint) =
            drctl_connectors::input::opt_str($input, "endpoint").filter(|e| !e.trim().is_empty())
        {
            builder = builder.with_endpoint(endpoint);
        }
        builder.build().await.map_err(|e| {
            drctl_core::ActionError::Permanent(format!(
                "GCP: the {} client could not be made: {}",
                stringify!($ty),
                drctl_connectors::input::error_chain(&e)
            ))
        })?
    }};
}
pub(crate) use client;
