//! Cloud KMS: a key rotation in steps. `create_version` makes a new version (and by
//! default the primary), `rewrap` decrypts a ciphertext and encrypts it again with the
//! primary, and once everything is rewrapped `disable_version` or `destroy_version`
//! retires the old version. Neither of those two touches the primary.
//!
//! Creating a version is the one call that is not idempotent: every call adds one. So
//! the step names the version the rotation replaces (`newer_than`, which must exist) and
//! first looks for an enabled version above it, made by an earlier attempt that then
//! crashed or lost its answer, and uses it instead of making another; `reconcile`
//! answers from the same read.
//!
//! A rewrap's plaintext stays in memory for the two calls and is never returned.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use drctl_connectors::input::str_of;
use drctl_core::{ActionCtx, ActionError, Observed, Outlook, Preview};
use google_cloud_kms_v1::client::KeyManagementService;
use google_cloud_kms_v1::model::crypto_key_version::CryptoKeyVersionState;
use google_cloud_kms_v1::model::{CryptoKey, CryptoKeyVersion};
use serde_json::{Value, json};

use crate::error::classify;
use crate::{action, client};

action!(GetKey);
action!(CreateVersion);
action!(SetPrimary);
action!(DisableVersion);
action!(DestroyVersion);
action!(Rewrap);

struct Key {
    client: KeyManagementService,
    /// `projects/…/locations/…/keyRings/…/cryptoKeys/…`
    name: String,
}

/// A version number from the step: a number, or a string of digits.
fn number(input: &Value, key: &str) -> Result<Option<u64>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                ActionError::Permanent(format!("`{key}` must be a key version's number"))
            }),
    }
}

/// The number at the end of a version's name.
fn version_of(name: &str) -> Option<u64> {
    name.rsplit('/').next().and_then(|n| n.parse().ok())
}

fn state(v: &CryptoKeyVersion) -> &str {
    v.state.name().unwrap_or("?")
}

fn show(v: &CryptoKeyVersion) -> Value {
    json!({ "version": version_of(&v.name), "name": v.name, "state": state(v) })
}

impl Key {
    async fn new(conn: &crate::config::Conn, input: &Value) -> Result<Self, ActionError> {
        Ok(Self {
            client: client!(KeyManagementService, conn, input),
            name: format!(
                "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}",
                str_of(input, "project")?,
                str_of(input, "location")?,
                str_of(input, "key_ring")?,
                str_of(input, "key")?
            ),
        })
    }

    fn version_name(&self, n: u64) -> String {
        format!("{}/cryptoKeyVersions/{n}", self.name)
    }

    async fn key(&self) -> Result<CryptoKey, ActionError> {
        self.client
            .get_crypto_key()
            .set_name(&self.name)
            .send()
            .await
            .map_err(|e| classify(&format!("getCryptoKey of {}", self.name), &e))
    }

    fn primary(key: &CryptoKey) -> Option<u64> {
        key.primary.as_ref().and_then(|p| version_of(&p.name))
    }

    async fn version(&self, n: u64) -> Result<CryptoKeyVersion, ActionError> {
        let name = self.version_name(n);
        self.client
            .get_crypto_key_version()
            .set_name(&name)
            .send()
            .await
            .map_err(|e| classify(&format!("getCryptoKeyVersion of {name}"), &e))
    }

    async fn versions(&self) -> Result<Vec<CryptoKeyVersion>, ActionError> {
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .client
                .list_crypto_key_versions()
                .set_parent(&self.name)
                .set_page_size(1000)
                .set_page_token(&token)
                .send()
                .await
                .map_err(|e| classify(&format!("listCryptoKeyVersions of {}", self.name), &e))?;
            all.extend(page.crypto_key_versions);
            if page.next_page_token.is_empty() {
                return Ok(all);
            }
            token = page.next_page_token;
        }
    }

    /// The newest usable version above `n`: one an earlier attempt made. `n` must be a
    /// version of the key: a number above them all would turn the guard off.
    async fn newer_than(&self, n: u64) -> Result<Option<CryptoKeyVersion>, ActionError> {
        let all = self.versions().await?;
        if !all.iter().any(|v| version_of(&v.name) == Some(n)) {
            return Err(ActionError::Permanent(format!(
                "{}: newer_than names version {n}, which the key does not have",
                self.name
            )));
        }
        Ok(all
            .into_iter()
            .filter(|v| {
                matches!(
                    v.state,
                    CryptoKeyVersionState::Enabled | CryptoKeyVersionState::PendingGeneration
                ) && version_of(&v.name).is_some_and(|m| m > n)
            })
            .max_by_key(|v| version_of(&v.name)))
    }

    async fn make_primary(&self, n: u64) -> Result<CryptoKey, ActionError> {
        self.client
            .update_crypto_key_primary_version()
            .set_name(&self.name)
            .set_crypto_key_version_id(n.to_string())
            .send()
            .await
            .map_err(|e| classify(&format!("updatePrimaryVersion of {} to {n}", self.name), &e))
    }
}

impl GetKey {
    async fn read(&self, input: &Value) -> Result<Value, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let k = key.key().await?;
        let versions: Vec<Value> = key.versions().await?.iter().map(show).collect();
        Ok(json!({
            "key": key.name,
            "purpose": k.purpose.name(),
            "primary": Key::primary(&k),
            "versions": versions,
        }))
    }

    async fn run_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        self.read(input).await
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let read = self.read(input).await?;
        Ok(Preview::new(
            Outlook::NoChange,
            format!(
                "{}: primary version {}",
                read["key"].as_str().unwrap_or("?"),
                read["primary"]
            ),
            read,
        ))
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        self.read(input).await.map(Observed::Done)
    }
}

fn wants_primary(input: &Value) -> bool {
    input
        .get("primary")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

impl CreateVersion {
    async fn run_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let before = Self::primary_of(&key).await?;
        let n = number(input, "newer_than")?.ok_or_else(|| {
            ActionError::Permanent(
                "`newer_than` is missing: the version this rotation replaces".into(),
            )
        })?;
        let (version, made) = match key.newer_than(n).await? {
            Some(v) => (v, false),
            None => (self.create(&key).await?, true),
        };
        let n = version_of(&version.name).unwrap_or_default();
        let primary = if wants_primary(input) && before != Some(n) {
            Key::primary(&key.make_primary(n).await?)
        } else {
            before
        };
        let mut out = show(&version);
        out["created"] = json!(made);
        out["primary"] = json!(primary);
        out["previous_primary"] = json!(before);
        Ok(out)
    }

    async fn primary_of(key: &Key) -> Result<Option<u64>, ActionError> {
        Ok(Key::primary(&key.key().await?))
    }

    async fn create(&self, key: &Key) -> Result<CryptoKeyVersion, ActionError> {
        key.client
            .create_crypto_key_version()
            .set_parent(&key.name)
            .set_crypto_key_version(CryptoKeyVersion::new())
            .send()
            .await
            .map_err(|e| classify(&format!("createCryptoKeyVersion of {}", key.name), &e))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let k = key.key().await?;
        let primary = Key::primary(&k);
        let newer = match number(input, "newer_than")? {
            Some(n) => match key.newer_than(n).await {
                Ok(v) => v.map(|v| (n, v)),
                Err(ActionError::Permanent(m)) => {
                    return Ok(Preview::new(Outlook::WouldFail, m, Value::Null));
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        if let Some((n, v)) = newer {
            let m = version_of(&v.name).unwrap_or_default();
            let done = !wants_primary(input) || primary == Some(m);
            return Ok(Preview::new(
                if done {
                    Outlook::NoChange
                } else {
                    Outlook::Change
                },
                format!(
                    "{}: version {m} above {n} exists already{}",
                    key.name,
                    if done { "" } else { "; make it primary" }
                ),
                show(&v),
            ));
        }
        Ok(Preview::new(
            Outlook::Change,
            format!(
                "{}: create a new version{} (primary now {})",
                key.name,
                if wants_primary(input) {
                    " and make it primary"
                } else {
                    ""
                },
                primary.map_or_else(|| "none".to_owned(), |p| p.to_string())
            ),
            json!({ "key": key.name, "primary": primary }),
        ))
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let Some(n) = number(input, "newer_than")? else {
            return Ok(Observed::Unknown(format!(
                "{}: without `newer_than`, a version the interrupted call made cannot be \
                 told from the others",
                key.name
            )));
        };
        let Some(v) = key.newer_than(n).await? else {
            return Ok(Observed::NotDone);
        };
        let m = version_of(&v.name);
        let primary = Self::primary_of(&key).await?;
        // Made but not yet primary: running again finds it and makes it primary.
        if wants_primary(input) && primary != m {
            return Ok(Observed::NotDone);
        }
        let mut out = show(&v);
        out["created"] = json!(true);
        out["primary"] = json!(primary);
        Ok(Observed::Done(out))
    }
}

impl SetPrimary {
    async fn run_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let n = must_number(input)?;
        let before = Key::primary(&key.key().await?);
        let after = if before == Some(n) {
            before
        } else {
            Key::primary(&key.make_primary(n).await?)
        };
        Ok(
            json!({ "key": key.name, "primary": after, "previous_primary": before, "changed": before != Some(n) }),
        )
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let n = must_number(input)?;
        let k = key.key().await?;
        let primary = Key::primary(&k);
        let v = key.version(n).await?;
        let view = json!({ "key": key.name, "primary": primary, "version": show(&v) });
        Ok(if primary == Some(n) {
            Preview::new(
                Outlook::NoChange,
                format!("{}: {n} is primary already", key.name),
                view,
            )
        } else if v.state != CryptoKeyVersionState::Enabled {
            Preview::new(
                Outlook::WouldFail,
                format!("{}: version {n} is {}, not enabled", key.name, state(&v)),
                view,
            )
        } else {
            Preview::new(
                Outlook::Change,
                format!(
                    "{}: primary {} -> {n}",
                    key.name,
                    primary.map_or_else(|| "none".to_owned(), |p| p.to_string())
                ),
                view,
            )
        })
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let n = must_number(input)?;
        let primary = Key::primary(&key.key().await?);
        Ok(if primary == Some(n) {
            Observed::Done(json!({ "key": key.name, "primary": primary, "changed": true }))
        } else {
            Observed::NotDone
        })
    }
}

fn must_number(input: &Value) -> Result<u64, ActionError> {
    number(input, "version")?.ok_or_else(|| ActionError::Permanent("`version` is missing".into()))
}

/// The version to retire, refused if it is the primary: what is still encrypted with
/// the primary would become unreadable.
async fn retiring(key: &Key, n: u64) -> Result<CryptoKeyVersion, ActionError> {
    if Key::primary(&key.key().await?) == Some(n) {
        return Err(ActionError::Permanent(format!(
            "{}: version {n} is the primary; make another version primary first",
            key.name
        )));
    }
    key.version(n).await
}

fn retired(v: &CryptoKeyVersion, destroy: bool) -> bool {
    match v.state {
        CryptoKeyVersionState::DestroyScheduled | CryptoKeyVersionState::Destroyed => true,
        CryptoKeyVersionState::Disabled => !destroy,
        _ => false,
    }
}

async fn retire_plan(key: &Key, n: u64, destroy: bool) -> Result<Preview, ActionError> {
    let verb = if destroy { "destroy" } else { "disable" };
    match retiring(key, n).await {
        Err(ActionError::Permanent(m)) => Ok(Preview::new(Outlook::WouldFail, m, Value::Null)),
        Err(e) => Err(e),
        Ok(v) if retired(&v, destroy) => Ok(Preview::new(
            Outlook::NoChange,
            format!("{}: version {n} is {} already", key.name, state(&v)),
            show(&v),
        )),
        Ok(v) => Ok(Preview::new(
            Outlook::Change,
            format!("{}: {verb} version {n} (now {})", key.name, state(&v)),
            show(&v),
        )),
    }
}

async fn retire_reconcile(key: &Key, n: u64, destroy: bool) -> Result<Observed, ActionError> {
    let v = key.version(n).await?;
    Ok(if retired(&v, destroy) {
        Observed::Done(show(&v))
    } else {
        Observed::NotDone
    })
}

impl DisableVersion {
    async fn run_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let n = must_number(input)?;
        let v = retiring(&key, n).await?;
        if retired(&v, false) {
            let mut out = show(&v);
            out["changed"] = json!(false);
            return Ok(out);
        }
        let after = key
            .client
            .update_crypto_key_version()
            .set_crypto_key_version(
                CryptoKeyVersion::new()
                    .set_name(&v.name)
                    .set_state(CryptoKeyVersionState::Disabled),
            )
            .set_update_mask(google_cloud_wkt::FieldMask::default().set_paths(["state"]))
            .send()
            .await
            .map_err(|e| classify(&format!("updateCryptoKeyVersion of {}", v.name), &e))?;
        let mut out = show(&after);
        out["changed"] = json!(true);
        Ok(out)
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        retire_plan(&key, must_number(input)?, false).await
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        retire_reconcile(&key, must_number(input)?, false).await
    }
}

impl DestroyVersion {
    async fn run_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let n = must_number(input)?;
        let v = retiring(&key, n).await?;
        if retired(&v, true) {
            let mut out = show(&v);
            out["changed"] = json!(false);
            return Ok(out);
        }
        let after = key
            .client
            .destroy_crypto_key_version()
            .set_name(&v.name)
            .send()
            .await
            .map_err(|e| classify(&format!("destroyCryptoKeyVersion of {}", v.name), &e))?;
        let mut out = show(&after);
        out["changed"] = json!(true);
        Ok(out)
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        retire_plan(&key, must_number(input)?, true).await
    }

    async fn reconcile_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Observed, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        retire_reconcile(&key, must_number(input)?, true).await
    }
}

impl Rewrap {
    async fn run_(&self, _ctx: &ActionCtx, input: &Value) -> Result<Value, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let ciphertext = STANDARD
            .decode(str_of(input, "ciphertext")?.trim())
            .map_err(|e| ActionError::Permanent(format!("`ciphertext` is not base64: {e}")))?;
        if ciphertext.is_empty() {
            return Err(ActionError::Permanent("`ciphertext` is empty".into()));
        }
        let plain = key
            .client
            .decrypt()
            .set_name(&key.name)
            .set_ciphertext(ciphertext)
            .send()
            .await
            .map_err(|e| classify(&format!("decrypt with {}", key.name), &e))?;
        let sealed = key
            .client
            .encrypt()
            .set_name(&key.name)
            .set_plaintext(plain.plaintext)
            .send()
            .await
            .map_err(|e| classify(&format!("encrypt with {}", key.name), &e))?;
        Ok(json!({
            "ciphertext": STANDARD.encode(&sealed.ciphertext),
            "version": version_of(&sealed.name),
            "was_primary": plain.used_primary,
        }))
    }

    async fn plan_(&self, input: &Value) -> Result<Preview, ActionError> {
        let key = Key::new(&self.conn, input).await?;
        let primary = Key::primary(&key.key().await?);
        Ok(Preview::new(
            Outlook::Change,
            format!(
                "{}: decrypt, and encrypt again with the primary version the run finds (now {})",
                key.name,
                primary.map_or_else(|| "none".to_owned(), |p| p.to_string())
            ),
            json!({ "key": key.name, "primary": primary }),
        ))
    }

    /// A rewrap repeats safely: a second one gives another ciphertext of the same data.
    async fn reconcile_(&self, _ctx: &ActionCtx, _input: &Value) -> Result<Observed, ActionError> {
        Ok(Observed::NotDone)
    }
}
