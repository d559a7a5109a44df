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
    /// Runs driven at once by this server; more wait for a free slot.
    pub max_runs: usize,
    /// How often the store is scanned for runs that need a driver, in milliseconds.
    pub scan_ms: u64,
    /// A run created and not claimed for this long (milliseconds) is taken: the process
    /// that created it in the foreground (`drctl run`) claims it within milliseconds, a
    /// detached one (`drctl run --detach`) never does.
    pub unclaimed_ms: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7420".into(),
            runbooks: None,
            token: Vec::new(),
            max_runs: 64,
            scan_ms: 1000,
            unclaimed_ms: 2000,
        }
    }
}

impl ServeConfig {
    pub fn scan(&self) -> Duration {
        Duration::from_millis(self.scan_ms.max(10))
    }

    pub fn unclaimed(&self) -> Duration {
        Duration::from_millis(self.unclaimed_ms)
    }
}
