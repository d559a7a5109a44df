//! KMS: rotate a key's material on demand, turn on automatic rotation, re-encrypt
//! ciphertexts under a key, point an alias at another key.
//!
//! Outputs hold key ids, ARNs, rotation counts and dates: never key material, and
//! re-encryption returns only new ciphertexts (KMS never shows the plaintext).

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use drctl_connectors::guard::{Guarded, against};
use drctl_connectors::input::{opt_str, str_of, strings};
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use serde_json::{Value, json};

use crate::error::classify;

crate::action!(Rotate);
crate::action!(EnableRotation);
crate::action!(ReEncrypt);
crate::action!(UpdateAlias);

/// A key id, ARN or alias resolved to the key's id and ARN.
async fn resolve(client: &Client, key: &str) -> Result<(String, String), ActionError> {
    let out = client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .map_err(|e| classify(&format!("DescribeKey of {key}"), &e))?;
    let meta = out.key_metadata().ok_or_else(|| {
        ActionError::Retryable(format!("DescribeKey of {key} answered no metadata"))
    })?;
    Ok((
        meta.key_id().to_owned(),
        meta.arn().unwrap_or("").to_owned(),
    ))
}

/// How many rotations the key has had (automatic and on demand), all pages.
async fn rotations(client: &Client, key_id: &str) -> Result<u64, ActionError> {
    let mut n = 0;
    let mut marker = None;
    loop {
        let out = client
            .list_key_rotations()
            .key_id(key_id)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify(&format!("ListKeyRotations of {key_id}"), &e))?;
        n += out.rotations().len() as u64;
        match out.next_marker() {
            Some(m) if out.truncated() => marker = Some(m.to_owned()),
            _ => return Ok(n),
        }
    }
}

fn guard(input: &Value) -> Option<u64> {
    input.get("if_rotations").and_then(Value::as_u64)
}

/// A rotation's output: the key, its rotations now and before, whether this call rotated.
fn rotation(id: &str, arn: &str, now: u64, previous: u64, rotated: bool) -> Value {
    json!({ "key_id": id, "arn": arn, "rotations": now,
            "previous_rotations": previous, "rotated": rotated })
}

#[async_trait]
impl Action for Rotate {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    /// With `if_rotations`, a key that has had more rotations was rotated already (by
    /// this step before a crash, or by someone else): nothing more happens.
    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let (id, arn) = resolve(&client, str_of(&input, "key_id")?).await?;
        let before = rotations(&client, &id).await?;
        let g = guard(&input);
        match against(before, g) {
            Guarded::Done => return Ok(rotation(&id, &arn, before, g.unwrap_or(0), false)),
            Guarded::Behind => {
                return Err(ActionError::Permanent(format!(
                    "key {id} has had {before} rotations, fewer than `if_rotations` {}",
                    g.unwrap_or(0)
                )));
            }
            Guarded::Ready => {}
        }
        client
            .rotate_key_on_demand()
            .key_id(&id)
            .send()
            .await
            .map_err(|e| classify(&format!("RotateKeyOnDemand of {id}"), &e))?;
        let after = rotations(&client, &id).await?;
        Ok(rotation(&id, &arn, after, before, true))
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let (id, arn) = resolve(&client, str_of(&input, "key_id")?).await?;
        let n = rotations(&client, &id).await?;
        let observed = json!({ "key_id": id, "arn": arn, "rotations": n });
        let g = guard(&input);
        let v = g.unwrap_or(0);
        Ok(Some(match against(n, g) {
            Guarded::Done => Preview::new(
                Outlook::NoChange,
                format!("{id} has had {n} rotations: already rotated past {v}"),
                observed,
            ),
            Guarded::Behind => Preview::new(
                Outlook::WouldFail,
                format!("{id} has had {n} rotations, fewer than if_rotations {v}"),
                observed,
            ),
            Guarded::Ready => Preview::new(
                Outlook::Change,
                format!("rotate {id} now (rotations {n} -> {})", n + 1),
                observed,
            ),
        }))
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let Some(g) = guard(&input) else {
            return Ok(Observed::Unknown(
                "without `if_rotations` a rotation that happened cannot be told from one that \
                 did not"
                    .into(),
            ));
        };
        let client = Client::new(&self.configs.get(&input).await);
        let (id, arn) = resolve(&client, str_of(&input, "key_id")?).await?;
        let n = rotations(&client, &id).await?;
        Ok(match against(n, Some(g)) {
            Guarded::Done => Observed::Done(rotation(&id, &arn, n, g, true)),
            Guarded::Ready | Guarded::Behind => Observed::NotDone,
        })
    }
}

/// Whether automatic rotation is on, and its period.
async fn rotation_status(client: &Client, id: &str) -> Result<(bool, Option<i32>), ActionError> {
    let out = client
        .get_key_rotation_status()
        .key_id(id)
        .send()
        .await
        .map_err(|e| classify(&format!("GetKeyRotationStatus of {id}"), &e))?;
    Ok((out.key_rotation_enabled(), out.rotation_period_in_days()))
}

fn period(input: &Value) -> Option<i32> {
    input
        .get("rotation_period_in_days")
        .and_then(Value::as_i64)
        .and_then(|d| i32::try_from(d).ok())
}

#[async_trait]
impl Action for EnableRotation {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let (id, arn) = resolve(&client, str_of(&input, "key_id")?).await?;
        client
            .enable_key_rotation()
            .key_id(&id)
            .set_rotation_period_in_days(period(&input))
            .send()
            .await
            .map_err(|e| classify(&format!("EnableKeyRotation of {id}"), &e))?;
        let (enabled, days) = rotation_status(&client, &id).await?;
        // The rotations so far: what `aws.kms.rotate`'s `if_rotations` guards on.
        let n = rotations(&client, &id).await?;
        Ok(
            json!({ "key_id": id, "arn": arn, "rotation_enabled": enabled,
                   "rotation_period_in_days": days, "rotations": n }),
        )
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let (id, arn) = resolve(&client, str_of(&input, "key_id")?).await?;
        let (enabled, days) = rotation_status(&client, &id).await?;
        let observed = json!({ "key_id": id, "arn": arn, "rotation_enabled": enabled, "rotation_period_in_days": days });
        let same_period = period(&input).is_none_or(|p| Some(p) == days);
        Ok(Some(if enabled && same_period {
            Preview::new(
                Outlook::NoChange,
                format!("{id} rotates automatically already"),
                observed,
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "{id} automatic rotation {} -> on{}",
                    if enabled { "on" } else { "off" },
                    period(&input)
                        .map(|p| format!(", every {p} days"))
                        .unwrap_or_default()
                ),
                observed,
            )
        }))
    }
}

#[async_trait]
impl Action for ReEncrypt {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let destination = str_of(&input, "destination_key_id")?;
        let source = opt_str(&input, "source_key_id");
        let mut out = Vec::new();
        let mut from = std::collections::BTreeMap::<String, u64>::new();
        for (i, text) in strings(&input, "ciphertexts")?.iter().enumerate() {
            let blob = decode(text)
                .ok_or_else(|| ActionError::Permanent(format!("ciphertexts[{i}] is not base64")))?;
            let r = client
                .re_encrypt()
                .ciphertext_blob(Blob::new(blob))
                .destination_key_id(destination)
                .set_source_key_id(source.map(str::to_owned))
                .send()
                .await
                .map_err(|e| classify(&format!("ReEncrypt of ciphertexts[{i}]"), &e))?;
            *from
                .entry(r.source_key_id().unwrap_or("?").to_owned())
                .or_default() += 1;
            out.push(encode(
                r.ciphertext_blob().map(Blob::as_ref).unwrap_or_default(),
            ));
        }
        Ok(json!({
            "destination_key_id": destination,
            "count": out.len(),
            "from_keys": from,
            "ciphertexts": out,
        }))
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let destination = str_of(&input, "destination_key_id")?;
        let (id, arn) = resolve(&client, destination).await?;
        let n = strings(&input, "ciphertexts")?.len();
        Ok(Some(Preview::new(
            Outlook::Change,
            format!("{n} ciphertexts re-encrypted under {id}"),
            json!({ "key_id": id, "arn": arn }),
        )))
    }
}

/// Ciphertext blobs travel as standard base64, as the KMS API and CLI show them.
fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[async_trait]
impl Action for UpdateAlias {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let alias = str_of(&input, "alias_name")?;
        let (target, arn) = resolve(&client, str_of(&input, "target_key_id")?).await?;
        let before = alias_target(&client, alias).await?;
        client
            .update_alias()
            .alias_name(alias)
            .target_key_id(&target)
            .send()
            .await
            .map_err(|e| classify(&format!("UpdateAlias of {alias}"), &e))?;
        Ok(
            json!({ "alias_name": alias, "target_key_id": target, "target_arn": arn,
                   "previous_target_key_id": before }),
        )
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let client = Client::new(&self.configs.get(&input).await);
        let alias = str_of(&input, "alias_name")?;
        let (target, _) = resolve(&client, str_of(&input, "target_key_id")?).await?;
        let now = alias_target(&client, alias).await?;
        let observed = json!({ "alias_name": alias, "target_key_id": now });
        Ok(Some(match now {
            None => Preview::new(Outlook::WouldFail, format!("no alias {alias}"), observed),
            Some(t) if t == target => Preview::new(
                Outlook::NoChange,
                format!("{alias} already names {target}"),
                observed,
            ),
            Some(t) => Preview::new(
                Outlook::Change,
                format!("{alias} {t} -> {target}"),
                observed,
            ),
        }))
    }
}

/// The key an alias names now, from ListAliases (all pages).
async fn alias_target(client: &Client, alias: &str) -> Result<Option<String>, ActionError> {
    let mut marker = None;
    loop {
        let out = client
            .list_aliases()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| classify("ListAliases", &e))?;
        if let Some(a) = out.aliases().iter().find(|a| a.alias_name() == Some(alias)) {
            return Ok(a.target_key_id().map(str::to_owned));
        }
        match out.next_marker() {
            Some(m) if out.truncated() => marker = Some(m.to_owned()),
            _ => return Ok(None),
        }
    }
}
