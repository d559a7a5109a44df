//! The `[serve]` section of `drctl.toml`.

use std::time::Duration;

use serde::Deserialize;

/// How much a server takes on, and how often it looks for work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeLimits {
    /// Runs driven at once by this server; more wait for a free slot.
    pub max_runs: usize,
    /// How often the store is scanned for runs that need a driver, in milliseconds.
    pub scan_ms: u64,
    /// A run created and not claimed for this long (milliseconds) is taken: the process
    /// that created it in the foreground (`drctl run`) claims it within milliseconds, a
    /// detached one (`drctl run --detach`) never does.
    pub unclaimed_ms: u64,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_runs: 64,
            scan_ms: 1000,
            unclaimed_ms: 2000,
        }
    }
}

impl ServeLimits {
    pub fn scan(&self) -> Duration {
        Duration::from_millis(self.scan_ms.max(10))
    }

    pub fn unclaimed(&self) -> Duration {
        Duration::from_millis(self.unclaimed_ms)
    }
}
