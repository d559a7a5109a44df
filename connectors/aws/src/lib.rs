//! drctl's AWS actions through the official AWS SDK for Rust (slim features: no SSO, the
//! SDK's HTTPS client on rustls with aws-lc-rs, tokio). The specs, which validation and
//! plans need, are in `drctl-connectors` (`drctl_connectors::aws`); this crate adds what
//! runs them, behind the `drctl` binary's default `aws` feature, so that work on the
//! engine never rebuilds the SDK.
//!
//! - [`config`]: one SDK configuration per (region, endpoint, profile); the SDK's own
//!   retries off, so drctl's step `retry` decides and records every attempt.
//! - [`error`]: SDK errors sorted into retryable and permanent.
//! - [`route53`]: `change_records` (UPSERT, wait until INSYNC), `health_check_status`.
//! - [`rds`]: `promote_read_replica`, `failover_cluster`, `restore_to_point_in_time`,
//!   `wait_available`.
//! - [`autoscaling`]: a group's desired capacity (`set_desired_capacity`).
//! - [`kms`]: `rotate` (on demand), `enable_rotation`, `re_encrypt`, `update_alias`.
//! - [`secretsmanager`]: `put_secret_value`, `rotate`, `update_version_stage`.
//!
//! Every action answers `plan` with describe calls only. The non-idempotent ones
//! (promote, cluster failover, restore, key rotation) reconcile after a crash by reading
//! the resource back; Secrets Manager's calls are made idempotent with a client request
//! token derived from the run, step and item, so a retry never stores a second version.

mod autoscaling;
mod config;
mod error;
mod kms;
mod rds;
mod route53;
mod secretsmanager;

use std::sync::Arc;

use drctl_connectors::wait::Cancellable;
use drctl_core::{Action, ActionSpec};

use crate::config::Configs;

/// The implementations of the AWS specs given (those of `drctl_connectors::aws`), with
/// credentials from the SDK's standard chain.
pub fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    build(specs, Configs::default())
}

/// Like [`actions`], with these credentials instead of the standard chain: for a program
/// that holds credentials itself, and for tests, which cannot set environment variables
/// in their own process.
pub fn actions_with_credentials(
    specs: &[ActionSpec],
    credentials: aws_sdk_kms::config::Credentials,
) -> Vec<Arc<dyn Action>> {
    build(specs, Configs::with_credentials(credentials))
}

fn build(specs: &[ActionSpec], configs: Configs) -> Vec<Arc<dyn Action>> {
    let configs = Arc::new(configs);
    specs
        .iter()
        .filter_map(|spec| {
            let s = spec.clone();
            let c = configs.clone();
            let action: Arc<dyn Action> = match spec.name.as_str() {
                "aws.route53.change_records" => Arc::new(route53::ChangeRecords::new(s, c)),
                "aws.route53.health_check_status" => {
                    Arc::new(route53::HealthCheckStatus::new(s, c))
                }
                "aws.rds.promote_read_replica" => Arc::new(rds::PromoteReadReplica::new(s, c)),
                "aws.rds.failover_cluster" => Arc::new(rds::FailoverCluster::new(s, c)),
                "aws.rds.restore_to_point_in_time" => Arc::new(rds::RestoreToTime::new(s, c)),
                "aws.rds.wait_available" => Arc::new(rds::WaitAvailable::new(s, c)),
                "aws.autoscaling.set_desired_capacity" => {
                    Arc::new(autoscaling::SetDesiredCapacity::new(s, c))
                }
                "aws.kms.rotate" => Arc::new(kms::Rotate::new(s, c)),
                "aws.kms.enable_rotation" => Arc::new(kms::EnableRotation::new(s, c)),
                "aws.kms.re_encrypt" => Arc::new(kms::ReEncrypt::new(s, c)),
                "aws.kms.update_alias" => Arc::new(kms::UpdateAlias::new(s, c)),
                "aws.secretsmanager.put_secret_value" => {
                    Arc::new(secretsmanager::PutSecretValue::new(s, c))
                }
                "aws.secretsmanager.rotate" => Arc::new(secretsmanager::Rotate::new(s, c)),
                "aws.secretsmanager.update_version_stage" => {
                    Arc::new(secretsmanager::UpdateVersionStage::new(s, c))
                }
                _ => return None,
            };
            Some(Arc::new(Cancellable(action)) as Arc<dyn Action>)
        })
        .collect()
}

/// Declares an action type: its spec and the shared configurations.
macro_rules! action {
    ($name:ident) => {
        pub(crate) struct $name {
            spec: drctl_core::ActionSpec,
            configs: std::sync::Arc<crate::config::Configs>,
        }

        impl $name {
            pub(crate) fn new(
                spec: drctl_core::ActionSpec,
                configs: std::sync::Arc<crate::config::Configs>,
            ) -> Self {
                Self { spec, configs }
            }
        }
    };
}
pub(crate) use action;
