//! Bearer tokens and roles.
//!
//! A token is shown once, when `drctl token create` makes it; `drctl.toml` keeps only its
//! SHA-256, so reading the configuration does not give anyone a token. The token's
//! identity is the actor of everything done with it, and approvals are checked against
//! that identity and its groups exactly as for a person at the CLI (entitlement,
//! four-eyes).

use axum::http::{HeaderMap, StatusCode, header};
use drctl_core::Actor;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::problem::Problem;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read; start, cancel, resume runs; decide interrupted steps.
    Operator,
    /// Read; decide approval gates (where the runbook's approvers name the identity).
    Approver,
    /// Everything.
    Admin,
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Read,
    Operate,
    Decide,
}

impl Role {
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Read => true,
            Need::Operate => matches!(self, Role::Operator | Role::Admin),
            Need::Decide => matches!(self, Role::Approver | Role::Admin),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

/// One `[[serve.token]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// What the token is for (shown in logs, never the token).
    pub name: String,
    pub role: Role,
    /// Who acts with it: the actor recorded in every event (a person's name: never
    /// `drctl` nor `policy:…`).
    #[serde(deserialize_with = "drctl_core::actor::person")]
    pub identity: Actor,
    /// The token's SHA-256, in hex.
    pub sha256: String,
}

/// Who called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: Actor,
    pub role: Role,
    pub token: String,
}

/// A new token: `drctl_` and 32 random bytes in hex.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("drctl_{}", hex::encode(bytes))
}

pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The caller a request's bearer token names, or 401. Tokens are compared by their
/// digests, so the time a comparison takes says nothing about a configured token.
pub fn caller(headers: &HeaderMap, tokens: &[TokenEntry]) -> Result<Caller, Problem> {
    let unauthorized = |why: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("this needs a token: `Authorization: Bearer TOKEN`"))?;
    // The scheme is case-insensitive (RFC 9110, 11.1).
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer TOKEN`"))?;
    let hash = digest(token);
    tokens
        .iter()
        .find(|t| t.sha256.eq_ignore_ascii_case(&hash))
        .map(|t| Caller {
            identity: t.identity.clone(),
            role: t.role,
            token: t.name.clone(),
        })
        .ok_or_else(|| unauthorized("this token is not known"))
}

/// 403 unless the caller's role allows `need`.
pub fn require(caller: &Caller, need: Need) -> Result<(), Problem> {
    if caller.role.allows(need) {
        Ok(())
    } else {
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token `{}` has the role {}, which may not do this",
                caller.token,
                caller.role.name()
            ),
        ))
    }
}
