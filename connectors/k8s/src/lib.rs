//! drctl's Kubernetes actions through `kube` (its client only, on rustls). The specs,
//! which validation and plans need, are in `drctl-connectors` (`drctl_connectors::k8s`);
//! this crate adds what runs them, behind the `drctl` binary's default `k8s` feature.
//!
//! - [`config`]: the cluster of a step (a kubeconfig and its context, or in-cluster), with
//!   bounded connect and read times; kube itself never retries, so drctl's step `retry`
//!   decides.
//! - [`error`]: kube's errors sorted into retryable and permanent.
//! - [`workload`]: `scale` (through the `/scale` subresource) and `rollout_restart`, each
//!   waiting for the rollout as `kubectl rollout status` judges it.
//! - [`object`]: `patch` (strategic merge or JSON merge, read back) and `wait_condition`
//!   on any kind.
//! - [`compare`]: a patch compared with an object, before the patch and after it.
//! - [`node`]: `cordon` and `uncordon`.
//!
//! Every action answers `plan` with reads only, and is idempotent: a rollout restart is
//! marked with the run and step that asked for it, so a retry or a resumed run finds its
//! own mark and only waits, where `kubectl rollout restart` would restart the pods again.

mod compare;
mod config;
mod error;
mod names;
mod node;
mod object;
mod workload;

use std::sync::Arc;

use drctl_connectors::wait::Cancellable;
use drctl_core::{Action, ActionSpec};

/// The implementations of the Kubernetes specs given (those of `drctl_connectors::k8s`).
pub fn actions(specs: &[ActionSpec]) -> Vec<Arc<dyn Action>> {
    specs
        .iter()
        .filter_map(|spec| {
            let s = spec.clone();
            let action: Arc<dyn Action> = match spec.name.as_str() {
                "k8s.scale" => Arc::new(workload::Scale(s)),
                "k8s.rollout_restart" => Arc::new(workload::RolloutRestart(s)),
                "k8s.patch" => Arc::new(object::PatchObject(s)),
                "k8s.wait_condition" => Arc::new(object::WaitCondition(s)),
                "k8s.cordon" => Arc::new(node::Cordon(s, true)),
                "k8s.uncordon" => Arc::new(node::Cordon(s, false)),
                _ => return None,
            };
            Some(Arc::new(Cancellable(action)) as Arc<dyn Action>)
        })
        .collect()
}
