//! The token of a Resource Manager call. `AZURE_ACCESS_TOKEN` when it is set (e.g. from
//! `az account get-access-token`), else the first credential the environment configures,
//! in the order of Azure's own default chain: a service principal's secret
//! (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`), managed identity (`IDENTITY_ENDPOINT`, or
//! `AZURE_USE_MANAGED_IDENTITY`), and last the Azure CLI's login. The credential is made
//! once and caches and refreshes its tokens itself.
//!
//! Key Vault takes tokens of another audience (`https://vault.azure.net`):
//! `AZURE_KEYVAULT_ACCESS_TOKEN` (`az account get-access-token --resource
//! https://vault.azure.net`), else the same chain, asked for the scope the vault's
//! challenge names ([`VaultCredential`]).
//!
//! A token is only ever put in an `Authorization` header; `Debug` says which kind of
//! credential is in use, never a token or a secret.

use std::sync::{Arc, OnceLock};

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, RetryOptions};
use azure_core::time::{Duration, OffsetDateTime};
use azure_identity::{
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use drctl_connectors::input::error_chain;
use drctl_core::ActionError;

const TOKEN_VAR: &str = "AZURE_ACCESS_TOKEN";
const VAULT_TOKEN_VAR: &str = "AZURE_KEYVAULT_ACCESS_TOKEN";

pub(crate) struct Auth {
    token: Option<String>,
    vault_token: Option<String>,
    credential: OnceLock<Result<Arc<dyn TokenCredential>, String>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = |t: &Option<String>| {
            if t.is_some() {
                "access token"
            } else {
                "credential chain"
            }
        };
        f.debug_struct("Auth")
            .field("resource_manager", &kind(&self.token))
            .field("key_vault", &kind(&self.vault_token))
            .finish()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Auth {
    pub(crate) fn from_env() -> Self {
        Self {
            token: env(TOKEN_VAR),
            vault_token: env(VAULT_TOKEN_VAR),
            credential: OnceLock::new(),
        }
    }

    pub(crate) fn with_token(token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            vault_token: Some(token.to_owned()),
            credential: OnceLock::new(),
        }
    }

    /// A bearer token for `scope` (e.g. `https://management.azure.com/.default`).
    pub(crate) async fn bearer(&self, scope: &str) -> Result<String, ActionError> {
        if let Some(t) = &self.token {
            return Ok(t.trim().to_owned());
        }
        self.chain_token(&[scope], TOKEN_VAR).await
    }

    /// A token of the first credential the environment configures, for `scopes`.
    async fn chain_token(&self, scopes: &[&str], var: &str) -> Result<String, ActionError> {
        let credential = self
            .credential
            .get_or_init(chain)
            .clone()
            .map_err(|e| ActionError::Permanent(format!("Azure: no credential: {e}")))?;
        let token = credential.get_token(scopes, None).await.map_err(|e| {
            let text = format!(
                "Azure: no token for {}: {}; set {var}, a service principal \
                 (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), or `az login`",
                scopes.join(" "),
                error_chain(&e)
            );
            if transient(&e) {
                ActionError::Retryable(text)
            } else {
                ActionError::Permanent(text)
            }
        })?;
        Ok(token.token.secret().to_owned())
    }
}

/// The credential of a Key Vault client: `AZURE_KEYVAULT_ACCESS_TOKEN`, else the chain,
/// for the scope the vault's challenge named.
#[derive(Debug)]
pub(crate) struct VaultCredential(pub(crate) Arc<Auth>);

#[async_trait::async_trait]
impl TokenCredential for VaultCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let token = match &self.0.vault_token {
            Some(t) => t.trim().to_owned(),
            None => self
                .0
                .chain_token(scopes, VAULT_TOKEN_VAR)
                .await
                .map_err(|e| {
                    // The vault client sorts errors by kind: a transient failure to get
                    // a token stays retryable as a connection error.
                    let kind = match e {
                        ActionError::Retryable(_) => ErrorKind::Connection,
                        _ => ErrorKind::Credential,
                    };
                    azure_core::Error::with_message(kind, e.to_string())
                })?,
        };
        // An answer that echoes it has it masked (`keyvault::classify`).
        drctl_connectors::sent::remember(&token);
        // The client lives for one step; a given token's lifetime is unknown, and an hour
        // only bounds how long the client would reuse it. (The chain's credentials cache
        // and refresh their tokens by their real expiry.)
        Ok(AccessToken::new(
            Secret::new(token),
            OffsetDateTime::now_utc() + Duration::hours(1),
        ))
    }
}

/// Whether a credential failed on the way to Entra ID (no connection, throttled, a 5xx)
/// rather than on what it was given: the step's `retry` may ask again. (A 5xx whose body
/// is not JSON reaches us as a parse error without its status, and stays permanent.)
fn transient(e: &azure_core::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(az) = err.downcast_ref::<azure_core::Error>() {
            match az.kind() {
                ErrorKind::Connection | ErrorKind::Io => return true,
                ErrorKind::HttpResponse { status, .. } => {
                    let status = u16::from(*status);
                    if status == 408 || status == 429 || status >= 500 {
                        return true;
                    }
                }
                _ => {}
            }
        }
        cause = err.source();
    }
    false
}

/// Client options of the credentials that call Entra ID: no SDK retries, so that a
/// failing token request fails the step at once and the step's `retry` decides (the
/// SDK's default would retry silently for over a minute). A managed identity on a VM
/// keeps the backoff the SDK sets for the instance metadata service (about 70 s), as
/// Azure's guidance for that endpoint asks.
fn no_retries() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions::none(),
        ..ClientOptions::default()
    }
}

fn chain() -> Result<Arc<dyn TokenCredential>, String> {
    let made: azure_core::Result<Arc<dyn TokenCredential>> = match (
        env("AZURE_TENANT_ID"),
        env("AZURE_CLIENT_ID"),
        env("AZURE_CLIENT_SECRET"),
    ) {
        (Some(tenant), Some(client), Some(secret)) => {
            let options = ClientSecretCredentialOptions {
                client_options: no_retries(),
            };
            ClientSecretCredential::new(&tenant, client, Secret::new(secret), Some(options))
                .map(|c| c as Arc<dyn TokenCredential>)
        }
        _ if env("AZURE_FEDERATED_TOKEN_FILE").is_some() => {
            let options = WorkloadIdentityCredentialOptions {
                credential_options: ClientAssertionCredentialOptions {
                    client_options: no_retries(),
                },
                ..WorkloadIdentityCredentialOptions::default()
            };
            WorkloadIdentityCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>)
        }
        _ if env("IDENTITY_ENDPOINT").is_some() || env("AZURE_USE_MANAGED_IDENTITY").is_some() => {
            let options = ManagedIdentityCredentialOptions {
                client_options: no_retries(),
                ..ManagedIdentityCredentialOptions::default()
            };
            ManagedIdentityCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>)
        }
        _ => DeveloperToolsCredential::new(None).map(|c| c as Arc<dyn TokenCredential>),
    };
    made.map_err(|e| error_chain(&e))
}
