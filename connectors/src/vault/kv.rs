//! KV version 2: write a new version of a secret, read a secret's version and field names.
//!
//! Values are written, never returned: `vault.kv.get` reports the version, its times and
//! the names of the fields, so a runbook can check that a secret exists at the version it
//! expects without its value ever reaching the event log.

use std::sync::Arc;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::with_session;
use crate::core::http::Client;
use crate::input::{opt_str, str_of};

struct Secret<'a> {
    mount: &'a str,
    path: &'a str,
}

fn secret(input: &Value) -> Result<Secret<'_>, ActionError> {
    Ok(Secret {
        mount: opt_str(input, "mount")
            .unwrap_or("secret")
            .trim_matches('/'),
        path: str_of(input, "path")?.trim_matches('/'),
    })
}

impl Secret<'_> {
    fn url(&self, kind: &str) -> String {
        format!("{}/{kind}/{}", self.mount, self.path)
    }

    fn name(&self) -> String {
        format!("{}/{}", self.mount, self.path)
    }
}

pub(crate) struct Put {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

#[async_trait]
impl Action for Put {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let secret = secret(&input)?;
        let data = input
            .get("data")
            .filter(|d| d.is_object())
            .cloned()
            .ok_or_else(|| ActionError::Permanent("`data` must be a map of fields".into()))?;
        let fields: Vec<String> = data
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut body = json!({ "data": data });
        if let Some(cas) = input.get("cas").and_then(Value::as_u64) {
            body["options"] = json!({ "cas": cas });
        }
        with_session!(ctx, &self.client, &input, |s| {
            let out = s
                .call(
                    ctx,
                    &format!("write of {}", secret.name()),
                    Method::POST,
                    &secret.url("data"),
                    Some(body),
                )
                .await?;
            Ok(json!({
                "path": secret.name(),
                "version": out["version"],
                "created_time": out["created_time"],
                "fields": fields,
            }))
        })
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let secret = secret(&input)?;
        let cas = input.get("cas").and_then(Value::as_u64);
        with_session!(ctx, &self.client, &input, |s| {
            let meta = s
                .read(
                    ctx,
                    &format!("metadata of {}", secret.name()),
                    &secret.url("metadata"),
                )
                .await?;
            let current = meta
                .as_ref()
                .and_then(|m| m["current_version"].as_u64())
                .unwrap_or(0);
            let observed = json!({ "path": secret.name(), "current_version": current });
            Ok(Some(match cas {
                Some(cas) if cas != current => Preview::new(
                    Outlook::WouldFail,
                    format!("{} is at version {current}, not {cas} (cas)", secret.name()),
                    observed,
                ),
                _ => Preview::new(
                    Outlook::Change,
                    format!("{} version {current} -> {}", secret.name(), current + 1),
                    observed,
                ),
            }))
        })
    }
}

pub(crate) struct Get {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

#[async_trait]
impl Action for Get {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let secret = secret(&input)?;
        let mut path = secret.url("data");
        if let Some(v) = input.get("version").and_then(Value::as_u64) {
            path.push_str(&format!("?version={v}"));
        }
        with_session!(ctx, &self.client, &input, |s| {
            let data = s
                .read(ctx, &format!("read of {}", secret.name()), &path)
                .await?
                .ok_or_else(|| {
                    ActionError::Permanent(format!("Vault has no secret {}", secret.name()))
                })?;
            let meta = &data["metadata"];
            // The field names only: the values stay in Vault.
            let fields: Vec<&String> = data["data"]
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            Ok(json!({
                "path": secret.name(),
                "version": meta["version"],
                "created_time": meta["created_time"],
                "deleted": !meta["deletion_time"].as_str().unwrap_or("").is_empty(),
                "destroyed": meta["destroyed"].as_bool().unwrap_or(false),
                "fields": fields,
            }))
        })
    }
}
