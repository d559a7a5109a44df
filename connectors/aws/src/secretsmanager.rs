//! Secrets Manager: store a new secret value, start a rotation, move a staging label.
//!
//! Values are sent, never returned: outputs hold ARNs, names, version ids and stages.
//! `put_secret_value` and `rotate` send a client request token derived from the run, the
//! step and the item, so every attempt of one step sends the same token and AWS makes the
//! version once, however often a retry or a resumed run repeats the call.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::RotationRulesType;
use drctl_connectors::input::{opt_str, str_of, strings};
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Outlook, Preview};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::classify;

crate::action!(PutSecretValue);
crate::action!(Rotate);
crate::action!(UpdateVersionStage);

/// The client request token of this step's item: a UUID-shaped digest of the run, the
/// step, the item and the call (AWS takes 32 to 64 characters).
fn token(ctx: &ActionCtx, call: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "drctl/{}/{}/{:?}/{call}",
        ctx.run, ctx.step, ctx.item
    ));
    let hex = hex::encode(&h.finalize()[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

async fn describe(client: &Client, id: &str) -> Result<DescribeSecretOutput, ActionError> {
    client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| classify(&format!("DescribeSecret of {id}"), &e))
}

fn stages(d: &DescribeSecretOutput) -> HashMap<String, Vec<String>> {
    d.version_ids_to_stages().cloned().unwrap_or_default()
}

/// The version that holds `stage` now.
fn holder(d: &DescribeSecretOutput, stage: &str) -> Option<String> {
    stages(d)
        .into_iter()
        .find(|(_, s)| s.iter().any(|x| x == stage))
        .map(|(v, _)| v)
}

fn show(d: &DescribeSecretOutput) -> Value {
    json!({
        "arn": d.arn(),
        "name": d.name(),
        "versions": stages(d),
        "rotation_enabled": d.rotation_enabled(),
        "last_rotated": d.last_rotated_date().map(ToString::to_string),
        "last_changed": d.last_changed_date().map(ToString::to_string),
    })
}

#[async_trait]
impl Action for PutSecretValue {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "secret_id")?;
        let stages = match input.get("version_stages") {
            Some(_) => Some(strings(&input, "version_stages")?),
            None => None,
        };
        let out = client
            .put_secret_value()
            .secret_id(id)
            .secret_string(str_of(&input, "secret_string")?)
            .client_request_token(token(ctx, "put_secret_value"))
            .set_version_stages(stages)
            .send()
            .await
            .map_err(|e| classify(&format!("PutSecretValue of {id}"), &e))?;
        Ok(json!({
            "arn": out.arn(),
            "name": out.name(),
            "version_id": out.version_id(),
            "version_stages": out.version_stages(),
        }))
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "secret_id")?;
        let d = describe(&client, id).await?;
        let mine = token(ctx, "put_secret_value");
        Ok(Some(if stages(&d).contains_key(&mine) {
            Preview::new(
                Outlook::NoChange,
                format!("{id}: this step's version is stored"),
                show(&d),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "{id}: a new version (AWSCURRENT now {})",
                    holder(&d, "AWSCURRENT").unwrap_or_else(|| "none".into())
                ),
                show(&d),
            )
        }))
    }
}

#[async_trait]
impl Action for Rotate {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "secret_id")?;
        let before = holder(&describe(&client, id).await?, "AWSCURRENT");
        let rules = input
            .get("automatically_after_days")
            .and_then(Value::as_i64)
            .map(|d| {
                RotationRulesType::builder()
                    .automatically_after_days(d)
                    .build()
            });
        let out = client
            .rotate_secret()
            .secret_id(id)
            .client_request_token(token(ctx, "rotate"))
            .set_rotation_lambda_arn(opt_str(&input, "rotation_lambda_arn").map(str::to_owned))
            .set_rotation_rules(rules)
            .rotate_immediately(
                input
                    .get("rotate_immediately")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            )
            .send()
            .await
            .map_err(|e| classify(&format!("RotateSecret of {id}"), &e))?;
        let after = describe(&client, id).await?;
        Ok(json!({
            "arn": out.arn(),
            "name": out.name(),
            "version_id": out.version_id(),
            "previous_current_version": before,
            "current_version": holder(&after, "AWSCURRENT"),
            "pending_version": holder(&after, "AWSPENDING"),
        }))
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "secret_id")?;
        let d = describe(&client, id).await?;
        Ok(Some(if stages(&d).contains_key(&token(ctx, "rotate")) {
            Preview::new(
                Outlook::NoChange,
                format!("{id}: this step's rotation happened"),
                show(&d),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "rotate {id} (last rotated {})",
                    d.last_rotated_date()
                        .map_or_else(|| "never".into(), ToString::to_string)
                ),
                show(&d),
            )
        }))
    }
}

#[async_trait]
impl Action for UpdateVersionStage {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "secret_id")?;
        let stage = str_of(&input, "version_stage")?;
        let to = str_of(&input, "move_to_version_id")?;
        let d = describe(&client, id).await?;
        if !stages(&d).contains_key(to) {
            return Err(ActionError::Permanent(format!("{id} has no version {to}")));
        }
        let from = match opt_str(&input, "remove_from_version_id") {
            Some(v) => Some(v.to_owned()),
            None => holder(&d, stage),
        };
        if from.as_deref() != Some(to) {
            client
                .update_secret_version_stage()
                .secret_id(id)
                .version_stage(stage)
                .move_to_version_id(to)
                .set_remove_from_version_id(from.clone())
                .send()
                .await
                .map_err(|e| classify(&format!("UpdateSecretVersionStage of {id}"), &e))?;
        }
        let after = describe(&client, id).await?;
        Ok(json!({
            "arn": after.arn(),
            "name": after.name(),
            "version_stage": stage,
            "version_id": holder(&after, stage),
            "previous_version_id": from,
        }))
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let id = str_of(&input, "secret_id")?;
        let stage = str_of(&input, "version_stage")?;
        let to = str_of(&input, "move_to_version_id")?;
        let d = describe(&client, id).await?;
        let now = holder(&d, stage);
        Ok(Some(if !stages(&d).contains_key(to) {
            Preview::new(
                Outlook::WouldFail,
                format!("{id} has no version {to}"),
                show(&d),
            )
        } else if now.as_deref() == Some(to) {
            Preview::new(
                Outlook::NoChange,
                format!("{stage} is on {to} already"),
                show(&d),
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!("{stage}: {} -> {to}", now.unwrap_or_else(|| "none".into())),
                show(&d),
            )
        }))
    }
}
