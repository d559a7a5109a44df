//! The `[serve]` section of `drctl.toml`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::api::auth::TokenEntry;

/// What a server takes on, where it listens, what it may start, and who may call it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Where the API listens: loopback unless TLS is configured.
    pub listen: String,
    /// The folder of runbooks the API may start (`*.yaml`, `*.yml`), by their `runbook:`
    /// name. None: the API starts nothing.
    pub runbooks: Option<PathBuf>,
    /// `[[serve.token]]`: the API's bearer tokens, by their SHA-256.
    pub token: Vec<TokenEntry>,
    /// Runs driven at once by this server; more wait for a free slot. A run waiting only
    /// for an approval does not count: it holds no action.
    pub max_runs: usize,
    /// Actions (step attempts and reconciliations) running at once across every run this
    /// server drives; a step starts only when a slot is free.
    pub max_actions: usize,
    /// How often the store is scanned for runs that need a driver, in milliseconds.
    pub scan_ms: u64,
    /// A run created and not claimed for this long (milliseconds) is taken: the process
    /// that created it in the foreground (`drctl run`) claims it within milliseconds, a
    /// detached one (`drctl run --detach`) never does.
    pub unclaimed_ms: u64,
    /// How often (milliseconds) the scheduler looks at the folder's schedules. Nominal
    /// times are minutes apart; a firing starts within this much of its time.
    pub schedule_ms: u64,
    /// The Ed25519 key file (`drctl key create`) the server signs ledger heads with:
    /// outside the database, readable by the server's user alone.
    pub signing_key: Option<PathBuf>,
    /// The API's TLS certificate chain and private key (PEM files); `--tls-cert` and
    /// `--tls-key` win over them.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `[serve.publish_heads]`: where each signed head is sent before it is stored.
    pub publish_heads: Option<PublishHeads>,
    /// `[[serve.notify]]`: service-level notices (see `schedule::notices`).
    pub notify: Vec<crate::schedule::notices::NotifyConfig>,
}

/// A sink outside the database for signed ledger heads (see `signer`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishHeads {
    /// Where the heads are POSTed (JSON).
    pub url: String,
    /// The environment variable holding the HMAC secret the body is signed with (the
    /// secret itself never sits in drctl.toml).
    pub hmac_secret_env: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7420".into(),
            runbooks: None,
            token: Vec::new(),
            max_runs: 64,
            max_actions: 256,
            scan_ms: 1000,
            unclaimed_ms: 2000,
            schedule_ms: 5000,
            signing_key: None,
            tls_cert: None,
            tls_key: None,
            publish_heads: None,
            notify: Vec::new(),
        }
    }
}

impl ServeConfig {
    /// What is wrong with the section, beyond its syntax: each token's digest must be a
    /// SHA-256 in hex, and its name and identity not blank.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.token {
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push(format!(
                    "[[serve.token]] `{}`: sha256 must be 64 hex digits (what `drctl token create` prints)",
                    t.name
                ));
            }
            if t.name.trim().is_empty() {
                out.push(format!(
                    "[[serve.token]] `{}`: a name must not be blank",
                    t.name
                ));
            }
        }
        if self.max_runs == 0 || self.max_actions == 0 {
            out.push("[serve] max_runs and max_actions must be at least 1".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push("[serve] tls_cert and tls_key go together".into());
        }
        if self.publish_heads.is_some() && self.signing_key.is_none() {
            out.push(
                "[serve.publish_heads] publishes signed heads: it needs [serve] signing_key".into(),
            );
        }
        out
    }

    pub fn scan(&self) -> Duration {
        Duration::from_millis(self.scan_ms.max(10))
    }

    pub fn schedule_every(&self) -> Duration {
        Duration::from_millis(self.schedule_ms.max(10))
    }

    pub fn unclaimed(&self) -> Duration {
        Duration::from_millis(self.unclaimed_ms)
    }
}
