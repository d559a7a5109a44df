//! Azure Key Vault keys, through Azure's data-plane crate `azure_security_keyvault_keys`:
//! read a key's versions (`get_key`) and rotate it (`rotate_key`).
//!
//! The client goes to the vault's own URL, with the process's shared HTTP client as its
//! transport and its retries off (drctl's `retry` decides). Key Vault authenticates with a
//! challenge: the first request goes without a token, the vault answers 401 naming its
//! audience, and the client asks [`VaultCredential`] for a token of that audience. The
//! client checks that the audience belongs to the vault's domain, so a vault URL cannot
//! draw a token for another vault's audience; only a vault on this machine (a test double
//! or a tunnel) is exempt, since no token leaves it.
//!
//! A rotation is not idempotent (each call adds a version), so it is guarded: it runs only
//! while `from_version` is the key's current version. A current version newer than it
//! (after a lost answer, a crash, or someone else's rotation) means done, read back.

use std::sync::Arc;
use std::time::Duration;

use azure_core::error::ErrorKind;
use azure_core::http::headers::RETRY_AFTER;
use azure_core::http::{ClientOptions, RetryOptions, Transport, Url};
use azure_security_keyvault_keys::models::{Key, KeyAttributes};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceId};
use drctl_connectors::input::{error_chain, str_of};
use drctl_connectors::sent;
use drctl_core::{ActionCtx, ActionError, ActionSpec, Observed, Outlook, Preview};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

use crate::auth::{Auth, VaultCredential};

/// How long one call may take.
const CALL: Duration = Duration::from_secs(30);
/// The most version pages read (25 versions each): a bound, not an expectation.
const MAX_PAGES: usize = 400;

/// What Key Vault actions share: the credentials, and (for tests) an HTTP client that
/// trusts a test double's certificate authority.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) auth: Arc<Auth>,
    pub(crate) http: Option<reqwest::Client>,
}

/// A key of a vault, and a client for it.
struct Vault {
    client: KeyClient,
    key: String,
    label: String,
}

/// One version of a key, as the step reports it.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    enabled: Option<bool>,
    created: Option<i64>,
    shown: Value,
}

impl Vault {
    fn new(conn: &Conn, input: &Value) -> Result<Self, ActionError> {
        let url = vault_url(str_of(input, "vault_url")?)?;
        let key = key_name(str_of(input, "key")?)?;
        let http = match &conn.http {
            Some(c) => c.clone(),
            None => drctl_connectors::core::http::shared()?.clone(),
        };
        let client_options = ClientOptions {
            retry: RetryOptions::none(),
            transport: Some(Transport::new(Arc::new(http))),
            ..ClientOptions::default()
        };
        let options = KeyClientOptions {
            client_options,
            verify_challenge_resource: Some(!on_this_machine(&url)),
            ..KeyClientOptions::default()
        };
        let credential = Arc::new(VaultCredential(conn.auth.clone()));
        let client = KeyClient::new(url.as_str(), credential, Some(options))
            .map_err(|e| ActionError::Permanent(format!("vault_url: {}", error_chain(&e))))?;
        let host = url.host_str().unwrap_or("?").to_owned();
        Ok(Self {
            client,
            label: format!("key {key} of {host}"),
            key,
        })
    }

    /// The key's current version.
    async fn current(&self) -> Result<Version, ActionError> {
        let what = format!("get of {}", self.label);
        let answer = call(&what, self.client.get_key(&self.key, None)).await?;
        let key: Key = answer.into_model().map_err(|e| unreadable(&what, &e))?;
        let kid = key.key.as_ref().and_then(|k| k.kid.clone());
        version(&what, kid.as_deref(), key.attributes.as_ref())
    }

    /// Every version of the key, oldest first.
    async fn versions(&self) -> Result<Vec<Version>, ActionError> {
        let what = format!("list of the versions of {}", self.label);
        let pager = self
            .client
            .list_key_properties_versions(&self.key, None)
            .map_err(|e| classify(&what, &e))?;
        let mut pages = pager.into_pages();
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some(page) = call(&what, pages.try_next()).await? else {
                out.sort_by_key(|v: &Version| v.created);
                return Ok(out);
            };
            let page = page.into_model().map_err(|e| unreadable(&what, &e))?.value;
            for p in page {
                out.push(version(&what, p.kid.as_deref(), p.attributes.as_ref())?);
            }
        }
        Err(ActionError::Permanent(format!(
            "{what}: more than {MAX_PAGES} pages; not read"
        )))
    }

    /// Everything `get_key` reports.
    async fn read(&self) -> Result<Value, ActionError> {
        let current = self.current().await?;
        let versions = self.versions().await?;
        Ok(json!({
            "key": self.key,
            "current_version": current.id,
            "enabled": current.enabled,
            "versions": versions.iter().map(|v| v.shown.clone()).collect::<Vec<_>>(),
        }))
    }
}

/// Whether a rotation away from `from` has happened, by the key as it is now.
enum Rotation {
    /// `from` is still current.
    Pending,
    /// A newer version is current.
    Done(Value),
}

impl Vault {
    async fn rotation(&self, from: &str) -> Result<(Rotation, Version), ActionError> {
        let current = self.current().await?;
        if current.id == from {
            return Ok((Rotation::Pending, current));
        }
        let versions = self.versions().await?;
        let Some(old) = versions.iter().find(|v| v.id == from) else {
            return Err(ActionError::Permanent(format!(
                "{} has no version {from}; from_version must be the version this rotation \
                 replaces, as azure.keyvault.get_key reads it (current: {})",
                self.label, current.id
            )));
        };
        if old.created > current.created {
            return Err(ActionError::Permanent(format!(
                "{}: version {from} is newer than the current version {}",
                self.label, current.id
            )));
        }
        let out = json!({
            "key": self.key,
            "from_version": from,
            "current_version": current.id,
            "rotated": true,
            "already_rotated": true,
        });
        Ok((Rotation::Done(out), current))
    }
}

fn from_version(input: &Value) -> Result<String, ActionError> {
    let v = str_of(input, "from_version")?.trim();
    if v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ActionError::Permanent(format!(
            "from_version {v:?} is not a Key Vault key version (32 hexadecimal digits)"
        )));
    }
    Ok(v.to_owned())
}

/// `https://NAME.vault.azure.net` (a path, a query or another scheme are refused).
fn vault_url(text: &str) -> Result<Url, ActionError> {
    let bad = |why: &str| {
        ActionError::Permanent(format!(
            "vault_url {text:?} {why}; it is the vault's URL, e.g. https://mantissa-kv.vault.azure.net"
        ))
    };
    let url = Url::parse(text.trim()).map_err(|_| bad("is not a URL"))?;
    if url.scheme() != "https" {
        return Err(bad("is not https (Key Vault tokens go over TLS only)"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("has a path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("has credentials in it"));
    }
    Ok(url)
}

/// A vault on this machine: a test double, or a tunnel.
fn on_this_machine(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Key names are 1 to 127 letters, digits and dashes (Key Vault's rule); checked before
/// the name goes into a path.
fn key_name(name: &str) -> Result<String, ActionError> {
    if name.is_empty()
        || name.len() > 127
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ActionError::Permanent(format!(
            "key {name:?} is not a Key Vault key name (1 to 127 letters, digits and dashes)"
        )));
    }
    Ok(name.to_owned())
}

fn version(
    what: &str,
    kid: Option<&str>,
    attributes: Option<&KeyAttributes>,
) -> Result<Version, ActionError> {
    let id = kid
        .and_then(|k| k.parse::<ResourceId>().ok())
        .and_then(|r| r.version)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            ActionError::Permanent(format!("{what}: the answer names no key version ({kid:?})"))
        })?;
    let time = |t: Option<azure_core::time::OffsetDateTime>| t.map(|t| t.unix_timestamp());
    let a = attributes.cloned().unwrap_or_default();
    let shown_time = |t: Option<azure_core::time::OffsetDateTime>| {
        t.map(|t| json!(azure_core::time::to_rfc3339(&t)))
            .unwrap_or(Value::Null)
    };
    Ok(Version {
        shown: json!({
            "version": id,
            "enabled": a.enabled,
            "created": shown_time(a.created),
            "updated": shown_time(a.updated),
            "expires": shown_time(a.expires),
            "not_before": shown_time(a.not_before),
        }),
        id,
        enabled: a.enabled,
        created: time(a.created),
    })
}

/// One call, bounded in time, its error sorted.
async fn call<T>(
    what: &str,
    fut: impl Future<Output = azure_core::Result<T>>,
) -> Result<T, ActionError> {
    match tokio::time::timeout(CALL, fut).await {
        Err(_) => Err(ActionError::Retryable(format!(
            "Key Vault {what}: no answer within {CALL:?}"
        ))),
        Ok(r) => r.map_err(|e| classify(what, &e)),
    }
}

fn unreadable(what: &str, e: &azure_core::Error) -> ActionError {
    ActionError::Permanent(format!(
        "Key Vault {what}: an answer drctl cannot read: {}",
        sent::masked(&error_chain(e))
    ))
}

/// Throttling (429), a timeout (408), 5xx and no answer are retryable, quoting
/// `Retry-After`; what the vault refused (401, 403, 404 `KeyNotFound`, 400) is permanent.
fn classify(what: &str, e: &azure_core::Error) -> ActionError {
    match e.kind() {
        ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } => {
            let code = u16::from(*status);
            let body: Value = raw_response
                .as_ref()
                .and_then(|r| r.body().json().ok())
                .unwrap_or(Value::Null);
            // The tokens handed to the client are remembered (`VaultCredential`): an
            // answer that echoes one has it masked in every form.
            let message: String = sent::masked(body["error"]["message"].as_str().unwrap_or(""))
                .chars()
                .take(300)
                .collect();
            // The vault's own code first: the SDK's may be a status's description.
            let error_code = sent::masked(
                body["error"]["code"]
                    .as_str()
                    .or(error_code.as_deref())
                    .unwrap_or("no error code"),
            );
            let after = raw_response
                .as_ref()
                .and_then(|r| r.headers().get_optional_str(&RETRY_AFTER))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|s| format!(" (Retry-After: {s} s)"))
                .unwrap_or_default();
            let text = format!("Key Vault {what}: {error_code} (HTTP {code}): {message}{after}");
            if code == 408 || code == 429 || code >= 500 {
                ActionError::Retryable(text)
            } else {
                ActionError::Permanent(text)
            }
        }
        ErrorKind::Connection | ErrorKind::Io => ActionError::Retryable(format!(
            "Key Vault {what}: {}",
            sent::masked(&error_chain(e))
        )),
        _ => ActionError::Permanent(format!(
            "Key Vault {what}: {}",
            sent::masked(&error_chain(e))
        )),
    }
}

fn would_fail(e: ActionError) -> Result<Preview, ActionError> {
    match e {
        ActionError::Permanent(m) => Ok(Preview::new(Outlook::WouldFail, m, Value::Null)),
        e => Err(e),
    }
}

pub(crate) struct GetKey(pub(crate) ActionSpec, pub(crate) Arc<Conn>);

#[async_trait::async_trait]
impl drctl_core::Action for GetKey {
    fn spec(&self) -> &ActionSpec {
        &self.0
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        Vault::new(&self.1, &input)?.read().await
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let read = async { Vault::new(&self.1, &input)?.read().await };
        match read.await {
            Ok(r) => Ok(Preview::new(
                Outlook::NoChange,
                format!(
                    "key {}: current version {}, {} versions",
                    r["key"].as_str().unwrap_or("?"),
                    r["current_version"].as_str().unwrap_or("?"),
                    r["versions"].as_array().map_or(0, Vec::len)
                ),
                r,
            )),
            Err(e) => would_fail(e),
        }
        .map(Some)
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        Vault::new(&self.1, &input)?
            .read()
            .await
            .map(Observed::Done)
    }
}

pub(crate) struct RotateKey(pub(crate) ActionSpec, pub(crate) Arc<Conn>);

#[async_trait::async_trait]
impl drctl_core::Action for RotateKey {
    fn spec(&self) -> &ActionSpec {
        &self.0
    }

    async fn run(&self, _ctx: &ActionCtx, input: Value) -> Result<Value, ActionError> {
        let vault = Vault::new(&self.1, &input)?;
        let from = from_version(&input)?;
        if let (Rotation::Done(out), _) = vault.rotation(&from).await? {
            return Ok(out);
        }
        let what = format!("rotation of {}", vault.label);
        let answer = call(&what, vault.client.rotate_key(&vault.key, None)).await?;
        let key: Key = answer.into_model().map_err(|e| unreadable(&what, &e))?;
        let kid = key.key.as_ref().and_then(|k| k.kid.clone());
        let new = version(&what, kid.as_deref(), key.attributes.as_ref())?;
        if new.id == from {
            return Err(ActionError::Permanent(format!(
                "{what} answered the version it replaces, {from}"
            )));
        }
        Ok(json!({
            "key": vault.key,
            "from_version": from,
            "current_version": new.id,
            "rotated": true,
            "already_rotated": false,
            "version": new.shown,
        }))
    }

    async fn plan(&self, _ctx: &ActionCtx, input: Value) -> Result<Option<Preview>, ActionError> {
        let vault = match Vault::new(&self.1, &input) {
            Ok(v) => v,
            Err(e) => return would_fail(e).map(Some),
        };
        let from = match from_version(&input) {
            Ok(v) => v,
            Err(e) => return would_fail(e).map(Some),
        };
        let preview = match vault.rotation(&from).await {
            Ok((Rotation::Pending, current)) => Ok(Preview::new(
                Outlook::Change,
                format!("rotate {}: a new version replaces {from}", vault.label),
                current.shown,
            )),
            Ok((Rotation::Done(out), current)) => Ok(Preview::new(
                Outlook::NoChange,
                format!(
                    "{} is rotated already: version {} replaced {from}",
                    vault.label, current.id
                ),
                out,
            )),
            Err(e) => would_fail(e),
        };
        preview.map(Some)
    }

    async fn reconcile(&self, _ctx: &ActionCtx, input: Value) -> Result<Observed, ActionError> {
        let vault = Vault::new(&self.1, &input)?;
        let from = from_version(&input)?;
        Ok(match vault.rotation(&from).await {
            Ok((Rotation::Pending, _)) => Observed::NotDone,
            Ok((Rotation::Done(out), _)) => Observed::Done(out),
            Err(ActionError::Permanent(m)) => Observed::Unknown(m),
            Err(e) => return Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_urls_and_key_names_are_checked_before_any_call() {
        assert!(vault_url("https://mantissa-kv.vault.azure.net").is_ok());
        assert!(vault_url("https://mantissa-kv.vault.azure.net/").is_ok());
        for bad in [
            "http://mantissa-kv.vault.azure.net",
            "https://mantissa-kv.vault.azure.net/keys/k",
            "https://mantissa-kv.vault.azure.net/?x=1",
            "https://user:pw@mantissa-kv.vault.azure.net",
            "mantissa-kv",
        ] {
            assert!(vault_url(bad).is_err(), "{bad}");
        }
        assert!(key_name("payments-kek-1").is_ok());
        for bad in ["", "a/b", "a?b", "..", "a b", &"k".repeat(128)] {
            assert!(key_name(bad).is_err(), "{bad:?}");
        }
        let local = |u: &str| on_this_machine(&vault_url(u).unwrap());
        assert!(local("https://127.0.0.1:8443"));
        assert!(local("https://[::1]:8443"));
        assert!(local("https://localhost"));
        assert!(!local("https://mantissa-kv.vault.azure.net"));
        assert!(!local("https://127.0.0.1.example.net"));
    }
}
