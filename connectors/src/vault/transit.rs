//! The transit actions: read a key's versions, rotate, rewrap, retire old versions.
//!
//! Outputs hold version numbers only. Vault never returns key material for these calls,
//! and the `keys` map it does return (version -> creation time, or a public key for
//! asymmetric keys) is reduced to its version numbers.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use drctl_core::{Action, ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::{Session, with_session};
use crate::core::http::Client;
use crate::guard::{Guarded, against};
use crate::input::{opt_str, str_of, strings};

/// Ciphertexts per rewrap request: the server caps the strings of one JSON body.
const BATCH: usize = 200;

/// A transit key's versions as Vault reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyVersions {
    latest: u64,
    min_decryption: u64,
    min_encryption: u64,
}

impl KeyVersions {
    fn json(&self, key: &str) -> Value {
        json!({
            "key": key,
            "latest_version": self.latest,
            "min_decryption_version": self.min_decryption,
            "min_encryption_version": self.min_encryption,
            // The versions that still decrypt.
            "live_versions": (self.min_decryption.max(1)..=self.latest).collect::<Vec<_>>(),
        })
    }
}

struct Key<'a> {
    mount: &'a str,
    name: &'a str,
}

fn key(input: &Value) -> Result<Key<'_>, ActionError> {
    Ok(Key {
        mount: opt_str(input, "mount")
            .unwrap_or("transit")
            .trim_matches('/'),
        name: str_of(input, "key")?,
    })
}

impl Key<'_> {
    /// The key's own path, with `tail` ("", "/rotate", "/config").
    fn of_key(&self, tail: &str) -> String {
        format!("{}/keys/{}{tail}", self.mount, self.name)
    }

    /// An operation with the key ("rewrap").
    fn op(&self, op: &str) -> String {
        format!("{}/{op}/{}", self.mount, self.name)
    }

    async fn versions(&self, ctx: &ActionCtx, s: &Session<'_>) -> Result<KeyVersions, ActionError> {
        let data = s
            .read(
                ctx,
                &format!("read of transit key {}", self.name),
                &self.of_key(""),
            )
            .await?
            .ok_or_else(|| {
                ActionError::Permanent(format!(
                    "Vault has no transit key `{}` under `{}/`",
                    self.name, self.mount
                ))
            })?;
        let n = |k: &str| data[k].as_u64().unwrap_or(0);
        Ok(KeyVersions {
            latest: n("latest_version"),
            min_decryption: n("min_decryption_version"),
            min_encryption: n("min_encryption_version"),
        })
    }
}

/// The key version a `vault:vN:...` ciphertext was made with.
fn version_of(ciphertext: &str) -> Option<u64> {
    let mut parts = ciphertext.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("vault"), Some(v), Some(_)) => v.strip_prefix('v')?.parse().ok(),
        _ => None,
    }
}

/// How many ciphertexts each key version made, e.g. {"1": 40, "2": 10}.
fn count_versions(ciphertexts: &[String]) -> Result<BTreeMap<String, u64>, ActionError> {
    let mut counts = BTreeMap::new();
    for (i, c) in ciphertexts.iter().enumerate() {
        let v = version_of(c).ok_or_else(|| {
            ActionError::Permanent(format!(
                "ciphertexts[{i}] is not a Vault ciphertext (vault:vN:...)"
            ))
        })?;
        *counts.entry(v.to_string()).or_insert(0) += 1;
    }
    Ok(counts)
}

pub(crate) struct ReadKey {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

#[async_trait]
impl Action for ReadKey {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let key = key(&input)?;
        with_session!(ctx, &self.client, &input, |s| key
            .versions(ctx, &s)
            .await
            .map(|v| v.json(key.name)))
    }
}

pub(crate) struct Rotate {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

/// A rotation's output: the key's versions now, the version it had, whether this call
/// rotated it.
fn rotation(key: &str, now: KeyVersions, previous: u64, rotated: bool) -> Value {
    let mut out = now.json(key);
    out["previous_version"] = json!(previous);
    out["rotated"] = json!(rotated);
    out
}

fn if_version(input: &Value) -> Option<u64> {
    input.get("if_version").and_then(Value::as_u64)
}

#[async_trait]
impl Action for Rotate {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    /// With `if_version`, a key already past that version was rotated (by this step
    /// before a crash, or by someone else): the call reports it and rotates nothing.
    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let key = key(&input)?;
        let guard = if_version(&input);
        with_session!(ctx, &self.client, &input, |s| {
            let before = key.versions(ctx, &s).await?;
            match against(before.latest, guard) {
                Guarded::Done => Ok(rotation(key.name, before, guard.unwrap_or(0), false)),
                Guarded::Behind => Err(ActionError::Permanent(format!(
                    "transit key {} is at version {}, below `if_version` {}",
                    key.name,
                    before.latest,
                    guard.unwrap_or(0)
                ))),
                Guarded::Ready => {
                    s.call(
                        ctx,
                        &format!("rotation of transit key {}", key.name),
                        Method::POST,
                        &key.of_key("/rotate"),
                        None,
                    )
                    .await?;
                    let after = key.versions(ctx, &s).await?;
                    Ok(rotation(key.name, after, before.latest, true))
                }
            }
        })
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let key = key(&input)?;
        let guard = if_version(&input);
        with_session!(ctx, &self.client, &input, |s| {
            let now = key.versions(ctx, &s).await?;
            let (v, observed) = (guard.unwrap_or(0), now.json(key.name));
            Ok(Some(match against(now.latest, guard) {
                Guarded::Done => Preview::new(
                    Outlook::NoChange,
                    format!(
                        "{} is at v{}: already rotated past v{v}",
                        key.name, now.latest
                    ),
                    observed,
                ),
                Guarded::Behind => Preview::new(
                    Outlook::WouldFail,
                    format!("{} is at v{}, below if_version {v}", key.name, now.latest),
                    observed,
                ),
                Guarded::Ready => Preview::new(
                    Outlook::Change,
                    format!("{} v{} -> v{}", key.name, now.latest, now.latest + 1),
                    observed,
                ),
            }))
        })
    }

    /// Only `if_version` tells a rotation that happened from one that did not: without
    /// it, a key at version N may have been rotated by this call or be waiting for it.
    async fn reconcile(&self, ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let Some(v) = if_version(&input) else {
            return Ok(Observed::Unknown(
                "without `if_version` a rotation that happened cannot be told from one that \
                 did not; give the version the key had before (e.g. from vault.transit.read_key)"
                    .into(),
            ));
        };
        let key = key(&input)?;
        with_session!(ctx, &self.client, &input, |s| {
            let now = key.versions(ctx, &s).await?;
            Ok(match against(now.latest, Some(v)) {
                Guarded::Done => Observed::Done(rotation(key.name, now, v, true)),
                Guarded::Ready | Guarded::Behind => Observed::NotDone,
            })
        })
    }
}

pub(crate) struct Rewrap {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

#[async_trait]
impl Action for Rewrap {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    /// Rewrapping is idempotent: a ciphertext already at the target version comes back
    /// as it is (re-encrypted with the same version), so a retry is harmless.
    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let key = key(&input)?;
        let ciphertexts = strings(&input, "ciphertexts")?;
        let from = count_versions(&ciphertexts)?;
        let target = input.get("key_version").and_then(Value::as_u64);
        with_session!(ctx, &self.client, &input, |s| {
            let mut out = Vec::with_capacity(ciphertexts.len());
            for (n, chunk) in ciphertexts.chunks(BATCH).enumerate() {
                let mut body = json!({
                    "batch_input": chunk.iter().map(|c| json!({ "ciphertext": c })).collect::<Vec<_>>(),
                });
                if let Some(v) = target {
                    body["key_version"] = json!(v);
                }
                let data = s
                    .call(
                        ctx,
                        &format!("rewrap with transit key {}", key.name),
                        Method::POST,
                        &key.op("rewrap"),
                        Some(body),
                    )
                    .await?;
                let results = data["batch_results"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if results.len() != chunk.len() {
                    return Err(ActionError::Retryable(format!(
                        "Vault rewrapped {} of {} ciphertexts",
                        results.len(),
                        chunk.len()
                    )));
                }
                for (i, r) in results.iter().enumerate() {
                    match (r["ciphertext"].as_str(), r["error"].as_str()) {
                        (Some(c), None | Some("")) => out.push(c.to_owned()),
                        (_, error) => {
                            return Err(ActionError::Permanent(format!(
                                "ciphertexts[{}]: Vault refused to rewrap it: {}",
                                n * BATCH + i,
                                error.unwrap_or("no ciphertext in its answer")
                            )));
                        }
                    }
                }
            }
            let to = count_versions(&out)?;
            Ok(json!({
                "key": key.name,
                "count": out.len(),
                "from_versions": from,
                "to_versions": to,
                "key_version": to.keys().filter_map(|v| v.parse::<u64>().ok()).max(),
                "ciphertexts": out,
            }))
        })
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let key = key(&input)?;
        let ciphertexts = strings(&input, "ciphertexts")?;
        let from = count_versions(&ciphertexts)?;
        with_session!(ctx, &self.client, &input, |s| {
            let now = key.versions(ctx, &s).await?;
            let target = input
                .get("key_version")
                .and_then(Value::as_u64)
                .unwrap_or(now.latest);
            let behind: u64 = from
                .iter()
                .filter(|(v, _)| v.parse::<u64>().is_ok_and(|v| v < target))
                .map(|(_, n)| n)
                .sum();
            let mut observed = now.json(key.name);
            observed["from_versions"] = json!(from);
            Ok(Some(if target > now.latest {
                Preview::new(
                    Outlook::WouldFail,
                    format!(
                        "{} has no version {target} (latest v{})",
                        key.name, now.latest
                    ),
                    observed,
                )
            } else if behind == 0 {
                Preview::new(
                    Outlook::NoChange,
                    format!(
                        "all {} ciphertexts are at v{target} or later",
                        ciphertexts.len()
                    ),
                    observed,
                )
            } else {
                Preview::new(
                    Outlook::Change,
                    format!(
                        "{behind} of {} ciphertexts rewrapped to v{target}",
                        ciphertexts.len()
                    ),
                    observed,
                )
            }))
        })
    }
}

pub(crate) struct SetMinDecryption {
    pub(crate) spec: ActionSpec,
    pub(crate) client: Arc<Client>,
}

fn wanted_min(input: &Value) -> Result<u64, ActionError> {
    input
        .get("min_decryption_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| ActionError::Permanent("`min_decryption_version` must be a number".into()))
}

#[async_trait]
impl Action for SetMinDecryption {
    fn spec(&self) -> &ActionSpec {
        &self.spec
    }

    async fn run(&self, ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let key = key(&input)?;
        let min = wanted_min(&input)?;
        with_session!(ctx, &self.client, &input, |s| {
            let before = key.versions(ctx, &s).await?;
            // Vault refuses this too; saying it here names both numbers.
            if min > before.latest {
                return Err(ActionError::Permanent(format!(
                    "transit key {} has no version {min} (latest is v{}): nothing would decrypt",
                    key.name, before.latest
                )));
            }
            s.call(
                ctx,
                &format!("configuration of transit key {}", key.name),
                Method::POST,
                &key.of_key("/config"),
                Some(json!({ "min_decryption_version": min })),
            )
            .await?;
            let after = key.versions(ctx, &s).await?;
            if after.min_decryption != min {
                return Err(ActionError::Retryable(format!(
                    "Vault accepted min_decryption_version {min} for {} but reports {}",
                    key.name, after.min_decryption
                )));
            }
            let mut out = after.json(key.name);
            out["previous_min_decryption_version"] = json!(before.min_decryption);
            Ok(out)
        })
    }

    async fn plan(&self, ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let key = key(&input)?;
        let min = wanted_min(&input)?;
        with_session!(ctx, &self.client, &input, |s| {
            let now = key.versions(ctx, &s).await?;
            let observed = now.json(key.name);
            Ok(Some(if min > now.latest {
                Preview::new(
                    Outlook::WouldFail,
                    format!("{} has no version {min} (latest v{})", key.name, now.latest),
                    observed,
                )
            } else if min == now.min_decryption {
                Preview::new(
                    Outlook::NoChange,
                    format!("{} already decrypts from v{min} only", key.name),
                    observed,
                )
            } else {
                Preview::new(
                    Outlook::Change,
                    format!(
                        "{} min decryption version v{} -> v{min}",
                        key.name, now.min_decryption
                    ),
                    observed,
                )
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_ciphertext_prefix() {
        assert_eq!(version_of("vault:v3:abc=="), Some(3));
        assert_eq!(version_of("vault:v12:a:b"), Some(12));
        assert_eq!(version_of("vault:3:abc"), None);
        assert_eq!(version_of("plain"), None);
        let counts = count_versions(&[
            "vault:v1:x".into(),
            "vault:v2:y".into(),
            "vault:v1:z".into(),
        ])
        .unwrap_or_default();
        assert_eq!(counts.get("1"), Some(&2));
        assert_eq!(counts.get("2"), Some(&1));
        assert!(count_versions(&["nope".into()]).is_err());
    }
}
