//! The SDK configuration of one call: the standard chain for credentials and region, with
//! the step's `region`, `endpoint_url` and `profile` on top.
//!
//! The SDK's own retries are off: drctl's step `retry` decides, so every attempt is an
//! event in the run's log, and an emulator's "not implemented" (HTTP 500) is not sent
//! three times. A configuration is loaded once per (region, endpoint, profile) and kept:
//! its credentials provider caches and refreshes credentials itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_kms::config::Credentials;
use drctl_connectors::input::opt_str;
use serde_json::Value;

/// How long one API call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

type Key = (Option<String>, Option<String>, Option<String>);

/// Loaded configurations, by the settings that made them.
#[derive(Debug, Default)]
pub(crate) struct Configs {
    loaded: Mutex<HashMap<Key, SdkConfig>>,
    /// Credentials given instead of the standard chain.
    credentials: Option<Credentials>,
}

impl Configs {
    pub(crate) fn with_credentials(credentials: Credentials) -> Self {
        Self {
            loaded: Mutex::default(),
            credentials: Some(credentials),
        }
    }

    pub(crate) async fn get(&self, input: &Value) -> SdkConfig {
        let key: Key = (
            opt_str(input, "region").map(str::to_owned),
            opt_str(input, "endpoint_url").map(str::to_owned),
            opt_str(input, "profile").map(str::to_owned),
        );
        if let Some(c) = self.lock().get(&key) {
            return c.clone();
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(CALL_TIMEOUT)
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let Some(region) = &key.0 {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &key.1 {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &key.2 {
            loader = loader.profile_name(profile);
        }
        if let Some(credentials) = &self.credentials {
            loader = loader.credentials_provider(credentials.clone());
        }
        let config = loader.load().await;
        self.lock().insert(key, config.clone());
        config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, SdkConfig>> {
        // A panic while holding it leaves only a cache behind: use it anyway.
        self.loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
