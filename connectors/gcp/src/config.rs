//! Credentials for every GCP call: a fixed access token when one is given (the
//! environment's `GOOGLE_OAUTH_ACCESS_TOKEN`, as Google's Terraform provider reads it),
//! else Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//! application-default login, the metadata server), loaded once and refreshed by the
//! library.
//!
//! The token is sent only as the `Authorization` header, marked sensitive, and never
//! printed: this module's `Debug` says only which kind of credentials is in use.

use std::sync::OnceLock;
use std::time::Duration;

use drctl_core::ActionError;
use google_cloud_auth::credentials::{
    self, CacheableResource, Credentials, CredentialsProvider, EntityTag,
};
use google_cloud_gax::error::CredentialsError;
use http::{Extensions, HeaderMap, HeaderValue};

/// How long one API call may take, connection included.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The environment variable of a fixed access token.
const TOKEN_VAR: &str = "GOOGLE_OAUTH_ACCESS_TOKEN";

/// Where the credentials of every call come from.
pub(crate) struct Conn {
    token: Option<String>,
    adc: OnceLock<Result<Credentials, String>>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.token.is_some() {
            "access token"
        } else {
            "application default credentials"
        };
        f.debug_struct("Conn").field("credentials", &kind).finish()
    }
}

impl Conn {
    pub(crate) fn from_env() -> Self {
        Self {
            token: std::env::var(TOKEN_VAR)
                .ok()
                .filter(|t| !t.trim().is_empty()),
            adc: OnceLock::new(),
        }
    }

    pub(crate) fn with_token(token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            adc: OnceLock::new(),
        }
    }

    /// The credentials of a call. Application Default Credentials that cannot be loaded
    /// are a permanent error: nothing changes by trying again.
    pub(crate) fn credentials(&self) -> Result<Credentials, ActionError> {
        if let Some(token) = &self.token {
            if !token.trim().chars().all(|c| c.is_ascii_graphic()) {
                return Err(ActionError::Permanent(format!(
                    "{TOKEN_VAR} holds characters an access token never has"
                )));
            }
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
                    ActionError::Permanent(format!(
                        "{TOKEN_VAR} holds characters an HTTP header cannot carry"
                    ))
                })?;
            value.set_sensitive(true);
            return Ok(Credentials::from(Token(value)));
        }
        self.adc
            .get_or_init(|| {
                credentials::Builder::default()
                    .build()
                    .map_err(|e| drctl_connectors::input::error_chain(&e))
            })
            .clone()
            .map_err(|e| {
                ActionError::Permanent(format!(
                    "GCP: no Application Default Credentials ({e}); set \
                     GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default \
                     login`, or set {TOKEN_VAR}"
                ))
            })
    }
}

/// A fixed bearer token.
struct Token(HeaderValue);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl CredentialsProvider for Token {
    async fn headers(
        &self,
        _extensions: Extensions,
    ) -> Result<CacheableResource<HeaderMap>, CredentialsError> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, self.0.clone());
        Ok(CacheableResource::New {
            entity_tag: EntityTag::new(),
            data: headers,
        })
    }

    async fn universe_domain(&self) -> Option<String> {
        None
    }
}
