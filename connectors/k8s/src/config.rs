//! The cluster of a step: `kubeconfig` (a file) and `context` when the step gives them,
//! else what kube infers (`KUBECONFIG`, `~/.kube/config`, the in-cluster service
//! account). The credentials stay inside kube's client; nothing here prints them, and
//! [`crate::error::remember`] keeps them to withhold from messages. kube's own retry
//! layer is off.

use std::time::Duration;

use drctl_connectors::input::{error_chain, opt_str};

use crate::error::scrubbed;
use drctl_core::ActionError;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::Value;

/// A setting the step gives; empty (a runbook's default) means not given.
fn given<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    opt_str(input, key).filter(|v| !v.trim().is_empty())
}

pub(crate) async fn client(input: &Value) -> Result<Client, ActionError> {
    let options = KubeConfigOptions {
        context: given(input, "context").map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let refused = |what: String| ActionError::Permanent(format!("Kubernetes: {what}"));
    let mut config = match given(input, "kubeconfig") {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                refused(format!("kubeconfig {path}: {}", scrubbed(&error_chain(&e))))
            })?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| {
                    refused(format!("kubeconfig {path}: {}", scrubbed(&error_chain(&e))))
                })?
        }
        None if options.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| refused(format!("kubeconfig: {}", scrubbed(&error_chain(&e)))))?,
        None => Config::infer().await.map_err(|e| {
            refused(format!(
                "no cluster configured: {}",
                scrubbed(&error_chain(&e))
            ))
        })?,
    };
    crate::error::remember(&config.auth_info);
    // kube retries 429 and 503 itself by default: drctl's step `retry` decides instead,
    // so that every attempt is in the run's log.
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    config.write_timeout = Some(Duration::from_secs(30));
    Client::try_from(config).map_err(|e| {
        refused(format!(
            "the client could not be made: {}",
            scrubbed(&error_chain(&e))
        ))
    })
}
